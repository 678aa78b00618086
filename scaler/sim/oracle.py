"""Lower bounds on GPU-hours, from the trace and the same fleet model.

need(t): the fewest replicas that serve second t within the SLO in steady state
(every request of that second: batching wait + service ≤ SLO, no backlog).

``oracle_instant``: Σ need(t)·dt, the floor with instant start-up.
``oracle``: the clairvoyant optimum when a replica holds its GPU for ``d`` seconds
of start-up before serving. Replicas are interchangeable, so the k-th replica
serves exactly the seconds where need ≥ k; a gap shorter than ``d`` is cheaper to
bridge (keep the GPU idle) than to boot across, and every remaining busy interval
costs its length plus ``d``.

Worked example, d = 3: need = [1, 1, 0, 0, 1] → level 1 has intervals of 2 and 1
seconds with a gap of 2 < 3, bridged into one interval of 5 s: cost 5 + 3 = 8.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scaler.sim.batching import (
    burst_state,
    instance_capacity_items_s,
    split_burst,
    steady_state,
)
from scaler.sim.scenario import FleetSpec
from scaler.traces.model import Trace

IntArray = npt.NDArray[np.int64]

NeedArray = npt.NDArray[np.signedinteger[Any]]
"""Replicas needed per step: 16 bits while the need stays below 32,768 replicas, else 32
(a fleet of 2·10⁹ replicas is not a concern), so a 90-day 1 s trace's need takes 16 MB,
not 62, in the parent its workers share it from. Every use reads it as numbers (sums
accumulate in 64 bits, comparisons and float conversions are exact), never as a type
that arithmetic could overflow."""


@dataclass(frozen=True, slots=True)
class OracleResult:
    need: NeedArray
    step_s: float
    startup_s: float
    gpu_s: float
    instant_gpu_s: float

    @property
    def gpu_hours(self) -> float:
        return self.gpu_s / 3600.0

    @property
    def instant_gpu_hours(self) -> float:
        return self.instant_gpu_s / 3600.0

    @property
    def peak_replicas(self) -> int:
        return int(self.need.max()) if len(self.need) else 0

    def warm_fleet(self, within_s: float) -> int:
        """Replicas a fleet already running when the trace begins holds at t = 0: the
        highest need over the first ``within_s`` seconds (pass a pod start-up: the
        oracle has booted those by then, so a run started with them pays no cold start
        the oracle does not; 0: the need at t = 0 alone)."""
        if not len(self.need):
            return 0
        return int(self.need[: max(1, math.ceil(within_s / self.step_s))].max())


def _meets_slo(
    spec: FleetSpec,
    slo_ms: float,
    replicas: IntArray,
    rps: npt.NDArray[np.float64],
    items: npt.NDArray[np.float64],
    burst: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    k = np.maximum(replicas, 1) * spec.instances_per_replica
    items_s = rps * items / k
    b_items_s, s_items_s, m_spread = split_burst(rps, items, burst)
    ss = steady_state(spec, s_items_s / k, rps * (1 - burst) / k, m_spread)
    mu = instance_capacity_items_s(spec)
    worst_ms = (ss.wait_hi_s + ss.service_hi_s) * 1000.0
    ok = (items_s <= mu * (1 + 1e-9)) & (worst_ms <= slo_ms) & (replicas > 0)
    bursty = burst > 0
    if bursty.any():
        bs = burst_state(spec, b_items_s / k, 1, np.where(burst >= 1.0, items, 1.0))
        burst_worst_ms = (bs.wait_hi_s + bs.service_s) * 1000.0
        ok &= ~bursty | (burst_worst_ms <= slo_ms)
    return ok


ORACLE_CHUNK_STEPS = 1 << 18
"""Steps whose need is worked out at once: the search's temporaries stay a few MB
however long the trace."""


def need_series(trace: Trace, spec: FleetSpec, slo_ms: float) -> NeedArray:
    """Replicas needed per step. If even an idle replica misses the SLO (the SLO is
    below one request's queue delay + service) the capacity-only count is used.
    Worked out in chunks of :data:`ORACLE_CHUNK_STEPS` steps (each step is independent)."""
    steps = len(trace.rps)
    out: NeedArray = np.zeros(steps, dtype=np.int16)
    for c0 in range(0, steps, ORACLE_CHUNK_STEPS):
        c1 = min(c0 + ORACLE_CHUNK_STEPS, steps)
        chunk = _need_chunk(trace, spec, slo_ms, c0, c1)
        if chunk.size and int(chunk.max()) > np.iinfo(out.dtype).max:
            out = out.astype(np.int32)
        out[c0:c1] = chunk
    return out


def _need_chunk(trace: Trace, spec: FleetSpec, slo_ms: float, c0: int, c1: int) -> IntArray:
    rps = np.asarray(trace.rps[c0:c1], dtype=np.float64)
    items = (
        np.ones_like(rps)
        if trace.items_per_request is None
        else np.maximum(np.asarray(trace.items_per_request[c0:c1], dtype=np.float64), 1e-9)
    )
    burst = (
        np.zeros_like(rps)
        if trace.burst_fraction is None
        else np.clip(np.asarray(trace.burst_fraction[c0:c1], dtype=np.float64), 0.0, 1.0)
    )
    per_replica = instance_capacity_items_s(spec) * spec.instances_per_replica
    lo = np.ceil(rps * items / per_replica - 1e-9).astype(np.int64)
    lo = np.where(rps > 0, np.maximum(lo, 1), 0)
    hi = np.maximum(lo * 4 + 4, 8)
    ok_hi = _meets_slo(spec, slo_ms, hi, rps, items, burst)
    hi = np.where(ok_hi | (rps <= 0), hi, lo)
    ok_lo = _meets_slo(spec, slo_ms, lo, rps, items, burst) | (rps <= 0)
    left = lo
    right = np.where(ok_lo, lo, hi)
    while True:
        open_ = right - left > 1
        if not open_.any():
            break
        mid = (left + right) // 2
        ok = _meets_slo(spec, slo_ms, mid, rps, items, burst)
        right = np.where(open_ & ok, mid, right)
        left = np.where(open_ & ~ok, mid, left)
    fixed = np.where(ok_lo, lo, right)
    return fixed.astype(np.int64)


def level_cost_s(need: npt.NDArray[np.integer[Any]], step_s: float, startup_s: float) -> float:
    """Clairvoyant GPU-seconds of ``need`` (replicas per step) with start-up ``startup_s``."""
    total = 0.0
    peak = int(need.max()) if len(need) else 0
    for level in range(1, peak + 1):
        on = (need >= level).view(np.int8)
        edges = np.diff(on, prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        busy = float((ends - starts).sum()) * step_s
        gaps = (starts[1:] - ends[:-1]) * step_s
        bridged = gaps[gaps < startup_s]
        total += busy + float(bridged.sum()) + (len(starts) - len(bridged)) * startup_s
    return total


def compute_oracle(trace: Trace, spec: FleetSpec, slo_ms: float, startup_s: float) -> OracleResult:
    """Both oracles for ``trace`` under ``spec``."""
    need = need_series(trace, spec, slo_ms)
    return OracleResult(
        need=need,
        step_s=trace.step_s,
        startup_s=startup_s,
        gpu_s=level_cost_s(need, trace.step_s, startup_s),
        instant_gpu_s=float(need.sum()) * trace.step_s,
    )


def peak_need_for_scale(trace: Trace, spec: FleetSpec, slo_ms: float, scale: float) -> int:
    """Peak need after multiplying the trace's rate by ``scale`` (for --peak-replicas)."""
    scaled = dataclasses.replace(trace, rps=trace.rps * scale, arrivals_s=None, arrival_items=None)
    need = need_series(scaled, spec, slo_ms)
    return int(need.max()) if len(need) else 0


def rate_scale_for_peak(trace: Trace, spec: FleetSpec, slo_ms: float, replicas: int) -> float:
    """The largest rate multiplier whose peak need is ``replicas`` (bisection)."""
    if replicas < 1 or trace.peak_rps <= 0:
        raise ValueError("--peak-replicas needs N ≥ 1 and a trace with some load")
    lo, hi = 0.0, 1.0
    while peak_need_for_scale(trace, spec, slo_ms, hi) <= replicas:
        lo, hi = hi, hi * 2
        if hi > 1e12:
            return lo
    for _ in range(60):
        mid = (lo + hi) / 2
        if peak_need_for_scale(trace, spec, slo_ms, mid) <= replicas:
            lo = mid
        else:
            hi = mid
    return lo
