"""Assemble and run the scaler service: gRPC (KEDA protocol + health) on ``grpc.aio``
in its own event-loop thread, the background refresher, and the HTTP /metrics endpoint.

The gRPC server is asynchronous so that open streams cost no thread: health checks
and ``GetMetrics`` answer from memory however many streams KEDA holds open."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import start_http_server

from scaler.grpc_service import ExternalScalerService
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.metadata import ScalerConfig
from scaler.observer import Observer
from scaler.own_metrics import ScalerMetrics, build_metrics
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker, Overrides, ReplicaReader, no_overrides

log = logging.getLogger(__name__)

SERVICE_NAME = "externalscaler.ExternalScaler"

T = TypeVar("T")

SIGNAL_POLL_S = 0.5
"""Seconds between the main thread's looks for a signal another thread received."""

GIL_SWITCH_INTERVAL_S = 0.001
"""Seconds a thread may hold the GIL while another waits (CPython's default is 5 ms)."""

LAG_PROBE_S = 0.05
"""Seconds between the event loop's looks at its own lateness (``event_loop_lag``)."""

GC_THRESHOLDS = (700, 10, 10_000)
"""The cyclic collector's thresholds once serving (CPython's default is (700, 10, 10)).

A full collection walks every object the process holds (per tracked ScaledObject its
config, state, decision log and metric series: 100,000s at 5,000 objects) with the GIL
held, so no RPC is answered meanwhile: in the soak (issue 13) one ran every ~45 s while
objects were being registered, 100-600 ms each under load, and freed 200-500 objects
(the code avoids cyclic garbage; reference counting frees the rest). With these
thresholds a full collection waits for 1,000 times more young collections (about
7 x 10^7 allocations instead of 70,000). Young collections keep CPython's small
thresholds: many short pauses rather than fewer long ones (a soak with 10,000 for the
youngest generation had middle-generation pauses of up to 140 ms on a loaded machine)."""


