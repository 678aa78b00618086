"""The per-request fleet (``--exact``): Triton's dynamic batcher as the real server
batches, and the random-arrival queueing a single instance shows."""

from __future__ import annotations

import numpy as np
import pytest

from scaler.sim.exact import ExactFleet
from scaler.sim.scenario import ExactSpec, FleetSpec
from scaler.traces.model import Trace

# The fidelity testbed's replica: 5 ms + 40 ms per item, batches of up to 8, 2 ms delay.
TESTBED = FleetSpec(base_ms=5.0, per_item_ms=40.0, max_batch_items=8, max_queue_delay_ms=2.0)


def _run(arrivals_ms: list[float], spec: FleetSpec = TESTBED) -> ExactFleet:
    t = np.asarray(arrivals_ms) / 1000.0
    fleet = ExactFleet(Trace("probe", np.zeros(2), 1.0, arrivals_s=t), spec, ExactSpec(), 1)
    fleet.latency(1000.0)
    return fleet


def _batches(fleet: ExactFleet) -> list[int]:
    """Items per execution, in the order they ran (every request is one item here)."""
    lat = np.asarray(fleet.latencies_ms)
    done = np.round(fleet.t_arr * 1000.0 + lat, 6)
    _, counts = np.unique(done, return_counts=True)
    return [int(c) for c in counts]


def test_an_idle_replica_waits_the_queue_delay_and_takes_what_arrived_meanwhile() -> None:
    fleet = _run([0.0, 1.0])
    assert _batches(fleet) == [2]
    # the batch starts 2 ms after the first request: 2 + 85 ms and 1 + 85 ms
    assert fleet.latencies_ms == pytest.approx([87.0, 86.0])


def test_a_full_batch_starts_without_waiting_the_queue_delay() -> None:
    fleet = _run([0.0] * 8)
    assert fleet.latencies_ms == pytest.approx([325.0] * 8)


def test_arrivals_after_the_next_batch_formed_wait_for_the_batch_after_it() -> None:
    """Triton forms the next batch 2 ms after its first request even while the
    instance is busy; requests after that do not join it. Measured on the testbed's
    Triton (pytriton 0.7.0; bench/results/batcher_probe.md), requests at 0, 15, 30 and
    40 ms: executions {0}, {15}, {30, 40} in 17 of 20 trials, {0}, {15, 30, 40} in 3."""
    fleet = _run([0.0, 15.0, 30.0, 40.0])
    assert _batches(fleet) == [1, 1, 2]


def test_one_arrival_joins_a_batch_formed_from_requests_that_had_waited() -> None:
    """Requests at 0, 15, 30, 60, 70 ms: the one at 30 waits while {15} runs; the
    arrival at 60 wakes the batcher, which forms {30, 60}, and the one at 70 joins it
    (Triton's next preferred size is 0 right after a batch opens). Measured
    (bench/results/batcher_probe.md): {0}, {15}, {30, 60, 70} in 11 of 20 trials,
    {0}, {15}, {30, 60}, {70} in 5 (the completion taking the formed batch first), 4
    others with requests sent late on the loaded machine."""
    fleet = _run([0.0, 15.0, 30.0, 60.0, 70.0])
    assert _batches(fleet) == [1, 1, 3]


def test_mean_wait_without_batching_is_the_md1_value() -> None:
    """With batches of one the replica is an M/D/1 queue: at utilisation 0.5 the mean
    wait is rho * S / (2 (1 - rho)) = S / 2 (Pollaczek-Khinchine)."""
    spec = FleetSpec(base_ms=0.0, per_item_ms=100.0, max_batch_items=1, max_queue_delay_ms=2.0)
    trace = Trace("poisson", np.full(4000, 5.0))
    fleet = ExactFleet(trace, spec, ExactSpec(seed=3), 1)
    fleet.latency(1000.0)
    o = fleet.outputs
    assert o.queue_ms.sum() / o.success.sum() == pytest.approx(50.0, rel=0.08)


def test_mean_batch_and_wait_follow_the_measured_triton_replica() -> None:
    """One replica of the fidelity bench (13 ms + 41.5 ms per item, calibrated) under
    Poisson load: Triton measured mean batches of 1.06-1.15 and queue waits of 12-26 ms
    at 7.7 req/s and 1.31-1.44 / 45-58 ms at 14.5 req/s (the calibration sweeps of the
    08:13 and 11:09 UTC fidelity runs of 3 December 2026, bench/results/fidelity.json
    as of commit e668cac; one outlier run at 14.8 req/s with 2.08 / 128 ms left out)."""
    spec = FleetSpec(base_ms=13.0, per_item_ms=41.5, max_batch_items=8, max_queue_delay_ms=2.0)
    for rate, batch, wait in ((7.7, (1.03, 1.15), (12.0, 26.0)), (14.5, (1.25, 1.44), (40, 58))):
        fleet = ExactFleet(Trace("poisson", np.full(1500, rate)), spec, ExactSpec(seed=1), 1)
        fleet.latency(1000.0)
        o = fleet.outputs
        assert batch[0] <= o.items.sum() / o.execs.sum() <= batch[1]
        assert wait[0] <= o.queue_ms.sum() / o.success.sum() <= wait[1]
