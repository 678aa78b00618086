"""The scaler assembled from its settings: metrics, the Prometheus observer, the
override store, the tracker, the gRPC server and (optionally) the dashboard.

``scaler serve`` calls :func:`assemble`; ``scaler dashboard`` and the tests call
:func:`start_dashboard`. Commands sit above this module and never import each other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaler.overrides.store import OverrideStore, build_store
from scaler.own_metrics import build_metrics
from scaler.prometheus_process import PrometheusProcess, ReaderWatchdog, prometheus_observer
from scaler.server import RunningServer, split_listen, start_server
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker, ReplicaReader, no_overrides

log = logging.getLogger(__name__)


class AssemblyError(Exception):
    """The scaler could not start; ``settings_problem``: the settings themselves are
    wrong (shown on stderr) rather than a port or a peer (logged)."""

    def __init__(self, message: str, *, settings_problem: bool = False) -> None:
        super().__init__(message)
        self.settings_problem = settings_problem


def replica_reader(enabled: bool) -> ReplicaReader | None:
    """The Kubernetes API's replica counts, if a cluster (or kubeconfig) is reachable;
    without one the scaler still decides, from Prometheus alone."""
    if not enabled:
        return None
    from scaler.kube import KubeClient, KubeError

    try:
        return KubeClient.from_environment().read_replicas
    except KubeError as exc:
        log.warning("no Kubernetes API (%s): replica counts come from Prometheus only", exc)
        return None


@dataclass
class DashboardHandle:
    """A running dashboard; ``port`` is the bound port (useful with port 0)."""

    server: Any
    thread: threading.Thread
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_dashboard(
    tracker: ObjectTracker,
    settings: ServerSettings,
    store: OverrideStore,
    *,
    listen: str | None = None,
    traces_dir: Path | None = None,
    clock: Callable[[], float] | None = None,
) -> DashboardHandle:
    """Serve the dashboard on ``listen`` (default ``settings.dashboard_listen``) in a
    thread and return once it accepts connections."""
    import socket

    import uvicorn

    from scaler.dashboard.app import DEFAULT_TRACES_DIR, create_app
    from scaler.dashboard.security import allowed_hosts

    host, port = split_listen(listen or settings.dashboard_listen)
    kwargs: dict[str, Any] = {
        "traces_dir": traces_dir or DEFAULT_TRACES_DIR,
        "hosts": allowed_hosts(
            listen or settings.dashboard_listen, settings.dashboard_allowed_hosts
        ),
    }
    if clock is not None:
        kwargs["clock"] = clock
    app = create_app(tracker, settings, store, **kwargs)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port} (dashboard): {exc.strerror or exc}"
        ) from None
    # log_config=None: uvicorn logs through the root logger's JSON handler (scaler.logs).
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="dashboard", daemon=True
    )
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.02)
    if not thread.is_alive():
        raise OSError(f"dashboard could not start on {host}:{port}")
    bound = sock.getsockname()[1]
    log.info("dashboard on http://%s:%d", host, bound)
    return DashboardHandle(server=server, thread=thread, port=bound)


@dataclass
class Assembled:
    """The running scaler: the gRPC server and, if configured, its dashboard."""

    running: RunningServer
    dashboard: DashboardHandle | None = None

    def stop_dashboard(self) -> None:
        if self.dashboard is not None:
            self.dashboard.stop()


def assemble(settings: ServerSettings) -> Assembled:
    """Build and start everything ``settings`` ask for; raises :class:`AssemblyError`
    (nothing left running) when a part cannot start."""
    metrics = build_metrics()
    try:
        observer = prometheus_observer(settings, metrics)
    except ValueError as exc:
        raise AssemblyError(str(exc), settings_problem=True) from None
    with_dashboard = bool(settings.dashboard_listen)
    store = None
    if with_dashboard or settings.overrides_file or settings.overrides_configmap:
        store = build_store(settings.overrides_file, settings.overrides_configmap)
    tracker = ObjectTracker(
        observer,
        metrics,
        refresh_interval_s=settings.refresh_interval_s,
        forget_after_s=settings.forget_after_s,
        overrides=store.overrides_for if store is not None else no_overrides,
        replica_reader=replica_reader(settings.kubernetes_api),
        max_metadata_bytes=settings.max_metadata_bytes,
        validate=observer.check,
        max_objects=settings.max_objects,
        max_logged_decisions=settings.max_logged_decisions,
    )
    try:
        running = start_server(settings, observer, metrics=metrics, tracker=tracker)
    except (OSError, ValueError) as exc:
        observer.close()
        raise AssemblyError(str(exc)) from None
    if isinstance(observer, PrometheusProcess):
        watchdog = ReaderWatchdog(
            observer,
            metrics,
            running.set_serving,
            stall_after_s=settings.prometheus_reader_stall_s,
        )
        watchdog.start()
        running.closers.append(watchdog.stop)
    running.closers.append(observer.close)
    if not (with_dashboard and store is not None):
        return Assembled(running)
    try:
        return Assembled(running, start_dashboard(tracker, settings, store))
    except (OSError, ValueError) as exc:
        running.stop(0)
        raise AssemblyError(str(exc)) from None
