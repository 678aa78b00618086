"""The recommendation: the cheapest run meeting the SLO target, or an honest miss."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from scaler.metadata import parse_metadata, resolve_env_references
from scaler.sim.engine import RunResult, simulate
from scaler.sim.presets import scenario_for
from scaler.sim.recommend import recommend
from scaler.sim.scenario import load_scenario
from scaler.sim.scores import Scores
from tests.sim._util import step


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


def test_the_pasted_block_of_a_from_env_trigger_names_the_variable_not_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger reading ``target`` and ``release`` from the environment: the ready to
    paste block keeps ``targetFromEnv: TARGET`` (KEDA would look up a variable named by
    a value), adds no README ``release`` beside ``releaseFromEnv``, parses once the
    variables are set, and neither the block nor the JSON shows a resolved value."""
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "scaledObject:\n  triggers:\n    - metadata: {policy: threshold, signal: rps_per_replica,"
        " targetFromEnv: TARGET, releaseFromEnv: REL}\n"
    )
    monkeypatch.setenv("TARGET", "4321")
    monkeypatch.setenv("REL", "hidden-release")
    sc = load_scenario(path)
    result = simulate(step(100, 600, 120, 60), scenario_for("threshold", sc), initial_replicas=1)
    rec = recommend([result], 1.0, 0.0)
    assert rec is not None
    assert rec.metadata["targetFromEnv"] == "TARGET" and rec.metadata["releaseFromEnv"] == "REL"
    assert "release" not in rec.metadata and "release" not in rec.example_keys
    pasted = yaml.safe_load(rec.block)["metadata"]
    cfg = parse_metadata("t", "ns", resolve_env_references(pasted, os.environ))
    assert cfg.scope.release == "hidden-release"
    assert cfg.params.target == 4321  # type: ignore[attr-defined]
    shown = json.dumps(rec.as_dict()) + rec.block
    assert "4321" not in shown and "hidden-release" not in shown
