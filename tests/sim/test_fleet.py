"""Fast fleet: queueing behaves as a user expects."""

from __future__ import annotations

from scaler.sim.fleet import FastFleet, percentile_from_histogram
from scaler.sim.scenario import FleetSpec
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
