"""Predictive policy: provisions for the forecast at the learned capacity, with a
reactive latency floor, scheduled campaigns and optional daily seasonality."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from policies import Guardrails, Observation, PipelineState, PolicyContext, Status, decide
from policies.predictive import PredictiveParams, PredictivePolicy
from scaler.metadata import MetadataError, parse_metadata
from tests.policies import obs, run

PRED = PredictivePolicy()
BASE = {"capacity_rps_prior": 80.0, "target_ms": 50.0, "lead_time_s": 105.0}
P = PredictiveParams(**BASE)


def params(**changes: object) -> PredictiveParams:
    """P with ``changes``, validated (a schedule string is parsed)."""
    return PredictiveParams.model_validate(BASE | changes)


def series(rates: list[float], ready: int, latency: float = 10.0, dt: float = 5.0) -> list:
    return [
        obs(i * dt, ready, request_rate_rps=r, queue_time_per_request_ms=latency)
        for i, r in enumerate(rates)
    ]


def recommend(history: list[Observation], params: PredictiveParams = P) -> float:
    o = history[-1]
    ctx = PolicyContext(
        now_s=o.time_s,
        observation=o,
        history=tuple(history),
        current_replicas=o.ready_replicas,
        min_replicas=0,
        max_replicas=1000,
    )
    return PRED.recommend(ctx, params).replicas


def test_predictive_provisions_flat_load_at_prior_capacity() -> None:
    assert recommend(series([400.0] * 60, ready=5)) == pytest.approx(5.0)


def test_predictive_provisions_a_rising_ramp_ahead_of_time() -> None:
    rates = [100.0 + 2.0 * i for i in range(120)]  # +0.4 req/s per second
    got = recommend(series(rates, ready=5))
    assert got * 80 >= rates[-1] + 0.4 * 105 * 0.95


def test_predictive_follows_a_step_up_at_once() -> None:
    rates = [200.0] * 60 + [800.0] * 3
    assert recommend(series(rates, ready=3)) >= 10.0


def test_predictive_holds_a_step_down_for_the_peak_window() -> None:
    rates = [800.0] * 60 + [200.0] * 12  # 60 s after the drop, peak window 120 s
    assert recommend(series(rates, ready=10)) >= 10.0
    rates += [200.0] * 200
    assert recommend(series(rates, ready=10)) < 4


def test_predictive_does_not_oscillate_on_a_square_wave() -> None:
    rates = [480.0 if (i * 5 // 60) % 2 == 0 else 0.0 for i in range(300)]
    decisions, _ = run(PRED, P, series(rates, ready=6))
    answers = {round(d.value, 6) for d in decisions[60:]}
    assert answers == {6.0}


def test_predictive_floor_catches_latency_over_target() -> None:
    # The prior says one replica serves 1000 req/s; latency says otherwise.
    optimistic = params(capacity_rps_prior=1000.0, capacity_blend=0.0)
    history = series([400.0] * 20, ready=4, latency=150.0)
    assert recommend(history, optimistic) >= 4 * 150 / 50


def test_predictive_learns_capacity_lower_than_prior() -> None:
    # Prior 200 req/s per replica; the fleet is over target at 60 req/s per replica.
    optimistic = params(capacity_rps_prior=200.0, capacity_blend=1.0)
    history = series([300.0] * 200, ready=5, latency=80.0)
    assert recommend(history, optimistic) > 300.0 / 200.0 * 2.5


def test_predictive_learns_capacity_higher_than_prior() -> None:
    # Prior 20 req/s per replica; the fleet serves 80 each within target.
    cautious = params(capacity_rps_prior=20.0, capacity_blend=1.0)
    history = series([400.0] * 200, ready=5, latency=30.0)
    assert recommend(history, cautious) < 400.0 / 20.0 / 2


def test_predictive_prewarms_a_scheduled_campaign_before_it_starts() -> None:
    history = series([160.0] * 60, ready=2)  # now = 295 s
    with_campaign = params(schedule="360/4h/800")
    assert recommend(history) == pytest.approx(2.0)
    assert recommend(history, with_campaign) == pytest.approx((160 + 800) / 80)


def test_predictive_does_not_double_count_a_campaign_once_visible() -> None:
    before = [160.0] * 60
    after = [960.0] * 30  # campaign started at t=300 and the rate rose by 800
    p = params(schedule="300/4h/800")
    assert recommend(series(before + after, ready=12), p) == pytest.approx(960 / 80)


def test_predictive_wakes_from_zero_on_activation() -> None:
    d, _ = run(PRED, P, [obs(0.0, 0, activation_rps=50.0)])
    assert d[-1].replicas >= 1 and d[-1].active


def test_predictive_prewarms_from_zero_for_a_campaign() -> None:
    p = params(schedule="100/1h/400")
    d, _ = run(PRED, p, [obs(0.0, 0, activation_rps=0.0)])
    assert d[-1].replicas == 5


def test_predictive_lets_an_idle_fleet_sleep() -> None:
    idle = [obs(5.0 * i, 0, activation_rps=0.0) for i in range(40)]
    d, _ = run(PRED, P, idle)
    assert d[-1].replicas == 0 and not d[-1].active


def test_predictive_seasonality_prewarms_yesterdays_peak() -> None:
    # A day at 200 req/s with a one-hour peak of 1000 req/s from 08:00; it is now
    # 07:59 the next day and the rate is still 200.
    dt = 60.0
    day = 86_400.0
    now = day + 8 * 3600 - 60
    history = []
    for i in range(int(now // dt) + 1):
        t = i * dt
        peak = 8 * 3600 <= t % day < 9 * 3600 and t < day
        history.append(
            obs(t, 3, request_rate_rps=1000.0 if peak else 200.0, queue_time_per_request_ms=10.0)
        )
    seasonal = params(seasonality=True, seasonal_weight=1.0)
    assert recommend(history, P) == pytest.approx(200 / 80, rel=0.05)
    assert recommend(history, seasonal) >= 1000 / 80 * 0.95


def test_predictive_history_is_bounded_unless_seasonal() -> None:
    assert PRED.history_s(PredictiveParams()) == pytest.approx(3600)
    assert PRED.history_s(PredictiveParams(seasonality=True)) > 86_400


def test_predictive_holds_on_nan_rate() -> None:
    decisions, state = run(PRED, P, series([400.0] * 20, ready=5))
    bad = obs(100.0, 5, request_rate_rps=math.nan, queue_time_per_request_ms=10.0)
    d, _ = decide(PRED, P, Guardrails(max_replicas=100), bad, state, 100.0)
    assert d.status is Status.HOLD and d.value == decisions[-1].value


def test_predictive_answer_is_rebuilt_from_history_after_a_restart() -> None:
    rates = [300 + 40 * math.sin(i / 7) for i in range(150)]
    _, state = run(PRED, P, series(rates, ready=5))
    g = Guardrails(max_replicas=1000, scale_down_stabilization_s=0)
    nxt = obs(750.0, 5, request_rate_rps=420.0, queue_time_per_request_ms=30.0)
    before, _ = decide(PRED, P, g, nxt, state, 750.0)
    restarted, _ = decide(PRED, P, g, nxt, PipelineState(history=state.history), 750.0)
    assert restarted.recommended == before.recommended


def test_predictive_params_from_metadata_with_schedule_string() -> None:
    cfg = parse_metadata(
        "so",
        "ns",
        {
            "policy": "predictive",
            "leadTimeSeconds": "300",
            "capacityRpsPrior": "70",
            "schedule": "2026-12-01T06:00:00Z/4h/800",
        },
    )
    assert isinstance(cfg.params, PredictiveParams)
    assert cfg.params.lead_time_s == 300
    assert cfg.params.schedule[0].duration_s == 4 * 3600


def test_predictive_metadata_rejects_a_bad_schedule_naming_the_key() -> None:
    with pytest.raises(MetadataError, match=r"'schedule'.*campaign 1.*no UTC offset"):
        parse_metadata("so", "ns", {"policy": "predictive", "schedule": "2026-12-01T06:00/1h/5"})


def test_predictive_params_reject_a_quantile_below_the_median() -> None:
    with pytest.raises(ValidationError):
        PredictiveParams(quantile=0.3)


rate = st.floats(min_value=0, max_value=5_000, allow_nan=False)
rates_st = st.lists(rate, min_size=1, max_size=40)
lat_st = st.floats(min_value=0, max_value=1_000, allow_nan=False)
ready_st = st.integers(min_value=1, max_value=40)


@settings(max_examples=50, deadline=None)
@given(rates_st, ready_st, lat_st, st.integers(0, 5), st.integers(1, 50))
def test_predictive_stays_within_min_and_max(
    rates: list[float], ready: int, lat: float, lo: int, span: int
) -> None:
    g = Guardrails(min_replicas=lo, max_replicas=lo + span, scale_down_stabilization_s=0)
    decisions, _ = run(PRED, P, series(rates, ready, latency=lat), g)
    assert all(lo <= d.value <= lo + span for d in decisions)


@settings(max_examples=50, deadline=None)
@given(rates_st, ready_st, lat_st)
def test_predictive_is_deterministic(rates: list[float], ready: int, lat: float) -> None:
    a, _ = run(PRED, P, series(rates, ready, latency=lat))
    b, _ = run(PRED, P, series(rates, ready, latency=lat))
    assert [d.value for d in a] == [d.value for d in b]


@settings(max_examples=80, deadline=None)
@given(rates_st, ready_st, lat_st, st.floats(min_value=1, max_value=10))
def test_predictive_is_monotone_in_load(
    rates: list[float], ready: int, lat: float, k: float
) -> None:
    low = recommend(series(rates, ready, latency=lat))
    high = recommend(series([r * k for r in rates], ready, latency=lat))
    assert high >= low - 1e-9


@settings(max_examples=80, deadline=None)
@given(rates_st, ready_st, lat_st, lat_st)
def test_predictive_is_monotone_in_latency(
    rates: list[float], ready: int, a: float, b: float
) -> None:
    lo, hi = sorted((a, b))
    assert (
        recommend(series(rates, ready, latency=hi))
        >= recommend(series(rates, ready, latency=lo)) - 1e-9
    )


@settings(max_examples=50, deadline=None)
@given(rates_st, ready_st, st.sampled_from([math.nan, math.inf, None, -5.0]))
def test_predictive_never_scales_down_on_invalid_rate(
    rates: list[float], ready: int, bad: float | None
) -> None:
    decisions, state = run(PRED, P, series(rates, ready))
    t = len(rates) * 5.0
    d, _ = decide(
        PRED,
        P,
        Guardrails(max_replicas=1000, scale_down_stabilization_s=0),
        obs(t, ready, request_rate_rps=bad, queue_time_per_request_ms=10.0),
        state,
        t,
    )
    assert d.status is Status.HOLD and d.value >= decisions[-1].value


def test_predictive_learns_from_gpu_busy_that_a_smaller_fleet_would_do() -> None:
    # 400 req/s on 10 replicas at 20 % busy: a replica serves ~200 at full busy.
    cautious = params(capacity_rps_prior=40.0, capacity_blend=1.0)
    history = [
        obs(
            i * 5.0, 10, request_rate_rps=400.0, queue_time_per_request_ms=10.0, gpu_utilization=0.2
        )
        for i in range(300)
    ]
    assert recommend(history, cautious) < 10 / 2


def test_predictive_reactive_floor_is_capped() -> None:
    optimistic = params(capacity_rps_prior=1000.0, capacity_blend=0.0, reactive_cap=2.0)
    history = series([400.0] * 20, ready=4, latency=5000.0)
    assert recommend(history, optimistic) == pytest.approx(8.0)


def test_predictive_keeps_the_ready_fleet_until_it_has_seen_a_peak_window() -> None:
    # A restarted scaler with 20 s of history must not cut a fleet sized for what it
    # has not seen yet.
    assert recommend(series([100.0] * 4, ready=8)) >= 8
    assert recommend(series([100.0] * 60, ready=8)) < 8
