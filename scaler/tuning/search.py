"""The budgeted search: a seeded Latin-hypercube start, then local refinement.

Every candidate is trigger metadata run through :func:`scaler.sim.engine.simulate`
on every trace (the same engine as ``scaler simulate``; no policy logic is copied).
Ranking: candidates meeting the SLO attainment target on every trace come first,
fewest GPU-hours (summed over traces) first; the rest follow by their attainment
shortfall (summed over traces), so a search that finds nothing feasible still
reports how close it came.

Determinism: the candidates depend only on the seed and on earlier results, taken
in a fixed order, and refinement proposes fixed-size batches, so the same seed gives
the same trials whether 1 or 16 processes evaluate them.

Budget monotone: the budget only says where the sequence of candidates stops (the
initial sample has a fixed size, :data:`INITIAL_SAMPLES`, cut short by a smaller
budget), so a larger budget's trials extend a smaller one's and its best is never
worse with the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaler.sim.engine import simulate
from scaler.sim.scenario import Scenario, ScenarioError
from scaler.sim.scores import Scores, scores_dict
from scaler.traces.model import Trace
from scaler.tuning.space import Choice, Space

REFINE_BATCH = 4
"""Candidates proposed per refinement round (fixed, for determinism)."""

INITIAL_SAMPLES = 12
"""The start and its initial sample, whatever the budget (see the module docstring)."""

LOCAL_RADIUS = 0.2
"""Every second initial sample is drawn within this distance of the start (unit-cube
coordinates): defaults are usually near a good point, the rest of the cube is
explored by the other half."""

SIGMA_START, SIGMA_MIN, SIGMA_MAX = 0.15, 0.02, 0.4
"""Refinement step, in unit-cube coordinates: grows on success, shrinks on failure."""


@dataclass(frozen=True, slots=True)
class Problem:
    """What every evaluation needs: the traces, the scenario whose trigger metadata
    each candidate replaces, the replicas ready at t = 0 and the oracle per trace."""

    traces: tuple[Trace, ...]
    scenario: Scenario
    initial_replicas: tuple[int, ...]
    oracle_gpu_hours: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class TraceScore:
    """One candidate on one trace: its run's scores and the oracle's GPU-hours."""

    trace: str
    scores: Scores
    oracle_gpu_hours: float

    @property
    def gpu_hours(self) -> float:
        return self.scores.gpu_hours

    @property
    def slo_attainment(self) -> float:
        return self.scores.slo_attainment

    def as_dict(self) -> dict[str, Any]:
        """For JSON: the trace, the oracle and :func:`scaler.sim.scores.scores_dict`."""
        return {
            "trace": self.trace,
            "oracle_gpu_hours": self.oracle_gpu_hours,
            **scores_dict(self.scores),
        }


@dataclass(frozen=True, slots=True)
class Trial:
    """One evaluated candidate. ``error`` is set (and ``scores`` empty) when the
    metadata was refused, e.g. by a policy's own validator."""

    index: int
    label: str
    metadata: dict[str, str]
    scores: tuple[TraceScore, ...]
    error: str | None = None

    @property
    def gpu_hours(self) -> float:
        return sum(s.gpu_hours for s in self.scores) if self.scores else math.inf

    @property
    def slo_attainment(self) -> float:
        """The worst trace's attainment."""
        return min((s.slo_attainment for s in self.scores), default=0.0)

    def shortfall(self, target: float) -> float:
        if not self.scores:
            return math.inf
        return sum(max(0.0, target - s.slo_attainment) for s in self.scores)

    def feasible(self, target: float) -> bool:
        return bool(self.scores) and self.shortfall(target) == 0.0

    def rank(self, target: float) -> tuple[int, float, float]:
        """Smaller is better."""
        if self.error is not None or not self.scores:
            return (2, math.inf, math.inf)
        if self.feasible(target):
            return (0, self.gpu_hours, -self.slo_attainment)
        return (1, self.shortfall(target), self.gpu_hours)


def scenario_with(scenario: Scenario, metadata: Mapping[str, str]) -> Scenario:
    """``scenario`` with its trigger metadata replaced; raises ScenarioError if invalid."""
    so = scenario.scaledObject
    trig = so.trigger.model_copy(update={"metadata": dict(metadata)})
    out = scenario.model_copy(update={"scaledObject": so.model_copy(update={"triggers": [trig]})})
    out.scaler_config()
    return out


Outcome = tuple[tuple[TraceScore, ...], str | None]


def evaluate(problem: Problem, metadata: Mapping[str, str]) -> Outcome:
    """Simulate ``metadata`` on every trace of ``problem``."""
    try:
        scenario = scenario_with(problem.scenario, metadata)
    except (ScenarioError, ValueError) as exc:
        return (), str(exc)
    scores = []
    for trace, initial, oracle in zip(
        problem.traces, problem.initial_replicas, problem.oracle_gpu_hours, strict=True
    ):
        s = simulate(trace, scenario, initial_replicas=initial).scores
        scores.append(TraceScore(trace.name, s, oracle))
    return tuple(scores), None


_WORKER_PROBLEM: Problem | None = None


def _init_worker(problem: Problem) -> None:
    global _WORKER_PROBLEM
    _WORKER_PROBLEM = problem


