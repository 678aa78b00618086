"""A tiny /metrics endpoint with known values, for a real Prometheus to scrape.

Counters grow at a set rate per second of wall time (computed when scraped), so
``rate()`` over them returns that rate; gauges return a set value (NaN allowed).
Metric names are written as given (Triton's counters have no ``_total``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class _Series:
    name: str
    labels: dict[str, str]
    value: float = 0.0
    per_s: float | None = None
    since_s: float = field(default_factory=time.time)

    def now(self) -> float:
        if self.per_s is None:
            return self.value
        return self.value + self.per_s * (time.time() - self.since_s)


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


class KnownExporter:
    """Serves ``/metrics`` on a free loopback port from series the test sets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], _Series] = {}
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def counter(self, name: str, per_s: float, **labels: str) -> None:
        """A counter growing by ``per_s`` per second from now (continuing from its value)."""
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            old = self._series.get(key)
            start = old.now() if old is not None else 0.0
            self._series[key] = _Series(name, dict(labels), value=start, per_s=per_s)

    def gauge(self, name: str, value: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._series[key] = _Series(name, dict(labels), value=value)

    def render(self) -> str:
        with self._lock:
            series = list(self._series.values())
        lines = []
        for s in series:
            inner = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            lines.append(f"{s.name}{{{inner}}} {_fmt(s.now())}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def known_exporters(count: int) -> Iterator[list[KnownExporter]]:
    exporters = [KnownExporter() for _ in range(count)]
    try:
        yield exporters
    finally:
        for e in exporters:
            e.close()


def triton_series(
    exporter: KnownExporter,
    *,
    model: str,
    rps: float,
    queue_ms_per_request: float,
    batch: float,
    pending: float,
    extra: Mapping[str, str] | None = None,
    items_per_request: float = 1.0,
    compute_ms_per_request: float = 1.0,
) -> None:
    """Triton's per-model counters for a replica serving ``rps`` requests per second
    of ``items_per_request`` batch items, each computed in ``compute_ms_per_request``."""
    labels = {"model": model, "version": "1", **(extra or {})}
    exporter.counter("nv_inference_request_success", rps, **labels)
    exporter.counter("nv_inference_queue_duration_us", rps * queue_ms_per_request * 1000, **labels)
    exporter.counter("nv_inference_exec_count", rps / batch, **labels)
    exporter.gauge("nv_inference_pending_request_count", pending, **labels)
    exporter.counter("nv_inference_count", rps * items_per_request, **labels)
    exporter.counter(
        "nv_inference_compute_infer_duration_us", rps * compute_ms_per_request * 1000, **labels
    )
