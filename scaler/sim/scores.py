"""Scores of one simulated run: what a site weighs when choosing a policy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from scaler.sim.fleet import percentile_from_histogram
from scaler.traces.model import FloatArray

if TYPE_CHECKING:
    from scaler.sim.totals import RunTotals

OVERSHOOT_WINDOW_S = 300.0
"""The HPA's default scale-down stabilisation window, s: how long a fleet may keep a
peak's replicas before what it keeps counts as overshoot."""


@dataclass(frozen=True, slots=True)
class Scores:
    """``gpu_hours`` counts every second a pod holds its GPU: booting, serving and
    draining. ``slo_attainment`` is the fraction of all requests (failed ones count
    as misses) answered within the SLO. Latencies are in ms over served requests.
    ``windows_met`` and ``worst_window_p99_ms``: see :mod:`scaler.sim.windows` (NaN
    where a run has no per-second latency data); ``duration_s``: the run's length."""

    gpu_hours: float
    slo_attainment: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    failed_requests: float
    requests: float
    scale_events: int
    mean_gpu_utilization: float
    windows_met: float = math.nan
    worst_window_p99_ms: float = math.nan
    duration_s: float = 0.0

    @property
    def scale_events_per_hour(self) -> float:
        """Replica-count changes per hour of trace: how restless the fleet is."""
        return self.scale_events / (self.duration_s / 3600.0) if self.duration_s > 0 else 0.0


def finite_or_none(x: float) -> float | None:
    """``x`` as JSON: null when NaN or infinite."""
    return float(x) if math.isfinite(x) else None


def scores_dict(s: Scores) -> dict[str, Any]:
    """A run's scores as JSON, the one shape every caller uses (``scaler simulate
    --json``, the dashboard's what-if, ``scaler tune``'s trials): latencies in ms under
    ``latency_ms``; a figure the run cannot give (NaN, e.g. no per-second data) is null."""
    return {
        "gpu_hours": s.gpu_hours,
        "slo_attainment": s.slo_attainment,
        "latency_ms": {
            "p50": finite_or_none(s.p50_ms),
            "p95": finite_or_none(s.p95_ms),
            "p99": finite_or_none(s.p99_ms),
        },
        "failed_requests": s.failed_requests,
        "requests": s.requests,
        "scale_events": s.scale_events,
        "mean_gpu_utilization": s.mean_gpu_utilization,
        "windows_met": finite_or_none(s.windows_met),
        "worst_5min_p99_ms": finite_or_none(s.worst_window_p99_ms),
        "scale_events_per_hour": s.scale_events_per_hour,
    }


@dataclass(frozen=True, slots=True)
class Pod:
    """One replica's life in seconds from the trace start; a booting pod holds its GPU.
    ``ready_s`` None: removed before it became ready."""

    created_s: float
    ready_s: float | None
    released_s: float


def held_series(pods: list[Pod], steps: int, step_s: float) -> FloatArray:
    """Replicas holding a GPU at the start of each step."""
    diff = np.zeros(steps + 1)
    for p in pods:
        a = min(max(int(np.ceil(p.created_s / step_s - 1e-9)), 0), steps)
        b = min(max(int(np.ceil(p.released_s / step_s - 1e-9)), 0), steps)
        if b > a:
            diff[a] += 1
            diff[b] -= 1
    return np.cumsum(diff)[:steps]


def gpu_seconds(pods: list[Pod]) -> float:
    """Total GPU-seconds held, including start-up before the trace began."""
    return float(sum(max(p.released_s - p.created_s, 0.0) for p in pods))


def overshoot_replicas(
    ready: FloatArray, need: FloatArray, step_s: float, window_s: float = OVERSHOOT_WINDOW_S
) -> float:
    """The largest overshoot above the oracle's need: ready replicas minus the highest
    need of the last ``window_s`` seconds (a fleet may keep a peak's replicas for a
    stabilisation window; beyond that, what it keeps is waste or a ratchet)."""
    n = min(len(ready), len(need))
    if n == 0:
        return 0.0
    per = max(1, round(window_s / step_s))
    recent = rolling_max(np.asarray(need[:n], dtype=np.float64), per)
    return float(max(np.max(np.asarray(ready[:n]) - recent), 0.0))


def rolling_max(x: FloatArray, width: int) -> FloatArray:
    """max(x[i - width + 1 .. i]) for every i, by doubling (log2(width) passes)."""
    out = x.copy()
    span = 1
    width = min(width, len(x))
    while span < width:
        step = min(span, width - span)
        shifted = np.concatenate((np.full(step, -np.inf), out[:-step]))
        out = np.maximum(out, shifted)
        span += step
    return out


def score(totals: RunTotals, pods: list[Pod], scale_events: int, step_s: float) -> Scores:
    """A run's scores from what it gathered (:class:`scaler.sim.totals.RunTotals`)."""
    latency = totals.latency
    requests = totals.requests
    util = totals.busy_s / totals.ready_s if totals.ready_s > 0 else 0.0
    windows = totals.windows
    return Scores(
        gpu_hours=gpu_seconds(pods) / 3600.0,
        slo_attainment=latency.within_slo / requests if requests > 0 else 1.0,
        p50_ms=percentile_from_histogram(latency.histogram, 0.50),
        p95_ms=percentile_from_histogram(latency.histogram, 0.95),
        p99_ms=percentile_from_histogram(latency.histogram, 0.99),
        failed_requests=totals.failed,
        requests=requests,
        scale_events=scale_events,
        mean_gpu_utilization=min(util, 1.0),
        windows_met=windows.windows_met,
        worst_window_p99_ms=windows.worst_p99_ms,
        duration_s=totals.steps * step_s,
    )
