"""Tune a policy's parameters on traces: the fewest GPU-hours at an SLO attainment.

:func:`tune` searches any registered policy (built-in or plug-in) through the same
simulator as ``scaler simulate``; :func:`metadata_block` prints the answer as a
ScaledObject trigger ``metadata:`` block. The dashboard's "tune for me" is
:func:`scaler.tuning.compare.tune_and_compare`, built on the same pieces.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies import Guardrails
from scaler.metadata import POLICY_KEY, as_written, fold_from_env, metadata_of
from scaler.registry import get_policy
from scaler.sim.oracle import compute_oracle
from scaler.sim.paste import complete_metadata, metadata_block
from scaler.sim.presets import recommended_scaled_object, scenario_for
from scaler.sim.scenario import ScaledObjectSpec, Scenario
from scaler.traces.model import Trace
from scaler.tuning.search import (
    Problem,
    Trial,
    evaluate,
    inline_evaluator,
    make_pool,
    pool_evaluator,
    run_search,
    scenario_with,
)
from scaler.tuning.space import Space, build_space

__all__ = ["TuneResult", "default_scenario", "make_problem", "metadata_block", "tune"]

Progress = Callable[[int, int, Trial | None], None]
"""Called with (candidates evaluated, budget, best so far)."""


@dataclass(frozen=True, slots=True)
class TuneResult:
    """The search's answer: ``best`` (the start if nothing beat it) and every trial."""

    policy: str
    target: float
    slo_ms: float
    startup_s: float
    space: Space
    trials: tuple[Trial, ...]
    traces: tuple[str, ...]
    oracle_gpu_hours: tuple[float, ...]
    scaled_object: ScaledObjectSpec | None = None
    holdout_traces: tuple[str, ...] = ()
    holdout_oracle_gpu_hours: tuple[float, ...] = ()
    best_holdout: Trial | None = None
    start_holdout: Trial | None = None

    @property
    def paste(self) -> tuple[dict[str, str], list[str]]:
        """The best candidate as complete trigger metadata and the keys filled in from
        the README example (:func:`scaler.sim.paste.complete_metadata`)."""
        so = self.scaled_object or recommended_scaled_object({POLICY_KEY: self.policy})
        return complete_metadata(
            self.shown(self.best.metadata), so.minReplicaCount, so.maxReplicaCount
        )

    def shown(self, metadata: Mapping[str, str]) -> dict[str, str]:
        """A candidate's metadata as the ScaledObject writes it: a key still at the value
        its ``<key>FromEnv`` resolved to names the variable again, and no value read
        from the environment is shown (:func:`scaler.metadata.as_written`)."""
        if self.scaled_object is None:
            return as_written(metadata, {})
        trig = self.scaled_object.trigger
        return as_written(metadata, trig.fromEnv, trig.metadata)

    @property
    def best(self) -> Trial:
        return min(self.trials, key=lambda t: t.rank(self.target))

    @property
    def start(self) -> Trial:
        return self.trials[0]

    @property
    def feasible(self) -> bool:
        return self.best.feasible(self.target)

    @property
    def scaled_object_name(self) -> str:
        """The name of the ScaledObject the candidates ran on (its ``metadata.name``)."""
        return (self.scaled_object or recommended_scaled_object({})).name

    def ran(self) -> dict[str, Any]:
        """Which ScaledObject the search ran, as a ``scaler simulate`` row says it: its
        name and its trigger metadata as given, written form, secrets redacted (each
        candidate replaces that metadata; ``start`` is the first one)."""
        if self.scaled_object is None:
            return {"name": self.scaled_object_name, "metadata": {}}
        trig = self.scaled_object.trigger
        return {
            "name": self.scaled_object.name,
            "metadata": as_written(trig.metadata, trig.fromEnv),
        }

    def as_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "policy": self.policy,
            "scaled_object": self.ran(),
            "slo_ms": self.slo_ms,
            "attainment_target": self.target,
            "startup_s": self.startup_s,
            "traces": list(self.traces),
            "oracle_gpu_hours": list(self.oracle_gpu_hours),
            "feasible": self.feasible,
            "best": {"metadata": self.shown(best.metadata), **trial_scores(best, self.target)},
            "paste_metadata": self.paste[0],
            "holdout": {
                "traces": list(self.holdout_traces),
                "oracle_gpu_hours": list(self.holdout_oracle_gpu_hours),
                "best": None
                if self.best_holdout is None
                else trial_scores(self.best_holdout, self.target),
                "start": None
                if self.start_holdout is None
                else trial_scores(self.start_holdout, self.target),
            },
            "start": {
                "metadata": self.shown(self.start.metadata),
                **trial_scores(self.start, self.target),
            },
            "searched": [
                dataclasses.asdict(d) | {"kind": type(d).__name__.lower()}
                for d in self.space.dimensions
            ],
            "trials": [
                {"index": t.index, "label": t.label, "metadata": self.shown(t.metadata)}
                | trial_scores(t, self.target)
                for t in self.trials
            ],
        }


def trial_scores(trial: Trial, target: float) -> dict[str, Any]:
    """A trial's scores for JSON: totals and per trace."""
    return {
        "gpu_hours": trial.gpu_hours if trial.scores else None,
        "slo_attainment": trial.slo_attainment if trial.scores else None,
        "feasible": trial.feasible(target),
        "shortfall": trial.shortfall(target) if trial.scores else None,
        "error": trial.error,
        "per_trace": [s.as_dict() for s in trial.scores],
    }


