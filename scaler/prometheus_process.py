"""Prometheus reads in a child process, so the gRPC event loop never waits for them.

Reading Prometheus (HTTP, JSON parsing, the answer's checks) is most of the scaler's
CPU. In the serving process it holds the one interpreter lock the gRPC event loop
needs to answer KEDA, so under load an answer that is a dictionary lookup waited
behind it (issue 13's soak: canary p99 868 ms). :class:`PrometheusProcess` is an
:class:`scaler.observer.Observer` that sends each ``observe``/``history`` to a child
process running a :class:`scaler.prometheus_pool.PrometheusPool` (its query budget
and dedup cache live there, one for the whole scaler as before) and waits for the
answer on a pipe, holding nothing the event loop needs. The child runs at a lower
CPU priority (``nice``), so when CPU is short the refresh falls behind (every object
alike, oldest first) and RPCs still answer from the latest decisions.

What stays the same: the answers (the same observer code runs in the child), the
errors (an :class:`ObserveError` keeps its message), the query metrics (the child
sends each query's time and error reason with its answer; they are recorded in the
server's registry). A child that dies fails the reads in flight with an
``ObserveError`` (the pipeline holds) and is started again on the next read.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any, cast

from policies import Observation
from scaler.logs import configure_logging
from scaler.metadata import ScalerConfig
from scaler.observer import ObserveError
from scaler.own_metrics import ScalerMetrics, build_metrics
from scaler.prometheus_pool import PrometheusPool
from scaler.settings import ServerSettings

log = logging.getLogger(__name__)

CHILD_THREADS = 32
"""Reads the child runs at once (the tracker's refresh workers and the dashboard's
history reads; the query budget, not this, bounds the load on Prometheus)."""

START_GRACE_S = 60.0
"""Seconds a newly started child may take to answer at all before the watchdog
counts its silence as a stall."""

ANSWER_MARGIN_S = 60.0
"""Seconds a read may take beyond its queries' timeouts (waiting for the query
budget under overload) before the caller gives up with an ObserveError."""

Event = tuple[str, Any]
"""A query metric recorded in the child: ("seconds", float) or ("error", reason)."""


class _Events:
    """Stands in, in the child, for the two query metrics: records what happened so
    it travels back with the next answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._events.append(("seconds", seconds))

    def labels(self, *, reason: str) -> _Events._Reason:
        return _Events._Reason(self, reason)

    def add(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    def drain(self) -> list[Event]:
        with self._lock:
            out, self._events = self._events, []
        return out

    class _Reason:
        def __init__(self, events: _Events, reason: str) -> None:
            self._events = events
            self._reason = reason

        def inc(self) -> None:
            self._events.add(("error", self._reason))


def _idle_priority() -> None:
    """Run this process (the calling thread and every thread it starts later) under
    Linux's ``SCHED_IDLE`` policy where it exists: a thread of the serving process
    that wakes (an RPC arriving) then takes the CPU from the reader at once instead of
    waiting for its time slice; a lower nice alone only shares the CPU in proportion.
    The reader still runs whenever the serving process does not need the CPU."""
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is None:
        return
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, policy, os.sched_param(0))


