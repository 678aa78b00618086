"""What-if comparisons: a candidate ScaledObject trigger against the current one on
the same trace, with the oracle bound and plot series. :func:`what_if` is the one
path: the dashboard's what-if and "tune for me" both run it; no job or web
concerns here.

Each run's result says which ScaledObject ran (name and trigger metadata) and under
which timers (:func:`timers`): KEDA's polling interval and cooldown, the HPA's sync
period and tolerance and the scaler's refresh interval are the *scenario's*
(:class:`scaler.sim.scenario.Scenario`), not read from the cluster. The dashboard's
what-if builds its scenarios with :func:`build_scenario` from the trigger metadata
alone, so it runs the simulator's defaults (KEDA polling every 30 s, cooldown 300 s,
HPA sync 15 s with 10 % tolerance, a refresh every 5 s) whatever the live
ScaledObject's ``pollingInterval`` or the cluster's HPA settings are."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaler.metadata import MetadataError, parse_metadata
from scaler.sim.engine import RunResult, simulate
from scaler.sim.oracle import compute_oracle
from scaler.sim.scenario import Scenario, ScenarioError, scenario_from_dict
from scaler.sim.scores import finite_or_none, scores_dict
from scaler.sim.summary import ran
from scaler.traces.model import FloatArray, Trace

PLOT_POINTS = 1200
"""Points per plotted series: enough for a day at ~1 min resolution."""


@dataclass(frozen=True)
class WhatIfOptions:
    """Scenario knobs a what-if may set; anything unset keeps the simulator default."""

    slo_ms: float | None = None
    startup_s: float | None = None
    scenario: Mapping[str, Any] | None = None
    slo_target: float = 0.99
    """Tuning: the SLO attainment (fraction of requests) a candidate must reach."""


def build_scenario(
    metadata: Mapping[str, str], options: WhatIfOptions, *, name: str | None = None
) -> Scenario:
    """The simulated ScaledObject with this trigger metadata (named ``name``, else the
    options' scenario's name or the simulator's default); KEDA/HPA timers from the
    options' scenario, else the simulator's defaults. Raises ScenarioError."""
    try:
        cfg = parse_metadata("simulated", "default", metadata)
    except MetadataError as exc:
        raise ScenarioError(str(exc)) from None
    data: dict[str, Any] = dict(options.scenario or {})
    so = dict(data.get("scaledObject") or {})
    if name is not None:
        so["name"] = name
    so.setdefault("minReplicaCount", cfg.guardrails.min_replicas)
    so.setdefault("maxReplicaCount", cfg.guardrails.max_replicas)
    so["triggers"] = [{"type": "external", "metadata": dict(metadata)}]
    data["scaledObject"] = so
    scenario = scenario_from_dict(data, "what-if scenario")
    return scenario.with_overrides(startup_s=options.startup_s, slo_ms=options.slo_ms)


def _bucket(values: FloatArray, size: int, how: str) -> list[float | None]:
    if size <= 1:
        return [finite_or_none(float(v)) for v in values]
    pad = (-len(values)) % size
    padded = np.concatenate((values, np.full(pad, np.nan)))
    blocks = padded.reshape(-1, size)
    with np.errstate(all="ignore"):
        out = np.nanmax(blocks, axis=1) if how == "max" else np.nanmean(blocks, axis=1)
    return [finite_or_none(float(v)) for v in out]


def trace_summary(trace: Trace) -> dict[str, Any]:
    return {
        "name": trace.name,
        "duration_s": trace.duration_s,
        "step_s": trace.step_s,
        "requests": trace.requests,
        "mean_rps": trace.mean_rps,
        "peak_rps": trace.peak_rps,
        "notes": list(trace.notes),
        "skipped": dict(trace.skipped),
    }


def timers(scenario: Scenario) -> dict[str, float]:
    """The KEDA, HPA and scaler timers a run used: the scenario's, in seconds (the
    tolerance a fraction)."""
    so = scenario.scaledObject
    return {
        "keda_polling_interval_s": float(so.pollingInterval),
        "keda_cooldown_period_s": float(so.cooldownPeriod),
        "hpa_sync_period_s": scenario.hpa.sync_period_s,
        "hpa_tolerance": scenario.hpa.tolerance,
        "scaler_refresh_interval_s": scenario.scaler.refresh_interval_s,
    }


def run_summary(run: RunResult, scenario: Scenario) -> dict[str, Any]:
    """A run's scores (:func:`scaler.sim.scores.scores_dict`), its decision count, which
    ScaledObject ran (name, trigger metadata) and the timers of ``scenario``, the one
    it ran in."""
    return {
        **scores_dict(run.scores),
        "decisions": run.decisions,
        "scaled_object": ran(run),
        "timers": timers(scenario),
    }


def _per(run: RunResult, trace: Trace, size: int) -> int:
    """Points of ``run``'s series per plot point (a long run keeps its series
    down-sampled, :attr:`RunResult.series_step_s` apart)."""
    if run.series_step_s <= trace.step_s:
        return size
    return max(1, round(size * trace.step_s / run.series_step_s))


def comparison(
    trace: Trace,
    current: RunResult,
    candidate: RunResult,
    scenario: Scenario,
    current_scenario: Scenario | None = None,
) -> dict[str, Any]:
    """Scores of both runs (each with what ran, :func:`run_summary`), the oracle bound
    (from ``scenario``, the candidate's) and down-sampled plot series.
    ``current_scenario``: the current run's (default: ``scenario``)."""
    oracle = compute_oracle(trace, scenario.fleet, scenario.slo_ms, scenario.startup.nominal_s)
    size = max(1, math.ceil(len(trace.rps) / PLOT_POINTS))
    times = trace.times_s[::size]
    return {
        "trace": trace_summary(trace),
        "slo_ms": scenario.slo_ms,
        "current": run_summary(current, current_scenario or scenario),
        "candidate": run_summary(candidate, scenario),
        "oracle": {
            "gpu_hours": oracle.gpu_hours,
            "instant_gpu_hours": oracle.instant_gpu_hours,
            "peak_replicas": oracle.peak_replicas,
        },
        "series": {
            "time_s": [float(t) for t in times],
            "rps": _bucket(trace.rps, size, "mean"),
            "current_ready": _bucket(current.ready, _per(current, trace, size), "mean"),
            "candidate_ready": _bucket(candidate.ready, _per(candidate, trace, size), "mean"),
            "current_held": _bucket(current.held, _per(current, trace, size), "mean"),
            "candidate_held": _bucket(candidate.held, _per(candidate, trace, size), "mean"),
            "current_p99_ms": _bucket(current.latency_p99_ms, _per(current, trace, size), "max"),
            "candidate_p99_ms": _bucket(
                candidate.latency_p99_ms, _per(candidate, trace, size), "max"
            ),
            "oracle_need": _bucket(oracle.need.astype(np.float64), size, "max"),
        },
    }


Progress = Callable[[float, str], None]
"""Called with the fraction done (0–1) and what is being simulated."""


def what_if(
    trace: Trace,
    current: Scenario,
    candidate: Scenario,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Simulate the current and the candidate ScaledObject on ``trace`` (each from its
    ``minReplicaCount``) and compare them (:func:`comparison`). ``progress``: see
    :data:`Progress`; an exception it raises (a cancelled job) ends the runs."""
    end_s = max(trace.duration_s, 1e-9)
    runs = []
    for i, (scenario, name, label) in enumerate(
        (
            (current, "current", "the current configuration"),
            (candidate, "candidate", "the candidate"),
        )
    ):

        def report(t: float, i: int = i, label: str = label) -> None:
            assert progress is not None
            progress((i + min(t / end_s, 1.0)) / 2, f"simulating {label}")

        runs.append(
            simulate(trace, scenario, name=name, progress=None if progress is None else report)
        )
    return comparison(trace, runs[0], runs[1], candidate, current)
