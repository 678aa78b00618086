"""A stand-in for DCGM on a machine without GPUs: ``nv_gpu_utilization`` per replica,
derived from the busy time each Triton reports.

Every ``poll_interval_s`` it reads each replica's ``/metrics`` and turns the
increase of Triton's cumulative counters into a busy fraction 0–1::

    busy = Δcompute_infer_us × Δexec_count / Δrequest_success / (Δt × 10⁶)

Triton adds a batch's compute time to *every* request in the batch, so
``Δcompute_infer_us / Δrequest_success`` is the mean time of one execution and
multiplying by the executions gives the time the model instance was busy.
The gauge carries ``pod`` and a made-up ``gpu_uuid``; Prometheus adds
``namespace`` and ``release`` from the exporter's scrape target.

Runs in a thread of the caller (:class:`GpuExporter`) or as a child:
``python -m scaler.testbed.gpu_exporter --port P --replica POD=URL ...``.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from scaler.testbed.procs import LOOPBACK, Managed

log = logging.getLogger(__name__)

COUNTERS = (
    "nv_inference_compute_infer_duration_us",
    "nv_inference_exec_count",
    "nv_inference_request_success",
)
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def read_counters(text: str) -> dict[str, float]:
    """Sum of each of :data:`COUNTERS` over all series in a Prometheus text exposition."""
    totals = dict.fromkeys(COUNTERS, 0.0)
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) in totals:
            totals[m.group(1)] += float(m.group(3))
    return totals


def busy_fraction(before: Mapping[str, float], after: Mapping[str, float], dt_s: float) -> float:
    """Busy fraction 0–1 of one replica between two counter readings ``dt_s`` seconds apart."""
    d = {k: after[k] - before[k] for k in COUNTERS}
    if dt_s <= 0 or d["nv_inference_request_success"] <= 0 or min(d.values()) < 0:
        return 0.0
    per_exec_us = d["nv_inference_compute_infer_duration_us"] / d["nv_inference_request_success"]
    busy = per_exec_us * d["nv_inference_exec_count"] / (dt_s * 1e6)
    return min(1.0, max(0.0, busy)) if math.isfinite(busy) else 0.0


@dataclass
class _Last:
    t_s: float
    counters: dict[str, float]


class GpuExporter(Managed):
    """Serves ``nv_gpu_utilization{pod,gpu_uuid}`` on ``http://127.0.0.1:<port>/metrics``.

    ``replicas`` maps a pod name to its Triton metrics URL. A replica whose
    endpoint cannot be read is left out of the gauge until it answers again.
    """

    def __init__(
        self,
        replicas: Mapping[str, str] | None = None,
        *,
        port: int = 0,
        host: str = LOOPBACK,
        poll_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be > 0")
        self.registry = CollectorRegistry()
        self.gauge = Gauge(
            "nv_gpu_utilization",
            "GPU busy fraction 0-1, derived from Triton's compute time (no GPU here).",
            ["pod", "gpu_uuid"],
            registry=self.registry,
        )
        self.poll_interval_s = poll_interval_s
        self._host = host
        self._port = port
        self._clock = clock
        self._lock = threading.Lock()
        self._replicas: dict[str, str] = dict(replicas or {})
        self._last: dict[str, _Last] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._session = requests.Session()

    @property
    def port(self) -> int:
        return int(self._server.server_port) if self._server is not None else self._port

    @property
    def address(self) -> str:
        """``host:port`` to give Prometheus as the scrape target."""
        return f"{self._host}:{self.port}"

    def set_replicas(self, replicas: Mapping[str, str]) -> None:
        """Replace the replicas watched (pod name → Triton metrics URL)."""
        with self._lock:
            self._replicas = dict(replicas)
            for pod in set(self._last) - set(self._replicas):
                del self._last[pod]
                self.gauge.remove(pod, _uuid(pod))

    def poll_once(self) -> None:
        """Read every replica once and update the gauge."""
        with self._lock:
            replicas = dict(self._replicas)
        for pod, url in replicas.items():
            try:
                resp = self._session.get(url, timeout=2.0)
                resp.raise_for_status()
                counters = read_counters(resp.text)
            except requests.RequestException as exc:
                log.debug("cannot read %s: %s", url, exc)
                with self._lock:
                    if self._last.pop(pod, None) is not None:
                        self.gauge.remove(pod, _uuid(pod))
                continue
            now = self._clock()
            with self._lock:
                if pod not in self._replicas:
                    continue
                last = self._last.get(pod)
                self._last[pod] = _Last(now, counters)
                if last is not None:
                    value = busy_fraction(last.counters, counters, now - last.t_s)
                    self.gauge.labels(pod, _uuid(pod)).set(value)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.poll_interval_s)

    def start(self) -> None:
        """Serve /metrics and start polling in a daemon thread."""
        if self._server is not None:
            return
        self._server, _ = start_http_server(self._port, addr=self._host, registry=self.registry)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gpu-exporter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._session.close()

    def close(self) -> None:
        """Stop; nothing else to release."""
        self.stop()


def _uuid(pod: str) -> str:
    return f"GPU-fake-{pod}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scaler.testbed.gpu_exporter", description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default=LOOPBACK)
    p.add_argument("--interval-s", type=float, default=1.0)
    p.add_argument("--replica", action="append", default=[], metavar="POD=METRICS_URL")
    args = p.parse_args(argv)
    replicas = {}
    for item in args.replica:
        pod, sep, url = item.partition("=")
        if not sep or not pod or not url:
            p.error(f"--replica {item!r} must be POD=METRICS_URL")
        replicas[pod] = url
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    exporter = GpuExporter(
        replicas, port=args.port, host=args.host, poll_interval_s=args.interval_s
    )
    exporter.start()
    done.wait()
    exporter.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