def default_scenario(policy: str) -> Scenario:
    """The built-in scenario with the recommended ScaledObject (see
    :func:`scaler.sim.presets.recommended_scaled_object`)."""
    return Scenario().model_copy(
        update={"scaledObject": recommended_scaled_object({POLICY_KEY: policy})}
    )


def make_problem(
    traces: Sequence[Trace], scenario: Scenario, *, warm_start_s: float | None = None
) -> Problem:
    """Oracles per trace, and the replicas booted at t = 0: the oracle's highest need
    over the first ``warm_start_s`` seconds (default: the scenario's pod start-up, as
    ``scaler simulate`` starts its runs), which is what a fleet already running before
    the trace began would hold (the oracle itself has those replicas booted in time);
    0: the need at t = 0 alone."""
    oracles = [
        compute_oracle(t, scenario.fleet, scenario.slo_ms, scenario.startup.nominal_s)
        for t in traces
    ]
    within = scenario.startup.nominal_s if warm_start_s is None else warm_start_s
    return Problem(
        traces=tuple(traces),
        scenario=scenario,
        initial_replicas=tuple(o.warm_fleet(within) for o in oracles),
        oracle_gpu_hours=tuple(o.gpu_hours for o in oracles),
    )


def tune(
    traces: Sequence[Trace],
    policy: str,
    *,
    scenario: Scenario | None = None,
    target: float = 0.99,
    budget: int = 60,
    seed: int = 0,
    workers: int | None = None,
    start: Mapping[str, str] | None = None,
    fixed: Mapping[str, str] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    common: Mapping[str, tuple[float, float]] | None = None,
    warm_start_s: float | None = None,
    progress: Progress | None = None,
    holdout: Sequence[Trace] = (),
) -> TuneResult:
    """Search ``policy``'s parameters for the fewest GPU-hours summed over ``traces``
    with SLO attainment ≥ ``target`` on each.

    ``scenario``: fleet, SLO, start-up and the ScaledObject whose trigger metadata each
    candidate replaces (default :func:`default_scenario`). ``start``: metadata to
    start from (default: the scenario's trigger metadata as ``scaler simulate
    --policy`` runs it, :func:`scaler.sim.presets.scenario_for`: all of it if it names
    ``policy``, else its common keys, scope and guardrails, with ``policy``'s defaults).
    ``workers``: processes (default: every core; 1 runs in this process).
    See :func:`scaler.tuning.space.build_space` for ``fixed``, ``ranges``, ``common``
    and :func:`make_problem` for ``warm_start_s``.

    The scaler's ``minReplicas``/``maxReplicas`` are held at the ScaledObject's bounds
    unless given, so what was simulated is what :attr:`TuneResult.paste` prints.
    ``holdout``: traces the search never sees; the start and the best are scored on
    them afterwards (``--train-days``, ``--holdout-trace``).
    """
    if not traces:
        raise ValueError("tune needs at least one trace")
    params_model = get_policy(policy).params_model
    sc = scenario if scenario is not None else default_scenario(policy)
    if start is None:
        start = dict(scenario_for(policy, sc).scaledObject.trigger.metadata)
    # <key>FromEnv is <key> to the parser; a searched or bounded <key> replaces it.
    start = fold_from_env(start)
    fixed = dict(fixed or {})
    so = sc.scaledObject
    bounds = metadata_of(
        Guardrails(min_replicas=so.minReplicaCount, max_replicas=so.maxReplicaCount)
    )
    for key, bound in bounds.items():
        if key not in fixed and key not in (ranges or {}):
            fixed[key] = start.get(key, bound)
    space = build_space(
        policy, params_model, start=start, fixed=fixed, ranges=ranges, common=common
    )
    scenario_with(sc, space.decode(space.start_point()))
    problem = make_problem(traces, sc, warm_start_s=warm_start_s)
    n = max(1, workers if workers is not None else (os.cpu_count() or 1))
    if n == 1:
        trials = run_search(
            space,
            inline_evaluator(problem),
            budget=budget,
            target=target,
            seed=seed,
            progress=progress,
        )
    else:
        with make_pool(problem, n) as pool:
            trials = run_search(
                space,
                pool_evaluator(pool),
                budget=budget,
                target=target,
                seed=seed,
                progress=progress,
            )
    result = TuneResult(
        policy=policy,
        target=target,
        slo_ms=sc.slo_ms,
        startup_s=sc.startup.nominal_s,
        space=space,
        trials=tuple(trials),
        traces=tuple(t.name for t in traces),
        oracle_gpu_hours=problem.oracle_gpu_hours,
        scaled_object=so,
    )
    if not holdout:
        return result
    held = make_problem(holdout, sc, warm_start_s=warm_start_s)
    best, first = result.best, result.start
    return dataclasses.replace(
        result,
        holdout_traces=tuple(t.name for t in holdout),
        holdout_oracle_gpu_hours=held.oracle_gpu_hours,
        best_holdout=Trial(best.index, best.label, best.metadata, *evaluate(held, best.metadata)),
        start_holdout=Trial(
            first.index, first.label, first.metadata, *evaluate(held, first.metadata)
        ),
    )


def write_json(result: TuneResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.as_dict(), indent=2) + "\n")
