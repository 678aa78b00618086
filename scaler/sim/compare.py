"""Run the oracle and a set of policies on one trace: the ``scaler simulate`` job."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scaler.sim.engine import RunResult, simulate
from scaler.sim.oracle import OracleResult, compute_oracle
from scaler.sim.presets import PRESETS, scenario_for
from scaler.sim.scenario import Scenario
from scaler.traces.model import Trace

RunProgress = Callable[[str, float], None]
"""Called with the policy name and its simulated seconds done."""


@dataclass(frozen=True, slots=True)
class Comparison:
    trace: Trace
    scenario: Scenario
    oracle: OracleResult
    runs: tuple[RunResult, ...]
    exact: bool


def compare(
    trace: Trace,
    scenario: Scenario,
    names: Sequence[str] = PRESETS,
    *,
    exact: bool = False,
    progress: RunProgress | None = None,
) -> Comparison:
    """Every named policy from the same start: the oracle's need at t = 0 already
    booted (clamped to each ScaledObject's bounds), so no policy pays for a cold start
    another does not."""
    oracle = compute_oracle(trace, scenario.fleet, scenario.slo_ms, scenario.startup.nominal_s)
    first = int(oracle.need[0]) if len(oracle.need) else 0
    runs = []
    for name in names:
        sc = scenario_for(name, scenario, static_replicas=oracle.peak_replicas)

        def report(t: float, name: str = name) -> None:
            if progress is not None:
                progress(name, t)

        runs.append(
            simulate(trace, sc, name=name, exact=exact, initial_replicas=first, progress=report)
        )
    return Comparison(trace, scenario, oracle, tuple(runs), exact)
