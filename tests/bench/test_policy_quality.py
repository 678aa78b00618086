"""The policy benchmark's result files: a policy run keeps issue 14's rows, which the
indicator benchmark writes into the same json."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.loader import ROOT, load_bench


def test_a_policy_run_keeps_the_indicator_rows_it_did_not_make(tmp_path: Path) -> None:
    bench = load_bench("policy_quality")
    doc = json.loads((ROOT / "bench" / "results" / "policy_quality.json").read_text())
    doc.pop("indicators", None)
    (tmp_path / "policy_quality.json").write_text(json.dumps({"indicators": {"rows": [1]}}))

    bench.write(doc, tmp_path, "policy_quality")

    written = json.loads((tmp_path / "policy_quality.json").read_text())
    assert written["indicators"] == {"rows": [1]}
    assert written["cases"] == json.loads(json.dumps(bench._clean(doc["cases"])))


def test_a_baseline_at_the_shown_attainment_sets_the_bar() -> None:
    """A SuperSONIC point serving 99.99996 % is shown as 100.00 %; the bar for a default
    at 100 % is that point's cost, not a costlier one that missed no request."""
    bench = load_bench("policy_quality")
    rows = [
        {"gpu_hours": 5.79, "slo_attainment": 0.9999996},
        {"gpu_hours": 15.01, "slo_attainment": 1.0},
        {"gpu_hours": 3.0, "slo_attainment": 0.99},
    ]
    assert bench.cost_at(rows, 1.0) == 5.79
    assert bench.cost_at(rows, 0.9995) == 5.79
    assert bench.cost_at(rows, 0.98) == 3.0
    assert bench.cost_at(rows[:1], 1.0 + 1e-3) is None


def test_item_3_names_runs_above_the_static_fleet_at_the_peak() -> None:
    """Issue 10 item 3 is shown, not assumed: a run that held more GPUs at once than
    the static fleet at the peak, or cost more GPU-hours than it, is named."""
    bench = load_bench("policy_quality")

    def row(name: str, fleet: float, gpu_hours: float) -> dict[str, object]:
        return {
            "name": name,
            "max_fleet": fleet,
            "gpu_hours": gpu_hours,
            "scale_events_per_hour": 1.0,
            "max_overshoot_replicas": 2.0,
        }

    case = {
        "trace": "t",
        "startup_s": 60.0,
        "oracle": {"peak_replicas": 10},
        "static_sweep": [row("static 10", 10, 24.0)],
        "default": row("adaptive (untuned)", 12, 20.0),
        "tuned": row("adaptive (tuned)", 9, 30.0),
    }
    text = "\n".join(bench.behaviour_section([case]))
    assert "| t | 60 s | adaptive (untuned) | 12 | 10 | 20.00 | 24.00 | 1.0 | 2 |" in text
    assert "at the peak at some moment: t 60 s default 12/10." in text
    assert "GPU-hours above that fleet's: t 60 s tuned." in text
