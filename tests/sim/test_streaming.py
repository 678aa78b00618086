"""The fast fleet keeps a sliding window of steps and hands finished ones to an
accumulator: results do not depend on the window's size, and long runs keep their
plot series down-sampled."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import scaler.sim.engine as engine
from scaler.sim.fleet import HIST_EDGES_MS, FastFleet, histogram_index
from scaler.sim.oracle import compute_oracle
from scaler.sim.presets import scenario_for
from scaler.sim.scenario import Scenario
from scaler.sim.totals import SERIES_POINTS, bucket_max
from scaler.traces.model import Trace


def _trace(steps: int) -> Trace:
    t = np.arange(steps)
    rps = np.where(t % 5400 < 2700, 900.0, 2600.0) + 200 * np.sin(t / 600)
    return Trace("waves", rps, 1.0, np.full(steps, 16.0), burst_fraction=np.full(steps, 0.3))


def _run(trace: Trace, buffer_steps: int, monkeypatch: pytest.MonkeyPatch) -> engine.RunResult:
    monkeypatch.setattr(
        engine, "FastFleet", functools.partial(FastFleet, buffer_steps=buffer_steps)
    )
    base = Scenario()
    oracle = compute_oracle(trace, base.fleet, base.slo_ms, base.startup.nominal_s)
    sc = scenario_for("threshold-gpu70", base, static_replicas=oracle.peak_replicas)
    return engine.simulate(trace, sc, initial_replicas=int(oracle.need[0]), oracle_need=oracle.need)


def test_results_do_not_depend_on_how_many_steps_the_fleet_keeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trace = _trace(40_000)

    small = _run(trace, 1, monkeypatch)
    whole = _run(trace, 10**6, monkeypatch)

    for field in (
        "gpu_hours",
        "slo_attainment",
        "p50_ms",
        "p99_ms",
        "failed_requests",
        "mean_gpu_utilization",
        "windows_met",
        "worst_window_p99_ms",
    ):
        assert getattr(small.scores, field) == pytest.approx(getattr(whole.scores, field), rel=1e-9)
    assert small.scores.scale_events == whole.scores.scale_events
    assert small.max_overshoot_replicas == whole.max_overshoot_replicas
    assert np.array_equal(small.ready, whole.ready)
    assert np.allclose(small.latency_p99_ms, whole.latency_p99_ms)


def test_a_long_run_keeps_its_series_down_sampled_to_the_bucket_max(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trace = _trace(SERIES_POINTS * 2 + 10)

    run = _run(trace, 1 << 16, monkeypatch)

    assert run.series_step_s == 3.0
    assert len(run.ready) == len(run.held) == len(run.desired) == len(run.latency_p99_ms)
    assert len(run.ready) == SERIES_POINTS * 2 // 3 + 4


def test_bucket_max_keeps_the_peak_of_each_bucket() -> None:
    assert bucket_max(np.array([1, 5, 2, 2, 9, 0, 3]), 3).tolist() == [5.0, 9.0, 3.0]


def test_histogram_bins_are_found_as_searchsorted_finds_them() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate(
        (HIST_EDGES_MS, HIST_EDGES_MS * (1 + 1e-15), rng.lognormal(2, 3, 10_000), [0.0, 1e9])
    )

    expected = np.clip(np.searchsorted(HIST_EDGES_MS, values, side="right") - 1, 0, 900)

    assert np.array_equal(histogram_index(values), expected)
