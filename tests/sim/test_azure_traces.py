"""`scaler simulate` reads both real Azure traces bundled in simulations/traces, rescaled to a
fleet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from scaler.commands import simulate

TRACES = Path(__file__).resolve().parents[2] / "simulations" / "traces"


@pytest.mark.parametrize(
    "name",
    ["azure2023_AzureLLMInferenceTrace_code.csv", "azure2023_AzureLLMInferenceTrace_conv.csv"],
)
def test_simulate_reads_a_bundled_azure_trace_rescaled(name: str, tmp_path: Path) -> None:
    path = TRACES / name
    app = typer.Typer()
    simulate.register(app)
    app.command("noop")(lambda: None)
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(
        app,
        ["simulate", "--trace", str(path), "--peak-replicas", "20", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["oracle"]["peak_replicas"] == pytest.approx(20, abs=1)
    assert summary["requests"] > 0
    names = {p["name"] for p in summary["policies"]}
    assert {"threshold-gpu70", "supersonic", "static-peak"} <= names
