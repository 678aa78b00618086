"""The scaler's gRPC server started in a test, as ``scaler serve`` assembles it: the
one set-up the end-to-end, fault-matrix and fuzz tests share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scaler.observer import Observer
from scaler.own_metrics import ScalerMetrics, build_metrics
from scaler.prometheus_observer import PrometheusObserver
from scaler.server import RunningServer, start_server
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker


def scaler_settings(**given: Any) -> ServerSettings:
    """Settings with gRPC on a free loopback port and no metrics endpoint, unless given."""
    return ServerSettings(**{"grpc_listen": "127.0.0.1:0", "metrics_listen": "", **given})


def start_scaler(
    observer: Observer,
    settings: ServerSettings,
    *,
    metrics: ScalerMetrics | None = None,
    clock: Callable[[], float] | None = None,
    refresh_interval_s: float | None = None,
) -> RunningServer:
    """The server over ``observer``; its tracker refreshes every ``refresh_interval_s``
    (default ``settings.refresh_interval_s``; a test refreshing by hand passes an hour)
    seconds of ``clock`` (epoch seconds; default the wall clock). Stop it with
    ``RunningServer.stop``."""
    metrics = metrics if metrics is not None else build_metrics()
    extra: dict[str, Any] = {} if clock is None else {"clock": clock}
    every_s = settings.refresh_interval_s if refresh_interval_s is None else refresh_interval_s
    tracker = ObjectTracker(observer, metrics, refresh_interval_s=every_s, **extra)
    return start_server(settings, observer, metrics=metrics, tracker=tracker)


def start_prometheus_scaler(
    prometheus_url: str, *, dedup_window_s: float, **given: Any
) -> RunningServer:
    """The server reading ``prometheus_url`` through the production observer;
    ``given``: further :class:`ServerSettings` fields."""
    settings = scaler_settings(prometheus_url=prometheus_url, **given)
    metrics = build_metrics()
    observer = PrometheusObserver(settings, metrics, dedup_window_s=dedup_window_s)
    return start_scaler(observer, settings, metrics=metrics)
