"""Scenario files: defaults, overrides and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaler.sim.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_default_file_equals_the_built_in_defaults() -> None:
    assert load_scenario(ROOT / "simulations/scenarios/default.yaml") == load_scenario(None)


def test_a_bad_field_is_named_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("fleet:\n  max_batch_items: 0\n")
    with pytest.raises(ScenarioError, match=r"fleet\.max_batch_items = 0"):
        load_scenario(bad)


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scaledObject:\n  pollingIntervall: 10\n")
    with pytest.raises(ScenarioError, match="pollingIntervall"):
        load_scenario(bad)


def test_bad_trigger_metadata_is_reported_like_the_server_would(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "scaledObject:\n  triggers:\n    - metadata: {policy: threshold, target: '-1'}\n"
    )
    with pytest.raises(ScenarioError, match="target"):
        load_scenario(bad)


def test_startup_override_replaces_the_distribution() -> None:
    sc = load_scenario(None).with_overrides(startup_s=240, slo_ms=50)
    assert sc.startup.kind == "fixed" and sc.startup.nominal_s == 240
    assert sc.slo_ms == 50
