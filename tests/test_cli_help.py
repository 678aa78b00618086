"""Every command's --help is readable in an 80-column terminal: nothing cut."""

from __future__ import annotations

from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from scaler.cli import app


def _commands() -> list[list[str]]:
    root: Any = get_command(app)
    out: list[list[str]] = [[]]
    for name, cmd in root.commands.items():
        out.append([name])
        out.extend([name, sub] for sub in getattr(cmd, "commands", {}))
    return out


@pytest.mark.parametrize("args", _commands(), ids=lambda a: " ".join(a) or "scaler")
def test_help_fits_80_columns_without_cutting_anything(args: list[str]) -> None:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    too_wide = [line for line in result.output.splitlines() if len(line) > 80]
    assert too_wide == []
