"""A load generator sending real KServe-v2 HTTP inference requests to Triton replicas.

A pacer thread releases requests at the target rate (evenly spaced, or Poisson
from a seeded generator); a pool of worker threads sends each one with
``POST /v2/models/<model>/infer`` to the replica with the fewest requests in
flight (least-request, as SuperSONIC's Envoy does), ties going round-robin.
The rate and the replica set can change while it runs. Every request's latency
and status is recorded.

With few workers the generator is partly closed-loop: when all workers are busy,
released requests wait (their ``lag_s`` grows), and beyond ``max_backlog`` they
are dropped and counted rather than piling up without bound.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests

from scaler.testbed.procs import Managed

INFER_BODY = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [0.5]}]}
"""One item for the testbed model (``scaler.testbed.triton_model``)."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request: ``released_s`` is when the pacer released it and ``sent_s`` when a
    worker sent it (monotonic seconds); ``status`` is the HTTP status, 0 if no answer."""

    released_s: float
    sent_s: float
    latency_s: float
    status: int
    replica: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def lag_s(self) -> float:
        """Seconds the request waited for a free worker."""
        return self.sent_s - self.released_s


@dataclass(frozen=True, slots=True)
class LoadSummary:
    sent: int
    ok: int
    failed: int
    dropped: int
    mean_latency_s: float | None


class LoadGenerator(Managed):
    """Sends ``rate_rps`` requests per second to ``replicas`` (KServe-v2 base URLs).

    ``threads`` bounds the requests in flight; ``timeout_s`` is per request.
    """

    def __init__(
        self,
        replicas: Sequence[str],
        model: str,
        *,
        rate_rps: float = 0.0,
        threads: int = 8,
        timeout_s: float = 10.0,
        poisson: bool = False,
        seed: int = 0,
        max_backlog: int = 1000,
        body: dict[str, object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be ≥ 1, got {threads}")
        self.model = model
        self.timeout_s = timeout_s
        self.poisson = poisson
        self.max_backlog = max_backlog
        self.body = body if body is not None else INFER_BODY
        self._threads_n = threads
        self._clock = clock
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._tickets: queue.Queue[float | None] = queue.Queue()
        self._rate = 0.0
        self._replicas: list[str] = []
        self._in_flight: dict[str, int] = {}
        self._rr = 0
        self._records: list[RequestRecord] = []
        self._dropped = 0
        self._threads: list[threading.Thread] = []
        self.set_replicas(replicas)
        self.set_rate(rate_rps)

    def set_rate(self, rate_rps: float) -> None:
        """Change the target rate (requests per second, ≥ 0); takes effect at once."""
        if not rate_rps >= 0:
            raise ValueError(f"rate_rps must be ≥ 0, got {rate_rps}")
        with self._lock:
            self._rate = float(rate_rps)
        self._changed.set()

    @property
    def rate_rps(self) -> float:
        with self._lock:
            return self._rate

    def set_replicas(self, replicas: Sequence[str]) -> None:
        """Replace the replica set (base URLs such as ``http://127.0.0.1:8000``)."""
        with self._lock:
            self._replicas = [r.rstrip("/") for r in replicas]
            self._in_flight = {r: self._in_flight.get(r, 0) for r in self._replicas}

    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        pacer = threading.Thread(target=self._pace, name="loadgen-pacer", daemon=True)
        workers = [
            threading.Thread(target=self._work, name=f"loadgen-{i}", daemon=True)
            for i in range(self._threads_n)
        ]
        self._threads = [pacer, *workers]
        for t in self._threads:
            t.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop releasing requests, drop the backlog, wait for in-flight ones."""
        if not self._threads:
            return
        self._stopping.set()
        self._changed.set()
        pacer, *workers = self._threads
        pacer.join(timeout_s)
        while True:
            try:
                self._tickets.get_nowait()
            except queue.Empty:
                break
        for _ in range(self._threads_n):
            self._tickets.put(None)
        for t in workers:
            t.join(timeout_s)
        self._threads = []

    def close(self) -> None:
        """Stop; nothing else to release."""
        self.stop()

    def records(self) -> list[RequestRecord]:
        """A copy of every finished request's record, in completion order."""
        with self._lock:
            return list(self._records)

    def clear_records(self) -> None:
        with self._lock:
            self._records.clear()
            self._dropped = 0

    def summary(self) -> LoadSummary:
        with self._lock:
            recs = list(self._records)
            dropped = self._dropped
        ok = [r for r in recs if r.ok]
        mean = sum(r.latency_s for r in ok) / len(ok) if ok else None
        return LoadSummary(
            sent=len(recs),
            ok=len(ok),
            failed=len(recs) - len(ok),
            dropped=dropped,
            mean_latency_s=mean,
        )

    def _gap_s(self, rate: float) -> float:
        return self._random.expovariate(rate) if self.poisson else 1.0 / rate

    def _pace(self) -> None:
        next_s = self._clock()
        while not self._stopping.is_set():
            rate = self.rate_rps
            if rate <= 0:
                self._changed.wait(0.5)
                self._changed.clear()
                next_s = self._clock()
                continue
            now = self._clock()
            if now < next_s:
                if self._changed.wait(next_s - now):
                    self._changed.clear()
                    next_s = self._clock()
                continue
            if now - next_s > 1.0:
                next_s = now
            if self._tickets.qsize() >= self.max_backlog:
                with self._lock:
                    self._dropped += 1
            else:
                self._tickets.put(next_s)
            next_s += self._gap_s(rate)

    def _pick(self) -> str | None:
        with self._lock:
            if not self._replicas:
                return None
            n = len(self._replicas)
            order = [self._replicas[(self._rr + i) % n] for i in range(n)]
            self._rr = (self._rr + 1) % n
            best = min(order, key=lambda r: self._in_flight.get(r, 0))
            self._in_flight[best] = self._in_flight.get(best, 0) + 1
            return best

    def _done(self, replica: str, record: RequestRecord) -> None:
        with self._lock:
            if replica in self._in_flight:
                self._in_flight[replica] -= 1
            self._records.append(record)

    def _work(self) -> None:
        session = requests.Session()
        try:
            while True:
                released = self._tickets.get()
                if released is None:
                    return
                replica = self._pick()
                sent = self._clock()
                if replica is None:
                    self._done("", RequestRecord(released, sent, 0.0, 0, "", "no replicas"))
                    continue
                status, error = 0, None
                try:
                    resp = session.post(
                        f"{replica}/v2/models/{self.model}/infer",
                        json=self.body,
                        timeout=self.timeout_s,
                    )
                    status = resp.status_code
                    if status != 200:
                        error = resp.text[:200]
                except requests.RequestException as exc:
                    error = f"{type(exc).__name__}: {exc}"
                latency = self._clock() - sent
                self._done(replica, RequestRecord(released, sent, latency, status, replica, error))
        finally:
            session.close()