def _child(conn: Connection, settings: ServerSettings, nice: int) -> None:
    """The child's main: answer each request on its own thread until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    configure_logging(settings.log_level)  # JSON lines on the stdout it shares with the server
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
        _idle_priority()
    events = _Events()
    metrics = replace(
        build_metrics(), query_seconds=cast(Any, events), query_errors=cast(Any, events)
    )
    pool = PrometheusPool(settings, metrics)
    send_lock = threading.Lock()

    def answer(rid: int, kind: str, args: tuple[Any, ...]) -> None:
        result: Any
        try:
            if kind == "observe":
                result = ("ok", pool.observe(*args))
            else:
                result = ("ok", pool.history(*args))
        except ObserveError as exc:
            result = ("observe_error", str(exc))
        except Exception as exc:  # reported as the bug it is, not as missing data
            result = ("crash", f"{type(exc).__name__}: {exc}")
        with send_lock, contextlib.suppress(OSError, ValueError):
            conn.send((rid, *result, events.drain()))

    with ThreadPoolExecutor(CHILD_THREADS, thread_name_prefix="prometheus") as workers:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                break
            if request is None:  # the parent's close()
                break
            if request[1] == "ping":  # the watchdog's: answered here, behind no read
                with send_lock, contextlib.suppress(OSError, ValueError):
                    conn.send((request[0], "ok", None, events.drain()))
                continue
            workers.submit(answer, *request)
    pool.close()


class PrometheusProcess:
    """An :class:`scaler.observer.Observer` reading Prometheus in a child process
    (see the module docstring). Raises ``ValueError`` at construction if a
    configured Prometheus URL is malformed, like :class:`PrometheusPool`."""

    def __init__(
        self,
        settings: ServerSettings,
        metrics: ScalerMetrics,
        *,
        nice: int | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._nice = settings.prometheus_reader_nice if nice is None else nice
        # URL checks only (it opens no connection until asked to read, and is not).
        self._local = PrometheusPool(settings, metrics)
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._pending: dict[int, tuple[Connection, Future[Any]]] = {}
        self._conn: Connection | None = None
        self._proc: Any = None
        self._closed = False
        self._started_s = 0.0
        self._answered = False
        self.restarts = 0
        """Times the child was started again after it ended."""
        with self._lock:
            self._start()

    @property
    def pid(self) -> int | None:
        """The child's process id (None before it starts)."""
        return self._proc.pid if self._proc is not None else None

    def check(self, config: ScalerConfig) -> None:
        """:meth:`PrometheusPool.check`, in this process (no read involved)."""
        self._local.check(config)

    def observe(self, config: ScalerConfig, now_s: float) -> Observation:
        n = 2 + len(config.indicators) + 10
        result: Observation = self._ask("observe", (config, now_s), n)
        return result

    def history(
        self, config: ScalerConfig, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        n = 2 + len(config.indicators) + 10
        result: list[Observation] = self._ask("history", (config, start_s, end_s, step_s), n)
        return result

    def starting(self) -> bool:
        """True while the child, started less than :data:`START_GRACE_S` ago, has not
        answered yet (spawning it and importing the scaler take seconds on a busy node)."""
        with self._lock:
            return not self._answered and time.monotonic() - self._started_s < START_GRACE_S

    def ping(self, timeout_s: float) -> float | None:
        """Seconds the child took to answer a ping (its main loop answers it, behind no
        read and no query budget), or None if it did not within ``timeout_s``: it is
        not being run (starved of CPU under ``SCHED_IDLE``, stopped) or is wedged.
        Starts the child if it is not running, as a read would."""
        started = time.monotonic()
        try:
            self._ask("ping", (), 0, timeout_s=timeout_s)
        except ObserveError:
            return None
        return time.monotonic() - started

    def close(self) -> None:
        """Stop the child and fail reads in flight."""
        with self._lock:
            self._closed = True
            conn, proc = self._conn, self._proc
            self._conn = None
            if conn is not None:
                # A message, not close(): the answer reader is blocked in recv() on this
                # socket, which keeps it open, so the child would see no EOF.
                with contextlib.suppress(OSError, ValueError):
                    conn.send(None)
        if proc is not None:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        self._fail_all("the Prometheus reader was stopped")
        self._local.close()

    # -- internals ---------------------------------------------------------------

    def _start(self) -> None:
        """Start the child and the thread reading its answers (under ``_lock``)."""
        ctx = mp.get_context("spawn")  # never fork a process running gRPC's threads
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(
            target=_child,
            args=(theirs, self._settings, self._nice),
            name="prometheus-reader",
            daemon=True,
        )
        proc.start()
        theirs.close()
        self._conn, self._proc = ours, proc
        self._started_s, self._answered = time.monotonic(), False
        reader = threading.Thread(
            target=self._read, args=(ours,), name="prometheus-answers", daemon=True
        )
        reader.start()

    def _read(self, conn: Connection) -> None:
        """Hand each answer to the read waiting for it; on EOF fail those in flight."""
        while True:
            try:
                rid, status, payload, events = conn.recv()
            except (EOFError, OSError):
                break
            self._record(events)
            with self._lock:
                if conn is self._conn:
                    self._answered = True
                entry = self._pending.pop(rid, None)
            if entry is None:  # its caller gave up
                continue
            fut = entry[1]
            if status == "ok":
                fut.set_result(payload)
            elif status == "observe_error":
                fut.set_exception(ObserveError(payload))
            else:
                fut.set_exception(RuntimeError(f"Prometheus reader: {payload}"))
        with self._lock:
            if self._conn is conn:
                self._conn = None  # the next read starts a new child
        conn.close()
        if not self._closed:
            log.warning("the Prometheus reader process ended; reads in flight fail (hold)")
        self._fail_all("the Prometheus reader process ended", conn)

    def _record(self, events: list[Event]) -> None:
        m = self._metrics
        for kind, value in events:
            if kind == "seconds":
                m.query_seconds.observe(value)
            else:
                m.query_errors.labels(reason=value).inc()

    def _fail_all(self, why: str, conn: Connection | None = None) -> None:
        """Fail the reads in flight (only those sent on ``conn`` if given)."""
        with self._lock:
            failed = [rid for rid, (c, _) in self._pending.items() if conn is None or c is conn]
            futures = [self._pending.pop(rid)[1] for rid in failed]
        for fut in futures:
            if not fut.done():
                fut.set_exception(ObserveError(why))

    def _ask(
        self, kind: str, args: tuple[Any, ...], queries: int, *, timeout_s: float | None = None
    ) -> Any:
        fut: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise ObserveError("the Prometheus reader was stopped")
            if self._conn is None:
                self.restarts += 1
                self._start()
            conn = self._conn
            assert conn is not None
            rid = next(self._ids)
            self._pending[rid] = (conn, fut)
            try:
                conn.send((rid, kind, args))
            except (OSError, ValueError) as exc:
                self._pending.pop(rid, None)
                raise ObserveError(f"cannot reach the Prometheus reader process: {exc}") from None
        timeout = (
            queries * self._settings.prometheus_timeout_s + ANSWER_MARGIN_S
            if timeout_s is None
            else timeout_s
        )
        try:
            return fut.result(timeout)
        except FutureTimeout:
            with self._lock:
                self._pending.pop(rid, None)
            raise ObserveError(
                f"no answer from the Prometheus reader process within {timeout:g} s"
            ) from None


WATCHDOG_INTERVAL_S = 5.0
"""Seconds between the watchdog's pings of the reader (at most half the stall time)."""

STALLED_LOG_INTERVAL_S = 60.0
"""Seconds between two error lines while the reader stays stalled."""


class ReaderWatchdog:
    """Notices a Prometheus reader that has stopped running: it pings the child every
    ``interval_s`` (default 5 s, at most half of ``stall_after_s``) and, when a ping is
    not answered within ``stall_after_s``, logs an error (again every minute while it
    lasts), sets ``sonic_scaler_prometheus_reader_stalled`` to 1 and calls
    ``on_change(False)`` (the server then fails its health check, so the liveness probe
    restarts the pod); on the next answer it logs the recovery, sets the gauge to 0 and
    calls ``on_change(True)``. A child just started gets :data:`START_GRACE_S` to answer.

    Why: the reader runs under ``SCHED_IDLE``, which the kernel runs only when nothing
    else wants the CPU. On a node kept busy by other work it may get almost none;
    without this, every object's decision would silently age until ``failAfterSeconds``
    made each answer ``UNAVAILABLE``, with nothing naming the cause."""

    def __init__(
        self,
        process: PrometheusProcess,
        metrics: ScalerMetrics,
        on_change: Callable[[bool], None],
        *,
        stall_after_s: float,
        interval_s: float | None = None,
    ) -> None:
        self._process = process
        self._gauge = metrics.reader_stalled
        self._on_change = on_change
        self._stall_after_s = stall_after_s
        self._interval_s = (
            min(WATCHDOG_INTERVAL_S, stall_after_s / 2) if interval_s is None else interval_s
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stalled = False
        """True from a ping left unanswered until the next answered one."""
        self._since = 0.0
        self._logged = -math.inf
        self._gauge.set(0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reader-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop pinging (a ping in flight ends when the reader is closed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def check(self) -> bool:
        """Ping once; True if the reader answered. Updates the state (see the class)."""
        answered = self._process.ping(self._stall_after_s)
        if self._stop.is_set() or (answered is None and self._process.starting()):
            return answered is not None
        now = time.monotonic()
        if answered is None:
            if not self.stalled:
                self.stalled = True
                self._since = now - self._stall_after_s
                self._logged = -math.inf
                self._gauge.set(1)
                self._on_change(False)
            if now - self._logged >= STALLED_LOG_INTERVAL_S:
                self._logged = now
                log.error(
                    json.dumps(
                        {
                            "event": "prometheus_reader_stalled",
                            "pid": self._process.pid,
                            "seconds": round(now - self._since),
                            "why": "the Prometheus reader process answered no ping for "
                            f"{self._stall_after_s:g} s (no CPU for it under SCHED_IDLE, "
                            "stopped, or wedged): decisions are not refreshed; health "
                            "fails until it answers",
                        }
                    )
                )
            return False
        if self.stalled:
            self.stalled = False
            self._gauge.set(0)
            self._on_change(True)
            log.warning(
                json.dumps(
                    {
                        "event": "prometheus_reader_recovered",
                        "seconds_stalled": round(now - self._since),
                        "ping_s": round(answered, 3),
                    }
                )
            )
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.check()
            except Exception:
                log.exception(json.dumps({"event": "reader_watchdog_error"}))


def prometheus_observer(
    settings: ServerSettings, metrics: ScalerMetrics
) -> PrometheusPool | PrometheusProcess:
    """The observer ``settings`` ask for: in a child process (the default) or in this one."""
    if settings.prometheus_reader_process:
        return PrometheusProcess(settings, metrics)
    return PrometheusPool(settings, metrics)
