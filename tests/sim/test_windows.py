"""Window-level SLO figures: a bad stretch shows even when the run's total is fine."""

from __future__ import annotations

import numpy as np

from scaler.sim.scores import overshoot_replicas
from scaler.sim.windows import window_p99_ms, window_slo
from scaler.traces.model import FloatArray


class Spread:
    """Every request of a step takes between lo[step] and hi[step] ms, uniformly."""

    def __init__(self, lo: FloatArray, hi: FloatArray, served: FloatArray) -> None:
        self.lo, self.hi, self.served = lo, hi, served

    def within_per_step(self, limit_ms: FloatArray) -> FloatArray:
        share = np.clip((limit_ms - self.lo) / (self.hi - self.lo), 0.0, 1.0)
        out: FloatArray = self.served * share
        return out


def _ten_minutes(slow_from: int, slow_to: int, slow_ms: float) -> Spread:
    lo = np.full(600, 10.0)
    hi = np.full(600, 20.0)
    lo[slow_from:slow_to] = slow_ms
    hi[slow_from:slow_to] = slow_ms + 10
    return Spread(lo, hi, np.full(600, 100.0))


def test_one_slow_minute_fails_one_window_of_ten() -> None:
    fleet = _ten_minutes(120, 180, 500.0)
    arrivals = np.full(600, 100.0)

    w = window_slo(fleet, arrivals, np.zeros(600), 1.0, 100.0, 10_000.0)

    assert w.windows == 10
    assert w.windows_met == 0.9
    assert 505 < w.worst_p99_ms <= 510


def test_worst_window_p99_is_the_quantile_of_its_requests() -> None:
    fleet = _ten_minutes(0, 0, 0.0)
    p99, starts = window_p99_ms(fleet, np.full(600, 100.0), np.zeros(600), 1.0, 10_000.0)

    np.testing.assert_allclose(p99, [19.9, 19.9], rtol=1e-3)
    np.testing.assert_array_equal(starts, [0.0, 300.0])


def test_failures_count_at_the_timeout() -> None:
    fleet = _ten_minutes(0, 0, 0.0)
    fleet.served[:] = 95.0
    failed = np.full(600, 5.0)

    w = window_slo(fleet, np.full(600, 100.0), failed, 1.0, 100.0, 10_000.0)

    assert w.windows_met == 0.0
    np.testing.assert_allclose(w.worst_p99_ms, 10_000.0, rtol=1e-6)


def test_overshoot_allows_a_stabilisation_window_then_counts_what_is_kept() -> None:
    need = np.array([10.0] * 10 + [2.0] * 600)
    fast = np.array([10.0] * 100 + [2.0] * 510)
    ratchet = np.full(610, 10.0)

    assert overshoot_replicas(fast, need, 1.0) == 0.0
    assert overshoot_replicas(ratchet, need, 1.0) == 8.0
