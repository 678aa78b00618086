"""The dashboard's "tune for me": search from one ScaledObject's trigger metadata on
one trace, then compare the start and the best in the what-if format.

Built on :mod:`scaler.tuning.run` and :mod:`scaler.tuning.search` (the same search
as ``scaler tune``); it runs in the calling process because the dashboard runs one
job at a time beside the scaler.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from scaler.metadata import DEFAULT_POLICY, POLICY_KEY
from scaler.registry import get_policy
from scaler.sim.whatif import WhatIfOptions, build_scenario, what_if
from scaler.traces.model import Trace
from scaler.tuning.run import make_problem, trial_scores
from scaler.tuning.search import Trial, inline_evaluator, run_search
from scaler.tuning.space import build_space


def tune_and_compare(
    *,
    trace: Trace,
    metadata: Mapping[str, str],
    budget: int,
    progress: Callable[[float, str | None], None] | None = None,
    slo_target: float = 0.99,
    seed: int = 0,
    options: WhatIfOptions | None = None,
) -> dict[str, Any]:
    """The dashboard's "tune for me": search from ``metadata`` on ``trace`` in this
    process (the dashboard runs one job at a time beside the scaler), ``budget``
    simulator runs in all. Returns the best metadata, the trials and a comparison of
    the start and the best run in the dashboard's what-if format. ``progress`` gets a
    fraction 0–1 and a message; an exception it raises (a cancelled job) ends the
    search. ``options``: the request's ``WhatIfOptions`` (SLO, start-up, scenario), when
    the caller passes them; the simulator defaults otherwise."""
    start = dict(metadata)
    policy = start.get(POLICY_KEY, DEFAULT_POLICY)
    opts = options if options is not None else WhatIfOptions(slo_target=slo_target)
    scenario = build_scenario(start, opts)
    problem = dataclasses.replace(
        make_problem([trace], scenario),
        initial_replicas=(scenario.scaledObject.minReplicaCount,),
    )
    space = build_space(policy, get_policy(policy).params_model, start=start, common={})

    def report(done: int, total: int, best: Trial | None) -> None:
        if progress is not None:
            progress(done / max(total, 1), f"tried {done} of {total} configurations")

    trials = run_search(
        space,
        inline_evaluator(problem),
        budget=max(budget, 1),
        target=slo_target,
        seed=seed,
        progress=report,
    )
    best = min(trials, key=lambda t: t.rank(slo_target))
    compared = what_if(trace, scenario, build_scenario(best.metadata, opts))
    return {
        "best": best.metadata,
        "slo_target": slo_target,
        "runs": len(trials),
        "trials": [
            {"metadata": t.metadata, "label": t.label, **trial_scores(t, slo_target)}
            for t in trials
        ],
        "comparison": compared,
        "start_summary": compared["current"],
    }
