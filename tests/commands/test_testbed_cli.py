"""``scaler testbed`` and ``scaler demo`` from the command line: the options are
documented, and a bad trace path fails fast with a clear message, exit code 2 and
no servers left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from scaler.commands import testbed
from scaler.traces.model import Trace

SCALER = Path(sys.executable).parent / "scaler"


def scaler_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test harness for the testbed commands."""

    testbed.register(app)
    return app


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            out.append(int(entry.name))
    return out


def test_testbed_help_lists_the_trace_scenario_policy_and_output_options() -> None:
    result = CliRunner().invoke(scaler_app(), ["testbed", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--trace",
        "--scenario",
        "--policy",
        "--metadata",
        "--time-scale",
        "--duration-s",
        "--initial-replicas",
        "--json",
        "--report",
        "--live",
    ):
        assert option in result.stdout


def test_demo_help_offers_a_shorter_run() -> None:
    result = CliRunner().invoke(scaler_app(), ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--seconds" in result.stdout
    assert "--peak-rps" in result.stdout


def test_a_missing_trace_file_exits_2_with_its_name_and_leaves_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-trace.csv"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.run(
        [str(SCALER), "testbed", "--trace", str(missing)],
        capture_output=True,
        env={**os.environ, "COLUMNS": "200", "TMPDIR": str(scratch)},
        timeout=120,
        check=False,
    )
    text = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 2, text
    assert "error" in text
    assert "no-such-trace.csv" in text
    assert list(scratch.iterdir()) == []
    assert _processes_mentioning(str(scratch)) == []


def test_without_the_testbed_extra_both_commands_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = testbed.importlib.util.find_spec
    monkeypatch.setattr(
        testbed.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pytriton" else real(name, *a),
    )
    for args in (["demo"], ["testbed", "--trace", str(tmp_path / "t.csv")]):
        result = CliRunner().invoke(scaler_app(), args, env={"COLUMNS": "200"})
        assert result.exit_code == 2, result.output
        assert "pip install 'sonic-scaler[testbed]'" in result.stderr
        assert "nvidia-pytriton" in result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_demo_finds_the_bundled_ligo_day_from_any_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert testbed.BUNDLED_LIGO.is_file()
    assert testbed.BUNDLED_LIGO.read_text()[:6] == "time_s"


def test_duration_s_cuts_a_traces_job_counts_with_its_rate() -> None:
    """``--duration-s`` on a trace with leading indicators replays the first part of both
    (the cut kept the whole indicator series, and the trace refused the mismatch)."""
    jobs = np.arange(100, dtype=np.float64)
    tr = Trace("jobs", np.ones(100), indicators={"campaign_jobs": jobs})
    short = testbed._shape(tr, time_scale=1.0, rate_scale=1.0, duration_s=30.0)
    assert len(short.rps) == 30
    assert short.indicators["campaign_jobs"].tolist() == list(range(30))
    assert short.name == "jobs"


@pytest.mark.parametrize("policy", ["adaptive", "threshold", "predictive", "adaptive-defaults"])
def test_the_demo_runs_any_policy_on_the_testbeds_scope_and_guardrails(policy: str) -> None:
    """``scaler testbed demo --policy adaptive`` failed: threshold's ``signal`` key was
    left beside ``policy: adaptive`` and the parse refused it."""
    from scaler.testbed.runner import testbed_scenario

    base = testbed_scenario()
    sc = testbed.demo_scenario(base, policy)
    cfg = sc.scaler_config()
    assert sc.scaledObject.trigger.metadata["policy"] == policy.removesuffix("-defaults")
    assert cfg.policy is not None
    if policy in ("adaptive", "predictive"):
        base_meta = base.scaledObject.trigger.metadata
        meta = sc.scaledObject.trigger.metadata
        assert "signal" not in meta
        for key in ("rateWindowSeconds", "minReplicas", "maxReplicas"):
            if key in base_meta:
                assert meta[key] == base_meta[key], key
    assert testbed.demo_scenario(base, None) is base
