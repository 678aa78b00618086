"""The scaler assembled from its settings: metrics, the Prometheus observer, the
override store, the tracker, the gRPC server and (optionally) the dashboard.

``scaler serve`` calls :func:`assemble`; ``scaler dashboard`` calls
:func:`assemble_dashboard` (the dashboard alone, deciding for listed ScaledObjects);
the tests call :func:`start_dashboard`. Commands sit above this module and never
import each other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scaler.metadata import MetadataError
from scaler.overrides.store import OverrideStore, build_store
from scaler.own_metrics import build_metrics
from scaler.prometheus_pool import PrometheusPool
from scaler.prometheus_process import PrometheusProcess, ReaderWatchdog, prometheus_observer
from scaler.server import RunningServer, split_listen, start_server, tracker_for
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker, ReplicaReader, no_overrides

log = logging.getLogger(__name__)

RETRACK_S = 60.0
"""Standalone dashboard: how often the listed ScaledObjects are re-registered with the
tracker (it forgets objects nobody asks about, and re-parsing picks up overrides)."""


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
    tracker = tracker_for(
        settings,
        observer,
        metrics,
        overrides=store.overrides_for if store is not None else no_overrides,
        validate=observer.check,
        replica_reader=replica_reader(settings.kubernetes_api),
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


def scaled_objects(path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(namespace, name, trigger metadata) of every ScaledObject in a YAML file whose
    trigger points at an external scaler (``type: external`` or ``external-push``)."""
    for doc in yaml.safe_load_all(path.read_text()):
        if not isinstance(doc, dict) or doc.get("kind") != "ScaledObject":
            continue
        meta = doc.get("metadata") or {}
        for trig in (doc.get("spec") or {}).get("triggers") or []:
            if trig.get("type") in ("external", "external-push"):
                values = {str(k): str(v) for k, v in (trig.get("metadata") or {}).items()}
                yield str(meta.get("namespace", "default")), str(meta["name"]), values
                break


@dataclass
class StandaloneDashboard:
    """The dashboard running alone (:func:`assemble_dashboard`): its tracker, the
    server and the thread re-registering the listed ScaledObjects."""

    tracker: ObjectTracker
    dashboard: DashboardHandle
    listed: int
    """ScaledObjects from the objects file that are re-registered."""
    _stop: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self._stop.set()
        self.dashboard.stop()
        self.tracker.stop()


def assemble_dashboard(
    settings: ServerSettings, objects: Path | None, *, traces_dir: Path | None = None
) -> StandaloneDashboard:
    """The dashboard alone: an in-process Prometheus pool, the override store, a
    tracker deciding for the ScaledObjects of ``objects`` (a YAML file of manifests,
    re-registered every :data:`RETRACK_S`, so kept however long nobody asks) exactly as
    ``scaler serve`` would, without answering KEDA. Raises :class:`AssemblyError`
    (nothing left running) when the dashboard cannot start."""
    store = build_store(settings.overrides_file, settings.overrides_configmap)
    metrics = build_metrics()
    pool = PrometheusPool(settings, metrics)
    tracker = tracker_for(
        settings,
        pool,
        metrics,
        overrides=store.overrides_for,
        validate=pool.check,
        forget_after_s=max(settings.forget_after_s, 4 * RETRACK_S),
    )
    listed = list(scaled_objects(objects)) if objects is not None else []
    stop = threading.Event()

    def retrack() -> None:
        while True:
            for namespace, name, meta in listed:
                try:
                    tracker.track(tracker.config_for(name, namespace, meta))
                except MetadataError as exc:
                    log.warning("%s/%s: %s", namespace, name, exc)
            if stop.wait(RETRACK_S):
                return

    threading.Thread(target=retrack, name="retrack", daemon=True).start()
    tracker.start()
    try:
        handle = start_dashboard(tracker, settings, store, traces_dir=traces_dir)
    except (OSError, ValueError) as exc:
        stop.set()
        tracker.stop()
        raise AssemblyError(str(exc)) from None
    return StandaloneDashboard(tracker, handle, len(listed), stop)
