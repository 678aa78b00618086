"""What the policy sees lags what happens, as with Prometheus."""

from __future__ import annotations

import numpy as np
import pytest

from scaler.sim.fleet import FastFleet
from scaler.sim.observe import PrometheusModel
from scaler.sim.scenario import FleetSpec
from scaler.traces.model import Trace
from tests.sim._util import flat, step


def _fleet(trace_replicas: int, trace: object) -> FastFleet:
    fleet = FastFleet(trace, FleetSpec(timeout_ms=600_000))  # type: ignore[arg-type]
    fleet.add_ready(0, trace_replicas)
    fleet.advance_to(len(fleet.rps))
    return fleet


def test_counters_grow_only_as_requests_complete() -> None:
    fleet = _fleet(1, flat(2000, 120, items=16))
    obs = PrometheusModel(fleet.outputs).observe(100.0)
    assert obs is not None
    assert obs.activation_rps == pytest.approx(2000)
    assert obs.request_rate_rps is not None and obs.request_rate_rps < 1000
    assert obs.pending_requests is not None and obs.pending_requests > 10_000


def test_rate_window_lags_a_step_in_load() -> None:
    fleet = _fleet(10, step(100, 1000, 200, 100))
    prom = PrometheusModel(fleet.outputs, scrape_interval_s=5, rate_window_s=30)
    early = prom.observe(110.0)
    late = prom.observe(140.0)
    assert early is not None and late is not None
    assert early.request_rate_rps is not None and 100 < early.request_rate_rps < 1000
    assert late.request_rate_rps == pytest.approx(1000)


def test_a_query_sees_only_the_last_scrape() -> None:
    fleet = _fleet(10, step(100, 1000, 200, 100))
    prom = PrometheusModel(fleet.outputs, scrape_interval_s=5, rate_window_s=30)
    a, b = prom.observe(134.0), prom.observe(130.0)
    assert a is not None and b is not None
    assert a.time_s == 130.0
    assert a.request_rate_rps == b.request_rate_rps


def test_at_zero_replicas_only_the_proxy_rate_exists() -> None:
    fleet = _fleet(0, flat(50, 60))
    obs = PrometheusModel(fleet.outputs).observe(40.0)
    assert obs is not None
    assert obs.ready_replicas == 0
    assert obs.request_rate_rps is None and obs.queue_time_per_request_ms is None
    assert obs.activation_rps == pytest.approx(50)


def test_work_signals_count_items_executions_and_compute_as_triton_does() -> None:
    spec = FleetSpec(timeout_ms=600_000)
    fleet = FastFleet(flat(400, 120, items=128), spec)
    fleet.add_ready(0, 10)
    fleet.advance_to(120)
    obs = PrometheusModel(fleet.outputs).observe(100.0)
    assert obs is not None
    assert obs.items_per_s == pytest.approx(400 * 128)
    assert obs.execs_per_s == pytest.approx(400, rel=0.01)
    full_batch_ms = spec.base_ms + spec.per_item_ms * 128
    assert obs.compute_time_per_request_ms == pytest.approx(full_batch_ms, rel=0.01)


def test_a_burst_of_small_requests_runs_in_full_batches() -> None:
    """1,536 one-item requests arriving together on 2 replicas run as batches of 128:
    12 executions a second, not one per request (SuperSONIC's per-execution signal and
    the adaptive policy's capacity both read this count)."""
    spec = FleetSpec(timeout_ms=600_000)
    trace = flat(1536, 120)
    trace = Trace(trace.name, trace.rps, 1.0, trace.items_per_request, burst_fraction=np.ones(120))
    fleet = FastFleet(trace, spec)
    fleet.add_ready(0, 2)
    fleet.advance_to(120)
    obs = PrometheusModel(fleet.outputs).observe(100.0)
    assert obs is not None
    assert obs.items_per_s == pytest.approx(1536)
    assert obs.execs_per_s == pytest.approx(1536 / 128, rel=0.01)


def test_a_new_replica_counts_from_its_first_scrape_and_the_rate_per_replica_dips() -> None:
    """Prometheus's rate() counts a series' increase between its own samples, so what a
    replica served before it was discovered never reaches the rate, while the ready
    count rises at its first scrape: the fleet's rate per ready replica dips for a
    window, as the testbed's decisions showed (bench/results/fidelity.md)."""
    fleet = FastFleet(flat(40, 120), FleetSpec(timeout_ms=600_000))
    fleet.add_ready(0, 1)
    fleet.advance_to(60)
    fleet.add_ready(60, 1)
    fleet.advance_to(120)
    prom = PrometheusModel(
        fleet.outputs, scrape_interval_s=1, rate_window_s=10, discovery_delay_s=3
    )
    before = prom.observe(60.0)
    undiscovered = prom.observe(62.0)
    dip = prom.observe(64.0)
    settled = prom.observe(80.0)
    assert before is not None and undiscovered is not None
    assert dip is not None and settled is not None
    assert undiscovered.ready_replicas == 1 and dip.ready_replicas == 2
    assert before.request_rate_rps == pytest.approx(40)
    # the new replica's requests before its first scrape (t = 63) are not in the rate
    assert undiscovered.request_rate_rps == pytest.approx(40 - 20 * 2 / 9)
    assert dip.request_rate_rps == pytest.approx(40 - 20 * 3 / 9)
    assert dip.request_rate_rps / 2 < settled.request_rate_rps / 2 == pytest.approx(20)


def test_a_scrape_offset_reads_the_counters_part_way_through_a_step() -> None:
    """Scrapes at 0.4 + k s (Prometheus's phase for a target is arbitrary relative to
    the trace): a query sees the last such scrape, and a scrape inside a step counts the
    part of that step's completions before it (spread evenly over the step)."""
    fleet = _fleet(10, step(100, 1000, 200, 100))
    phased = PrometheusModel(
        fleet.outputs, scrape_interval_s=1, rate_window_s=10, scrape_offset_s=0.4
    )
    aligned = PrometheusModel(fleet.outputs, scrape_interval_s=1, rate_window_s=10)
    obs = phased.observe(105.2)
    assert obs is not None and obs.time_s == pytest.approx(104.4)
    # window [95.4, 104.4): 4.6 s at 100 req/s and 4.4 s at 1000 (completions lag
    # arrivals by a batch, so compare with the aligned windows either side)
    lo, hi = aligned.observe(104.0), aligned.observe(105.0)
    assert lo is not None and hi is not None
    assert lo.request_rate_rps is not None and hi.request_rate_rps is not None
    assert obs.request_rate_rps == pytest.approx(
        0.6 * lo.request_rate_rps + 0.4 * hi.request_rate_rps, rel=1e-9
    )
    # before the first scrape of the run there is nothing to read
    assert phased.observe(0.3) is None


def test_the_scrape_offset_must_be_inside_the_scrape_interval() -> None:
    fleet = _fleet(1, flat(10, 20))
    with pytest.raises(ValueError, match="scrape_offset_s"):
        PrometheusModel(fleet.outputs, scrape_interval_s=1, scrape_offset_s=1.0)
