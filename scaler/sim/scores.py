"""Scores of one simulated run: what a site weighs when choosing a policy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaler.sim.fleet import LatencySummary, StepOutputs, percentile_from_histogram
from scaler.traces.model import FloatArray


@dataclass(frozen=True, slots=True)
class Scores:
    """``gpu_hours`` counts every second a pod holds its GPU: booting, serving and
    draining. ``slo_attainment`` is the fraction of all requests (failed ones count
    as misses) answered within the SLO. Latencies are in ms over served requests."""

    gpu_hours: float
    slo_attainment: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    failed_requests: float
    requests: float
    scale_events: int
    mean_gpu_utilization: float


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


def score(
    outputs: StepOutputs,
    latency: LatencySummary,
    pods: list[Pod],
    scale_events: int,
    step_s: float,
) -> Scores:
    requests = float(outputs.arrivals.sum())
    ready_s = float(outputs.ready.sum()) * step_s
    util = float(outputs.busy_s.sum()) / ready_s if ready_s > 0 else 0.0
    return Scores(
        gpu_hours=gpu_seconds(pods) / 3600.0,
        slo_attainment=latency.within_slo / requests if requests > 0 else 1.0,
        p50_ms=percentile_from_histogram(latency.histogram, 0.50),
        p95_ms=percentile_from_histogram(latency.histogram, 0.95),
        p99_ms=percentile_from_histogram(latency.histogram, 0.99),
        failed_requests=float(outputs.failed.sum()),
        requests=requests,
        scale_events=scale_events,
        mean_gpu_utilization=min(util, 1.0),
    )
