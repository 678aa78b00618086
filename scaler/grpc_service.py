"""The KEDA ``externalscaler.ExternalScaler`` service, answering from memory.

Every RPC validates the ScaledObject's metadata (``INVALID_ARGUMENT`` naming the
key), makes sure the object is tracked, and answers from the latest decision.
The scaler computes the replica count itself, so the metric spec is constant:
``targetSizeFloat = 1`` with KEDA's default ``AverageValue`` and the value is the
desired replica count (the HPA then asks for ceil(value), outside its tolerance).

The service runs on ``grpc.aio``: an open stream (KEDA's ``external-push`` holds one
per ScaledObject) is a suspended coroutine, not a thread, so health checks and
``GetMetrics`` always answer from the cached decision however many streams are
open. Streams are capped (``max_streams``, ``RESOURCE_EXHAUSTED`` beyond); parsing
metadata not seen before runs in a small thread pool (``unary_workers``) so the
event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import grpc

from policies import Decision
from scaler import keda_adapter as keda
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.limits import clean_message
from scaler.logs import RateLimitedLog
from scaler.metadata import MetadataError
from scaler.own_metrics import ScalerMetrics
from scaler.tracker import ObjectTracker, TrackedObject, TrackingRefused

T = TypeVar("T")

METRIC_NAME = keda.METRIC_NAME
FIRST_DECISION_WAIT_S = 2.0
"""Seconds the very first call for a new object may wait for its first decision;
under the HPA's ~3 s deadline. Later calls never wait."""
REJECTED_LOG_INTERVAL_S = 60.0
"""One log line per (method, status, object) and minute: KEDA retries a rejected call
every polling interval, so each further one is only counted."""

STREAM_RECHECK_S = 30.0
"""Seconds between an open stream's full looks at its object (metadata, overrides):
a stream sleeps without a timer until its object's next decision, when it only
marks the object as asked; one loop-wide sweep wakes every stream this often, so
an object whose decisions stopped is still kept tracked (under the 120 s idle
eviction) and an override applied meanwhile is picked up."""

REFUSAL_DELAY_S = 0.5
"""Seconds a call refused at the object limit (``RESOURCE_EXHAUSTED``) waits before it
is answered once more than :data:`PROMPT_REFUSALS_PER_S` came within a second: a client
registering objects in a loop gets two refusals a second per call in flight instead of
hundreds, so the CPU goes to answering tracked objects (issue 13's churn: 800 refusals
a second once the table was full, the canary's slowest calls all in those seconds).
Outside such a storm a refusal is answered at once: the KEDA operator's few reconcile
workers would otherwise each be held for the wait. The wait is not part of
``rpc_seconds`` (the time to answer); each delayed refusal is counted in
``sonic_scaler_rpc_refusals_delayed_total{method}``, so a storm shows there."""

PROMPT_REFUSALS_PER_S = 20.0
"""Refusals at the object limit answered at once per second (a token bucket of one
second's worth): more than a cluster's reconciles of over-limit objects normally send,
far fewer than a client looping on them."""

MAX_DELAYED_REFUSALS = 1000
"""Refusals waiting at once; beyond this they are answered at once (each waiting one
holds a coroutine)."""

SWEEP_BATCH = 25
"""Streams the sweep wakes at a time, with :data:`SWEEP_GAP_S` between batches: a
woken stream's full look costs ~0.1 ms of the event loop, so waking 1,000 at once
held every other call for 100 ms or more (issue 13's soak canary, every 30 s)."""

SWEEP_GAP_S = 0.01
"""Seconds between two batches of the sweep (1,000 streams: under half a second)."""

Context = grpc.aio.ServicerContext[Any, Any]


