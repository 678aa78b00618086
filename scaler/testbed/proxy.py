"""An Envoy-like front for the testbed's Triton replicas, on one loopback port.

Clients send KServe-v2 requests to the proxy; each goes to the READY replica with
the fewest requests in flight (Envoy's ``LEAST_REQUEST``, ties round-robin). With
no ready replica the proxy does what SuperSONIC's Envoy does when its
``triton_grpc_service`` cluster has no healthy endpoint: it answers **503 "no
healthy upstream" at once** and counts ``upstream_cx_none_healthy`` for the
cluster. It does not hold the request: clients retry (the testbed's load generator
does, see ``retry_for_s``), and each retry counts again.

``GET /metrics`` serves Envoy's own counter names and labels, as its Prometheus
endpoint (``/stats/prometheus``) writes them:

- ``envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress_grpc"}``:
  every request received (SuperSONIC's listener has stat prefix ``ingress_grpc``);
- ``envoy_cluster_upstream_rq_total{envoy_cluster_name="triton_grpc_service"}``:
  requests sent to a replica (it does not move at zero endpoints);
- ``envoy_cluster_upstream_cx_none_healthy{envoy_cluster_name="triton_grpc_service"}``:
  requests refused because no endpoint was healthy;
- ``envoy_cluster_upstream_rq_active{envoy_cluster_name="triton_grpc_service"}``:
  requests in flight to replicas now.

All exist from the start at 0, as Envoy's do, so the first refusal is a rate.
The scaler's ``activationMetric`` (:data:`ACTIVATION_METRIC`) reads the
``none_healthy`` counter: the signal that exists while no Triton runs.

Draining: :meth:`Proxy.remove` stops new requests to a replica at once and
:meth:`Proxy.wait_drained` waits for its requests in flight to finish.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from scaler.testbed.procs import LOOPBACK, Managed

CLUSTER = "triton_grpc_service"
"""SuperSONIC's Envoy cluster of Triton endpoints."""
LISTENER_PREFIX = "ingress_grpc"
"""Stat prefix of SuperSONIC's gRPC listener (HTTP connection manager)."""

ACTIVATION_METRIC = f'envoy_cluster_upstream_cx_none_healthy{{envoy_cluster_name="{CLUSTER}"}}'
"""What the testbed's ScaledObject wakes on, as the shipped examples do."""

NO_HEALTHY_UPSTREAM = b"no healthy upstream"
"""Envoy's 503 body when the cluster has no healthy endpoint."""

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


class _Backend:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url.rstrip("/"))
        self.url = url.rstrip("/")
        self.host = parts.hostname or LOOPBACK
        self.port = parts.port or 80
        self.in_flight = 0