def _evaluate_in_worker(metadata: dict[str, str]) -> Outcome:
    assert _WORKER_PROBLEM is not None
    return evaluate(_WORKER_PROBLEM, metadata)


Evaluator = Callable[[Sequence[dict[str, str]], Callable[[], None]], list[Outcome]]
"""Evaluates a batch in order; calls the second argument once per finished candidate."""


def inline_evaluator(problem: Problem) -> Evaluator:
    def run(batch: Sequence[dict[str, str]], done: Callable[[], None]) -> list[Outcome]:
        out = []
        for meta in batch:
            out.append(evaluate(problem, meta))
            done()
        return out

    return run


def pool_evaluator(pool: ProcessPoolExecutor) -> Evaluator:
    def run(batch: Sequence[dict[str, str]], done: Callable[[], None]) -> list[Outcome]:
        futures: list[Future[Outcome]] = [pool.submit(_evaluate_in_worker, m) for m in batch]
        results = []
        for f in futures:
            results.append(f.result())
            done()
        return results

    return run


def make_pool(problem: Problem, workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(problem,))


def _latin_hypercube(rng: np.random.Generator, n: int, d: int) -> list[list[float]]:
    if n <= 0:
        return []
    cols = [(rng.permutation(n) + rng.random(n)) / n for _ in range(d)]
    return [[float(cols[j][i]) for j in range(d)] for i in range(n)]


def _perturb(
    rng: np.random.Generator, space: Space, point: Sequence[float], sigma: float
) -> list[float]:
    d = len(point)
    if d == 0:
        return []
    mask = rng.random(d) < min(1.0, 2.5 / d)
    if not mask.any():
        mask[int(rng.integers(d))] = True
    noise = rng.normal(0.0, sigma, d)
    fresh = rng.random(d)
    out = []
    for j, dim in enumerate(space.dimensions):
        u = point[j]
        if mask[j]:
            u = float(fresh[j]) if isinstance(dim, Choice) else u + float(noise[j])
        out.append(min(max(u, 0.0), 1.0))
    return out


def run_search(
    space: Space,
    evaluator: Evaluator,
    *,
    budget: int,
    target: float,
    seed: int = 0,
    progress: Callable[[int, int, Trial | None], None] | None = None,
) -> list[Trial]:
    """Evaluate at most ``budget`` candidates (the start first) and return every trial
    in the order evaluated. ``progress(done, budget, best)`` follows each one."""
    budget = max(budget, 1)
    rng = np.random.default_rng(seed)
    d = len(space.dimensions)
    trials: list[Trial] = []
    seen: dict[tuple[tuple[str, str], ...], Outcome] = {}
    points: dict[int, list[float]] = {}
    evaluated = [0]

    def best_trial() -> Trial | None:
        return min(trials, key=lambda t: t.rank(target)) if trials else None

    def tick() -> None:
        evaluated[0] += 1
        if progress is not None:
            progress(min(evaluated[0], budget), budget, best_trial())

    def run(batch: list[tuple[str, list[float]]]) -> bool:
        """Evaluate the new metadata of ``batch``; True if the best improved."""
        before = best_trial()
        metas = [space.decode(p) for _, p in batch]
        keys = [tuple(sorted(m.items())) for m in metas]
        todo = [m for m, k in zip(metas, keys, strict=True) if k not in seen]
        todo_keys = [tuple(sorted(m.items())) for m in todo]
        unique = list(dict.fromkeys(todo_keys))
        first = {k: todo[todo_keys.index(k)] for k in unique}
        outcomes = evaluator([first[k] for k in unique], tick) if unique else []
        seen.update(dict(zip(unique, outcomes, strict=True)))
        for (label, point), meta, key in zip(batch, metas, keys, strict=True):
            scores, error = seen[key]
            points[len(trials)] = point
            trials.append(Trial(len(trials), label, meta, scores, error))
        after = best_trial()
        return before is None or (after is not None and after.rank(target) < before.rank(target))

    start = space.start_point()
    samples = _latin_hypercube(rng, INITIAL_SAMPLES - 1, d)
    near = [
        [
            min(max(s + (u - 0.5) * 2 * LOCAL_RADIUS, 0.0), 1.0)
            for s, u in zip(start, p, strict=True)
        ]
        for p in samples[1::2]
    ]
    samples[1::2] = near
    run(([("start", start)] + [("sample", p) for p in samples])[:budget])
    sigma = SIGMA_START
    while len(trials) < budget and d > 0:
        current = best_trial()
        assert current is not None
        centre = points[current.index]
        batch = []
        for _ in range(min(REFINE_BATCH, budget - len(trials))):
            candidate = _perturb(rng, space, centre, sigma)
            for _retry in range(8):
                if tuple(sorted(space.decode(candidate).items())) not in seen:
                    break
                candidate = _perturb(rng, space, centre, max(sigma, 0.1))
            batch.append(("refine", candidate))
        improved = run(batch)
        sigma = min(sigma * 1.3, SIGMA_MAX) if improved else max(sigma * 0.6, SIGMA_MIN)
    if progress is not None:
        progress(budget, budget, best_trial())
    return trials
