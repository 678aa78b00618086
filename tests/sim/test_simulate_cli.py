"""``scaler simulate`` end to end on a small trace."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from scaler.commands import simulate


def _app() -> typer.Typer:
    app = typer.Typer()
    simulate.register(app)

    @app.command()
    def noop() -> None:
        """Keeps typer in multi-command mode, as in the real CLI."""

    return app


def _trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    rows = ["time_s,rps,items_per_request"]
    for t in range(1800):
        rps = 300 if t < 600 else 1200
        rows.append(f"{t},{rps},16")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_simulate_writes_a_summary_and_an_offline_report(tmp_path: Path) -> None:
    out, page = tmp_path / "summary.json", tmp_path / "report.html"
    result = CliRunner().invoke(
        _app(),
        ["simulate", "--trace", str(_trace(tmp_path)), "--json", str(out), "--report", str(page)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    names = [p["name"] for p in summary["policies"]]
    assert {"threshold-gpu70", "supersonic", "static-peak"} <= set(names)
    assert summary["oracle"]["peak_replicas"] >= 1
    assert summary["oracle_instant"]["gpu_hours"] <= summary["oracle"]["gpu_hours"]
    for key in ("duration_s", "requests", "mean_rps", "peak_rps"):
        assert summary[key] > 0
    for p in summary["policies"]:
        assert set(p) >= {
            "gpu_hours",
            "gpu_hours_vs_oracle",
            "slo_attainment",
            "latency_ms",
            "failed_requests",
            "scale_events",
            "mean_gpu_utilization",
            "windows_met",
            "worst_5min_p99_ms",
            "scale_events_per_hour",
            "max_overshoot_replicas",
        }
        assert 0 <= p["windows_met"] <= 1
        assert p["worst_5min_p99_ms"] >= p["latency_ms"]["p50"]
    html = page.read_text()
    assert "Plotly.newPlot" in html, "plotly figures"
    assert "<script src" not in html and "<link" not in html, "nothing fetched: plotly inlined"
    assert "What to deploy" in html and "What the columns mean" in html
    for column in ("GPU-h", "1-min windows met", "worst 5-min p99 ms", "max overshoot"):
        assert f"<dt>{column}</dt>" in html, f"{column} is defined"
    assert "requests within the SLO" in html and "time (h)" in html, "axes have units"
    rec = summary["recommendation"]
    assert rec["run"] in names and rec["metadata"]["policy"]


def test_peak_replicas_rescales_the_trace_to_that_need(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    result = CliRunner().invoke(
        _app(),
        [
            "simulate",
            "--trace",
            str(_trace(tmp_path)),
            "--peak-replicas",
            "7",
            "--policy",
            "static-peak",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["oracle"]["peak_replicas"] == 7


def test_exact_mode_runs_from_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("time_s,rps\n" + "".join(f"{t},200\n" for t in range(120)))
    out = tmp_path / "s.json"
    result = CliRunner().invoke(
        _app(),
        ["simulate", "--trace", str(path), "--exact", "--policy", "threshold", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["mode"] == "exact"
    assert summary["policies"][0]["name"] == "threshold"


def test_a_bad_scenario_is_an_error_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("observation:\n  scrape_interval_s: -5\n")
    result = CliRunner().invoke(
        _app(), ["simulate", "--trace", str(_trace(tmp_path)), "--scenario", str(bad)]
    )
    assert result.exit_code == 2
    assert "observation.scrape_interval_s" in result.output


def test_an_unknown_policy_lists_the_choices(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(), ["simulate", "--trace", str(_trace(tmp_path)), "--policy", "nope"]
    )
    assert result.exit_code == 2
    assert "threshold" in result.output


def test_table_shows_window_slo_and_restlessness_with_readable_hours(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(), ["simulate", "--trace", str(_trace(tmp_path)), "--policy", "supersonic"]
    )
    assert result.exit_code == 0, result.output
    for heading in ("windows", "worst", "events/h", "overshoot"):
        assert heading in result.output
    assert "30 min" in result.output


def test_durations_are_headed_in_plain_units() -> None:
    from scaler.sim.summary import duration_text

    assert duration_text(86_400) == "24.0 h"
    assert duration_text(4_086_000) == "1,135 h (47.3 days)"
    assert "e+" not in duration_text(4_086_000)


def test_scaled_object_runs_as_written_and_rows_say_what_ran(tmp_path: Path) -> None:
    manifest = tmp_path / "so.yaml"
    manifest.write_text(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"
        "metadata: {name: mine, namespace: cms}\n"
        "spec:\n  scaleTargetRef: {name: triton}\n  maxReplicaCount: 8\n"
        "  triggers:\n    - type: external\n      metadata:\n"
        "        scalerAddress: sonic-scaler:9100\n        policy: threshold\n"
        '        signal: rps_per_replica\n        target: "70"\n'
    )
    out = tmp_path / "s.json"
    result = CliRunner().invoke(
        _app(),
        ["simulate", "--trace", str(_trace(tmp_path)), "--scaled-object", str(manifest)]
        + ["--policy", "static-peak", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["policies"]
    assert [r["name"] for r in rows] == ["mine", "static-peak"]
    assert rows[0]["scaled_object"]["metadata"]["target"] == "70"
    assert rows[1]["scaled_object"]["name"] == "static-peak"


def test_the_table_ends_with_the_cheapest_run_meeting_the_target(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(),
        ["simulate", "--trace", str(_trace(tmp_path)), "--policy", "static-peak",
         "--policy", "supersonic", "--slo-target", "0.5"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    tail = result.output[result.output.rindex("└") :]
    assert "Recommended:" in tail and "cheapest run meeting the 50 % SLO target" in tail
    block = tail[tail.index("metadata:") :]
    import yaml

    meta = yaml.safe_load(block)["metadata"]
    assert {"policy", "minReplicas", "maxReplicas", "scalerAddress"} <= set(meta)
