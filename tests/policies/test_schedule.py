"""Scheduled capacity: parsing campaigns from metadata, pre-warming, no double count."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from policies import Guardrails
from policies.schedule import (
    Campaign,
    ScheduledThresholdParams,
    ScheduledThresholdPolicy,
    format_schedule,
    parse_duration_s,
    parse_schedule,
    scheduled_load,
    with_schedule,
)
from policies.threshold import ThresholdParams, ThresholdPolicy
from tests.policies import obs, run

DEC_1 = 1_796_104_800.0  # 2026-12-01T06:00:00Z


def test_compact_schedule_parses_iso_starts_and_unit_durations() -> None:
    got = parse_schedule("2026-12-01T06:00:00Z/4h/800; 2026-12-01T12:00:00+01:00/1h30m/50")
    assert got == (
        Campaign(start_s=DEC_1, duration_s=14_400, rate_rps=800),
        Campaign(start_s=DEC_1 + 5 * 3600, duration_s=5400, rate_rps=50),
    )


def test_json_schedule_parses_and_sorts_by_start() -> None:
    got = parse_schedule(
        '[{"start": 7200, "duration": "30m", "rateRps": 5},'
        ' {"start": "2026-12-01T06:00:00Z", "durationSeconds": 60, "rateRps": 1}]'
    )
    assert [c.start_s for c in got] == [7200, DEC_1]
    assert got[0].duration_s == 1800


def test_empty_schedule_is_no_campaigns() -> None:
    assert parse_schedule("  ") == () == parse_schedule(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12-01T06:00:00/1h/5", "campaign 1: start .* has no UTC offset"),
        ("0/1h/5;100/4x/5", "campaign 2: duration '4x'"),
        ("0/1h", "campaign 1: '0/1h' is not START/DURATION/RATE"),
        ("0/1h/-5", "campaign 1: rate_rps = -5.0: Input should be greater than or equal to 0"),
        ("yesterday/1h/5", "campaign 1: start 'yesterday' is not an ISO-8601 time"),
        ("[{", "schedule is not valid JSON"),
        ('{"start": 0}', "is not START/DURATION/RATE"),
    ],
)
def test_bad_schedule_is_rejected_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)


def test_durations_accept_seconds_and_sums() -> None:
    assert parse_duration_s("3600") == parse_duration_s("1h") == parse_duration_s("30m30m")
    assert parse_duration_s("2d") == 172_800


def test_schedule_round_trips_through_the_compact_form() -> None:
    campaigns = parse_schedule("2026-12-01T06:00:00Z/4h/800;10/90s/2.5")
    assert parse_schedule(format_schedule(campaigns)) == campaigns
    dumped = ScheduledThresholdParams(schedule=campaigns).model_dump(by_alias=True)
    assert dumped["schedule"] == format_schedule(campaigns)


def no_history(_: float) -> float | None:
    return None


def test_campaign_is_added_in_full_within_the_lead_time() -> None:
    c = parse_schedule("1000/1h/800")
    assert scheduled_load(c, 600.0, 300.0, 100.0, no_history).extra_rps == 0
    assert scheduled_load(c, 900.0, 300.0, 100.0, no_history).extra_rps == 800


def test_started_campaign_adds_only_what_is_not_yet_visible() -> None:
    c = parse_schedule("1000/1h/800")
    load = scheduled_load(c, 1030.0, 300.0, 600.0, lambda t: 100.0)
    assert load.extra_rps == pytest.approx(300.0)


def test_started_campaign_is_trusted_to_observation_after_settling() -> None:
    c = parse_schedule("1000/1h/800")
    assert scheduled_load(c, 1400.0, 300.0, 100.0, lambda t: 100.0).extra_rps == 0


def test_finished_campaign_adds_nothing() -> None:
    c = parse_schedule("1000/1h/800")
    assert scheduled_load(c, 5000.0, 300.0, 0.0, no_history).extra_rps == 0


def test_scheduled_threshold_prewarms_before_the_start() -> None:
    p = ScheduledThresholdParams(
        signal="rps_per_replica", target=80, schedule="400/1h/800", schedule_lead_time_s=120
    )
    quiet = [obs(5.0 * i, 2, request_rate_rps=160.0) for i in range(50)]  # until t=245
    before, _ = run(ScheduledThresholdPolicy(), p, quiet)
    assert before[-1].replicas == 2
    soon = [obs(250.0 + 5 * i, 2, request_rate_rps=160.0) for i in range(20)]  # t=345
    d, _ = run(ScheduledThresholdPolicy(), p, quiet + soon)
    assert d[-1].replicas == 12
    assert "schedule adds 800.0 req/s" in d[-1].reason


def test_with_schedule_wraps_any_policy_and_guardrails_still_apply() -> None:
    wrapped = with_schedule(ThresholdPolicy())
    assert wrapped.name == "scheduled-threshold"
    params = wrapped.params_model.model_validate(
        {"signal": "rps_per_replica", "target": "80", "schedule": "100/1h/8000"}
    )
    d, _ = run(wrapped, params, [obs(0.0, 2, request_rate_rps=160.0)], Guardrails(max_replicas=20))
    assert d[-1].value == 20
    assert "max_replicas" in d[-1].guardrails


def test_with_schedule_params_reject_unknown_keys() -> None:
    wrapped = with_schedule(ThresholdPolicy())
    with pytest.raises(ValidationError):
        wrapped.params_model.model_validate({"scheduel": "0/1h/5"})
    assert isinstance(wrapped.params_model(), ThresholdParams)
