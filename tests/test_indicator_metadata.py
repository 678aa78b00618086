"""The indicator<N>… metadata keys: validated, errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policies.indicators import IndicatorSettings
from scaler.indicator_metadata import parse_indicators
from scaler.metadata import MetadataError, parse_metadata

SLURM = 'slurm_account_jobs_pending{account="ligo"}'


def parse(**keys: str) -> object:
    return parse_metadata("so", "ns", {"policy": "leading-adaptive", **keys})


def test_indicators_reach_the_policy_and_the_query() -> None:
    cfg = parse(
        indicator1Metric=SLURM,
        indicator1LoadPerUnit="50",
        indicator1LeadSeconds="180",
        indicator1ItemsPerRequest="128",
        indicator1GroupSize="16",
        indicator1RealisedFraction="0.7",
        indicator2Metric="condor_schedd_jobs_idle",
    )
    assert [q.promql for q in cfg.indicators] == [  # type: ignore[attr-defined]
        'sum(slurm_account_jobs_pending{account="ligo"})',
        "sum(condor_schedd_jobs_idle)",
    ]
    assert cfg.params.indicators == (  # type: ignore[attr-defined]
        IndicatorSettings("slurm_account_jobs_pending", 50.0, 180.0, 128.0, 16.0, 0.7),
        IndicatorSettings("condor_schedd_jobs_idle", None, None),
    )


def test_policy_parameters_of_the_wrapper_are_keys() -> None:
    cfg = parse(indicator1Metric=SLURM, indicatorHorizonSeconds="420")
    assert cfg.params.indicator_horizon_s == 420.0  # type: ignore[attr-defined]


def test_the_drain_keys_are_validated_and_named() -> None:
    cfg = parse(indicator1Metric=SLURM, indicatorProvisionSeconds="265", indicatorDrainSeconds="30")
    assert cfg.params.indicator_provision_seconds == 265.0  # type: ignore[attr-defined]
    assert cfg.params.indicator_drain_seconds == 30.0  # type: ignore[attr-defined]
    assert parse(indicator1Metric=SLURM).params.indicator_provision_seconds is None  # type: ignore[attr-defined]
    for key, bad in (("indicatorProvisionSeconds", "-5"), ("indicatorDrainSeconds", "0")):
        with pytest.raises(MetadataError, match=key):
            parse(indicator1Metric=SLURM, **{key: bad})


def test_no_indicators_is_fine() -> None:
    cfg = parse()
    assert cfg.indicators == ()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"indicator1Metric": "sum(rate(x[5m]))"}, "'indicator1Metric'"),
        ({"indicator1Metric": 'jobs{account=~"l.*"}'}, "only equality matchers"),
        ({"indicator1Metric": 'jobs{account="a\\"}'}, "'indicator1Metric'"),
        ({"indicator1Metric": "jobs", "indicator1LoadPerUnit": "-3"}, "'indicator1LoadPerUnit'"),
        ({"indicator1Metric": "jobs", "indicator1LoadPerUnit": "many"}, "not a number"),
        ({"indicator1Metric": "jobs", "indicator1LoadPerUnit": "nan"}, "finite"),
        ({"indicator1Metric": "jobs", "indicator1LeadSeconds": "-1"}, "'indicator1LeadSeconds'"),
        ({"indicator1Metric": "jobs", "indicator1LeadSeconds": "1e9"}, "≤ 86400"),
        ({"indicator1LoadPerUnit": "5"}, "needs indicator1Metric"),
        ({"indicator1Metric": "jobs", "indicator1ItemsPerRequest": "0"}, "> 0"),
        ({"indicator1Metric": "jobs", "indicator1GroupSize": "0"}, "'indicator1GroupSize'"),
        ({"indicator1Metric": "jobs", "indicator1RealisedFraction": "0"}, "> 0"),
        ({"indicator1Metric": "jobs", "indicator1RealisedFraction": "1.5"}, "≤ 1"),
        ({"indicator2Metric": "jobs"}, "indicator1Metric is missing"),
        ({"indicator1Metric": "jobs", "indicator1Lag": "5"}, "'indicator1Lag' is not an"),
        ({"indicator9Metric": "jobs"}, "numbered 1 to 8"),
        ({"indicator01Metric": "jobs"}, "numbered 1 to 8"),
        ({"indicators": "x"}, "'indicators'"),
    ],
)
def test_bad_keys_are_named(keys: dict[str, str], message: str) -> None:
    with pytest.raises(MetadataError, match="scalerMetadata key") as err:
        parse(**keys)
    assert message in str(err.value)


def test_a_policy_without_indicators_refuses_them() -> None:
    with pytest.raises(MetadataError, match=r"'indicator1Metric'.*leading-threshold"):
        parse_metadata("so", "ns", {"policy": "threshold", "indicator1Metric": "jobs"})


def test_other_keys_are_ignored_by_the_indicator_parser() -> None:
    assert parse_indicators({"policy": "x", "indicatorHorizonSeconds": "5"}) == ()


def test_the_docs_scaled_object_is_accepted() -> None:
    """docs/indicators.md's ScaledObject parses with the indicators it shows."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "indicators.md").read_text()
    blocks = [b.split("```")[0] for b in text.split("```yaml\n")[1:]]
    so = next(yaml.safe_load(b) for b in blocks if "kind: ScaledObject" in b)
    meta = so["spec"]["triggers"][0]["metadata"]
    cfg = parse_metadata(so["metadata"]["name"], so["metadata"]["namespace"], meta)
    assert cfg.policy.name == "leading-adaptive"
    assert [q.promql for q in cfg.indicators] == [
        'sum(slurm_account_jobs_running{account="ligo"})',
        'sum(condor_jobs{group="ligo",state="running"})',
    ]
    assert cfg.indicators[1].settings == IndicatorSettings("condor_jobs", 50.0, 180.0, 16.0)
