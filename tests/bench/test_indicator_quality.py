"""bench/indicator_quality.py's scale-up rules: the rule recommended for
indicator-driven scaling changes only the HPA's scale-up policies, and at the LIGO
campaign start (240 s start-up, lead 3 min) it does not bind, so the chain bound
under it is below the default rule's and equal to a rule that never binds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))  # the bench imports code_version beside it
    try:
        spec = importlib.util.spec_from_file_location(
            "indicator_quality_bench", ROOT / "bench" / "indicator_quality.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return module


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
