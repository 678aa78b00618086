"""Capacity learning: bounds from latency, an estimate from the GPU busy fraction."""

from __future__ import annotations

import numpy as np
import pytest

from policies.capacity import BUSY_AT_TARGET, estimate_capacity


def arr(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def test_capacity_learns_from_gpu_busy_that_fewer_replicas_would_do() -> None:
    # 40 req/s per replica at 20 % busy, latency fine: a replica would serve ~200.
    n = 200
    got = estimate_capacity(
        np.full(n, 40.0), np.full(n, 10.0), 50.0, prior_rps=40.0, blend=1.0, busy=np.full(n, 0.2)
    )
    assert got.rps_per_replica > 40.0 * 3
    assert got.utilisation_rps == pytest.approx(200.0 * BUSY_AT_TARGET)


def test_capacity_without_busy_data_never_rises_above_what_was_served() -> None:
    n = 200
    got = estimate_capacity(np.full(n, 40.0), np.full(n, 10.0), 50.0, prior_rps=20.0, blend=1.0)
    assert got.rps_per_replica <= 40.0 + 1e-9


def test_capacity_ignores_an_idle_gpus_busy_fraction() -> None:
    n = 200
    got = estimate_capacity(
        np.full(n, 1.0), np.full(n, 1.0), 50.0, prior_rps=80.0, blend=1.0, busy=np.full(n, 0.01)
    )
    assert got.utilisation_rps is None
    assert got.rps_per_replica == pytest.approx(80.0)


def test_capacity_missing_busy_fraction_falls_back_to_the_bounds() -> None:
    got = estimate_capacity(
        arr(30.0, 30.0), arr(10.0, 10.0), 50.0, prior_rps=20.0, blend=1.0, busy=arr(np.nan, np.nan)
    )
    assert got.utilisation_rps is None
    assert got.rps_per_replica > 20.0


def test_capacity_over_target_evidence_wins_over_an_optimistic_busy_estimate() -> None:
    # Busy says 400 req/s per replica, but latency was over target at 60: errs to more GPUs.
    n = 100
    got = estimate_capacity(
        np.full(n, 60.0), np.full(n, 80.0), 50.0, prior_rps=100.0, blend=1.0, busy=np.full(n, 0.15)
    )
    assert got.rps_per_replica <= 100.0 * 12 / (n + 12) + 60.0 + 1e-6
