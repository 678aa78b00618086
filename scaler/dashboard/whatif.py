"""What-if runs for the tuning page, as background jobs: the candidate configuration
and the current one on the same trace through the simulator, side by side with the
oracle bound (:mod:`scaler.sim.whatif`), and "tune for me"
(:func:`scaler.tuning.compare.tune_and_compare`).

Scenarios are built and validated when the job is submitted, so bad input is a
4xx at once; the runs themselves happen in a background job that reports
progress and stops when cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scaler.dashboard.jobs import JobContext
from scaler.sim.scenario import Scenario
from scaler.sim.whatif import WhatIfOptions, build_scenario, trace_summary, what_if
from scaler.traces.model import Trace
from scaler.tuning.compare import tune_and_compare

__all__ = [
    "WhatIfOptions",
    "build_scenario",
    "run_tune",
    "run_whatif",
    "trace_summary",
]


def run_whatif(
    trace: Trace,
    current: Scenario,
    candidate: Scenario,
    ctx: JobContext,
) -> dict[str, Any]:
    """:func:`scaler.sim.whatif.what_if`, reporting progress to the job."""
    return what_if(trace, current, candidate, progress=ctx.progress)


def run_tune(
    trace: Trace,
    start: Mapping[str, str],
    options: WhatIfOptions,
    budget: int,
    ctx: JobContext,
) -> dict[str, Any]:
    """ "Tune for me": :func:`scaler.tuning.compare.tune_and_compare` from ``start``
    (the candidate's metadata) on ``trace``, ``budget`` simulator runs, reporting
    progress to the job."""
    return tune_and_compare(
        trace=trace,
        metadata=dict(start),
        budget=budget,
        progress=ctx.progress,
        slo_target=options.slo_target,
        options=options,
    )
