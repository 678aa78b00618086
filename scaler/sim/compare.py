"""Run the oracle and a set of policies on one trace: the ``scaler simulate`` job."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
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
    workers: int | None = None,
) -> Comparison:
    """Every named policy from the same start: the oracle's need at t = 0 already
    booted (clamped to each ScaledObject's bounds), so no policy pays for a cold start
    another does not.

    Policies run side by side in ``workers`` processes (default: one per core); a
    policy's progress is then reported when it finishes rather than as it goes."""
    oracle = compute_oracle(trace, scenario.fleet, scenario.slo_ms, scenario.startup.nominal_s)
    first = int(oracle.need[0]) if len(oracle.need) else 0
    scenarios = [scenario_for(n, scenario, static_replicas=oracle.peak_replicas) for n in names]
    n_workers = min(len(names), workers if workers is not None else os.cpu_count() or 1)
    if n_workers <= 1:
        runs = []
        for name, sc in zip(names, scenarios, strict=True):

            def report(t: float, name: str = name) -> None:
                if progress is not None:
                    progress(name, t)

            runs.append(
                simulate(trace, sc, name=name, exact=exact, initial_replicas=first, progress=report)
            )
        return Comparison(trace, scenario, oracle, tuple(runs), exact)
    with ProcessPoolExecutor(n_workers) as pool:
        futures = [
            pool.submit(simulate, trace, sc, name=name, exact=exact, initial_replicas=first)
            for name, sc in zip(names, scenarios, strict=True)
        ]
        done = []
        for name, future in zip(names, futures, strict=True):
            done.append(future.result())
            if progress is not None:
                progress(name, trace.duration_s)
    return Comparison(trace, scenario, oracle, tuple(done), exact)
