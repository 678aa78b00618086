"""The machine-readable summary written by ``scaler simulate --json``.

Shape (every number rounded to 6 significant digits so golden files are stable)::

    {"trace": name, "duration_s", "requests", "mean_rps", "peak_rps",
     "mode": "fast" | "exact", "slo_ms", "startup_s",
     "oracle": {"gpu_hours", "peak_replicas"}, "oracle_instant": {"gpu_hours"},
     "policies": [{"name", "scaled_object": {"name", "metadata"},
                   "gpu_hours", "gpu_hours_vs_oracle", "slo_attainment",
                   "latency_ms": {"p50", "p95", "p99"}, "failed_requests", "requests",
                   "scale_events", "mean_gpu_utilization",
                   "windows_met", "worst_5min_p99_ms", "scale_events_per_hour",
                   "max_overshoot_replicas"}, ...],
     "recommendation": see :mod:`scaler.sim.recommend`}

``windows_met``: share of 1-minute windows whose p99 meets the SLO;
``worst_5min_p99_ms``: the worst 5-minute window's p99 (:mod:`scaler.sim.windows`);
``max_overshoot_replicas``: ready replicas above the oracle's need of the last
5 minutes, at worst (:func:`scaler.sim.scores.overshoot_replicas`). A figure the run
cannot give (a live testbed run has no per-second spreads) is null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from scaler.limits import redact
from scaler.sim.compare import Comparison
from scaler.sim.engine import RunResult
from scaler.sim.oracle import OracleResult
from scaler.sim.recommend import DEFAULT_TARGET, recommend
from scaler.sim.scores import overshoot_replicas, scores_dict
from scaler.sim.totals import bucket_max


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def duration_text(seconds: float) -> str:
    """A trace's length for a heading: "90 s", "36 min", "24 h", "1,135 h (47.3 days)"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    hours = seconds / 3600
    text = f"{hours:,.1f} h" if hours < 48 else f"{hours:,.0f} h"
    return text if hours < 48 else f"{text} ({hours / 24:.1f} days)"


def ran(run: RunResult) -> dict[str, Any]:
    """Which ScaledObject ``run`` ran: its name and its trigger metadata as given, with
    secret values (a ``*FromEnv`` key's resolved value, TLS material) redacted as
    everywhere the scaler shows metadata (:func:`scaler.limits.redact`)."""
    return {"name": run.scaled_object, "metadata": redact(run.metadata)}


def policy_summary(run: RunResult, oracle: OracleResult) -> dict[str, Any]:
    s = run.scores
    oracle_gpu_hours = oracle.gpu_hours
    # The series keep the max of each bucket of steps on long traces: the need is
    # bucketed the same way, or a 2-day trace's ready replicas at hour 28 would be
    # compared with the need at hour 14.
    step_s = run.series_step_s or oracle.step_s
    overshoot = (
        run.max_overshoot_replicas
        if run.max_overshoot_replicas is not None
        else overshoot_replicas(
            run.ready,
            bucket_max(oracle.need.astype(np.float64), round(step_s / oracle.step_s)),
            step_s,
        )
    )
    return {
        "name": run.name,
        "scaled_object": ran(run),
        **_rounded(scores_dict(s)),
        "gpu_hours_vs_oracle": _r(s.gpu_hours / oracle_gpu_hours) if oracle_gpu_hours > 0 else None,
        "max_overshoot_replicas": _r(overshoot),
    }


def summary(c: Comparison, slo_target: float = DEFAULT_TARGET) -> dict[str, Any]:
    """The JSON summary; ``slo_target``: the attainment the recommendation must reach."""
    t = c.trace
    rec = recommend(c.runs, c.oracle.gpu_hours, slo_target)
    return {
        "trace": t.name,
        "duration_s": _r(t.duration_s),
        "requests": _r(t.requests),
        "mean_rps": _r(t.mean_rps),
        "peak_rps": _r(t.peak_rps),
        "mode": "exact" if c.exact else "fast",
        "slo_ms": _r(c.scenario.slo_ms),
        "startup_s": _r(c.scenario.startup.nominal_s),
        "oracle": {"gpu_hours": _r(c.oracle.gpu_hours), "peak_replicas": c.oracle.peak_replicas},
        "oracle_instant": {"gpu_hours": _r(c.oracle.instant_gpu_hours)},
        "policies": [policy_summary(r, c.oracle) for r in c.runs],
        "slo_target": slo_target,
        "recommendation": None if rec is None else _rounded(rec.as_dict()),
    }


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    """Floats to 6 significant digits, nested dicts too."""
    return {
        k: _r(v) if isinstance(v, float) else _rounded(v) if isinstance(v, dict) else v
        for k, v in d.items()
    }


def write_summary(c: Comparison, path: Path, slo_target: float = DEFAULT_TARGET) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary(c, slo_target), indent=2) + "\n")
