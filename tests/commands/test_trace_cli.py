"""``scaler trace``: info on real and broken files, and the LIGO generator,
including the committed ``simulations/traces/ligo.csv``."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer
from typer.main import get_command
from typer.testing import CliRunner

from scaler.commands import trace
from scaler.traces.ligo import LigoParams

REPO = Path(__file__).parents[2]
TRACES_DIR = REPO / "simulations" / "traces"


def scaler_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test harness for the trace commands."""

    trace.register(app)
    return app


def run(*args: str) -> tuple[int, str, str]:
    # Wide enough that rich never wraps a long temporary path inside a table cell.
    result = CliRunner().invoke(scaler_app(), list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_info_prints_duration_requests_and_rates_of_an_azure_trace() -> None:
    path = TRACES_DIR / "azure2023_AzureLLMInferenceTrace_conv.csv"

    code, out, _ = run("trace", "info", str(path))

    assert code == 0
    assert "19,366" in out
    assert "5.53 req/s" in out
    assert "19.00 req/s" in out
    assert "skipped rows" in out


def test_info_reports_skipped_rows_by_reason(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("time_s,items\n0.5,1\n\n,1\n1.5,2\n")

    code, out, _ = run("trace", "info", str(path))

    assert code == 0
    assert "1 × blank line" in out
    assert "1 × no value in 'time_s'" in out


def test_info_on_a_malformed_file_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time_s,rps\n0,1\n1,x\n")

    code, out, err = run("trace", "info", str(path))

    assert code == 2
    assert out == ""
    assert f"{path}:3:3:" in err.replace("\n", "")


def test_info_time_unit_and_column_overrides_resolve_an_ambiguous_file(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("stamp,other\n50000000000,1\n50000002000,1\n")

    assert run("trace", "info", str(path))[0] == 2
    code, out, _ = run("trace", "info", str(path), "--time-column", "stamp", "--time-unit", "ms")

    assert code == 0
    assert "3 s" in out


def test_every_ligo_parameter_is_a_flag() -> None:
    group = get_command(scaler_app()).commands["trace"]  # type: ignore[attr-defined]
    flags = {opt for param in group.commands["ligo"].params for opt in param.opts}

    expected = {"--" + name.replace("_", "-") for name in LigoParams.model_fields}
    assert expected <= flags
    assert {"-o", "--output"} <= flags


def test_ligo_writes_the_trace_asked_for(tmp_path: Path) -> None:
    out_file = tmp_path / "short.csv"

    code, out, _ = run(
        "trace",
        "ligo",
        "--seed",
        "4",
        "--duration-s",
        "600",
        "--campaign-start-s",
        "60",
        "--campaign-duration-s",
        "300",
        "--bursts",
        "0",
        "-o",
        str(out_file),
    )

    assert code == 0
    lines = out_file.read_text().splitlines()
    assert lines[0] == "time_s,rps,items_per_request,burst_fraction"
    assert len(lines) == 601
    assert lines[1] == "0,1536,1,1"
    assert "seed 4" in out


def test_ligo_refuses_inconsistent_parameters_naming_them(tmp_path: Path) -> None:
    code, _, err = run(
        "trace", "ligo", "--streams", "1", "--lock-loss-streams", "2", "-o", str(tmp_path / "x")
    )

    assert code == 2
    assert "lock_loss_streams=2 exceeds streams=1" in err
    assert not (tmp_path / "x").exists()


def test_committed_ligo_trace_is_what_the_documented_command_makes(tmp_path: Path) -> None:
    readme = (TRACES_DIR / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("scaler trace ligo ")]
    assert len(commands) == 1, "README.md must show exactly one `scaler trace ligo` command"
    args = shlex.split(commands[0])[1:]
    output = args.index("-o") + 1
    assert args[output] == "simulations/traces/ligo.csv"
    args[output] = str(tmp_path / "ligo.csv")

    code, _, err = run(*args)

    assert code == 0, err
    regenerated = (tmp_path / "ligo.csv").read_bytes()
    assert regenerated == (TRACES_DIR / "ligo.csv").read_bytes()
