"""Every command that reads a trace takes the same flags and answers the same
error with the same exit code (2) and a message naming file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from scaler.commands import simulate, testbed, trace, tune

SHARED_FLAGS = ("--time-column", "--time-unit", "--size-column", "--count-column")


def app() -> typer.Typer:
    out = typer.Typer()
    for module in (simulate, testbed, trace, tune):
        module.register(out)
    return out


def _invocations(path: Path) -> dict[str, list[str]]:
    return {
        "simulate": ["simulate", "--trace", str(path)],
        "tune": ["tune", "--trace", str(path), "--policy", "threshold"],
        "trace info": ["trace", "info", str(path)],
        "testbed": ["testbed", "--trace", str(path)],
    }


@pytest.mark.parametrize("command", ["simulate", "tune", "trace info", "testbed"])
def test_every_trace_command_has_the_shared_flags(command: str) -> None:
    group = get_command(app())
    names = command.split()
    cmd = group
    for name in names:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    flags = {opt for p in cmd.params for opt in p.opts}

    assert set(SHARED_FLAGS) <= flags


@pytest.mark.parametrize("command", ["simulate", "tune", "trace info", "testbed"])
def test_a_missing_time_column_exits_2_naming_the_file_everywhere(
    command: str, tmp_path: Path
) -> None:
    path = tmp_path / "nocol.csv"
    path.write_text("a,b\n1,2\n")

    result = CliRunner().invoke(app(), [*_invocations(path)[command], "--time-column", "x"])

    assert result.exit_code == 2, result.output
    assert f"{path}:1:1:" in result.output.replace("\n", "")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["simulate", "tune", "trace info", "testbed"])
def test_time_unit_ns_is_accepted_everywhere(command: str, tmp_path: Path) -> None:
    path = tmp_path / "ns.csv"
    path.write_text("t\n0\n")

    args = [*_invocations(path)[command], "--time-unit", "ns", "--time-column", "x"]
    result = CliRunner().invoke(app(), args)

    assert "Invalid value" not in result.output
    assert "no column 'x'" in result.output.replace("\n", "")
