"""Fast fleet: queueing behaves as a user expects."""

from __future__ import annotations

import numpy as np
import pytest

from scaler.sim import fleet as fleet_module
from scaler.sim.fleet import _INTERNAL_FIELDS, _OUTPUT_FIELDS, FastFleet, percentile_from_histogram
from scaler.sim.scenario import FleetSpec
from scaler.traces.model import Trace
from tests.sim._util import flat


def _run(replicas: int, rps: float, seconds: int = 120, **spec: float) -> FastFleet:
    fleet = FastFleet(flat(rps, seconds, items=16), FleetSpec(**spec))  # type: ignore[arg-type]
    fleet.add_ready(0, replicas)
    fleet.advance_to(seconds)
    return fleet


def test_more_replicas_give_lower_latency() -> None:
    p99 = []
    for n in (2, 3, 6):
        lat = _run(n, 1200).latency(100.0)
        p99.append(percentile_from_histogram(lat.histogram, 0.99))
    assert p99[0] > p99[1] >= p99[2]


def test_overload_builds_a_backlog_that_grows() -> None:
    fleet = _run(1, 2000, timeout_ms=600_000)
    pending = fleet.outputs.pending
    assert pending[60] > pending[10] > 0
    assert fleet.outputs.success.sum() < fleet.outputs.arrivals.sum()


def test_requests_queued_past_the_timeout_fail() -> None:
    fleet = _run(1, 2000, timeout_ms=1000)
    assert fleet.outputs.failed.sum() > 0
    served = fleet.outputs.success.sum() + fleet.outputs.failed.sum()
    assert abs(served - fleet.outputs.arrivals.sum()) / fleet.outputs.arrivals.sum() < 0.05


def test_no_ready_replica_fails_every_request() -> None:
    fleet = _run(0, 100)
    assert fleet.outputs.failed.sum() == fleet.outputs.arrivals.sum()


def test_adding_replicas_drains_the_backlog() -> None:
    fleet = FastFleet(flat(2000, 200, items=16), FleetSpec())
    fleet.add_ready(0, 1)
    fleet.add_ready(60, 5)
    fleet.advance_to(200)
    assert fleet.outputs.pending[59] > 1000
    assert fleet.outputs.pending[150] < 100


def test_flat_stretches_reuse_one_steps_batching_state_with_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A segment whose steps all look alike takes its batching state from one step,
    kept per load and fleet size: every per-step array is the one computing each step
    gives, bit for bit (flat stretches, a noisy one, bursts, fleet changes, overload)."""
    rng = np.random.default_rng(3)
    rps = np.concatenate([np.full(1500, 900.0), rng.poisson(2500, 700), np.full(1300, 900.0)])
    burst = np.concatenate([np.ones(1500), np.full(700, 0.4), np.ones(1300)])
    trace = Trace("mixed", rps.astype(float), 1.0, np.full(rps.size, 4.0), burst_fraction=burst)

    def run() -> FastFleet:
        fleet = FastFleet(trace, FleetSpec())
        fleet.add_ready(0, 2)
        for step, count in ((400, 1), (1600, 3), (1700, 2), (2300, -4), (2900, 1)):
            fleet.advance_to(step)
            if count > 0:
                fleet.add_ready(step, count)
            else:
                fleet.remove(step, -count)
        fleet.advance_to(rps.size)
        return fleet

    cached = run()
    assert cached._batching_cache
    monkeypatch.setattr(fleet_module, "_flat_key", lambda *_: None)
    computed = run()
    for name in (*_OUTPUT_FIELDS, *_INTERNAL_FIELDS):
        want = getattr(computed.outputs if name in _OUTPUT_FIELDS else computed, name)
        got = getattr(cached.outputs if name in _OUTPUT_FIELDS else cached, name)
        np.testing.assert_array_equal(got, want, name)
