"""``scaler tune`` end to end: a small trace in, a pasteable metadata block and a JSON
file with the chosen parameters, their scores and every trial out."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from scaler.commands import tune
from scaler.metadata import parse_metadata


def scaler_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test harness for the tune command."""

    tune.register(app)
    return app


def write_trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    rows = ["time_s,rps"] + [f"{t},{8000 if t < 300 or t >= 900 else 30000}" for t in range(1200)]
    path.write_text("\n".join(rows) + "\n")
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(scaler_app(), ["tune", *args])
    return result.exit_code, result.output


def metadata_of(output: str) -> dict[str, str]:
    lines = output[output.index("metadata:") :].splitlines()
    block = [lines[0]] + [line for line in lines[1:] if line.startswith("  ")]
    meta: dict[str, str] = yaml.safe_load("\n".join(block))["metadata"]
    return meta


def test_tune_prints_metadata_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "tuned.json"
    code, output = invoke(
        "--trace", str(write_trace(tmp_path)),
        "--policy", "threshold",
        "--slo-ms", "100",
        "--attainment", "0.99",
        "--budget", "6",
        "--workers", "1",
        "--set", "signal=gpu_utilization",
        "--range", "target=0.2:0.95",
        "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    meta = metadata_of(output)
    assert meta["policy"] == "threshold" and meta["signal"] == "gpu_utilization"
    parse_metadata("so", "ns", meta)
    doc = json.loads(out.read_text())
    assert doc["paste_metadata"] == meta
    assert doc["best"]["metadata"].items() <= meta.items()
    assert doc["slo_ms"] == 100 and doc["attainment_target"] == 0.99
    assert len(doc["trials"]) == 6
    assert doc["best"]["gpu_hours"] <= doc["start"]["gpu_hours"] or not doc["start"]["feasible"]
    assert {"gpu_hours", "slo_attainment", "per_trace"} <= set(doc["trials"][0])
    # which ScaledObject the candidates ran on, as simulate's rows name it
    assert doc["scaled_object"]["name"] == "recommended"
    assert doc["scaled_object"]["metadata"] == {"policy": "threshold"}
    assert "threshold on ScaledObject recommended:" in output


def test_tune_over_two_traces_scores_each(tmp_path: Path) -> None:
    trace = write_trace(tmp_path)
    out = tmp_path / "tuned.json"
    code, output = invoke(
        "--trace", str(trace), "--trace", str(trace),
        "--policy", "pid", "--budget", "4", "--workers", "1", "--startup-s", "30",
        "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    doc = json.loads(out.read_text())
    assert len(doc["best"]["per_trace"]) == 2 and doc["startup_s"] == 30


def test_unreachable_attainment_is_reported_not_hidden(tmp_path: Path) -> None:
    code, output = invoke(
        "--trace", str(write_trace(tmp_path)), "--policy", "static", "--budget", "3",
        "--workers", "1", "--set", "replicas=1",
    )  # fmt: skip
    assert code == 0, output
    assert "no configuration met 99 %" in output
    assert metadata_of(output)["policy"] == "static"


def test_bad_input_is_refused_with_the_reason(tmp_path: Path) -> None:
    trace = str(write_trace(tmp_path))
    code, output = invoke("--trace", trace, "--policy", "nope")
    assert code == 2 and "unknown policy 'nope'" in output
    code, output = invoke("--trace", trace, "--policy", "pid", "--range", "kp=0:99")
    assert code == 2 and "kp" in output and "bounds" in output
    code, output = invoke("--trace", trace, "--policy", "pid", "--set", "kp")
    assert code == 2 and "KEY=VALUE" in output
    code, output = invoke("--trace", str(tmp_path / "missing.csv"), "--policy", "pid")
    assert code == 2 and "missing.csv" in output
