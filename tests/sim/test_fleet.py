"""Fast fleet: queueing behaves as a user expects."""

from __future__ import annotations

import numpy as np
import pytest

from scaler.sim import fleet as fleet_module
from scaler.sim.exact import ExactFleet
from scaler.sim.fleet import _INTERNAL_FIELDS, _OUTPUT_FIELDS, FastFleet, percentile_from_histogram
from scaler.sim.scenario import ExactSpec, FleetSpec
from scaler.sim.totals import Accumulator
from scaler.sim.windows import window_slo
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


BENCH_REPLICA = FleetSpec(base_ms=9.5, per_item_ms=39.8, max_batch_items=8, max_queue_delay_ms=2.0)
"""The fidelity bench's replica (bench/results/fidelity.md): 24.4 req/s at most."""


def _one_replica(rate: float, seconds: int = 600) -> FastFleet:
    fleet = FastFleet(Trace("poisson", np.full(seconds, rate)), BENCH_REPLICA, 1)
    fleet.advance_to(seconds)
    return fleet


def test_near_saturation_the_p99_is_an_exponential_tail_above_the_mean_wait() -> None:
    """Poisson arrivals at 82 % of one replica's capacity: the requests that find it
    busy (share p) wait an exponential time of mean tau, so the p99 of their wait is
    tau * ln(p / 1 %), several times the mean wait p * tau, where the fluid spread's
    p99 stayed at one execution plus an unlucky batch's."""
    fleet = _one_replica(20.0)
    o = fleet.outputs
    mean_wait_ms = o.queue_ms.sum() / o.success.sum()
    share = fleet._tserved[5] / (fleet._tserved[5] + fleet._served[5])
    tau_ms = fleet._tmean[5]
    assert share * tau_ms == pytest.approx(mean_wait_ms, rel=0.05)
    lat = fleet.latency(1000.0)
    p99 = percentile_from_histogram(lat.histogram, 0.99)
    assert lat.per_step_p99_ms[5] == pytest.approx(fleet._tlo[5] + tau_ms * np.log(share / 0.01))
    assert p99 == pytest.approx(lat.per_step_p99_ms[5], rel=0.03)
    assert p99 - fleet._tlo[5] > 4.0 * mean_wait_ms


@pytest.mark.parametrize("rate", [10.0, 15.0, 18.0])
def test_the_p99_follows_the_per_request_simulation_below_capacity(rate: float) -> None:
    """One replica at 40-75 % of its capacity under Poisson arrivals: fast mode's p99
    within 30 % of exact mode's (the uniform spread alone gave 143 ms at every one of
    these loads, against 228-557 ms)."""
    fast = percentile_from_histogram(_one_replica(rate).latency(1000.0).histogram, 0.99)
    exact = []
    for seed in range(3):
        ex = ExactFleet(
            Trace("poisson", np.full(600, rate)), BENCH_REPLICA, ExactSpec(seed=seed), 1
        )
        exact.append(percentile_from_histogram(ex.latency(1000.0).histogram, 0.99))
    assert fast == pytest.approx(float(np.median(exact)), rel=0.30)


def test_the_slo_share_counts_the_random_tail() -> None:
    """At 74 % of capacity some requests wait past a 300 ms SLO (exact mode: 13 %): the
    share within it comes from the tail's distribution, not from its mean."""
    fleet = _one_replica(18.0)
    lat = fleet.latency(300.0)
    share = lat.within_slo / lat.served
    assert 0.85 < share < 0.99
    per_step = fleet.within_per_step(np.full(fleet.steps, 300.0))
    assert per_step.sum() == pytest.approx(lat.within_slo, rel=1e-9)


def test_a_gathering_fluid_below_capacity_keeps_its_uniform_spread() -> None:
    """The default replica gathers its batches at 3,000 one-item requests/s (an execution
    is shorter than the queue delay): no random tail, latencies spread uniformly as
    before."""
    fleet = FastFleet(flat(3000, 120), FleetSpec(), 1)
    fleet.advance_to(120)
    assert not fleet._tserved.any()
    lat = fleet.latency(100.0)
    expected = fleet._lat_lo + 0.99 * (fleet._lat_hi - fleet._lat_lo)
    np.testing.assert_array_equal(lat.per_step_p99_ms, expected)


def test_the_streaming_totals_equal_the_whole_runs_with_a_random_tail() -> None:
    """The accumulator (what long runs use) and the whole-run figures agree when steps
    carry the exponential tail: histogram, SLO share, per-step p99, worst window."""
    rates = np.concatenate([np.full(300, 12.0), np.linspace(12.0, 23.5, 300), np.full(300, 8.0)])
    trace = Trace("ramp", rates)
    whole = FastFleet(trace, BENCH_REPLICA, 1)
    lat = whole.latency(300.0)
    o = whole.outputs
    windows = window_slo(whole, o.arrivals, o.failed, 1.0, 300.0, BENCH_REPLICA.timeout_ms)
    streamed = FastFleet(trace, BENCH_REPLICA, 1)
    sink = Accumulator(len(rates), 1.0, 300.0, BENCH_REPLICA.timeout_ms)
    streamed.sink = sink
    totals = streamed.finish(sink)
    assert whole._tserved.sum() > 0
    np.testing.assert_allclose(totals.latency.histogram, lat.histogram, rtol=1e-9)
    assert totals.latency.within_slo == pytest.approx(lat.within_slo, rel=1e-9)
    np.testing.assert_allclose(totals.latency.per_step_p99_ms, lat.per_step_p99_ms, rtol=1e-9)
    assert totals.windows.worst_p99_ms == pytest.approx(windows.worst_p99_ms, rel=1e-6)
    assert totals.windows.windows_met == windows.windows_met
