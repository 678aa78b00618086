"""One :class:`PrometheusObserver` per (Prometheus URL, credentials), bounded.

SuperSONIC gives each release its own Prometheus (``<release>-prometheus-server``),
so one scaler serving several releases reads several. Each trigger names its own
(``serverAddress``) among those the server allows; this pool keeps one client
(HTTP session, dedup cache) per distinct URL and ``Authorization`` header, at most
``max_clients`` (least recently used dropped first), so per-trigger tokens cannot
grow it without bound.

It is an :class:`scaler.observer.Observer` itself: ``observe``/``history`` go to
the client of the config's :class:`scaler.prometheus_urls.PrometheusTarget`.
:meth:`PrometheusPool.check` is what the tracker calls on new metadata, so a
trigger naming a URL the server does not allow gets ``INVALID_ARGUMENT`` naming
``serverAddress`` before anything is queried.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from policies import Observation
from scaler.metadata import MetadataError, ScalerConfig
from scaler.observer import ObserveError
from scaler.own_metrics import ScalerMetrics
from scaler.prometheus_observer import PrometheusObserver
from scaler.prometheus_urls import PrometheusTarget, normalise_url, parse_allowed
from scaler.settings import ServerSettings

MAX_CLIENTS = 64
"""Distinct (URL, credentials) clients kept; each holds an HTTP connection pool."""

Factory = Callable[[ServerSettings, ScalerMetrics, str | None, str | None], PrometheusObserver]


def _observer(
    settings: ServerSettings, metrics: ScalerMetrics, url: str | None, authorization: str | None
) -> PrometheusObserver:
    return PrometheusObserver(settings, metrics, url=url, authorization=authorization)


class PrometheusPool:
    """Observers for every Prometheus a trigger may name (see the module docstring).

    Raises ``ValueError`` (from :class:`scaler.prometheus_urls.UrlError`) at
    construction if ``SCALER_PROMETHEUS_URL`` or an allowed URL is malformed.
    """

    def __init__(
        self,
        settings: ServerSettings,
        metrics: ScalerMetrics,
        *,
        max_clients: int = MAX_CLIENTS,
        factory: Factory = _observer,
    ) -> None:
        if not 1 <= max_clients <= MAX_CLIENTS:
            raise ValueError(f"max_clients must be 1..{MAX_CLIENTS}, got {max_clients}")
        self._settings = settings
        self._metrics = metrics
        self._factory = factory
        self._max = max_clients
        self.default_url = normalise_url(settings.prometheus_url)
        self.allowed = (self.default_url, *parse_allowed(settings.prometheus_allowed_urls))
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str | None, str | None], PrometheusObserver] = (
            OrderedDict()
        )

    def check(self, config: ScalerConfig) -> None:
        """Raise :class:`MetadataError` naming ``serverAddress`` if the trigger's URL is
        not one the server allows."""
        url = config.prometheus.url
        if url is not None and url not in self.allowed:
            raise MetadataError(
                f"scalerMetadata key 'serverAddress' = {url!r} is not a Prometheus this "
                f"scaler may call; allowed: {', '.join(self.allowed)} (server settings "
                "SCALER_PROMETHEUS_URL and SCALER_PROMETHEUS_ALLOWED_URLS)"
            )

    def client(self, target: PrometheusTarget) -> PrometheusObserver:
        """The observer for ``target`` (created on first use, least recently used dropped)."""
        url = None if target.url in (None, self.default_url) else target.url
        if url is not None and url not in self.allowed:
            raise ObserveError(f"serverAddress {url!r} is not allowed")
        key = (url, target.authorization)
        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                self._clients.move_to_end(key)
                return found
            created = self._factory(self._settings, self._metrics, url, target.authorization)
            self._clients[key] = created
            while len(self._clients) > self._max:
                # Not closed: a refresh may still be using it; its session goes with it.
                self._clients.popitem(last=False)
            return created

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    def observe(self, config: ScalerConfig, now_s: float) -> Observation:
        return self.client(config.prometheus).observe(config, now_s)

    def history(
        self, config: ScalerConfig, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        return self.client(config.prometheus).history(config, start_s, end_s, step_s)

    def close(self) -> None:
        """Close every client's HTTP session."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for c in clients:
            c.close()
