"""The recommendation: the cheapest run meeting the SLO target, or an honest miss."""

from __future__ import annotations

import dataclasses

import numpy as np

from scaler.sim.engine import RunResult
from scaler.sim.recommend import recommend
from scaler.sim.scores import Scores


def run(name: str, gpu_hours: float, attainment: float) -> RunResult:
    scores = Scores(gpu_hours, attainment, 1, 2, 3, 0, 100, 2, 0.5, windows_met=attainment)
    empty = np.zeros(3)
    meta = {"policy": "threshold", "target": "20"}
    return RunResult(name, name, meta, scores, empty, empty, empty, empty, 1, 1, 40)


def test_cheapest_meeting_the_target_wins() -> None:
    runs = [run("dear", 30, 0.999), run("cheap", 20, 0.995), run("cheapest", 10, 0.9)]

    rec = recommend(runs, 10.0, 0.99)

    assert rec is not None and rec.meets and rec.run == "cheap"
    assert rec.x_oracle == 2.0
    assert rec.metadata["minReplicas"] == "1" and rec.metadata["maxReplicas"] == "40"
    assert rec.metadata["target"] == "20"
    assert "Recommended: cheap" in rec.headline()


def test_a_miss_names_the_closest_and_says_it_misses() -> None:
    runs = [run("a", 10, 0.9), run("b", 20, 0.95)]

    rec = recommend(runs, 10.0, 0.99)

    assert rec is not None and not rec.meets and rec.run == "b"
    assert rec.headline().startswith("No run meets the 99 % SLO target")


def test_no_runs_no_recommendation() -> None:
    assert recommend([], 1.0) is None
    assert dataclasses.is_dataclass(run("x", 1, 1).scores)
