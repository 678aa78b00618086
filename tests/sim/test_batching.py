"""The fast mode's steady state: the random-arrival queueing term against queueing
theory and against the per-request simulation."""

from __future__ import annotations

import numpy as np
import pytest

from scaler.sim.batching import erlang_c, random_arrival_wait_s, steady_state
from scaler.sim.exact import ExactFleet
from scaler.sim.scenario import ExactSpec, FleetSpec
from scaler.traces.model import Trace

ONE = np.ones(1)


def test_batches_of_one_wait_the_md1_value() -> None:
    """A batch holds one request: the instance is an M/D/1 queue, whose mean wait at
    utilisation rho is rho * S / (2 (1 - rho)) (Pollaczek-Khinchine)."""
    spec = FleetSpec(base_ms=0.0, per_item_ms=100.0, max_batch_items=1, max_queue_delay_ms=2.0)
    for rate, rho in ((2.0, 0.2), (5.0, 0.5), (8.0, 0.8)):
        wait = random_arrival_wait_s(spec, np.array([rate]), ONE)[0]
        assert wait == pytest.approx(rho * 0.1 / (2 * (1 - rho)), rel=1e-6)


@pytest.mark.parametrize("rate", [5.0, 11.0, 17.0])
def test_fast_mean_wait_follows_the_per_request_simulation(rate: float) -> None:
    """The fidelity bench's replica (13 ms + 41.5 ms per item, batches of up to 8):
    fast mode's mean wait within 15 % of exact mode's at busy fractions 0.27-0.85,
    where the fluid model alone gives the 2 ms queue delay."""
    spec = FleetSpec(base_ms=13.0, per_item_ms=41.5, max_batch_items=8, max_queue_delay_ms=2.0)
    lam = np.array([rate])
    ss = steady_state(spec, lam, lam, ONE)
    fleet = ExactFleet(Trace("poisson", np.full(1200, rate)), spec, ExactSpec(seed=2), 1)
    fleet.latency(1000.0)
    o = fleet.outputs
    exact_ms = o.queue_ms.sum() / o.success.sum()
    assert ss.wait_mean_s[0] * 1000.0 == pytest.approx(exact_ms, rel=0.15)
    assert (ss.wait_lo_s[0] + ss.wait_hi_s[0]) / 2 * 1000.0 == pytest.approx(2.0)


def test_a_gathering_batcher_keeps_the_fluid_wait() -> None:
    """Executions shorter than the queue delay (the LIGO default): the batcher waits
    for the delay to fill each batch, and the mean wait is the fluid spread's middle."""
    spec = FleetSpec()
    lam = np.array([3000.0])
    ss = steady_state(spec, lam, lam, ONE)
    assert ss.wait_mean_s[0] == pytest.approx((ss.wait_lo_s[0] + ss.wait_hi_s[0]) / 2)


def test_no_load_no_wait() -> None:
    spec = FleetSpec(base_ms=13.0, per_item_ms=41.5, max_batch_items=8)
    ss = steady_state(spec, np.zeros(1), np.zeros(1), ONE)
    assert ss.wait_mean_s[0] == 0.0
    assert random_arrival_wait_s(spec, np.zeros(1), ONE)[0] == 0.0


def test_erlang_c_matches_known_values() -> None:
    """One server: the chance to wait is the utilisation. Two servers carrying one
    erlang: Erlang B = 1/5, C = B / (1 - rho (1 - B)) = 1/3."""
    assert erlang_c(1, np.array([0.3]))[0] == pytest.approx(0.3)
    assert erlang_c(2, np.array([1.0]))[0] == pytest.approx(1 / 3)


def test_more_replicas_at_the_same_utilisation_wait_less() -> None:
    """Least-request routing sends a request to an idle replica when there is one."""
    spec = FleetSpec(base_ms=13.0, per_item_ms=41.5, max_batch_items=8, max_queue_delay_ms=2.0)
    lam = np.array([11.0])
    waits = [random_arrival_wait_s(spec, lam, ONE, c)[0] for c in (1, 2, 4)]
    assert waits[0] > waits[1] > waits[2] > spec.max_queue_delay_ms / 1000.0 * 0.4


@pytest.mark.parametrize("rate", [5.0, 11.0, 17.0, 21.0])
def test_the_random_arrival_wait_is_a_share_that_waits_times_their_mean_wait(rate: float) -> None:
    """One instance: a Poisson arrival waits when it finds the instance busy (probability
    its busy fraction), the mean wait over all requests being that share times the
    waiting ones' mean plus the idle ones' queue delay."""
    spec = FleetSpec(base_ms=13.0, per_item_ms=41.5, max_batch_items=8, max_queue_delay_ms=2.0)
    lam = np.array([rate])
    ss = steady_state(spec, lam, lam, ONE)
    p = ss.tail_share[0]
    assert 0.0 < p < 1.0
    assert ss.tail_wait_s[0] > 0.0
    assert p * ss.tail_wait_s[0] + (1 - p) * ss.idle_wait_s[0] == pytest.approx(
        ss.wait_mean_s[0], rel=1e-9
    )
    assert ss.idle_wait_s[0] == pytest.approx(spec.max_queue_delay_ms / 1000.0)


def test_more_replicas_make_fewer_requests_wait_and_shorter() -> None:
    """Several instances: Erlang's C is the share that waits, each waiting less."""
    spec = FleetSpec(base_ms=13.0, per_item_ms=41.5, max_batch_items=8, max_queue_delay_ms=2.0)
    lam = np.array([11.0])
    states = [steady_state(spec, lam, lam, ONE, servers=c) for c in (1, 2, 4)]
    shares = [s.tail_share[0] for s in states]
    means = [s.tail_wait_s[0] for s in states]
    assert shares[0] > shares[1] > shares[2] > 0.0
    assert means[0] > means[1] > means[2] > 0.0


def test_a_deterministic_batcher_has_no_random_tail() -> None:
    """Where the fluid's wait is the mean (a gathering batcher, or no load, or beyond
    the capacity), no request is put in the exponential tail."""
    spec = FleetSpec()
    lam = np.array([0.0, 3000.0, 1e6])
    ss = steady_state(spec, lam, lam, np.ones(3))
    assert np.all(ss.tail_share == 0.0)
    assert np.all(ss.tail_wait_s == 0.0)
