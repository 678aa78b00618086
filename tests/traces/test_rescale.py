"""Fitting a trace to a fleet: time scaling keeps requests, rate scaling keeps
shape, peak scaling hits the asked peak exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaler.traces.model import Trace
from scaler.traces.rescale import rebin, rescale


def ramp() -> Trace:
    return Trace(
        name="ramp",
        rps=np.array([10.0, 20.0, 30.0, 40.0]),
        items_per_request=np.array([1.0, 1.0, 128.0, 1.0]),
        burst_fraction=np.array([1.0, 0.5, 0.0, 1.0]),
        arrivals_s=np.array([0.1, 1.5, 3.9]),
    )


def test_stretching_time_keeps_every_request_at_a_lower_rate() -> None:
    trace = ramp()

    slow = rescale(trace, time_scale=2.0)

    assert slow.duration_s == 8.0
    assert slow.requests == pytest.approx(trace.requests)
    np.testing.assert_allclose(slow.rps, [5, 5, 10, 10, 15, 15, 20, 20])
    assert slow.arrivals_s is not None
    np.testing.assert_allclose(slow.arrivals_s, [0.2, 3.0, 7.8])


def test_compressing_time_keeps_every_request_at_a_higher_rate() -> None:
    fast = rescale(ramp(), time_scale=0.5)

    np.testing.assert_allclose(fast.rps, [10 + 20, 30 + 40])
    assert fast.requests == pytest.approx(100.0)


def test_time_scaling_keeps_the_item_rate_totals() -> None:
    trace = ramp()

    fast = rescale(trace, time_scale=0.5)

    assert float(fast.items_per_s.sum()) * fast.step_s == pytest.approx(
        float(trace.items_per_s.sum()) * trace.step_s
    )
    assert fast.items_per_request is not None
    assert fast.items_per_request[1] == pytest.approx((30 * 128 + 40 * 1) / 70)
    assert fast.burst_fraction is not None
    assert fast.burst_fraction[0] == pytest.approx((10 * 1 + 20 * 0.5) / 30)


def test_rate_scale_multiplies_the_rate_and_drops_arrivals_saying_so() -> None:
    scaled = rescale(ramp(), rate_scale=3.0)

    np.testing.assert_allclose(scaled.rps, [30, 60, 90, 120])
    assert scaled.arrivals_s is None
    assert any("arrivals dropped" in note for note in scaled.notes)


def test_peak_rps_makes_the_busiest_bin_exactly_that() -> None:
    scaled = rescale(ramp(), peak_rps=1536.0)

    assert scaled.peak_rps == 1536.0
    np.testing.assert_allclose(scaled.rps, [384, 768, 1152, 1536])


def test_peak_rps_applies_after_time_scaling() -> None:
    scaled = rescale(ramp(), time_scale=3.0, peak_rps=7.0)

    assert scaled.peak_rps == 7.0
    assert scaled.duration_s == 12.0


def test_rate_scale_and_peak_rps_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        rescale(ramp(), rate_scale=2.0, peak_rps=10.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_non_positive_or_non_finite_scales_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        rescale(ramp(), time_scale=bad)


def test_peak_rps_of_an_empty_trace_is_refused() -> None:
    with pytest.raises(ValueError, match="no requests"):
        rescale(Trace("idle", np.zeros(3)), peak_rps=5.0)


def test_identity_rescale_returns_the_same_trace() -> None:
    trace = ramp()

    assert rescale(trace) is trace


def test_rebin_spreads_a_long_segment_evenly() -> None:
    rps, items, bursts = rebin(np.array([0.0, 3.0]), np.array([30.0]), 1.0)

    np.testing.assert_allclose(rps, [10, 10, 10])
    assert items is None and bursts is None


@settings(max_examples=60, deadline=None)
@given(
    rates=st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=50),
    time_scale=st.floats(0.05, 20.0),
)
def test_time_scaling_never_loses_or_invents_requests(
    rates: list[float], time_scale: float
) -> None:
    trace = Trace("any", np.array(rates))

    scaled = rescale(trace, time_scale=time_scale)

    assert scaled.requests == pytest.approx(trace.requests, rel=1e-9, abs=1e-6)
    assert (scaled.rps >= 0).all()
