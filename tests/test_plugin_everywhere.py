"""The example plug-in, installed with pip, is selectable by name in all three places:
ScaledObject metadata (tests/test_plugin_example.py), ``scaler simulate`` and
``scaler tune``, including tune's worker processes."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from scaler.commands import simulate, tune
from scaler.metadata import parse_metadata
from tests.test_plugin_example import installed

__all__ = ["installed"]


def scaler_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test harness for simulate and tune."""

    simulate.register(app)
    tune.register(app)
    return app


def write_trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    rows = ["time_s,rps"] + [f"{t},{8000 if t < 300 else 30000}" for t in range(900)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_plugin_runs_in_scaler_simulate_by_name(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(
        scaler_app(),
        ["simulate", "--trace", str(write_trace(tmp_path)), "--policy", "ongoing-requests",
         "--policy", "supersonic", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    runs = {p["name"]: p for p in json.loads(out.read_text())["policies"]}
    assert set(runs) == {"ongoing-requests", "supersonic"}
    assert runs["ongoing-requests"]["gpu_hours"] > 0
    assert runs["ongoing-requests"]["scale_events"] > 0


def test_plugin_is_tuned_by_scaler_tune_in_worker_processes(
    installed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tuned.json"
    result = CliRunner().invoke(
        scaler_app(),
        ["tune", "--trace", str(write_trace(tmp_path)), "--policy", "ongoing-requests",
         "--budget", "4", "--workers", "2", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    block = result.output[result.output.index("metadata:") :]
    meta = yaml.safe_load(block)["metadata"]
    assert meta["policy"] == "ongoing-requests"
    assert {"targetOngoing", "serviceTimeMs"} <= set(meta)
    assert parse_metadata("so", "ns", meta).policy.name == "ongoing-requests"
    doc = json.loads(out.read_text())
    searched = {d["key"] for d in doc["searched"]}
    assert {"targetOngoing", "serviceTimeMs"} <= searched
    assert all(t["error"] is None for t in doc["trials"])
