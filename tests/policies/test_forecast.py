"""Forecaster: robust trend, upper quantile, peak hold, daily seasonality."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.forecast import (
    ForecastSettings,
    SlopeWindow,
    _pairs,
    forecast,
    theil_sen_slope,
)

S = ForecastSettings(horizon_s=100.0, quantile=0.9, trend_window_s=600.0, peak_window_s=60.0)


def arr(xs: list[float]) -> np.ndarray:
    return np.asarray(xs, dtype=np.float64)


def grid(n: int, dt: float = 5.0) -> np.ndarray:
    return np.arange(n, dtype=np.float64) * dt


def test_forecast_of_nothing_is_zero() -> None:
    f = forecast(arr([]), arr([]), 0.0, S)
    assert f.upper_rps == 0 and f.samples == 0


def test_forecast_of_flat_load_is_that_load() -> None:
    t = grid(100)
    f = forecast(t, np.full(100, 250.0), t[-1], S)
    assert f.upper_rps == pytest.approx(250.0)
    assert f.trend_rps_per_s == pytest.approx(0.0)


def test_forecast_projects_a_linear_trend_over_the_horizon() -> None:
    t = grid(100)
    f = forecast(t, 100 + 0.5 * t, t[-1], S)
    assert f.trend_rps_per_s == pytest.approx(0.5)
    assert f.upper_rps == pytest.approx(100 + 0.5 * (t[-1] + 100))


def test_forecast_ignores_a_falling_trend_until_the_peak_window_passes() -> None:
    t = grid(100)
    y = 1000 - 1.0 * t
    f = forecast(t, y, t[-1], S)
    assert f.upper_rps >= y[-1]


def test_trend_is_robust_to_a_single_outlier() -> None:
    t = grid(60)
    y = np.full(60, 100.0)
    y[30] = 10_000.0
    assert theil_sen_slope(t, y) == pytest.approx(0.0)


def test_upper_quantile_covers_noise() -> None:
    rng = np.random.default_rng(1)
    t = grid(120)
    y = 300 + rng.normal(0, 20, 120)
    f = forecast(t, y, t[-1], S)
    assert np.mean(y <= f.upper_rps) >= 0.9


def test_forecast_holds_the_on_level_of_a_square_wave() -> None:
    t = grid(240)
    y = np.where((t // 30) % 2 == 0, 500.0, 0.0)
    uppers = [forecast(t[: i + 1], y[: i + 1], t[i], S).upper_rps for i in range(60, 240)]
    assert min(uppers) == pytest.approx(500.0)


def test_seasonality_needs_a_full_period_of_history() -> None:
    t = grid(100, dt=60.0)
    s = ForecastSettings(horizon_s=300.0, seasonal_weight=0.5)
    assert forecast(t, np.full(100, 10.0), t[-1], s).seasonal_rps is None


def test_seasonality_raises_the_forecast_before_yesterdays_peak() -> None:
    t = grid(1440 + 100, dt=60.0)
    y = np.where((t >= 100 * 60) & (t < 200 * 60), 900.0, 100.0)
    now = t[1440 + 98]
    s = ForecastSettings(horizon_s=300.0, peak_window_s=120.0, seasonal_weight=1.0)
    f = forecast(t[t <= now], y[t <= now], now, s)
    assert f.seasonal_rps == pytest.approx(900.0)
    assert f.upper_rps == pytest.approx(900.0)


rates = st.lists(st.floats(0, 10_000, allow_nan=False), min_size=1, max_size=80)


@settings(max_examples=100, deadline=None)
@given(rates, st.floats(1, 20), st.floats(0, 1_000))
def test_forecast_is_monotone_in_scaled_and_shifted_load(
    ys: list[float], k: float, c: float
) -> None:
    t = grid(len(ys))
    y = arr(ys)
    base = forecast(t, y, t[-1], S).upper_rps
    assert forecast(t, y * k, t[-1], S).upper_rps >= base - 1e-6
    assert forecast(t, y + c, t[-1], S).upper_rps >= base - 1e-6


@settings(max_examples=100, deadline=None)
@given(rates, st.floats(0, 5_000))
def test_forecast_is_monotone_in_the_latest_rate(ys: list[float], extra: float) -> None:
    t = grid(len(ys))
    y = arr(ys)
    raised = y.copy()
    raised[-1] += extra
    assert forecast(t, raised, t[-1], S).upper_rps >= forecast(t, y, t[-1], S).upper_rps - 1e-6


@settings(max_examples=100, deadline=None)
@given(rates)
def test_forecast_is_never_negative_and_never_below_the_latest_rate(ys: list[float]) -> None:
    t = grid(len(ys))
    f = forecast(t, arr(ys), t[-1], S)
    assert f.upper_rps >= ys[-1] - 1e-9 >= -1e-9


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 120, 160])
def test_pairs_are_the_upper_triangle_once_each(n: int) -> None:
    i, j = _pairs(n)
    want = set(zip(*np.triu_indices(n, k=1), strict=True))
    assert len(i) == len(want) and set(zip(i.tolist(), j.tolist(), strict=True)) == want


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1e4), min_size=2, max_size=200), st.integers(0, 3))
def test_theil_sen_is_the_median_slope_of_every_pair(ys: list[float], ties: int) -> None:
    """Bit for bit the median over ``np.triu_indices`` (the pairs' order is free)."""
    t = np.floor(grid(len(ys)) / (ties + 1))
    y = arr(ys)
    if len(ys) > 160:
        idx = np.linspace(0, len(ys) - 1, 160).round().astype(np.int64)
        t, y = t[idx], y[idx]
    i, j = np.triu_indices(t.size, k=1)
    dt = t[j] - t[i]
    keep = dt > 0
    want = float(np.median((y[j] - y[i])[keep] / dt[keep])) if keep.any() else 0.0
    assert theil_sen_slope(t, y) == want


def test_slope_window_is_theil_sen_as_the_window_slides() -> None:
    """The slopes kept from forecast to forecast give the very slope Theil-Sen computes
    afresh, as the window slides by one or more samples, grows, shrinks at the front,
    jumps or goes back (rebuilt), with repeated values (tied slopes)."""
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.uniform(1.0, 9.0, 2_000))
    rates = np.round(rng.random(2_000) * 6.0)  # many equal slopes
    window = SlopeWindow()
    lo, hi = 0, 100
    for step in range(1_500):
        move = step % 17
        lo = max(0, lo + (2 if move == 3 else 0 if move == 5 else 1))
        hi = min(times.size, hi + (3 if move == 7 else 0 if move == 11 else 1))
        if move == 13:
            lo, hi = max(0, lo - 40), max(lo + 2, hi - 40)  # an older window: rebuilt
        ids = np.arange(lo, hi, dtype=np.int64)
        got = window.slope(ids, times[lo:hi], rates[lo:hi])
        assert got == theil_sen_slope(times[lo:hi], rates[lo:hi]), step
