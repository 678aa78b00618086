"""Threshold policy through the pipeline: the HPA's rule, holds on bad data, bounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    Decision,
    Guardrails,
    Observation,
    PipelineState,
    Status,
    ThresholdParams,
    ThresholdPolicy,
    decide,
)
from tests.policies import obs, run

TH = ThresholdPolicy()
P = ThresholdParams(signal="queue_time_per_exec_ms", target=100.0)
OPEN = Guardrails(max_replicas=1000, scale_down_stabilization_s=0)


def one(o: Observation, params: ThresholdParams = P, g: Guardrails = OPEN) -> Decision:
    d, _ = decide(TH, params, g, o, PipelineState(), o.time_s)
    return d


def test_threshold_reproduces_supersonics_value_trigger() -> None:
    d = one(obs(0.0, 4, queue_time_per_exec_ms=250.0))
    assert d.value == pytest.approx(10.0)
    assert d.replicas == 10


def test_threshold_rps_per_replica_ignores_the_current_count() -> None:
    p = ThresholdParams(signal="rps_per_replica", target=80.0)
    assert one(obs(0.0, 3, request_rate_rps=800.0), p).value == pytest.approx(10.0)


def test_threshold_wakes_from_zero_when_load_waits() -> None:
    d = one(obs(0.0, 0, activation_rps=3.0))
    assert d.value == 1 and d.active


def test_threshold_stays_asleep_without_load() -> None:
    d = one(obs(0.0, 0, activation_rps=0.0))
    assert d.value == 0 and not d.active


def test_threshold_holds_on_nan_signal() -> None:
    _, state = run(TH, P, [obs(0.0, 6, queue_time_per_exec_ms=100.0)])
    d, _ = decide(TH, P, OPEN, obs(5.0, 6, queue_time_per_exec_ms=math.nan), state, 5.0)
    assert d.status is Status.HOLD and d.value == 6


def test_threshold_holds_on_stale_data_then_fails() -> None:
    g = Guardrails(max_replicas=100, stale_after_s=60, fail_after_s=120)
    _, state = run(TH, P, [obs(0.0, 6, queue_time_per_exec_ms=100.0)], g)
    old = obs(0.0, 6, queue_time_per_exec_ms=1.0)
    held, state = decide(TH, P, g, old, state, 100.0)
    assert held.status is Status.HOLD and held.value == 6
    failed, _ = decide(TH, P, g, old, state, 230.0)
    assert failed.status is Status.FAIL and failed.value == 6


def test_threshold_scale_down_waits_for_the_stabilization_window() -> None:
    g = Guardrails(max_replicas=100, scale_down_stabilization_s=300)
    seq = [obs(0.0, 8, queue_time_per_exec_ms=100.0)] + [
        obs(30.0 * i, 8, queue_time_per_exec_ms=25.0) for i in range(1, 12)
    ]
    d, _ = run(TH, P, seq, g)
    assert [x.value for x in d[:10]] == [8.0] * 10
    assert d[-1].value == pytest.approx(2.0)


signal = st.floats(min_value=0, max_value=1e5, allow_nan=False)
ready = st.integers(min_value=0, max_value=200)


@settings(max_examples=150, deadline=None)
@given(signal, ready, st.integers(0, 10), st.integers(1, 100))
def test_threshold_never_leaves_min_max(x: float, n: int, lo: int, span: int) -> None:
    g = Guardrails(min_replicas=lo, max_replicas=lo + span, scale_down_stabilization_s=0)
    d = one(obs(0.0, n, queue_time_per_exec_ms=x, activation_rps=x), g=g)
    assert lo <= d.value <= lo + span


@settings(max_examples=150, deadline=None)
@given(signal, signal, st.integers(1, 200))
def test_threshold_is_monotone_in_load(a: float, b: float, n: int) -> None:
    lo, hi = sorted((a, b))
    low = one(obs(0.0, n, queue_time_per_exec_ms=lo)).value
    assert one(obs(0.0, n, queue_time_per_exec_ms=hi)).value >= low


@settings(max_examples=100, deadline=None)
@given(signal, ready)
def test_threshold_is_deterministic(x: float, n: int) -> None:
    o = obs(0.0, n, queue_time_per_exec_ms=x, activation_rps=x)
    assert one(o).as_record() == one(o).as_record()


@settings(max_examples=150, deadline=None)
@given(
    signal,
    st.integers(1, 200),
    st.sampled_from([math.nan, math.inf, -math.inf, None, -1.0]),
    st.floats(min_value=0, max_value=1_000),
)
def test_threshold_never_scales_down_on_missing_or_invalid_data(
    x: float, n: int, bad: float | None, later_s: float
) -> None:
    g = Guardrails(max_replicas=1000, scale_down_stabilization_s=0, fail_after_s=300)
    good, state = decide(TH, P, g, obs(0.0, n, queue_time_per_exec_ms=x), PipelineState(), 0.0)
    d, _ = decide(TH, P, g, obs(later_s, n, queue_time_per_exec_ms=bad), state, later_s)
    assert d.status is not Status.OK
    assert d.value >= good.value
