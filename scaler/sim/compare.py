"""Run the oracle and a set of policies on one trace: the ``scaler simulate`` job."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from scaler.sim.engine import RunResult, simulate
from scaler.sim.oracle import NeedArray, OracleResult, compute_oracle
from scaler.sim.presets import PRESETS, scenario_for
from scaler.sim.scenario import ScaledObjectSpec, Scenario
from scaler.traces.model import Trace

RunProgress = Callable[[str, float], None]
"""Called with the run's name and its simulated seconds done."""

Entry = str | ScaledObjectSpec
"""What one row runs: a preset or registered policy name (see
:func:`scaler.sim.presets.scenario_for`), or a ScaledObject as given (row named after it)."""


def entry_scenario(entry: Entry, base: Scenario, *, static_replicas: int) -> tuple[str, Scenario]:
    """The row name and the scenario for ``entry`` on ``base``'s fleet, SLO and start-up."""
    if isinstance(entry, ScaledObjectSpec):
        out = base.model_copy(update={"scaledObject": entry})
        out.scaler_config()
        return entry.name, out
    return entry, scenario_for(entry, base, static_replicas=static_replicas)


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
    entries: Sequence[Entry] = PRESETS,
    *,
    exact: bool = False,
    progress: RunProgress | None = None,
    workers: int | None = None,
) -> Comparison:
    """Every entry (preset, registered policy or ScaledObject) from the same start: the
    oracle's highest need over the first pod start-up already booted (clamped to each
    ScaledObject's bounds), a fleet already running when the trace begins, so no run
    pays for a cold start another or the oracle does not. (From the need at t = 0
    alone, a trace whose load rises in its first minute made every reactive policy pay
    a start-up a static fleet at the peak, starting at its minimum, did not.)

    Policies run side by side in ``workers`` processes (default: one per core). The
    workers are forked with the trace, so it is shared rather than copied to each, and
    report progress through a queue as they go, as a single process does."""
    oracle = compute_oracle(trace, scenario.fleet, scenario.slo_ms, scenario.startup.nominal_s)
    first = oracle.warm_fleet(scenario.startup.nominal_s)
    planned = [entry_scenario(e, scenario, static_replicas=oracle.peak_replicas) for e in entries]
    names = [n for n, _ in planned]
    scenarios = [sc for _, sc in planned]
    n_workers = min(len(names), workers if workers is not None else os.cpu_count() or 1)
    if n_workers <= 1 or "fork" not in mp.get_all_start_methods():
        runs = []
        for name, sc in zip(names, scenarios, strict=True):

            def report(t: float, name: str = name) -> None:
                if progress is not None:
                    progress(name, t)

            runs.append(
                simulate(
                    trace,
                    sc,
                    name=name,
                    exact=exact,
                    initial_replicas=first,
                    progress=report,
                    oracle_need=oracle.need,
                )
            )
        return Comparison(trace, scenario, oracle, tuple(runs), exact)
    context = mp.get_context("fork")
    updates: mp.SimpleQueue[tuple[str, float]] = context.SimpleQueue()
    # The workers share the parent's pages until they write to them; the collector
    # would write to every object it examines (its links), copying the parent's
    # heap into each worker. Frozen objects are never examined.
    gc.freeze()
    try:
        with ProcessPoolExecutor(
            n_workers,
            mp_context=context,
            initializer=_share,
            initargs=(trace, oracle.need, updates),
        ) as pool:
            # Longest first: runs that learn from hours of history take many times longer
            # than the others, so starting them first keeps both workers busy to the end.
            order = sorted(range(len(names)), key=lambda i: -_history_s(scenarios[i]))
            submitted = {
                i: pool.submit(_run_shared, scenarios[i], names[i], exact, first) for i in order
            }
            futures = [submitted[i] for i in range(len(names))]
            while not all(f.done() for f in futures):
                while not updates.empty():
                    name, t = updates.get()
                    if progress is not None:
                        progress(name, t)
                # Only the runs still going: a finished one would end every wait at once and
                # the loop would spin, taking a core from the workers.
                running = [f for f in futures if not f.done()]
                wait(running, timeout=_PROGRESS_POLL_S, return_when=FIRST_COMPLETED)
            done = [f.result() for f in futures]
    finally:
        gc.unfreeze()
    if progress is not None:
        for name in names:
            progress(name, trace.duration_s)
    return Comparison(trace, scenario, oracle, tuple(done), exact)


def _history_s(scenario: Scenario) -> float:
    """Seconds of history the scenario's policy keeps: its decisions' cost grows with it."""
    cfg = scenario.scaler_config()
    return float(cfg.policy.history_s(cfg.params))


_PROGRESS_POLL_S = 0.1
_shared: tuple[Trace, NeedArray, mp.SimpleQueue[tuple[str, float]]] | None = None


def _share(trace: Trace, need: NeedArray, updates: mp.SimpleQueue[tuple[str, float]]) -> None:
    """Worker initializer: keep the forked trace, the oracle's need and the progress queue."""
    global _shared
    _shared = (trace, need, updates)


def _run_shared(scenario: Scenario, name: str, exact: bool, first: int) -> RunResult:
    assert _shared is not None, "worker started without _share"
    trace, need, updates = _shared
    return simulate(
        trace,
        scenario,
        name=name,
        exact=exact,
        initial_replicas=first,
        progress=lambda t: updates.put((name, t)),
        oracle_need=need,
    )
