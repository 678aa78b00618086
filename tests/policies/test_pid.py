"""PID policy: drives latency to its target, holds on bad data, no windup."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from policies import Guardrails, PipelineState, PolicyContext, Status, decide
from policies.pid import PidParams, PidPolicy
from scaler.metadata import MetadataError, parse_metadata
from tests.policies import obs, run

PID = PidPolicy()
P = PidParams(kp=0.5, ki=0.02, kd=0.0, interval_s=15, target_ms=50)


def steady(
    latencies: list[float], ready: int, dt: float = 5.0, t0: float = 0.0, **extra: float
) -> list:
    return [
        obs(t0 + i * dt, ready, queue_time_per_request_ms=lat, request_rate_rps=100.0, **extra)
        for i, lat in enumerate(latencies)
    ]


def recommend(history: list, params: PidParams = P, **ctx_kw: int) -> float:
    o = history[-1]
    ctx = PolicyContext(
        now_s=o.time_s,
        observation=o,
        history=tuple(history),
        current_replicas=o.ready_replicas,
        min_replicas=ctx_kw.get("min_replicas", 0),
        max_replicas=ctx_kw.get("max_replicas", 1000),
    )
    return PID.recommend(ctx, params).replicas


def test_pid_worked_example_from_the_docs() -> None:
    # 8 replicas; latency 50 ms (on target) until 15 s ago, 100 ms (error +1) now.
    history = steady([50.0] * 4 + [100.0] * 3, ready=8)
    # P = 0.5 × (1 − 0) = 0.5, I = 0.02 × 15 × 1 = 0.3 → 8 × 1.8 = 14.4
    assert recommend(history) == pytest.approx(14.4)
    # one interval later, still 100 ms: P = 0, I = 0.3 → 8 × 1.3 = 10.4
    assert recommend(history + steady([100.0] * 3, ready=8, t0=35)) == pytest.approx(10.4)


def test_pid_holds_the_fleet_when_latency_is_on_target() -> None:
    assert recommend(steady([50.0] * 10, ready=6)) == pytest.approx(6.0)


def test_pid_scales_up_when_latency_over_target() -> None:
    assert recommend(steady([120.0] * 10, ready=6)) > 6


def test_pid_scales_down_slowly_when_latency_under_target() -> None:
    r = recommend(steady([10.0] * 10, ready=10))
    assert 5.0 <= r < 10


def test_pid_removes_at_most_max_down_fraction_per_decision() -> None:
    history = steady([200.0] * 4 + [0.0] * 3, ready=10)
    assert recommend(history) == pytest.approx(5.0)


def test_pid_holds_on_nan_latency() -> None:
    good = steady([120.0] * 6, ready=4)
    decisions, state = run(PID, P, good)
    last = decisions[-1].value
    bad = obs(35.0, 4, queue_time_per_request_ms=math.nan, request_rate_rps=10.0)
    d, _ = decide(PID, P, Guardrails(max_replicas=100), bad, state, 35.0)
    assert d.status is Status.HOLD
    assert d.value == last


def test_pid_holds_on_missing_latency_instead_of_scaling_down() -> None:
    decisions, state = run(PID, P, steady([10.0] * 6, ready=9))
    missing = obs(35.0, 9, request_rate_rps=0.0)
    d, _ = decide(PID, P, Guardrails(max_replicas=100), missing, state, 35.0)
    assert d.status is Status.HOLD
    assert d.value >= decisions[-1].value


def test_pid_does_not_wind_up_while_pods_start() -> None:
    # Latency at 3× target for 4 minutes while 8 more pods start: the answer does
    # not keep growing, because the increment applies to the 4 ready replicas.
    history = steady([150.0] * 48, ready=4, desired_replicas=12)
    answers = [recommend(history[: i + 1]) for i in range(12, 48)]
    assert max(answers) == pytest.approx(min(answers))
    assert answers[-1] == pytest.approx(12.0)


def test_pid_keeps_pods_already_ordered_while_latency_is_high() -> None:
    history = steady([60.0] * 10, ready=4, desired_replicas=10)
    assert recommend(history) == pytest.approx(10.0)


def test_pid_does_not_accumulate_at_max_replicas() -> None:
    # Pinned at max with latency high for 10 minutes; the moment latency is below
    # target the answer drops below max: nothing was stored above the bound.
    pinned = steady([300.0] * 120, ready=20)
    relieved = pinned + [obs(600.0 + 5 * i, 20, queue_time_per_request_ms=20.0) for i in range(4)]
    assert recommend(relieved, max_replicas=20) < 20


def test_pid_derivative_adds_when_latency_accelerates() -> None:
    history = steady([50.0, 50, 50, 50, 55, 65, 80, 100, 125, 155], ready=8)
    with_d = recommend(history, P.model_copy(update={"kd": 20.0, "derivative_filter_s": 10.0}))
    assert with_d > recommend(history)


def test_pid_wakes_from_zero_when_load_waits() -> None:
    d, _ = run(PID, P, [obs(0.0, 0, activation_rps=5.0)])
    assert d[-1].replicas == 1 and d[-1].active


def test_pid_stays_at_zero_without_load() -> None:
    d, _ = run(PID, P, [obs(0.0, 0, activation_rps=0.0)])
    assert d[-1].replicas == 0 and not d[-1].active


def test_pid_lets_an_idle_fleet_go_to_zero() -> None:
    idle = [obs(5.0 * i, 1, queue_time_per_request_ms=0.0, request_rate_rps=0.0) for i in range(10)]
    d, _ = run(PID, P, idle)
    assert d[-1].replicas == 0


def test_pid_answer_is_rebuilt_from_history_after_a_restart() -> None:
    observations = steady([50.0 + 10 * (i % 7) for i in range(40)], ready=7)
    _, state = run(PID, P, observations)
    g = Guardrails(max_replicas=1000, scale_down_stabilization_s=0)
    nxt = obs(200.0, 7, queue_time_per_request_ms=95.0, request_rate_rps=100.0)
    before, _ = decide(PID, P, g, nxt, state, 200.0)
    restarted, _ = decide(PID, P, g, nxt, PipelineState(history=state.history), 200.0)
    assert restarted.recommended == before.recommended


def test_pid_history_is_bounded() -> None:
    assert PID.history_s(PidParams()) == pytest.approx(2 * 15 + 4 * 30)


def test_pid_params_reject_negative_gain_and_zero_target() -> None:
    with pytest.raises(ValidationError):
        PidParams(kp=-1)
    with pytest.raises(ValidationError):
        PidParams(target_ms=0)


def test_pid_params_come_from_scaledobject_metadata_in_camel_case() -> None:
    cfg = parse_metadata(
        "so", "ns", {"policy": "pid", "targetMs": "80", "ki": "0.05", "intervalSeconds": "30"}
    )
    assert cfg.params == PidParams(target_ms=80, ki=0.05, interval_s=30)


def test_pid_metadata_error_names_the_key_and_range() -> None:
    with pytest.raises(MetadataError, match=r"'kp'.*less than or equal to 10"):
        parse_metadata("so", "ns", {"policy": "pid", "kp": "50"})


latency = st.floats(min_value=0, max_value=5_000, allow_nan=False)
lat_series = st.lists(latency, min_size=1, max_size=30)
ready_st = st.integers(min_value=1, max_value=60)


@settings(max_examples=60, deadline=None)
@given(lat_series, ready_st, st.integers(0, 5), st.integers(1, 60))
def test_pid_stays_within_min_and_max(lats: list[float], ready: int, lo: int, span: int) -> None:
    g = Guardrails(min_replicas=lo, max_replicas=lo + span, scale_down_stabilization_s=0)
    decisions, _ = run(PID, P, steady(lats, ready), g)
    for d in decisions:
        assert lo <= d.value <= lo + span


@settings(max_examples=60, deadline=None)
@given(lat_series, ready_st)
def test_pid_is_deterministic(lats: list[float], ready: int) -> None:
    a, _ = run(PID, P, steady(lats, ready))
    b, _ = run(PID, P, steady(lats, ready))
    assert [d.value for d in a] == [d.value for d in b]


@settings(max_examples=80, deadline=None)
@given(lat_series, ready_st, latency, latency)
def test_pid_is_monotone_in_current_latency(
    lats: list[float], ready: int, x: float, y: float
) -> None:
    history = steady(lats, ready)
    t = history[-1].time_s + 5
    lo, hi = sorted((x, y))
    a = recommend(history + [obs(t, ready, queue_time_per_request_ms=lo, request_rate_rps=1.0)])
    b = recommend(history + [obs(t, ready, queue_time_per_request_ms=hi, request_rate_rps=1.0)])
    assert b >= a - 1e-9


@settings(max_examples=60, deadline=None)
@given(lat_series, ready_st, st.sampled_from([math.nan, math.inf, -math.inf, None, -1.0]))
def test_pid_never_scales_down_on_invalid_latency(
    lats: list[float], ready: int, bad: float | None
) -> None:
    decisions, state = run(PID, P, steady(lats, ready))
    t = len(lats) * 5.0
    d, _ = decide(
        PID,
        P,
        Guardrails(max_replicas=1000, scale_down_stabilization_s=0),
        obs(t, ready, queue_time_per_request_ms=bad, request_rate_rps=1.0),
        state,
        t,
    )
    assert d.status is Status.HOLD
    assert d.value >= decisions[-1].value
