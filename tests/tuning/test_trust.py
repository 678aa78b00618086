"""``scaler tune`` can be trusted: a larger budget is never worse with the same seed, the
held-out score is printed beside the in-sample one, and the printed block is complete
trigger metadata that replaces the README ScaledObject's and deploys as is."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from scaler.cli import app
from scaler.metadata import parse_metadata
from scaler.sim.paste import README_SCOPE, SCOPE_KEYS
from scaler.sim.presets import recommended_scaled_object
from scaler.sim.scenario import Scenario
from scaler.traces.model import Trace
from scaler.tuning.holdout import split_days
from scaler.tuning.run import TuneResult, tune

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def bumpy() -> Trace:
    """Twenty minutes with two steps: room for a search to trade GPU-hours for latency."""
    rps = np.concatenate(
        [np.full(300, 8_000.0), np.full(300, 30_000.0), np.full(300, 12_000.0)]
        + [np.full(300, 24_000.0)]
    )
    return Trace("bumpy", rps)


def run(budget: int) -> TuneResult:
    so = recommended_scaled_object({"policy": "threshold"})
    return tune(
        [bumpy()],
        "threshold",
        scenario=Scenario().model_copy(update={"scaledObject": so}),
        budget=budget,
        seed=3,
        workers=1,
        start={"policy": "threshold", "signal": "gpu_utilization", "target": "0.5"},
        fixed={"signal": "gpu_utilization"},
        ranges={"target": (0.2, 0.95)},
    )


@pytest.mark.parametrize(("small", "large"), [(3, 9), (5, 17), (12, 14)])
def test_a_larger_budget_extends_the_smaller_and_is_never_worse(small: int, large: int) -> None:
    a, b = run(small), run(large)

    assert [t.metadata for t in b.trials[:small]] == [t.metadata for t in a.trials]
    assert b.best.rank(0.99) <= a.best.rank(0.99)


def readme_scaled_object() -> dict[str, object]:
    block = README.split("### A complete ScaledObject", 1)[1].split("```yaml", 1)[1]
    so: dict[str, object] = yaml.safe_load(block.split("```", 1)[0])
    return so


def test_readme_scope_is_the_one_the_block_fills_in() -> None:
    meta = readme_scaled_object()["spec"]["triggers"][0]["metadata"]  # type: ignore[index]
    assert {k: meta[k] for k in SCOPE_KEYS if k in meta} == README_SCOPE


def test_printed_block_is_complete_and_replaces_the_readme_metadata(tmp_path: Path) -> None:
    trace = tmp_path / "two-days.csv"
    hourly = [8_000 if (h % 24) < 12 else 20_000 for h in range(48)]
    rows = ["time_s,rps"] + [f"{h * 3600},{r}" for h, r in enumerate(hourly)]
    trace.write_text("\n".join(rows) + "\n")

    result = CliRunner().invoke(
        app,
        ["tune", "--trace", str(trace), "--policy", "threshold", "--budget", "2",
         "--workers", "1", "--set", "signal=gpu_utilization", "--train-days", "1"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "in-sample:" in result.output and "held out" in result.output
    block = yaml.safe_load(result.output[result.output.index("\nmetadata:") :])["metadata"]
    assert set(README_SCOPE) <= set(block)
    assert block["minReplicas"] == "1" and block["maxReplicas"] == "100"
    so = readme_scaled_object()
    so["spec"]["triggers"][0]["metadata"] = block  # type: ignore[index]
    crd = yaml.safe_load((ROOT / "tests" / "reference" / "keda-scaledobject-crd.yaml").read_text())
    jsonschema.validate(so, crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    cfg = parse_metadata("supersonic-triton", "cms", block)
    assert cfg.policy.name == "threshold"


def test_train_days_split_leaves_the_rest_for_scoring() -> None:
    trace = Trace("three-days", np.ones(3 * 86_400))
    train, held = split_days(trace, 2)
    assert train.duration_s == 2 * 86_400 and held.duration_s == 86_400
    with pytest.raises(ValueError, match="leaves nothing"):
        split_days(trace, 3)


def test_train_days_split_cuts_the_leading_indicators_with_the_rate() -> None:
    """``scaler tune`` on a trace from ``scaler trace ligo --indicators``: each part keeps
    its own days of job counts (a trace whose indicator and rate lengths differed was
    refused, so tuning such a trace failed)."""
    jobs = np.concatenate([np.zeros(86_400), np.full(86_400, 16.0)])
    trace = Trace("two-days", np.ones(2 * 86_400), indicators={"campaign_jobs": jobs})
    train, held = split_days(trace, 1)
    assert train.indicators["campaign_jobs"].max() == 0.0
    assert held.indicators["campaign_jobs"].min() == 16.0
    assert len(held.indicators["campaign_jobs"]) == len(held.rps) == 86_400


def test_train_parts_are_named_in_days_or_hours() -> None:
    """A one-hour trace tuned on its first half was labelled "days 1–0.02"."""
    two_days = Trace("ligo", np.ones(2 * 86_400))
    assert split_days(two_days, 1)[0].name == "ligo (day 1)"
    assert split_days(two_days, 1)[1].name == "ligo (after day 1)"
    three_days = Trace("ligo", np.ones(3 * 86_400))
    assert split_days(three_days, 2)[0].name == "ligo (days 1–2)"
    hour = Trace("azure", np.ones(3_600))
    assert split_days(hour, 0.5 / 24)[0].name == "azure (the first 0.5 h)"


def test_in_sample_only_says_how_to_get_a_held_out_score(tmp_path: Path) -> None:
    trace = tmp_path / "day.csv"
    rows = ["time_s,rps"] + [f"{h * 3600},{8_000 if h < 12 else 20_000}" for h in range(24)]
    trace.write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(
        app,
        ["tune", "--trace", str(trace), "--policy", "threshold", "--budget", "1",
         "--workers", "1", "--set", "signal=gpu_utilization"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "held out" not in result.output
    assert "--train-days" in result.output
