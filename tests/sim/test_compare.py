"""`scaler simulate` starts every run alike: a fleet already running when the trace
begins, as the oracle has it."""

from __future__ import annotations

import numpy as np

from scaler.sim.compare import compare
from scaler.sim.oracle import compute_oracle
from scaler.sim.scenario import Scenario
from scaler.traces.model import Trace


def rising_in_the_first_minute() -> Trace:
    """Light for 10 s, then eight times the load: the oracle boots for it in time."""
    rps = np.where(np.arange(1_200) < 10, 300.0, 2_400.0)
    return Trace("rising", rps, 1.0, np.full(len(rps), 16.0))


def test_every_run_starts_with_what_the_oracle_has_booted_by_the_first_start_up() -> None:
    """A run started at the first second's need would pay a start-up for the rise that
    the oracle (and a static fleet at the peak, started at its minimum) does not."""
    trace = rising_in_the_first_minute()
    sc = Scenario()
    oracle = compute_oracle(trace, sc.fleet, sc.slo_ms, sc.startup.nominal_s)
    warm = oracle.warm_fleet(sc.startup.nominal_s)
    assert warm == oracle.peak_replicas > int(oracle.need[0])
    result = compare(trace, sc, ("adaptive-defaults", "threshold-gpu70"), workers=1)
    for run in result.runs:
        assert run.ready[0] == warm, run.name
