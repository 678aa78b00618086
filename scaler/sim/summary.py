"""The machine-readable summary written by ``scaler simulate --json``.

Shape (every number rounded to 6 significant digits so golden files are stable)::

    {"trace": name, "duration_s", "requests", "mean_rps", "peak_rps",
     "mode": "fast" | "exact", "slo_ms", "startup_s",
     "oracle": {"gpu_hours", "peak_replicas"}, "oracle_instant": {"gpu_hours"},
     "policies": [{"name", "gpu_hours", "gpu_hours_vs_oracle", "slo_attainment",
                   "latency_ms": {"p50", "p95", "p99"}, "failed_requests",
                   "scale_events", "mean_gpu_utilization"}, ...]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scaler.sim.compare import Comparison
from scaler.sim.engine import RunResult


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def policy_summary(run: RunResult, oracle_gpu_hours: float) -> dict[str, Any]:
    s = run.scores
    return {
        "name": run.name,
        "gpu_hours": _r(s.gpu_hours),
        "gpu_hours_vs_oracle": _r(s.gpu_hours / oracle_gpu_hours) if oracle_gpu_hours > 0 else None,
        "slo_attainment": _r(s.slo_attainment),
        "latency_ms": {"p50": _r(s.p50_ms), "p95": _r(s.p95_ms), "p99": _r(s.p99_ms)},
        "failed_requests": _r(s.failed_requests),
        "scale_events": s.scale_events,
        "mean_gpu_utilization": _r(s.mean_gpu_utilization),
    }


def summary(c: Comparison) -> dict[str, Any]:
    t = c.trace
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
        "policies": [policy_summary(r, c.oracle.gpu_hours) for r in c.runs],
    }


def write_summary(c: Comparison, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary(c), indent=2) + "\n")
