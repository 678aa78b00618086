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

Retries: a 503 or a refused connection is retried, as gRPC clients retry
``UNAVAILABLE``, for up to ``retry_for_s`` seconds after the first attempt, waiting
``retry_backoff_s`` doubled on each attempt up to ``retry_max_backoff_s``. That is
how requests survive a fleet waking from zero behind Envoy, which answers 503 "no
healthy upstream" until the first replica is ready. A record's latency runs from
the first attempt to the final answer; ``attempts`` counts them.
"""

from __future__ import annotations

import math
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
    attempts: int = 1

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
        retry_for_s: float = 0.0,
        retry_backoff_s: float = 0.1,
        retry_max_backoff_s: float = 1.0,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be ≥ 1, got {threads}")
        if retry_for_s < 0 or retry_backoff_s <= 0 or retry_max_backoff_s < retry_backoff_s:
            raise ValueError(
                "retry_for_s must be ≥ 0 and 0 < retry_backoff_s ≤ retry_max_backoff_s"
            )
        self.retry_for_s = retry_for_s
        self.retry_backoff_s = retry_backoff_s
        self.retry_max_backoff_s = retry_max_backoff_s
        self._retrying = 0
        self._abort = threading.Event()
        """Set by :meth:`close`: clients stop retrying (unlike :meth:`stop`)."""
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
        self._abort.clear()
        pacer = threading.Thread(target=self._pace, name="loadgen-pacer", daemon=True)
        workers = [
            threading.Thread(target=self._work, name=f"loadgen-{i}", daemon=True)
            for i in range(self._threads_n)
        ]
        self._threads = [pacer, *workers]
        for t in self._threads:
            t.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop releasing requests, drop the backlog, wait for in-flight ones (a request
        being retried is in flight: its client goes on until ``retry_for_s``)."""
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
        """Stop at once: requests being retried give up (their last answer is kept)."""
        self._abort.set()
        self.stop()

    @property
    def retrying(self) -> int:
        """Requests waiting to retry now (e.g. while the fleet wakes from zero)."""
        with self._lock:
            return self._retrying

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
        """Release requests at the current rate. A rate change re-draws the wait for the
        next request at the new rate (Poisson: from now, exact since the exponential is
        memoryless; even spacing: one new gap after the last release, or now). Setting
        the same rate again changes nothing: the runner sets the rate every trace
        second, and releasing a request on every such call (as this pacer did before)
        sent one request per second more than the trace asked, e.g. 4.2 req/s for 3."""
        next_s: float | None = None
        drawn_at = 0.0
        """The rate ``next_s`` was drawn for."""
        last_s = -math.inf
        while not self._stopping.is_set():
            rate = self.rate_rps
            if rate <= 0:
                self._changed.wait(0.5)
                self._changed.clear()
                next_s = None
                continue
            now = self._clock()
            if next_s is None or rate != drawn_at:
                gap = self._gap_s(rate)
                next_s = now + gap if self.poisson else max(last_s + gap, now)
                drawn_at = rate
            if now < next_s:
                if self._changed.wait(next_s - now):
                    self._changed.clear()
                continue
            if now - next_s > 1.0:
                next_s = now
            if self._tickets.qsize() >= self.max_backlog:
                with self._lock:
                    self._dropped += 1
            else:
                self._tickets.put(next_s)
            last_s = next_s
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

    def _attempt(self, session: requests.Session, replica: str) -> tuple[int, str | None]:
        try:
            resp = session.post(
                f"{replica}/v2/models/{self.model}/infer", json=self.body, timeout=self.timeout_s
            )
        except requests.ConnectionError as exc:
            return 0, f"{type(exc).__name__}: {exc}"
        except requests.RequestException as exc:
            return -1, f"{type(exc).__name__}: {exc}"
        return resp.status_code, (None if resp.status_code == 200 else resp.text[:200])

    def _send(
        self, session: requests.Session, replica: str, first_s: float
    ) -> tuple[int, str | None, int]:
        """(status, error, attempts): retries 503s and refused connections within
        ``retry_for_s`` of ``first_s``, also after :meth:`stop` (a client does not give
        up because no new requests come); a timeout or other error is final (status 0)."""
        backoff = self.retry_backoff_s
        attempts = 0
        while True:
            attempts += 1
            status, error = self._attempt(session, replica)
            retryable = status in (0, 503)
            if status == -1:
                return 0, error, attempts
            left = first_s + self.retry_for_s - self._clock()
            if not retryable or left <= 0:
                return status, error, attempts
            with self._lock:
                self._retrying += 1
            try:
                if self._abort.wait(min(backoff, left)):
                    return status, error, attempts
            finally:
                with self._lock:
                    self._retrying -= 1
            backoff = min(backoff * 2, self.retry_max_backoff_s)

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
                status, error, attempts = self._send(session, replica, sent)
                latency = self._clock() - sent
                self._done(
                    replica,
                    RequestRecord(released, sent, latency, status, replica, error, attempts),
                )
        finally:
            session.close()
