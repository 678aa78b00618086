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