class RpcError(Exception):
    """An RPC answered with an error; the message is bounded (gRPC's metadata soft
    limit is 8 KiB) and stripped of URL credentials before it leaves."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        message = clean_message(message)
        super().__init__(message)
        self.code = code
        self.message = message


class ExternalScalerService(pb_grpc.ExternalScalerServicer):
    """The five RPCs of KEDA's external-scaler protocol, as coroutines on one event loop.

    ``parse_pool`` runs metadata parsing for metadata not in the tracker's cache.
    """

    def __init__(
        self,
        tracker: ObjectTracker,
        metrics: ScalerMetrics,
        *,
        parse_pool: Executor,
        max_streams: int = 1000,
    ) -> None:
        self._tracker = tracker
        self._metrics = metrics
        self._pool = parse_pool
        self._max_streams = max_streams
        self._streams = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._woken: set[str] = set()
        """Keys decided since the loop last woke their watchers (refresher threads add)."""
        self._woken_lock = threading.Lock()
        self._closing = False
        self._sweeper: asyncio.Task[None] | None = None
        self._timers: dict[str, Any] = {}
        self._delayed = 0
        """Refusals waiting :data:`REFUSAL_DELAY_S` now."""
        self._prompt_tokens = PROMPT_REFUSALS_PER_S
        self._prompt_at = -math.inf
        """Token bucket of refusals answered at once, and its last refill (loop time, s)."""
        tracker.add_listener(self._on_decision)
        self._rejected = RateLimitedLog(
            logging.getLogger("scaler.rpc"), interval_s=REJECTED_LOG_INTERVAL_S
        )

    async def _reject(
        self, method: str, ref: pb.ScaledObjectRef, context: Context, exc: RpcError
    ) -> None:
        """Count, log (rate-limited) and abort a call answered with an error status."""
        self._rejected_call(method, ref, context, exc.code, exc.message)
        await context.abort(exc.code, exc.message)

    async def _slow_down(self) -> bool:
        """Wait :data:`REFUSAL_DELAY_S` before answering a refusal (see there), unless
        it is within :data:`PROMPT_REFUSALS_PER_S` or :data:`MAX_DELAYED_REFUSALS`
        already wait; True if it waited."""
        now = asyncio.get_running_loop().time()
        elapsed = now - self._prompt_at
        self._prompt_at = now
        self._prompt_tokens = min(
            PROMPT_REFUSALS_PER_S, self._prompt_tokens + elapsed * PROMPT_REFUSALS_PER_S
        )
        if self._prompt_tokens >= 1.0:
            self._prompt_tokens -= 1.0
            return False
        if self._delayed >= MAX_DELAYED_REFUSALS:
            return False
        self._delayed += 1
        try:
            await asyncio.sleep(REFUSAL_DELAY_S)
        finally:
            self._delayed -= 1
        return True

    def _timer(self, method: str) -> Any:
        """The ``rpc_seconds`` series of ``method`` (``labels()`` costs more than the
        lookup, on every call)."""
        timer = self._timers.get(method)
        if timer is None:
            timer = self._timers[method] = self._metrics.rpc_seconds.labels(method=method)
        return timer

    def _rejected_call(
        self,
        method: str,
        ref: pb.ScaledObjectRef,
        context: Context,
        code: grpc.StatusCode,
        message: str,
    ) -> None:
        """Count and log (rate-limited) a call answered with an error status."""
        self._metrics.rpc_errors.labels(method=method, code=code.name).inc()
        obj = clean_message(f"{ref.namespace}/{ref.name}", limit=300)
        self._rejected.warning(
            f"{method} {code.name} {obj}",
            {
                "event": "rpc_rejected",
                "method": method,
                "code": code.name,
                "object": obj,
                "reason": message,
                "peer": context.peer(),
            },
        )

    @property
    def open_streams(self) -> int:
        return self._streams

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the server runs on (decisions are made on other threads); call on
        that loop: it starts the streams' periodic sweep."""
        self._loop = loop
        self._sweeper = loop.create_task(self._sweep())

    async def close(self) -> None:
        """End every open stream (on shutdown) and stop the sweep."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._wake_all()

    async def _sweep(self) -> None:
        while not self._closing:
            await asyncio.sleep(STREAM_RECHECK_S)
            await self._wake_all_spread()

    async def _wake_all_spread(self) -> None:
        """Wake every stream, :data:`SWEEP_BATCH` at a time, so calls arriving
        meanwhile wait for one batch, not for all of them."""
        woken = 0
        for watchers in list(self._watchers.values()):
            for ev in list(watchers):
                ev.set()
                woken += 1
                if woken % SWEEP_BATCH == 0:
                    await asyncio.sleep(SWEEP_GAP_S)
                    if self._closing:
                        return

    def _wake_all(self) -> None:
        for watchers in list(self._watchers.values()):
            for ev in watchers:
                ev.set()

    def _on_decision(self, key: str) -> None:
        """Called on a refresher thread after each decision: wake that object's streams.

        Keys are collected and the loop is woken once per batch (not once per
        decision), so thousands of decisions a second cost the loop one wake-up."""
        loop = self._loop
        if loop is None or key not in self._watchers:
            return
        with self._woken_lock:
            first = not self._woken
            self._woken.add(key)
        if first:
            loop.call_soon_threadsafe(self._wake_decided)

    def _wake_decided(self) -> None:
        with self._woken_lock:
            keys, self._woken = self._woken, set()
        for key in keys:
            for ev in self._watchers.get(key, ()):
                ev.set()

    def _watch(self, key: str) -> asyncio.Event:
        ev = asyncio.Event()
        self._watchers.setdefault(key, set()).add(ev)
        return ev

    def _unwatch(self, key: str, ev: asyncio.Event) -> None:
        watchers = self._watchers.get(key)
        if watchers is not None:
            watchers.discard(ev)
            if not watchers:
                del self._watchers[key]

    async def _object(self, ref: pb.ScaledObjectRef) -> TrackedObject:
        meta = dict(ref.scalerMetadata)
        try:
            config = self._tracker.cached_config(ref.name, ref.namespace, meta, admit=True)
            if config is None:
                loop = asyncio.get_running_loop()
                config = await loop.run_in_executor(
                    self._pool, self._tracker.config_for, ref.name, ref.namespace, meta
                )
            return self._tracker.track(config)
        except MetadataError as exc:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        except TrackingRefused as exc:
            raise RpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)) from None

    async def _first_decision(self, obj: TrackedObject) -> None:
        """Wait (without a thread, a task or a timeout exception) up to
        FIRST_DECISION_WAIT_S for the first decision: woken by the decision itself or
        by one timer. (``asyncio.wait_for`` in its place raised and chained two
        exceptions per wait, cyclic garbage that a churn of new objects turned into
        full collections pausing every call.)"""
        key = obj.config.key
        ev = self._watch(key)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FIRST_DECISION_WAIT_S
        timer = loop.call_at(deadline, ev.set)
        try:
            while obj.decision is None and loop.time() < deadline:
                await ev.wait()
                ev.clear()
        finally:
            timer.cancel()
            self._unwatch(key, ev)

    async def _view(self, obj: TrackedObject) -> keda.KedaView:
        """What KEDA reads now (:func:`scaler.keda_adapter.keda_view`, the one rule for
        values, activity and errors), after waiting for a first decision; an error is
        ``UNAVAILABLE`` naming the object."""
        if obj.decision is None:
            await self._first_decision(obj)
        view = keda.keda_view(
            obj.decision,
            now_s=self._tracker.now(),
            fail_after_s=obj.config.guardrails.fail_after_s,
            refresh_interval_s=self._tracker.refresh_interval_s,
        )
        if view.error is not None:
            raise RpcError(grpc.StatusCode.UNAVAILABLE, f"{obj.config.key}: {view.error}")
        return view

    async def _run(
        self,
        method: str,
        ref: pb.ScaledObjectRef,
        context: Context,
        fn: Callable[[], Any],
        empty: Callable[[], Any],
    ) -> Any:
        """``fn()``'s answer; an :class:`RpcError` becomes the call's status with an
        ``empty()`` answer, which gRPC discards for a status other than OK. Not
        ``context.abort()``: it raises, and each raise chained through the handler's
        frames is cyclic garbage; rejected calls by the hundred a second (object churn)
        made full collections that paused every call for 100-400 ms. Nor is the caught
        exception kept past its ``except`` block: its traceback holds this frame, which
        would hold it (a cycle of ~6 objects and more per rejected call, thousands a
        second of garbage for the collector under churn)."""
        start = time.perf_counter()
        timed = False
        try:
            try:
                return await fn()
            except RpcError as exc:
                code, message = exc.code, exc.message
            self._rejected_call(method, ref, context, code, message)
            context.set_code(code)
            context.set_details(message)
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                # rpc_seconds is the time to answer, not the deliberate wait a refusal
                # storm gets (counted apart), or a storm would read as a slow scaler.
                timed = True
                self._timer(method).observe(time.perf_counter() - start)
                if await self._slow_down():
                    self._metrics.refusals_delayed.labels(method=method).inc()
            return empty()
        finally:
            if not timed:
                self._timer(method).observe(time.perf_counter() - start)

    @staticmethod
    def _spec() -> pb.GetMetricSpecResponse:
        return pb.GetMetricSpecResponse(
            metricSpecs=[
                pb.MetricSpec(
                    metricName=METRIC_NAME,
                    targetSize=int(keda.TARGET),
                    targetSizeFloat=keda.TARGET,
                )
            ]
        )

    async def GetMetricSpec(
        self, request: pb.ScaledObjectRef, context: Context
    ) -> pb.GetMetricSpecResponse:
        async def answer() -> pb.GetMetricSpecResponse:
            await self._object(request)
            return self._spec()

        result: pb.GetMetricSpecResponse = await self._run(
            "GetMetricSpec", request, context, answer, pb.GetMetricSpecResponse
        )
        return result

    async def GetMetrics(
        self, request: pb.GetMetricsRequest, context: Context
    ) -> pb.GetMetricsResponse:
        async def answer() -> pb.GetMetricsResponse:
            view = await self._view(await self._object(request.scaledObjectRef))
            value, integer = view.metric()
            return pb.GetMetricsResponse(
                metricValues=[
                    pb.MetricValue(
                        metricName=request.metricName or METRIC_NAME,
                        metricValue=integer,
                        metricValueFloat=value,
                    )
                ]
            )

        result: pb.GetMetricsResponse = await self._run(
            "GetMetrics", request.scaledObjectRef, context, answer, pb.GetMetricsResponse
        )
        return result

    async def IsActive(self, request: pb.ScaledObjectRef, context: Context) -> pb.IsActiveResponse:
        async def answer() -> pb.IsActiveResponse:
            view = await self._view(await self._object(request))
            return pb.IsActiveResponse(result=view.active)

        result: pb.IsActiveResponse = await self._run(
            "IsActive", request, context, answer, pb.IsActiveResponse
        )
        return result

    async def _open_stream(
        self, method: str, request: pb.ScaledObjectRef, context: Context
    ) -> TrackedObject:
        try:
            if self._streams >= self._max_streams:
                raise RpcError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"{self._streams} streams open, the most this scaler holds "
                    "(SCALER_MAX_STREAMS); use the polling RPCs or raise the limit",
                )
            return await self._object(request)
        except RpcError as exc:
            await self._reject(method, request, context, exc)
            raise

    async def _changes(
        self, request: pb.ScaledObjectRef, obj: TrackedObject
    ) -> AsyncIterator[TrackedObject]:
        """The object again after each of its decisions, until the server stops; counts
        as one open stream meanwhile. Between decisions the stream costs no timer and
        no task: it waits on an event the decision (or the sweep) sets."""
        loop = asyncio.get_running_loop()
        self._streams += 1
        key = obj.config.key
        ev = self._watch(key)
        looked = loop.time()
        try:
            while not (self._closing or self._tracker.stopping):
                yield obj
                await ev.wait()
                ev.clear()
                if self._closing or self._tracker.stopping:
                    return
                current = self._tracker.get(key)
                if current is obj and loop.time() - looked < STREAM_RECHECK_S:
                    # A decision for the object as tracked: it is still asked about.
                    obj = self._tracker.track(obj.config)
                    continue
                looked = loop.time()
                try:
                    obj = await self._object(request)
                except RpcError:
                    with contextlib.suppress(TrackingRefused):  # full: the sweep retries
                        obj = self._tracker.track(obj.config)
                if obj.config.key != key:
                    self._unwatch(key, ev)
                    key = obj.config.key
                    ev = self._watch(key)
        finally:
            self._unwatch(key, ev)
            self._streams -= 1

    async def StreamIsActive(
        self, request: pb.ScaledObjectRef, context: Context
    ) -> AsyncIterator[pb.IsActiveResponse]:
        """Send ``true`` on each inactive→active transition (the stream starts as
        inactive, so an object already active gets one ``true`` at once); ``false``
        is never sent since KEDA ignores it and scale-down is the cooldown's job."""
        obj = await self._open_stream("StreamIsActive", request, context)
        was_active = False
        seen: Decision | None = None
        async for current in self._changes(request, obj):
            d = current.decision
            if d is not None and d is not seen:
                seen = d
                active = keda.is_active(d)
                if active and not was_active:
                    yield pb.IsActiveResponse(result=True)
                was_active = active

    async def StreamMetricSpec(
        self, request: pb.ScaledObjectRef, context: Context
    ) -> AsyncIterator[pb.GetMetricSpecResponse]:
        """The spec is constant, so it is sent once at once and the stream is kept open."""
        obj = await self._open_stream("StreamMetricSpec", request, context)
        sent = False
        async for _ in self._changes(request, obj):
            if not sent:
                sent = True
                yield self._spec()
