"""A policy's summary row: the overshoot of a run kept at fewer points than the trace."""

from __future__ import annotations

import numpy as np

from scaler.sim.engine import RunResult
from scaler.sim.oracle import OracleResult
from scaler.sim.scores import Scores
from scaler.sim.summary import policy_summary


def test_overshoot_of_a_bucketed_run_is_measured_against_the_need_at_the_same_time() -> None:
    """A long trace's series keep the max of each 2-s bucket. The need (10 GPUs in the
    first hour, 1 after) is bucketed alike before comparing, so a fleet that follows it
    has no overshoot, and one that keeps 10 through the second hour has 9 (ready
    points at hour 1.5 are not compared with the need at hour 0.75)."""
    need = np.r_[np.full(3600, 10), np.full(3600, 1)].astype(np.int16)
    oracle = OracleResult(need, 1.0, 60.0, float(need.sum()), float(need.sum()))
    scores = Scores(1.0, 1.0, 1, 2, 3, 0, 100, 2, 0.5, windows_met=1.0)

    def summary(ready: np.ndarray) -> float:
        series = ready.reshape(-1, 2).max(axis=1).astype(np.float64)
        run = RunResult("r", "r", {}, scores, series, series, series, series, 1, series_step_s=2.0)
        return float(policy_summary(run, oracle)["max_overshoot_replicas"])

    assert summary(need.astype(np.float64)) == 0.0
    assert summary(np.full(7200, 10.0)) == 9.0
