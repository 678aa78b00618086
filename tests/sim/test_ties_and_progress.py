"""simulate says when policies tie (and suggests --peak-replicas); progress moves
while a policy runs, in one process and with parallel workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from typer.testing import CliRunner

from scaler.commands import simulate
from scaler.sim.compare import compare
from scaler.sim.scenario import Scenario
from scaler.traces.model import Trace


def _app() -> typer.Typer:
    app = typer.Typer()
    simulate.register(app)

    @app.command()
    def noop() -> None:
        """Keeps typer in multi-command mode, as in the real CLI."""

    return app


def test_a_one_replica_trace_says_policies_tie_and_suggests_peak_replicas(tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    path.write_text("time_s,rps\n" + "".join(f"{t},{5 + t % 7}\n" for t in range(1200)))

    result = CliRunner().invoke(_app(), ["simulate", "--trace", str(path)])

    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "the oracle needs 1 replica at the peak" in text
    assert "--peak-replicas" in text


def test_a_fleet_sized_trace_has_no_tie_note(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = "".join(f"{t},{300 if t < 600 else 1200},16\n" for t in range(1800))
    path.write_text("time_s,rps,items_per_request\n" + rows)

    result = CliRunner().invoke(_app(), ["simulate", "--trace", str(path)])

    assert result.exit_code == 0, result.output
    assert "tie" not in result.stdout
    assert "--peak-replicas" not in result.stdout


def _trace() -> Trace:
    rps = np.where(np.arange(20_000) % 7200 < 3600, 800.0, 2000.0)
    return Trace("steps", rps, 1.0, np.full(len(rps), 16.0))


def _progress_of(workers: int) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {}
    compare(
        _trace(),
        Scenario(),
        ["threshold", "static"],
        workers=workers,
        progress=lambda name, t: seen.setdefault(name, []).append(t),
    )
    return seen


def test_progress_moves_while_each_policy_runs_in_one_process() -> None:
    seen = _progress_of(1)

    for name in ("threshold", "static"):
        assert any(0 < t < 20_000 for t in seen[name]), seen[name][:5]
        assert seen[name][-1] == 20_000


def test_progress_moves_while_each_policy_runs_with_parallel_workers() -> None:
    seen = _progress_of(2)

    for name in ("threshold", "static"):
        assert any(0 < t < 20_000 for t in seen[name]), seen[name][:5]
        assert seen[name][-1] == 20_000
