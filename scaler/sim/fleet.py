"""The fast fleet model: a fluid queue over 1 s steps, vectorised between changes.

N ready replicas × k model instances form one pool (Envoy's least-request keeps
their queues level; in this mode round-robin spreads evenly too, and differs only
in ``--exact``). Each step: items arrive, the pool serves up to its capacity with
full batches, the rest waits as backlog for the next step; a backlog older than the
queue timeout is rejected (failed). Latency of a step's arrivals is spread
uniformly between the best and worst case of batching wait + backlog wait +
service, so percentiles and SLO attainment come out without per-request objects.
Below the capacity, where Poisson arrivals queue longer than the fluid's batching
wait (:func:`scaler.sim.batching.random_arrival_queue`), the share of requests that
find every instance busy wait an exponential time instead (the *tail* piece: its
start and mean per step), the others only the queue delay, so the percentiles and
the SLO share see the random-arrival queue's tail and not only its mean.

While the ready set does not change the backlog follows Lindley's recursion,
computed in closed form with cumulative sums over a whole segment; the engine's
Python loop only runs at control events.

Memory does not grow with the trace: per-step arrays cover a sliding window of
:data:`BUFFER_STEPS` steps (the Prometheus model looks back a rate window at most);
finished steps are handed to a :class:`scaler.sim.totals.Accumulator` in blocks of
whole SLO windows and forgotten. A trace that fits the window keeps every step, so
:meth:`FastFleet.latency` and :meth:`FastFleet.within_per_step` still work on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from scaler.sim.batching import (
    BurstState,
    SteadyState,
    burst_state,
    instance_capacity_items_s,
    service_s,
    split_burst,
    steady_state,
)
from scaler.sim.scenario import FleetSpec
from scaler.sim.windows import WINDOW_S, WORST_WINDOW_S
from scaler.traces.model import FloatArray, Trace

if TYPE_CHECKING:
    from scaler.sim.totals import Accumulator, RunTotals

SEGMENT_STEPS = 900
"""Steps computed ahead at a time; a change of the ready set discards the rest."""

WINDOW_GRID_S = (WINDOW_S, WORST_WINDOW_S)
"""Windows of the window-level SLO (:mod:`scaler.sim.windows`): blocks handed over
hold whole windows of both."""

BUFFER_STEPS = 1 << 16
"""Steps of per-step arrays kept (about 18 h at 1 s); older finished steps are
handed to the accumulator and dropped."""

HIST_EDGES_MS: FloatArray = np.concatenate(([0.0], np.logspace(-2, 7, 901)))
"""Latency histogram bin edges (ms): 100 log bins per decade from 0.01 ms to 10⁷ ms."""

_QUANTILE_EDGES = np.array([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1])
_Q_POINTS = (_QUANTILE_EDGES[:-1] + _QUANTILE_EDGES[1:]) / 2
_Q_WEIGHTS = np.diff(_QUANTILE_EDGES)
_EXP_EDGES = np.array(
    [0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.97, 0.98, 0.985, 0.99, 0.9925, 0.995, 0.9975, 0.999, 1]
)
_EXP_POINTS = -np.log1p(-(_EXP_EDGES[:-1] + _EXP_EDGES[1:]) / 2)
"""An exponential piece's histogram points, in means above its start: the quantiles
at the middles of :data:`_EXP_EDGES`, finest at 95-99.9 %, where a run's p99 falls
when 10-100 % of its requests wait (1 % of all is 1 / p of those that wait)."""
_EXP_WEIGHTS = np.diff(_EXP_EDGES)


@dataclass
class StepOutputs:
    """Per-step results (index = step), what Prometheus and the scores read.

    Counters (``success``, ``failed``, ``queue_ms``, ``execs``) count at completion;
    ``arrivals`` counts at the proxy on arrival. ``busy_s`` is replica-seconds busy
    (averaged over a replica's model instances),
    ``pending`` requests queued at the end of the step, ``ready`` ready replicas,
    ``items`` batch items completed and ``compute_ms`` the compute time of the batch
    each completed request rode in, summed over requests (Triton's counters).
    """

    arrivals: FloatArray
    success: FloatArray
    failed: FloatArray
    queue_ms: FloatArray
    execs: FloatArray
    busy_s: FloatArray
    pending: FloatArray
    ready: FloatArray
    items: FloatArray
    compute_ms: FloatArray
    base: int = 0
    """Step of index 0: the fast fleet keeps only a sliding window of recent steps."""
    total: int = -1
    """Steps of the whole run (-1: the arrays' length)."""
    matrix: FloatArray | None = None
    """The ten arrays as the rows of one (10, steps) array, when they are its views:
    :meth:`sums` then adds up a window of every field in one call."""

    @staticmethod
    def zeros(steps: int, total: int | None = None) -> StepOutputs:
        m = np.zeros((len(_OUTPUT_FIELDS), steps))
        return StepOutputs(
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            m[6],
            m[7],
            m[8],
            m[9],
            total=steps if total is None else total,
            matrix=m,
        )

    def sums(self, i0: int, i1: int) -> list[float]:
        """Each field summed over indices [i0, i1), in :data:`_OUTPUT_FIELDS` order."""
        if self.matrix is not None:
            # np.add.reduce is what ndarray.sum calls, without its argument handling.
            out: list[float] = np.add.reduce(self.matrix[:, i0:i1], axis=1).tolist()
            return out
        return [float(getattr(self, f)[i0:i1].sum()) for f in _OUTPUT_FIELDS]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latency over all served requests: a histogram on :data:`HIST_EDGES_MS`,
    requests within the SLO, and a per-step high-percentile series for plots."""

    histogram: FloatArray
    within_slo: float
    served: float
    per_step_p99_ms: FloatArray


class FleetModel(Protocol):
    """What the engine drives; the fast and the exact fleet both implement it."""

    outputs: StepOutputs

    def advance_to(self, step: int) -> None:
        """Simulate every step before ``step`` with the current ready set."""
        ...

    def add_ready(self, step: int, count: int) -> None:
        """``count`` replicas start serving at ``step`` (after ``advance_to(step)``)."""
        ...

    def remove(self, step: int, count: int) -> list[float]:
        """Stop routing to the ``count`` newest replicas at ``step``; each drains its
        queue. Returns each one's drain time in seconds."""
        ...

    def ready_count(self) -> int:
        """Replicas receiving requests now (what the HPA counts as ready pods)."""
        ...

    def latency(self, slo_ms: float) -> LatencySummary:
        """Latency results once the run is over."""
        ...

    def within_per_step(self, limit_ms: FloatArray) -> FloatArray:
        """Once the run is over: requests of each step (by arrival) served within
        ``limit_ms[step]`` ms."""
        ...


def percentile_from_histogram(hist: FloatArray, q: float) -> float:
    """The q-quantile (0–1) in ms, interpolated inside the bin; 0 with no data."""
    total = float(hist.sum())
    if total <= 0:
        return 0.0
    cdf = np.cumsum(hist) / total
    i = int(np.searchsorted(cdf, q))
    i = min(i, len(hist) - 1)
    lo, hi = HIST_EDGES_MS[i], HIST_EDGES_MS[i + 1]
    before = cdf[i - 1] if i > 0 else 0.0
    frac = (q - before) / (cdf[i] - before) if cdf[i] > before else 0.5
    return float(lo + (hi - lo) * min(max(frac, 0.0), 1.0))


class FastFleet:
    """Fluid fleet; see the module docstring. Memory is a window of per-step arrays,
    whatever the trace's length."""

    def __init__(
        self,
        trace: Trace,
        spec: FleetSpec,
        initial_ready: int = 0,
        *,
        lookback_s: float = 900.0,
        buffer_steps: int = BUFFER_STEPS,
    ) -> None:
        self.spec = spec
        self.dt = trace.step_s
        self.steps = len(trace.rps)
        self.rps = np.asarray(trace.rps, dtype=np.float64)
        self._items_in = trace.items_per_request
        self._burst_in = trace.burst_fraction
        self.lookback = math.ceil((lookback_s + spec.timeout_ms / 1000.0) / self.dt) + 2
        size = min(self.steps, max(buffer_steps, 4 * (self.lookback + SEGMENT_STEPS)))
        self.outputs = StepOutputs.zeros(size, total=self.steps)
        self._blo = np.zeros(size)
        self._bhi = np.zeros(size)
        self._bserved = np.zeros(size)
        self._lat_lo = np.zeros(size)
        self._lat_hi = np.zeros(size)
        self._served = np.zeros(size)
        self._tlo = np.zeros(size)
        self._tmean = np.zeros(size)
        self._tserved = np.zeros(size)
        self._backlog = np.zeros(size + 1)
        self._drain_success = np.zeros(size)
        self._drain_queue_ms = np.zeros(size)
        self._queue_arr_ms = np.zeros(size)
        self._mu = instance_capacity_items_s(spec)
        self.ready = initial_ready
        self.pos = 0
        self.computed_to = 0
        self.base = 0
        self.handed = 0
        self.sink: Accumulator | None = None
        self._batching_cache: dict[
            tuple[int, float, float, float], tuple[FloatArray, SteadyState, BurstState]
        ] = {}

    def _items(self, t0: int, t1: int) -> FloatArray:
        if self._items_in is None:
            return np.ones(t1 - t0)
        return np.maximum(np.asarray(self._items_in[t0:t1], dtype=np.float64), 1e-9)

    def _bursts(self, t0: int, t1: int) -> FloatArray:
        if self._burst_in is None:
            return np.zeros(t1 - t0)
        return np.clip(np.asarray(self._burst_in[t0:t1], dtype=np.float64), 0.0, 1.0)

    def _room(self, end: int) -> None:
        """Make the buffer hold steps up to ``end`` (exclusive), handing finished
        steps (more than a look-back before the current step) to the sink first."""
        size = len(self.outputs.arrivals)
        if end - self.base <= size:
            return
        block = block_steps(self.dt)
        keep = max(self.base, self.handed, (self.pos - self.lookback) // block * block)
        self._hand_over(keep)
        shift = keep - self.base
        if end - keep > size:
            grown = max(2 * size, end - keep)
            o = self.outputs
            assert o.matrix is not None
            matrix = np.zeros((len(_OUTPUT_FIELDS), grown))
            matrix[:, : size - shift] = o.matrix[:, shift:]
            o.matrix = matrix
            for row, name in zip(matrix, _OUTPUT_FIELDS, strict=True):
                setattr(o, name, row)
            for name in _INTERNAL_FIELDS:
                arr = getattr(self, name)
                new = np.zeros(grown + (1 if name == "_backlog" else 0))
                new[: len(arr) - shift] = arr[shift:]
                setattr(self, name, new)
        else:
            assert self.outputs.matrix is not None
            for arr in (self.outputs.matrix, *(getattr(self, n) for n in _INTERNAL_FIELDS)):
                arr[..., : arr.shape[-1] - shift] = arr[..., shift:]
                arr[..., arr.shape[-1] - shift :] = 0.0
        self.base = keep
        self.outputs.base = keep

    def _hand_over(self, upto: int) -> None:
        """Give the sink every step from the last hand-over up to ``upto``."""
        if upto <= self.handed:
            return
        if self.sink is not None:
            a, b = self.handed - self.base, upto - self.base
            o = self.outputs
            self.sink.add(
                o.arrivals[a:b],
                o.failed[a:b],
                o.ready[a:b],
                o.busy_s[a:b],
                (
                    self._lat_lo[a:b],
                    self._lat_hi[a:b],
                    self._served[a:b],
                    self._blo[a:b],
                    self._bhi[a:b],
                    self._bserved[a:b],
                    self._tlo[a:b],
                    self._tmean[a:b],
                    self._tserved[a:b],
                ),
            )
        self.handed = upto

    def finish(self, sink: Accumulator) -> RunTotals:
        """Every step into ``sink`` and the run's totals; ``sink`` must be the one set
        as :attr:`sink` from the start unless the whole trace fits the buffer."""
        self.advance_to(self.steps)
        if self.sink is None:
            if self.handed > 0:
                raise RuntimeError("finish() needs the sink set before steps were dropped")
            self.sink = sink
        self._hand_over(self.steps)
        return sink.finish()

    def _capacity(self, ready: int) -> float:
        return ready * self.spec.instances_per_replica * self._mu

    def advance_to(self, step: int) -> None:
        step = min(step, self.steps)
        while self.computed_to < step:
            self._segment(self.computed_to, min(self.computed_to + SEGMENT_STEPS, self.steps))
        self.pos = max(self.pos, step)

    def ready_count(self) -> int:
        return self.ready

    def _invalidate(self, step: int) -> None:
        self.advance_to(step)
        self.computed_to = step

    def add_ready(self, step: int, count: int) -> None:
        self._invalidate(step)
        self.ready += count

    def remove(self, step: int, count: int) -> list[float]:
        self._invalidate(step)
        count = min(count, self.ready)
        if count <= 0:
            return []
        self._room(step)
        i = step - self.base
        q = float(self._backlog[i])
        share = q / self.ready
        self._backlog[i] = q - share * count
        self.ready -= count
        per_replica = self._capacity(1)
        drain_s = share / per_replica if per_replica > 0 else 0.0
        if share > 0 and step < self.steps:
            n = max(1, int(np.ceil(drain_s / self.dt)))
            end = min(step + n, self.steps)
            self._room(end)
            i = step - self.base
            m = float(self._items(max(step - 1, 0), max(step, 1))[0].item())
            reqs = share * count / m
            self._drain_success[i : i + end - step] += reqs / n
            self._drain_queue_ms[i : i + end - step] += reqs / n * drain_s * 500.0
        return [drain_s] * count

    def _segment(self, t0: int, t1: int) -> None:
        """Compute steps [t0, t1) with the current ready set, starting from the backlog
        at ``t0``; writes every per-step array for that range."""
        self._room(t1)
        o = self.outputs
        n = self.ready
        dt = self.dt
        r = self.rps[t0:t1]
        m = self._items(t0, t1)
        a = r * m * dt
        g0, t0, t1 = t0, t0 - self.base, t1 - self.base
        q0 = float(self._backlog[t0])
        o.arrivals[t0:t1] = r * dt
        o.ready[t0:t1] = n
        if n == 0:
            o.failed[t0:t1] = r * dt
            zeroed = (o.execs, o.busy_s, o.pending, o.items, o.compute_ms)
            for arr in (*zeroed, self._served, self._bserved, self._tserved):
                arr[t0:t1] = 0.0
            o.success[t0:t1] = self._drain_success[t0:t1]
            o.queue_ms[t0:t1] = self._drain_queue_ms[t0:t1]
            self._backlog[t0 + 1 : t1 + 1] = 0.0
            o.failed[t0] += q0 / max(m[0], 1e-9)
            self.computed_to = t1 + self.base
            return
        k = n * self.spec.instances_per_replica
        cap = self._capacity(n)
        cap_step = cap * dt
        qmax = cap * self.spec.timeout_ms / 1000.0
        x = a - cap_step
        s = np.cumsum(x)
        q_end = s - np.minimum(-q0, np.minimum.accumulate(s))
        dropped = np.zeros_like(a)
        if q_end.size and q_end.max() > qmax:
            q_end, dropped = _capped_lindley(q0, x, qmax)
        q_start = np.concatenate(([q0], q_end[:-1]))
        served_items = np.maximum(q_start + a - q_end - dropped, 0.0)
        f = self._bursts(g0, g0 + len(r))
        b_items_s, ss, bs = self._batching(r, m, f, n)
        backlogged = (q_start > 0) | (q_end > 0)
        batch = np.where(backlogged, float(self.spec.max_batch_items), ss.batch_items)
        wq_lo = q_start / cap
        wq_hi = q_end / cap
        lo_s = wq_lo + ss.wait_lo_s + ss.service_s
        hi_s = wq_hi + ss.wait_hi_s + ss.service_hi_s
        # Random arrivals below the capacity: those that find every instance busy wait
        # the exponential tail, the others the idle wait (no backlog: wq_lo = wq_hi = 0).
        tail = np.where(backlogged, 0.0, ss.tail_share) if ss.tail_share.any() else None
        if tail is not None and tail.any():
            random_q = tail > 0
            lo_s = np.where(random_q, ss.idle_wait_s + ss.service_s, lo_s)
            hi_s = np.where(random_q, ss.idle_wait_s + ss.service_hi_s, hi_s)
        else:
            tail = None
        b_mean = (bs.wait_lo_s + bs.wait_hi_s) / 2
        # In a backlog the fluid queue is the queue: no random-arrival term on top.
        spread_wait = np.where(backlogged, (ss.wait_lo_s + ss.wait_hi_s) / 2, ss.wait_mean_s)
        queue_mean_s = (wq_lo + wq_hi) / 2 + (1 - f) * spread_wait + f * b_mean
        arrived = r * dt
        failed = dropped / m
        served_req = served_items / m
        ok = np.maximum(arrived - failed, 0.0)
        self._lat_lo[t0:t1] = lo_s * 1000.0
        self._lat_hi[t0:t1] = hi_s * 1000.0
        if tail is None:
            self._served[t0:t1] = ok * (1 - f)
            for arr in (self._tlo, self._tmean, self._tserved):
                arr[t0:t1] = 0.0
        else:
            self._served[t0:t1] = ok * (1 - f) * (1 - tail)
            tail_lo_s = tail_start_s(ss.service_s, ss.service_hi_s, ss.tail_wait_s)
            self._tlo[t0:t1] = tail_lo_s * 1000.0
            self._tmean[t0:t1] = ss.tail_wait_s * 1000.0
            self._tserved[t0:t1] = ok * (1 - f) * tail
        self._blo[t0:t1] = (wq_lo + bs.wait_lo_s + bs.service_s) * 1000.0
        self._bhi[t0:t1] = (wq_lo + bs.wait_hi_s + bs.service_s) * 1000.0
        self._bserved[t0:t1] = ok * f
        self._queue_arr_ms[t0:t1] = queue_mean_s * 1000.0
        lag = np.rint(wq_lo / dt).astype(np.int64)
        src = np.maximum(np.arange(t0, t1) - lag, 0)
        o.success[t0:t1] = served_req + self._drain_success[t0:t1]
        o.failed[t0:t1] = failed
        o.queue_ms[t0:t1] = served_req * self._queue_arr_ms[src] + self._drain_queue_ms[t0:t1]
        burst_served = np.minimum(b_items_s * dt, served_items)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread_execs = np.where(
                batch > 0, np.maximum(served_items - burst_served, 0.0) / batch, 0.0
            )
            burst_execs = np.where(bs.batch_items > 0, burst_served / bs.batch_items, 0.0)
            o.execs[t0:t1] = np.where(backlogged, served_items / batch, spread_execs + burst_execs)
        o.items[t0:t1] = served_items
        full_s = float(service_s(self.spec, float(self.spec.max_batch_items)))
        per_request_s = np.where(backlogged, full_s, (1 - f) * ss.service_s + f * bs.service_s)
        o.compute_ms[t0:t1] = served_req * per_request_s * 1000.0
        busy_frac = np.where(backlogged, 1.0, np.minimum(ss.busy + bs.busy_s / (k * dt), 1.0))
        o.busy_s[t0:t1] = busy_frac * n * dt
        o.pending[t0:t1] = q_end / m + r * (1 - f) * spread_wait
        self._backlog[t0 + 1 : t1 + 1] = q_end
        self.computed_to = t1 + self.base

    def _batching(
        self, r: FloatArray, m: FloatArray, f: FloatArray, n: int
    ) -> tuple[FloatArray, SteadyState, BurstState]:
        """Burst items/s, the spread requests' steady state and the bursts' of steps
        with rates ``r``, items per request ``m`` and burst shares ``f`` on ``n`` ready
        replicas. Every value is per step, so a segment whose steps all look alike (a
        trace's flat stretch) gets them from one step: computed once per such load and
        fleet size and kept (a steady state costs hundreds of NumPy calls whatever the
        segment's length, and a fleet that changes size every minute starts a segment
        each time). Arrays of one step broadcast in the segment's arithmetic."""
        key = _flat_key(r, m, f, n)
        if key is not None:
            hit = self._batching_cache.get(key)
            if hit is None:
                if len(self._batching_cache) >= _BATCHING_CACHE_SIZE:
                    self._batching_cache.clear()
                hit = self._batching(r[:1], m[:1], f[:1], n)
                states = [getattr(x, a.name) for x in hit[1:] for a in fields(x)]
                for arr in (hit[0], *states):
                    arr.flags.writeable = False  # shared by every segment of that load
                self._batching_cache[key] = hit
            return hit
        k = n * self.spec.instances_per_replica
        b_items_s, s_items_s, m_spread = split_burst(r, m, f)
        ss = steady_state(
            self.spec,
            np.minimum(s_items_s, self._capacity(n)) / k,
            r * (1 - f) / k,
            m_spread,
            servers=k,
        )
        bs = burst_state(self.spec, b_items_s * self.dt, k, np.where(f >= 1.0, m, 1.0))
        return b_items_s, ss, bs

    def within_per_step(self, limit_ms: FloatArray) -> FloatArray:
        """Served requests of each step answered within ``limit_ms`` (one limit per
        step), from the same uniform spreads as the histogram."""
        self._whole()
        spread = self._served * share_within(self._lat_lo, self._lat_hi, limit_ms)
        burst = self._bserved * share_within(self._blo, self._bhi, limit_ms)
        out: FloatArray = spread + burst
        if self._tserved.any():
            out = out + self._tserved * share_within_exponential(self._tlo, self._tmean, limit_ms)
        return out

    def _whole(self) -> None:
        self.advance_to(self.steps)
        if self.base > 0 or len(self.outputs.arrivals) < self.steps:
            raise RuntimeError("the trace does not fit the fleet's buffer: use finish()")

    def latency(self, slo_ms: float) -> LatencySummary:
        """Latency over the whole run (a trace that fits the buffer; else :meth:`finish`)."""
        self._whole()
        hist = np.zeros(len(HIST_EDGES_MS) - 1)
        within = 0.0
        for lo, hi, w in (
            (self._lat_lo, self._lat_hi, self._served),
            (self._blo, self._bhi, self._bserved),
        ):
            h, inside = uniform_histogram(lo, hi, w, slo_ms)
            hist += h
            within += inside
        h, inside = exponential_histogram(self._tlo, self._tmean, self._tserved, slo_ms)
        hist += h
        within += inside
        served = self._served + self._bserved + self._tserved
        p99 = step_p99_ms(
            (self._lat_lo, self._lat_hi, self._served),
            (self._blo, self._bhi, self._bserved),
            (self._tlo, self._tmean, self._tserved),
            0.99,
        )
        return LatencySummary(hist, within, float(served.sum()), p99)


_BATCHING_CACHE_SIZE = 1024
"""Flat loads × fleet sizes whose batching state a fleet keeps (cleared when full)."""


def _flat_key(
    r: FloatArray, m: FloatArray, f: FloatArray, n: int
) -> tuple[int, float, float, float] | None:
    """(n, rate, items per request, burst share) when every step of a segment of more
    than one step has the same, else None."""
    if r.size < 2:
        return None
    r0, m0, f0 = float(r[0]), float(m[0]), float(f[0])
    if (r == r0).all() and (m == m0).all() and (f == f0).all():
        return n, r0, m0, f0
    return None


def block_steps(step_s: float) -> int:
    """Steps per block handed to the accumulator: whole windows of both SLO grids."""
    out = 1
    for window_s in WINDOW_GRID_S:
        per = max(1, round(window_s / step_s))
        out = out * per // math.gcd(out, per)
    return out


_INTERNAL_FIELDS = (
    "_blo",
    "_bhi",
    "_bserved",
    "_lat_lo",
    "_lat_hi",
    "_served",
    "_tlo",
    "_tmean",
    "_tserved",
    "_backlog",
    "_drain_success",
    "_drain_queue_ms",
    "_queue_arr_ms",
)

_OUTPUT_FIELDS = (
    "arrivals",
    "success",
    "failed",
    "queue_ms",
    "execs",
    "busy_s",
    "pending",
    "ready",
    "items",
    "compute_ms",
)

_LOG_LO, _PER_DECADE = -2.0, 100.0
"""HIST_EDGES_MS[1:] = 10 ** (_LOG_LO + k / _PER_DECADE): bins found by arithmetic."""

_HIST_CHUNK = 1 << 16
"""Steps per chunk of the histogram (its points are 13 per step)."""


def histogram_index(values: FloatArray) -> npt.NDArray[np.int64]:
    """Bin of each value in :data:`HIST_EDGES_MS` (as ``searchsorted(side="right") - 1``,
    clipped to the bins), by log arithmetic corrected at the edges."""
    bins = len(HIST_EDGES_MS) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.floor((np.log10(values) - _LOG_LO) * _PER_DECADE) + 1
    idx = np.clip(np.nan_to_num(guess, nan=0.0, neginf=0.0, posinf=bins), 0, bins).astype(np.int64)
    idx -= values < HIST_EDGES_MS[idx]
    idx = np.clip(idx, 0, bins)
    idx += (idx < bins) & (values >= HIST_EDGES_MS[np.minimum(idx + 1, bins)])
    out: npt.NDArray[np.int64] = np.clip(idx, 0, bins - 1)
    return out


def uniform_histogram(
    lo: FloatArray, hi: FloatArray, w: FloatArray, slo_ms: float
) -> tuple[FloatArray, float]:
    """Histogram on :data:`HIST_EDGES_MS` of ``w`` requests per step spread uniformly
    over [lo, hi] ms, and how many of them are within ``slo_ms``."""
    bins = len(HIST_EDGES_MS) - 1
    hist = np.zeros(bins)
    inside = 0.0
    for c0 in range(0, len(lo), _HIST_CHUNK):
        h, i = _uniform_histogram(
            lo[c0 : c0 + _HIST_CHUNK], hi[c0 : c0 + _HIST_CHUNK], w[c0 : c0 + _HIST_CHUNK], slo_ms
        )
        hist += h
        inside += i
    return hist, inside


def share_within(lo: FloatArray, hi: FloatArray, limit_ms: FloatArray) -> FloatArray:
    """Share of requests spread uniformly over [lo, hi] ms that take at most ``limit_ms``."""
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(span > 0, (limit_ms - lo) / span, (lo <= limit_ms).astype(float))
    return np.clip(frac, 0.0, 1.0)


def tail_start_s(
    service_lo_s: FloatArray, service_hi_s: FloatArray, mean_s: FloatArray
) -> FloatArray:
    """Start of the exponential piece whose tail is that of a wait exponential with mean
    ``mean_s`` plus a service uniform over [lo, hi] (s): P(W + U > t) = e^(−(t − c)/τ)
    with c = lo + τ·ln(E[e^((U − lo)/τ)]), between the service's mean and its maximum
    (the service where the mean wait is 0)."""
    lo = np.asarray(service_lo_s, dtype=np.float64)
    tau = np.asarray(mean_s, dtype=np.float64)
    span = np.maximum(np.asarray(service_hi_s, dtype=np.float64) - lo, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = span / tau
        # ln((e^z − 1)/z) = z + ln(1 − e^(−z)) − ln z, without overflow at any z > 0.
        log_mean = z + np.log(-np.expm1(-z)) - np.log(z)
        shift = np.where((tau > 0) & (z > 1e-12), tau * log_mean, np.where(tau > 0, span / 2, span))
    out: FloatArray = lo + shift
    return out


def share_within_exponential(lo: FloatArray, mean: FloatArray, limit_ms: FloatArray) -> FloatArray:
    """Share of requests taking ``lo`` plus an exponential time of mean ``mean`` (ms)
    that take at most ``limit_ms``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        above = np.maximum(limit_ms - lo, 0.0)
        out: FloatArray = np.where(
            mean > 0, -np.expm1(-above / mean), (lo <= limit_ms).astype(float)
        )
    return out


def exponential_histogram(
    lo: FloatArray, mean: FloatArray, w: FloatArray, slo_ms: float
) -> tuple[FloatArray, float]:
    """Histogram on :data:`HIST_EDGES_MS` of ``w`` requests per step taking ``lo`` plus
    an exponential time of mean ``mean`` ms, and how many of them are within ``slo_ms``."""
    bins = len(HIST_EDGES_MS) - 1
    hist = np.zeros(bins)
    some = w != 0
    if not some.any():
        return hist, 0.0
    el, em, ew = lo[some], mean[some], w[some]
    for c0 in range(0, len(el), _HIST_CHUNK):
        part = slice(c0, c0 + _HIST_CHUNK)
        pts = el[part, None] + em[part, None] * _EXP_POINTS[None, :]
        wts = ew[part, None] * _EXP_WEIGHTS[None, :]
        idx = histogram_index(pts)
        hist += np.bincount(idx.ravel(), weights=wts.ravel(), minlength=bins)
    inside = float((ew * share_within_exponential(el, em, np.full(len(el), slo_ms))).sum())
    return hist, inside


_P99_ROUNDS = 30
"""Bisection rounds of a step's quantile where its uniform and exponential pieces
overlap: 2⁻³⁰ of the pieces' range."""


def step_p99_ms(
    spread: tuple[FloatArray, FloatArray, FloatArray],
    burst: tuple[FloatArray, FloatArray, FloatArray],
    tail: tuple[FloatArray, FloatArray, FloatArray],
    q: float,
) -> FloatArray:
    """Each step's ``q``-quantile (ms) for the plots: of the spread requests (the uniform
    piece ``spread`` = (lo, hi, served) and the exponential piece ``tail`` = (start,
    mean, served) together), or the burst's own if higher; 0 without requests."""
    lo, hi, w = spread
    blo, bhi, bw = burst
    tlo, tmean, tw = tail
    if not tw.any():
        # Uniform pieces only: the spread's quantile, or the burst's if higher.
        p_spread = lo + q * (hi - lo)
        p_burst = blo + q * (bhi - blo)
        only: FloatArray = np.where(bw > 0, np.maximum(p_spread, p_burst), p_spread)
        return np.where(w + bw > 0, only, 0.0)
    total = w + tw
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(total > 0, tw / total, 0.0)
        # Above the uniform piece only the exponential one is left: closed form.
        t_exp = tlo + tmean * np.log(np.maximum(p, 1.0 - q) / (1.0 - q))
    out = np.where(p > 0, t_exp, lo + q * (hi - lo))
    inside = (p > 0) & (p < 1) & (t_exp < hi)
    if inside.any():
        a = np.minimum(lo[inside], tlo[inside])
        b = np.maximum(hi[inside], t_exp[inside])
        lo_i, hi_i, p_i, tlo_i, tm_i = lo[inside], hi[inside], p[inside], tlo[inside], tmean[inside]
        span = hi_i - lo_i
        for _ in range(_P99_ROUNDS):
            t = (a + b) / 2
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                above_u = np.where(span > 0, np.clip((hi_i - t) / span, 0.0, 1.0), (t < lo_i) * 1.0)
                above_e = np.where(
                    tm_i > 0, np.exp(-np.maximum(t - tlo_i, 0.0) / tm_i), (t < tlo_i) * 1.0
                )
            more = (1.0 - p_i) * above_u + p_i * above_e > 1.0 - q
            a = np.where(more, t, a)
            b = np.where(more, b, t)
        out[inside] = b
    p_burst = blo + q * (bhi - blo)
    out = np.where(bw > 0, np.maximum(out, p_burst), out)
    result: FloatArray = np.where(total + bw > 0, out, 0.0)
    return result


def _uniform_histogram(
    lo: FloatArray, hi: FloatArray, w: FloatArray, slo_ms: float
) -> tuple[FloatArray, float]:
    bins = len(HIST_EDGES_MS) - 1
    some = w != 0
    # Steps without such requests add nothing to any bin (LIGO's frames are all burst
    # outside a campaign): leaving them out gives the same sums, 13 points a step fewer.
    hl, hh, hw = (lo, hi, w) if some.all() else (lo[some], hi[some], w[some])
    pts = hl[:, None] + (hh - hl)[:, None] * _Q_POINTS[None, :]
    wts = hw[:, None] * _Q_WEIGHTS[None, :]
    idx = histogram_index(pts)
    hist = np.bincount(idx.ravel(), weights=wts.ravel(), minlength=bins).astype(np.float64)
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(span > 0, (slo_ms - lo) / span, (lo <= slo_ms).astype(float))
    return hist, float((w * np.clip(frac, 0.0, 1.0)).sum())


def _capped_lindley(q0: float, x: FloatArray, qmax: float) -> tuple[FloatArray, FloatArray]:
    """Backlog clipped to [0, qmax] step by step; the excess is rejected (timed out)."""
    out = np.empty_like(x)
    dropped = np.zeros_like(x)
    q = q0
    xs = x.tolist()
    for i, xi in enumerate(xs):
        q += xi
        if q < 0.0:
            q = 0.0
        elif q > qmax:
            dropped[i] = q - qmax
            q = qmax
        out[i] = q
    return out, dropped
