"""``--exact``: the fleet request by request, as a discrete-event simulation.

Each replica runs Triton's dynamic batcher (:class:`_Replica`, see
:meth:`ExactFleet._batcher` for the rules and where they come from) over one queue
feeding its model instances; a request that waited in the queue longer than
``timeout_ms`` is rejected. Envoy routes each
arrival to the ready replica with the fewest outstanding requests (least_request,
ties to the oldest replica) or in turn (round_robin). Events are kept in a heap
and ties are broken by a counter, so runs are deterministic.

Arrivals are the trace's own (a per-request trace) or drawn per step from the
rate: Poisson or evenly spaced, seeded. Meant for short traces; the fast fleet
gives the same results for long ones.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from scaler.sim.batching import split_burst
from scaler.sim.fleet import HIST_EDGES_MS, LatencySummary, StepOutputs
from scaler.sim.scenario import ExactSpec, FleetSpec, Scenario
from scaler.traces.model import FloatArray, Trace

_ARRIVAL, _DONE, _TIMER = 0, 1, 2
_PHASE_STREAM = 1
"""Sub-stream of the seed the timer phases are drawn from (the arrivals use the seed's
own stream, so a seed's arrivals do not change with the phases)."""


def with_timer_phases(scenario: Scenario) -> Scenario:
    """``scenario`` with the scrape phase and the scaler's first refresh drawn from
    ``exact.seed``, uniform over the scrape and refresh intervals (see
    :attr:`ExactSpec.random_phases`); unchanged when that is off."""
    spec = scenario.exact
    if not spec.random_phases:
        return scenario
    rng = np.random.default_rng([spec.seed, _PHASE_STREAM])
    obs, sc = scenario.observation, scenario.scaler
    scrape_offset = float(rng.uniform(0.0, obs.scrape_interval_s))
    refresh_offset = float(rng.uniform(0.0, sc.refresh_interval_s))
    return scenario.model_copy(
        update={
            "observation": obs.model_copy(update={"scrape_offset_s": scrape_offset}),
            "scaler": sc.model_copy(update={"refresh_offset_s": refresh_offset}),
        }
    )


def draw_arrivals(trace: Trace, spec: ExactSpec) -> tuple[FloatArray, FloatArray]:
    """Arrival times (s, sorted) and items per request for every request of ``trace``."""
    if trace.arrivals_s is not None:
        items = (
            trace.arrival_items
            if trace.arrival_items is not None
            else np.ones(len(trace.arrivals_s))
        )
        return trace.arrivals_s.astype(np.float64), items.astype(np.float64)
    rng = np.random.default_rng(spec.seed)
    dt = trace.step_s
    expected = trace.rps * dt
    if spec.arrival_process == "poisson":
        counts = rng.poisson(expected)
    else:
        carry = np.cumsum(expected)
        counts = np.diff(np.floor(np.concatenate(([0.0], carry)) + 1e-9)).astype(np.int64)
    steps = np.repeat(np.arange(len(counts)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    pos = np.arange(len(steps)) - starts
    if spec.arrival_process == "poisson":
        offsets = rng.uniform(0.0, dt, len(steps))
    else:
        offsets = (pos + 0.5) / np.repeat(np.maximum(counts, 1), counts) * dt
    m = np.ones(len(counts)) if trace.items_per_request is None else trace.items_per_request
    items = np.asarray(m, dtype=np.float64)[steps]
    if trace.burst_fraction is not None:
        f = np.clip(trace.burst_fraction.astype(np.float64), 0.0, 1.0)
        _, _, m_spread = split_burst(trace.rps, np.asarray(m, dtype=np.float64), f)
        in_burst = np.repeat(np.rint(f * counts).astype(np.int64), counts)
        is_burst = pos < in_burst
        offsets = np.where(is_burst, 0.0, offsets)
        whole = np.repeat(f >= 1.0, counts)
        items = np.where(is_burst & ~whole, 1.0, np.where(whole, items, m_spread[steps]))
    times = steps * dt + offsets
    order = np.argsort(times, kind="stable")
    return times[order], items[order]


_PREFETCH_PER_INSTANCE = 2
"""Formed batches that may wait for a busy instance, per instance: Triton's rate
limiter lets the batcher run ahead by ``2 × instances`` payloads
(``RateLimiter::PayloadSlotAvailable``)."""


@dataclass
class _Replica:
    rid: int
    instances: int
    queue: deque[int] = field(default_factory=deque)
    """Requests the batcher has not yet put in a batch (Triton's scheduler queue)."""
    queue_items: float = 0.0
    queued_items: float = 0.0
    """Items not started: in :attr:`queue` and in formed batches waiting."""
    ready: deque[list[int]] = field(default_factory=deque)
    """Formed batches waiting for a free instance, oldest first."""
    cur: list[int] | None = None
    """The batch the batcher is filling (None once an instance started it)."""
    cur_items: float = 0.0
    cur_full: bool = False
    cur_formed: bool = False
    """The current batch is in :attr:`ready` (formed; it can still grow until started)."""
    next_preferred: float = 0.0
    """Items the queue must hold before an arrival wakes the batcher (Triton's
    ``next_preferred_batch_size_``; 0 right after a new batch was opened)."""
    blocked: bool = False
    free: int = 0
    outstanding: int = 0
    timer_at: float | None = None
    draining: bool = False
    drain_done: float | None = None


class ExactFleet:
    """Per-request fleet implementing :class:`scaler.sim.fleet.FleetModel`."""

    def __init__(
        self, trace: Trace, spec: FleetSpec, exact: ExactSpec, initial_ready: int = 0
    ) -> None:
        self.spec = spec
        self.dt = trace.step_s
        self.steps = len(trace.rps)
        self.t_arr, self.items = draw_arrivals(trace, exact)
        self.items = np.minimum(self.items, float(spec.max_batch_items))
        self.outputs = StepOutputs.zeros(self.steps)
        idx = np.minimum((self.t_arr / self.dt).astype(np.int64), self.steps - 1)
        self.outputs.arrivals[:] = np.bincount(idx, minlength=self.steps)[: self.steps]
        self._heap: list[tuple[float, int, int, int, object]] = []
        self._seq = 0
        self._next_arrival = 0
        self._replicas: list[_Replica] = []
        self._routing: list[_Replica] = []
        self._rr = 0
        self._rid = 0
        self._queued_total = 0
        self._boundary = 0
        self._now = 0.0
        self.latencies_ms: list[float] = []
        self._lat_step: list[int] = []
        self._d = spec.max_queue_delay_ms / 1000.0
        self._timeout = spec.timeout_ms / 1000.0
        self._start: dict[int, float] = {}
        self.add_ready(0, initial_ready)

    def _push(self, t: float, kind: int, rid: int, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, kind, self._seq, rid, payload))

    def _step_of(self, t: float) -> int:
        return min(int(t / self.dt), self.steps - 1)

    def advance_to(self, step: int) -> None:
        step = min(step, self.steps)
        until = step * self.dt
        n_arr = len(self.t_arr)
        while True:
            t_heap = self._heap[0][0] if self._heap else math.inf
            t_next_arr = self.t_arr[self._next_arrival] if self._next_arrival < n_arr else math.inf
            t = min(t_heap, t_next_arr)
            if t >= until:
                break
            self._mark_boundaries(t)
            self._now = t
            if t_next_arr <= t_heap:
                i = self._next_arrival
                self._next_arrival += 1
                self._arrive(i, t)
            else:
                _, kind, _, rid, payload = heapq.heappop(self._heap)
                rep = self._replicas[rid]
                if kind == _DONE:
                    assert isinstance(payload, tuple)
                    self._done(rep, t, payload)
                elif rep.timer_at is not None and abs(rep.timer_at - t) < 1e-12:
                    rep.timer_at = None
                    self._batcher(rep, t)
        self._mark_boundaries(until)
        self._now = max(self._now, until)

    def _mark_boundaries(self, t: float) -> None:
        while self._boundary < self.steps and (self._boundary + 1) * self.dt <= t:
            self.outputs.pending[self._boundary] = self._queued_total
            self._boundary += 1

    def _arrive(self, i: int, t: float) -> None:
        step = self._step_of(t)
        if not self._routing:
            self.outputs.failed[step] += 1
            return
        if self.spec.envoy_policy == "round_robin":
            rep = self._routing[self._rr % len(self._routing)]
            self._rr += 1
        else:
            rep = min(self._routing, key=lambda r: r.outstanding)
        rep.queue.append(i)
        rep.queue_items += float(self.items[i])
        rep.queued_items += float(self.items[i])
        rep.outstanding += 1
        self._queued_total += 1
        # Triton's Enqueue wakes the batcher only when a batch slot is free and the
        # current batch is started or full, or the queue holds the next preferred size.
        if self._slot_free(rep) and (
            rep.cur is None or rep.cur_full or rep.queue_items >= rep.next_preferred - 1e-9
        ):
            self._batcher(rep, t)

    def _slot_free(self, rep: _Replica) -> bool:
        return len(rep.ready) < _PREFETCH_PER_INSTANCE * rep.instances

    def _expire(self, rep: _Replica, t: float) -> None:
        while rep.queue and t - self.t_arr[rep.queue[0]] > self._timeout:
            i = rep.queue.popleft()
            rep.queue_items -= float(self.items[i])
            rep.queued_items -= float(self.items[i])
            rep.outstanding -= 1
            self._queued_total -= 1
            self.outputs.failed[self._step_of(t)] += 1

    def _batcher(self, rep: _Replica, t: float) -> None:
        """One pass of Triton's dynamic batcher (``DynamicBatchScheduler::BatcherThread``
        and ``GetDynamicBatch``, with ``preferred_batch_size`` defaulting to
        ``max_batch_size`` as Triton's config normalisation sets it), then free
        instances start the formed batches.

        * A new batch is opened once the last one started or is full. If its oldest
          request has waited ``max_queue_delay_ms``, the queue (up to a full batch) is
          formed at once; otherwise the batcher waits for that moment, and arrivals in
          between join (they do not wake it unless the batch would be full).
        * A formed batch waits for a free instance and can still grow until one starts
          it, but only through a wake-up: an arrival wakes the batcher when the queue
          holds the next preferred size, which is 0 right after a batch was opened
          (so one more arrival joins a batch formed from requests that had already
          waited) and the rest of a full batch after that. Requests that arrive at a
          busy instance after its next batch was formed therefore wait for the batch
          after it: with one instance and one-item requests at moderate load, batches
          are smaller and waits longer than "everything queued when the instance
          frees". Measured on this testbed's Triton (pytriton 0.7.0; 5 ms + 40 ms
          per item, batches of up to 8, 2 ms queue delay), 20 trials per pattern
          (``bench/batcher_probe.py``, ``bench/results/batcher_probe.md``, 11:43 UTC
          run): requests at 0, 15, 30 and 40 ms ran as {0}, {15}, {30, 40} in 17 of
          20 trials, as here (3 ran {0}, {15, 30, 40}); requests at 0, 15, 30, 60 and
          70 ms ran as {0}, {15}, {30, 60, 70} in 11 of 20, as here, and as {0}, {15},
          {30, 60}, {70} in 5 (the instance took the formed batch before the batcher
          could grow it, the race below going the other way; 4 others were requests
          sent late on the loaded machine).
        * At most ``2 × instances`` formed batches wait (the rate limiter's prefetch
          cap); beyond that the batcher waits for an instance to start one.
        """
        big_b = float(self.spec.max_batch_items)
        while True:
            if rep.cur is None or rep.cur_full:
                rep.cur, rep.cur_items, rep.cur_full, rep.cur_formed = [], 0.0, False, False
                rep.next_preferred = 0.0
            self._expire(rep, t)
            if not rep.queue:
                break
            if not self._slot_free(rep):
                rep.blocked = True
                break
            take = 0
            items = rep.cur_items
            full = False
            for i in rep.queue:
                it = float(self.items[i])
                if items > 0 and items + it > big_b + 1e-9:
                    full = True
                    break
                items += it
                take += 1
            full = full or items >= big_b - 1e-9
            oldest = float(self.t_arr[rep.queue[0]])
            exceeded = self._d <= 0 or t >= oldest + self._d - 1e-12
            if not (full or exceeded):
                rep.next_preferred = big_b - rep.cur_items
                if not rep.cur_formed:
                    due = oldest + self._d
                    if rep.timer_at is None or rep.timer_at > due + 1e-12:
                        rep.timer_at = due
                        self._push(due, _TIMER, rep.rid, None)
                    break
            cur = rep.cur
            assert cur is not None
            for _ in range(take):
                i = rep.queue.popleft()
                cur.append(i)
                rep.queue_items -= float(self.items[i])
            rep.cur_items = items
            rep.cur_full = full
            if not rep.cur_formed:
                rep.cur_formed = True
                rep.ready.append(cur)
            self._start_ready(rep, t)
            if not rep.queue or not full:
                break
        self._start_ready(rep, t)
        self._maybe_release(rep, t)

    def _start_ready(self, rep: _Replica, t: float) -> None:
        """Free instances start the formed batches, oldest first."""
        while rep.free > 0 and rep.ready:
            batch = rep.ready.popleft()
            if batch is rep.cur:
                rep.cur = None
            items = float(self.items[batch].sum())
            rep.queued_items -= items
            self._queued_total -= len(batch)
            rep.free -= 1
            service = (self.spec.base_ms + self.spec.per_item_ms * items) / 1000.0
            self._add_busy(t, t + service, rep.instances)
            self._push(t + service, _DONE, rep.rid, (t, tuple(batch)))

    def _instance_freed(self, rep: _Replica, t: float) -> None:
        """An execution ended: the instance starts the oldest formed batch. The
        batcher runs when none was waiting (Triton's completion callback wakes it to
        form a batch from the queue) or when it waited for a batch slot; a batch
        waiting to start is taken by the instance before the woken batcher could grow
        it (measured: see :meth:`_batcher`)."""
        rep.free += 1
        had_ready = bool(rep.ready)
        self._start_ready(rep, t)
        if not had_ready or rep.blocked:
            rep.blocked = False
            self._batcher(rep, t)
        self._maybe_release(rep, t)

    def _add_busy(self, start: float, end: float, instances: int) -> None:
        s = start
        while s < end - 1e-15:
            step = self._step_of(s)
            edge = min(end, (step + 1) * self.dt)
            if edge <= s:
                break
            self.outputs.busy_s[step] += (edge - s) / instances
            s = edge

    def _done(self, rep: _Replica, t: float, payload: tuple[float, tuple[int, ...]]) -> None:
        started, batch = payload
        step = self._step_of(t)
        o = self.outputs
        o.execs[step] += 1
        o.items[step] += float(self.items[list(batch)].sum())
        o.compute_ms[step] += len(batch) * (t - started) * 1000.0
        for i in batch:
            arr = float(self.t_arr[i])
            o.success[step] += 1
            o.queue_ms[step] += (started - arr) * 1000.0
            self.latencies_ms.append((t - arr) * 1000.0)
            self._lat_step.append(self._step_of(arr))
        rep.outstanding -= len(batch)
        self._instance_freed(rep, t)

    def _maybe_release(self, rep: _Replica, t: float) -> None:
        if (
            rep.draining
            and rep.drain_done is None
            and not rep.queue
            and not rep.ready
            and rep.free == rep.instances
        ):
            rep.drain_done = t

    def add_ready(self, step: int, count: int) -> None:
        self.advance_to(step)
        for _ in range(count):
            rep = _Replica(self._rid, self.spec.instances_per_replica)
            rep.free = rep.instances
            self._rid += 1
            self._replicas.append(rep)
            self._routing.append(rep)
        self._set_ready(step)

    def ready_count(self) -> int:
        return len(self._routing)

    def _set_ready(self, step: int) -> None:
        if step < self.steps:
            self.outputs.ready[step:] = len(self._routing)

    def remove(self, step: int, count: int) -> list[float]:
        """Stop routing to the ``count`` newest replicas. A draining replica gets no
        new requests; its drain time is estimated from its queue (full batches over
        its instances, plus the batch in flight)."""
        self.advance_to(step)
        t = step * self.dt
        out = []
        for _ in range(min(count, len(self._routing))):
            rep = self._routing.pop()
            rep.draining = True
            self._maybe_release(rep, t)
            out.append(self._drain_estimate(rep, t))
        self._set_ready(step)
        return out

    def _drain_estimate(self, rep: _Replica, t: float) -> float:
        if rep.drain_done is not None:
            return rep.drain_done - t
        full = float(self.spec.max_batch_items)
        service = (self.spec.base_ms + self.spec.per_item_ms * full) / 1000.0
        batches = math.ceil(rep.queued_items / full) if rep.queued_items > 0 else 0
        rounds = math.ceil(batches / rep.instances) + 1
        return rounds * service

    def latency(self, slo_ms: float) -> LatencySummary:
        self.advance_to(self.steps)
        self._drain_tail()
        lat = np.asarray(self.latencies_ms, dtype=np.float64)
        steps = np.asarray(self._lat_step, dtype=np.int64)
        hist = np.histogram(lat, bins=HIST_EDGES_MS)[0].astype(np.float64)
        per_step = np.zeros(self.steps)
        if len(lat):
            order = np.lexsort((lat, steps))
            s_sorted, l_sorted = steps[order], lat[order]
            bounds = np.searchsorted(s_sorted, np.arange(self.steps + 1))
            counts = np.diff(bounds)
            has = counts > 0
            pick = bounds[:-1] + np.floor(0.99 * np.maximum(counts - 1, 0)).astype(np.int64)
            per_step[has] = l_sorted[pick[has]]
        return LatencySummary(hist, float((lat <= slo_ms).sum()), float(len(lat)), per_step)

    def within_per_step(self, limit_ms: FloatArray) -> FloatArray:
        """Requests of each step (by arrival) answered within ``limit_ms[step]`` ms."""
        self.advance_to(self.steps)
        self._drain_tail()
        lat = np.asarray(self.latencies_ms, dtype=np.float64)
        steps = np.asarray(self._lat_step, dtype=np.int64)
        ok = lat <= limit_ms[steps] if len(lat) else np.zeros(0, dtype=bool)
        counts: FloatArray = np.bincount(steps[ok], minlength=self.steps)[: self.steps].astype(
            np.float64
        )
        return counts

    def _drain_tail(self) -> None:
        """Finish work still queued or in flight at the end of the trace, so every
        admitted request has a latency (as the fast fleet assigns one on arrival)."""
        while self._heap:
            t, kind, _, rid, payload = heapq.heappop(self._heap)
            rep = self._replicas[rid]
            if kind == _DONE:
                assert isinstance(payload, tuple)
                _, batch = payload
                for i in batch:
                    self.latencies_ms.append((t - float(self.t_arr[i])) * 1000.0)
                    self._lat_step.append(self._step_of(float(self.t_arr[i])))
                rep.outstanding -= len(batch)
                self._instance_freed(rep, t)
            elif rep.timer_at is not None and abs(rep.timer_at - t) < 1e-12:
                rep.timer_at = None
                self._batcher(rep, t)
