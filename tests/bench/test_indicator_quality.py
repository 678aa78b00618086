"""bench/indicator_quality.py's scale-up rules: the rule recommended for
indicator-driven scaling changes only the HPA's scale-up policies, and at the LIGO
campaign start (240 s start-up, lead 3 min) it does not bind, so the chain bound
under it is below the default rule's and equal to a rule that never binds."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.bench.loader import ROOT, load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("indicator_quality")


def test_the_rule_for_indicators_changes_only_the_scale_up_policies(bench: ModuleType) -> None:
    meta = {"policy": "leading-adaptive"}
    default = bench.scaled_object(meta).model_dump(by_alias=True)
    ours = bench.scaled_object(meta, "indicators").model_dump(by_alias=True)
    up = ours["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]
    assert [(p["type"], p["value"], p["periodSeconds"]) for p in up["policies"]] == [
        ("Percent", 100, 15),
        ("Pods", 32, 15),
    ]
    assert up["selectPolicy"] == "Max" and up["stabilizationWindowSeconds"] == 0
    for spec in (default, ours):
        spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]["policies"] = []
    assert ours == default


def test_the_chain_bound_under_the_rule_for_indicators_is_below_the_default_rules(
    bench: ModuleType,
) -> None:
    default = bench.chain_bound(240.0, "twice the need")
    ours = bench.chain_bound(240.0, "twice the need", "indicators")
    never = bench.chain_bound(240.0, "twice the need", "unlimited")
    assert ours["lost_requests"] < default["lost_requests"]
    # It does not bind: the first sync's pods are all that is asked for, as with no limit.
    assert ours["serving"][0][1] == ours["ask_replicas"] > default["serving"][0][1]
    assert ours["lost_requests"] == never["lost_requests"]
    assert (default["scale_up"], ours["scale_up"]) == ("default", "indicators")


def test_a_scenario_with_the_rule_for_indicators_runs_its_own_baseline(
    bench: ModuleType,
) -> None:
    jobs = bench.jobs_for(240.0, ("rule",))
    assert [(j[0], j[1]) for j in jobs] == [
        (bench.RULE, "adaptive"),
        (bench.RULE, "leading-adaptive (trained)"),
    ]
    assert bench.SCENARIO_RULES[bench.RULE] == "indicators"
    assert bench.RULE in bench.HEADLINE


def test_the_docs_recommend_the_rule_the_bench_measured(bench: ModuleType) -> None:
    """docs/indicators.md's ScaledObject carries the scale-up rule whose figures it quotes."""
    text = (ROOT / "docs" / "indicators.md").read_text()
    blocks = [b.split("```")[0] for b in text.split("```yaml\n")[1:]]
    so = next(yaml.safe_load(b) for b in blocks if "kind: ScaledObject" in b)
    up = so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]
    assert up["policies"] == bench.SCALE_UP_RULES["indicators"]
    assert (up["selectPolicy"], up["stabilizationWindowSeconds"]) == ("Max", 0)


def _row(scenario: str, variant: str, gpu_hours: float, slo: float) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "variant": variant,
        "startup_s": 240.0,
        "gpu_hours": gpu_hours,
        "slo_attainment": slo,
        "windows_met": slo,
        "commit": "abc1234",
    }


def test_the_headline_rows_and_their_targets_land_in_policy_quality_json(
    bench: ModuleType, tmp_path: Path
) -> None:
    """policy_quality.json gains an ``indicators`` key with the headline rows, judged,
    and their targets; every key the policy benchmark wrote stays as it was."""
    path = tmp_path / "policy_quality.json"
    theirs = {"bench": "policy_quality", "cases": [{"trace": "ligo"}], "seconds": 1.0}
    path.write_text(json.dumps(theirs))
    rows = [
        _row("lead 3 min", "adaptive", 10.0, 0.99),
        _row("lead 3 min", "leading-adaptive (trained)", 10.5, 0.9995),
        _row(bench.GHOSTS_RULE, "adaptive", 10.0, 0.99),
        _row(bench.GHOSTS_RULE, "leading-adaptive (trained)", 10.5, 0.995),
    ]
    cases = bench.build_cases(rows, {240.0: 10.0})
    bench.policy_json(path, cases, ["abc1234"])
    doc = json.loads(path.read_text())
    assert {k: v for k, v in doc.items() if k != "indicators"} == theirs
    ours = doc["indicators"]
    assert [(r["scenario"], r["variant"], r.get("met")) for r in ours["rows"]] == [
        ("lead 3 min", "adaptive", None),
        ("lead 3 min", "leading-adaptive (trained)", True),
    ]
    assert ours["rows"][1]["target"] == {
        "requests ≥ 99.9 %": True,
        "windows ≥ 99.8 %": True,
        "≤ 1.2 × oracle": True,
    }
    assert ours["targets"]["headline"]["requests_min"] == 0.999
    # The 30 %-never-send row under the rule for indicators: judged against its own
    # adaptive run (same rule), its GPU-hours 5 % above it, over the 2 % allowed.
    ghost = next(r for r in ours["other_rows"] if r["variant"] != "adaptive")
    assert ghost["scale_up"] == "indicators"
    assert ghost["target"]["GPU-h ≤ 1.02 × adaptive"] is False and ghost["met"] is False
    assert ours["all_targets_met"] is False


def test_policy_quality_json_is_left_alone_when_absent(bench: ModuleType, tmp_path: Path) -> None:
    bench.policy_json(tmp_path / "policy_quality.json", [], [])
    assert not (tmp_path / "policy_quality.json").exists()
