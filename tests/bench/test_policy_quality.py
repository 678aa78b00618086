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