async def probe_loop_lag(metrics: ScalerMetrics, period_s: float = LAG_PROBE_S) -> None:
    """Forever: sleep ``period_s`` and record how much later than asked the loop woke.
    That delay is what any answer waits on top of its own work (the interpreter lock
    held by another thread, no free core, other coroutines), so it tells a slow scaler
    from a slow network or client."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(period_s)
        metrics.event_loop_lag.observe(max(0.0, loop.time() - asked - period_s))


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as (host, port); ValueError naming it otherwise."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"listen address {listen!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def check_can_listen(host: str, port: int, what: str) -> None:
    """Raise ``OSError`` naming ``host:port`` and ``what`` if the address cannot be bound,
    before a library tries (gRPC's core would print its own multi-line error)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise OSError(f"cannot listen on {shown} ({what}): {exc.strerror or exc}") from None


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS if a certificate is configured; mTLS if a client CA is configured too."""
    if settings.tls_cert_file is None and settings.tls_key_file is None:
        if settings.tls_client_ca_file is not None:
            raise ValueError("SCALER_TLS_CLIENT_CA_FILE needs SCALER_TLS_CERT_FILE and _KEY_FILE")
        return None
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise ValueError("TLS needs both SCALER_TLS_CERT_FILE and SCALER_TLS_KEY_FILE")
    cert = settings.tls_cert_file.read_bytes()
    key = settings.tls_key_file.read_bytes()
    ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


def tracker_for(
    settings: ServerSettings,
    observer: Observer,
    metrics: ScalerMetrics,
    *,
    overrides: Overrides = no_overrides,
    validate: Callable[[ScalerConfig], None] | None = None,
    replica_reader: ReplicaReader | None = None,
    forget_after_s: float | None = None,
) -> ObjectTracker:
    """A tracker with the settings' intervals and bounds (``forget_after_s``: the
    settings' unless given), reading ``observer``, with these overrides, validation of
    a config against the observer and Kubernetes replica counts."""
    return ObjectTracker(
        observer,
        metrics,
        refresh_interval_s=settings.refresh_interval_s,
        forget_after_s=settings.forget_after_s if forget_after_s is None else forget_after_s,
        overrides=overrides,
        replica_reader=replica_reader,
        max_metadata_bytes=settings.max_metadata_bytes,
        validate=validate,
        max_objects=settings.max_objects,
        max_logged_decisions=settings.max_logged_decisions,
    )


@dataclass
class _LoopThread:
    """An asyncio event loop running in a daemon thread."""

    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    thread: threading.Thread | None = None

    def start(self) -> None:
        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="grpc-loop", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread is not None:
            self.thread.join(timeout=5)


@dataclass
class RunningServer:
    """A started scaler; ``port`` is the bound gRPC port (useful with port 0)."""

    grpc_server: grpc.aio.Server
    tracker: ObjectTracker
    health: health_aio.HealthServicer
    service: ExternalScalerService
    metrics: ScalerMetrics
    port: int
    metrics_port: int | None
    grace_period_s: float
    _loop: _LoopThread
    _pool: ThreadPoolExecutor
    _http: object | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    """Coroutines of the server's own on the loop (the lag probe), cancelled on stop."""
    _stopped: bool = False
    closers: list[Callable[[], None]] = field(default_factory=list)
    """Called last by :meth:`stop` (e.g. the Prometheus reader process's ``close``)."""

    def set_serving(self, serving: bool) -> None:
        """Make the gRPC health check answer SERVING or NOT_SERVING (for every service
        name); callable from any thread. Ignored once stopping (health then stays
        NOT_SERVING)."""
        if self._stopped:
            return
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )

        async def apply() -> None:
            for name in ("", SERVICE_NAME):
                await self.health.set(name, status)

        self._loop.call(apply())

    def stop(self, grace_s: float | None = None) -> None:
        """Stop taking calls, finish in-flight ones within the grace period, stop refreshing."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.grace_period_s if grace_s is None else grace_s
        self._loop.call(self.health.enter_graceful_shutdown())
        self._loop.call(self.service.close())
        for task in self._tasks:
            self._loop.loop.call_soon_threadsafe(task.cancel)
        self.tracker.stop()
        self._loop.call(self.grpc_server.stop(grace), timeout_s=grace + 30)
        self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        shutdown = getattr(self._http, "shutdown", None)
        if callable(shutdown):
            shutdown()
        for close in self.closers:
            close()


def start_server(
    settings: ServerSettings,
    observer: Observer,
    *,
    metrics: ScalerMetrics | None = None,
    tracker: ObjectTracker | None = None,
) -> RunningServer:
    """Start everything and return at once; call :meth:`RunningServer.stop` to end."""
    metrics = metrics if metrics is not None else build_metrics()
    # The event loop answers from memory in microseconds, but waits for the GIL while
    # refresher threads parse Prometheus answers: hand it over every 1 ms instead of 5.
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
    if tracker is None:
        tracker = tracker_for(settings, observer, metrics)
    host, port = split_listen(settings.grpc_listen)
    check_can_listen(host, port, "gRPC")
    if settings.metrics_listen:
        check_can_listen(*split_listen(settings.metrics_listen), "metrics")
    creds = server_credentials(settings)
    address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    pool = ThreadPoolExecutor(max_workers=settings.unary_workers, thread_name_prefix="grpc")
    service = ExternalScalerService(
        tracker, metrics, parse_pool=pool, max_streams=settings.max_streams
    )
    loop = _LoopThread()
    loop.start()
    lag_probes: list[asyncio.Task[None]] = []  # referenced, or the loop may drop it

    async def build() -> tuple[grpc.aio.Server, health_aio.HealthServicer, int]:
        service.bind(asyncio.get_running_loop())
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        pb_grpc.add_ExternalScalerServicer_to_server(  # type: ignore[no-untyped-call]
            service, server
        )
        health_servicer = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        try:
            bound = (
                server.add_secure_port(address, creds)
                if creds is not None
                else server.add_insecure_port(address)
            )
        except RuntimeError:  # grpcio raises instead of returning 0 on a busy port
            bound = 0
        if bound == 0:
            raise OSError(f"cannot listen on {settings.grpc_listen} (gRPC): in use or invalid")
        await server.start()
        lag_probes.append(asyncio.get_running_loop().create_task(probe_loop_lag(metrics)))
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        return server, health_servicer, bound

    try:
        server, health_servicer, bound = loop.call(build())
    except BaseException:
        loop.close()
        pool.shutdown(wait=False)
        raise
    tracker.start()
    http = None
    metrics_port: int | None = None
    if settings.metrics_listen:
        mhost, mport = split_listen(settings.metrics_listen)
        http, _ = start_http_server(mport, addr=mhost, registry=metrics.registry)
        metrics_port = http.server_port
    log.info("serving KEDA external scaler on %s (metrics port %s)", address, metrics_port)
    return RunningServer(
        grpc_server=server,
        tracker=tracker,
        health=health_servicer,
        service=service,
        metrics=metrics,
        port=bound,
        metrics_port=metrics_port,
        grace_period_s=settings.grace_period_s,
        _loop=loop,
        _pool=pool,
        _http=http,
        _tasks=lag_probes,
    )


def tune_gc() -> None:
    """Collect and freeze what start-up built, then collect rarely (see
    :data:`GC_THRESHOLDS`). What start-up built (modules, classes, the metrics registry)
    lives as long as the process: out of the collector's way, a full collection walks
    only what the tracker holds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_until_signal(running: RunningServer) -> None:
    """Block until SIGTERM or SIGINT, then shut down gracefully."""
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: shutting down within %.0f s", signum, running.grace_period_s)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tune_gc()
    # Not one unbounded wait: the kernel hands a process's signal to any of its threads,
    # and Python runs the handler only when the main thread runs bytecode again; a
    # main thread asleep in ``wait()`` would never see a SIGTERM a busy refresher took.
    while not done.wait(SIGNAL_POLL_S):
        pass
    running.stop()