class Proxy(Managed):
    """Least-request spread over ready replicas; 503 at once while none is ready.

    ``upstream_timeout_s``: seconds a replica may take to answer.
    """

    def __init__(
        self,
        *,
        upstream_timeout_s: float = 30.0,
        host: str = LOOPBACK,
        port: int = 0,
    ) -> None:
        if upstream_timeout_s <= 0:
            raise ValueError("upstream_timeout_s must be > 0")
        self.upstream_timeout_s = upstream_timeout_s
        self._cond = threading.Condition()
        self._backends: dict[str, _Backend] = {}
        self._order: list[str] = []
        self._rr = 0
        self.downstream_requests = 0
        """Requests received (``envoy_http_downstream_rq_total``)."""
        self.upstream_requests = 0
        """Requests sent to a replica (``envoy_cluster_upstream_rq_total``)."""
        self.none_healthy = 0
        """Requests refused with 503 for want of a ready replica
        (``envoy_cluster_upstream_cx_none_healthy``)."""
        self._local = threading.local()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL clients send KServe-v2 requests to."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def address(self) -> str:
        """``host:port`` to give Prometheus as the scrape target."""
        return f"{LOOPBACK}:{self.port}"

    def add(self, url: str) -> None:
        """Start sending requests to a ready replica (KServe-v2 base URL)."""
        with self._cond:
            if url.rstrip("/") not in self._backends:
                b = _Backend(url)
                self._backends[b.url] = b
                self._order.append(b.url)
            self._cond.notify_all()

    def remove(self, url: str) -> None:
        """Send no new request to ``url``; requests in flight there carry on."""
        with self._cond:
            key = url.rstrip("/")
            if key in self._order:
                self._order.remove(key)
            self._cond.notify_all()

    def in_flight(self, url: str) -> int:
        with self._cond:
            b = self._backends.get(url.rstrip("/"))
            return b.in_flight if b is not None else 0

    def wait_drained(self, url: str, timeout_s: float) -> bool:
        """Wait until ``url`` (removed first) has no request in flight; True if drained."""
        deadline = time.monotonic() + timeout_s
        key = url.rstrip("/")
        with self._cond:
            while True:
                b = self._backends.get(key)
                if b is None or b.in_flight == 0:
                    if key not in self._order:
                        self._backends.pop(key, None)
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    def ready(self) -> list[str]:
        with self._cond:
            return list(self._order)

    def set_ready(self, urls: Sequence[str]) -> None:
        """Replace the ready set (removed ones keep their requests in flight)."""
        keep = {u.rstrip("/") for u in urls}
        for u in self.ready():
            if u not in keep:
                self.remove(u)
        for u in keep:
            self.add(u)

    def _acquire(self) -> _Backend | None:
        """The least-loaded ready replica, or None (counted) when there is none."""
        with self._cond:
            self.downstream_requests += 1
            if not self._order:
                self.none_healthy += 1
                return None
            self.upstream_requests += 1
            n = len(self._order)
            candidates = [self._backends[self._order[(self._rr + i) % n]] for i in range(n)]
            self._rr = (self._rr + 1) % n
            best = min(candidates, key=lambda b: b.in_flight)
            best.in_flight += 1
            return best

    def _release(self, backend: _Backend) -> None:
        with self._cond:
            backend.in_flight -= 1
            self._cond.notify_all()

    def _connection(self, backend: _Backend) -> http.client.HTTPConnection:
        pool: dict[str, http.client.HTTPConnection] | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = {}
            self._local.pool = pool
        conn = pool.get(backend.url)
        if conn is None:
            conn = http.client.HTTPConnection(
                backend.host, backend.port, timeout=self.upstream_timeout_s
            )
            pool[backend.url] = conn
        return conn

    def _drop_connection(self, backend: _Backend) -> None:
        pool: dict[str, http.client.HTTPConnection] = getattr(self._local, "pool", {})
        conn = pool.pop(backend.url, None)
        if conn is not None:
            conn.close()

    def forward(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """Send one request upstream: (status, body, headers). 503 "no healthy upstream"
        at once when no replica is ready; 502 if the replica did not answer."""
        backend = self._acquire()
        if backend is None:
            return 503, NO_HEALTHY_UPSTREAM, {"Content-Type": "text/plain"}
        try:
            for attempt in (1, 2):
                conn = self._connection(backend)
                try:
                    conn.request(method, path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    out = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP_HEADERS}
                    return resp.status, data, out
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    self._drop_connection(backend)
                    if attempt == 2:
                        break
                except OSError:
                    self._drop_connection(backend)
                    break
            return 502, b'{"error":"upstream did not answer"}', {}
        finally:
            self._release(backend)

    def metrics_text(self) -> bytes:
        """Prometheus text format 0.0.4 with Envoy's names (counters without a
        ``_total`` that Envoy does not write, which prometheus_client would add)."""
        with self._cond:
            active = sum(b.in_flight for b in self._backends.values())
            rows = (
                (
                    "envoy_http_downstream_rq_total",
                    "counter",
                    f'envoy_http_conn_manager_prefix="{LISTENER_PREFIX}"',
                    self.downstream_requests,
                ),
                (
                    "envoy_cluster_upstream_rq_total",
                    "counter",
                    f'envoy_cluster_name="{CLUSTER}"',
                    self.upstream_requests,
                ),
                (
                    "envoy_cluster_upstream_cx_none_healthy",
                    "counter",
                    f'envoy_cluster_name="{CLUSTER}"',
                    self.none_healthy,
                ),
                (
                    "envoy_cluster_upstream_rq_active",
                    "gauge",
                    f'envoy_cluster_name="{CLUSTER}"',
                    active,
                ),
            )
        lines = []
        for name, kind, labels, value in rows:
            lines += [f"# TYPE {name} {kind}", f"{name}{{{labels}}} {value}"]
        return ("\n".join(lines) + "\n").encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            """Headers and body go out in separate writes; with Nagle on, a keep-alive
            client waits ~40 ms for the delayed ACK on every response."""

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    self._reply(200, proxy.metrics_text(), {"Content-Type": METRICS_CONTENT_TYPE})
                else:
                    self._reply(*proxy.forward("GET", self.path, b"", {}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                ctype = self.headers.get("Content-Type", "application/json")
                self._reply(*proxy.forward("POST", self.path, body, {"Content-Type": ctype}))

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="proxy", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10.0)
            self._thread = None
        self._server.server_close()

    def close(self) -> None:
        """Stop; nothing else to release."""
        self.stop()
