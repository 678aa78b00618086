"""Bundled traces: listed with provenance, found by name from any directory,
and the user's own file always wins."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from scaler.commands import simulate, trace
from scaler.traces.bundled import CHECKOUT_DIR, bundled_traces, find_bundled, resolve_trace


def app() -> typer.Typer:
    out = typer.Typer()
    trace.register(out)
    simulate.register(out)
    return out


def test_every_bundled_trace_exists_with_its_checksum_provenance_and_licence() -> None:
    index = yaml.safe_load((CHECKOUT_DIR / "index.yaml").read_text())
    traces = bundled_traces()

    assert [t.name for t in traces] == [e["name"] for e in index["traces"]]
    assert {"ligo", "azure_code", "azure_conv", "worldcup98"} <= {t.name for t in traces}
    for t, entry in zip(traces, index["traces"], strict=True):
        assert t.path.is_file()
        assert hashlib.sha256(t.path.read_bytes()).hexdigest() == entry["sha256"]
        assert t.source and t.licence


@pytest.mark.parametrize("asked", ["ligo", "ligo.csv", "LIGO.csv", "worldcup98.csv"])
def test_a_name_finds_the_bundled_trace(asked: str) -> None:
    found = find_bundled(asked)

    assert found is not None
    assert found.name == asked.split(".")[0].lower()


def test_an_existing_file_wins_over_a_bundled_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("ligo.csv").write_text("time_s,rps\n0,1\n")

    assert resolve_trace(Path("ligo.csv")) == (Path("ligo.csv"), None)


def test_an_unknown_name_is_left_for_the_loader_to_report() -> None:
    assert resolve_trace(Path("no-such-trace.csv")) == (Path("no-such-trace.csv"), None)


def test_trace_list_shows_names_sources_and_licences() -> None:
    result = CliRunner().invoke(app(), ["trace", "list"])

    assert result.exit_code == 0
    for t in bundled_traces():
        assert t.name in result.stdout
    assert "CC-BY-4.0" in result.stdout
    assert "Splitwise" in result.stdout


def test_trace_info_by_name_from_another_directory_says_it_used_the_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(app(), ["trace", "info", "azure_code"])

    assert result.exit_code == 0, result.output
    assert "8,819" in result.stdout
    assert "bundled trace 'azure_code'" in result.stderr


def test_design_card_command_runs_from_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(
        app(), ["simulate", "--trace", "ligo.csv", "--policy", "threshold", "--json", "s.json"]
    )

    assert result.exit_code == 0, result.output
    assert "bundled trace 'ligo'" in result.stderr
    assert (tmp_path / "s.json").is_file()
