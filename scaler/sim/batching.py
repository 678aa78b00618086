"""Dynamic batching in steady state: how long a request waits and is served, and how
busy the GPU is, for a given load on one model instance. Vectorised over time steps.

Triton's batcher launches a batch when it holds ``max_batch_items`` items or when
its oldest request has waited ``max_queue_delay_ms``, whichever comes first, and
only when an instance is free. With the service law S(b) = base + per_item × b
three regimes follow for a load of λ items/s and r requests/s per instance:

* sparse (fewer than one request per cycle): a request waits the queue delay D
  alone, then is served;
* gathering (S(λD) ≤ D): batches of λD items every D seconds; the first request
  of a batch waits D, the others less: waits in [D/n, D] for n requests a batch;
* busy (otherwise): back-to-back batches of b = λ·base/(1 − λ·per_item) items,
  waits in [0, S(b)], the GPU busy all the time.

Beyond the capacity μ = B / S(B) items/s a backlog builds; that is the fleet's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaler.sim.scenario import FleetSpec
from scaler.traces.model import FloatArray


@dataclass(frozen=True, slots=True)
class SteadyState:
    """Per-step values in seconds (waits, service) and fractions (busy)."""

    wait_lo_s: FloatArray
    wait_hi_s: FloatArray
    service_s: FloatArray
    batch_items: FloatArray
    busy: FloatArray
    service_hi_s: FloatArray
    """Service of an unluckily large batch: random arrivals put about 2.33 standard
    deviations (Poisson, 99th percentile) more requests in a batch than the mean."""


def service_s(spec: FleetSpec, items: FloatArray | float) -> FloatArray:
    """Seconds to execute a batch of ``items`` items."""
    return np.asarray((spec.base_ms + spec.per_item_ms * np.asarray(items)) / 1000.0)


def instance_capacity_items_s(spec: FleetSpec) -> float:
    """Items per second one instance serves with full batches."""
    return float(spec.max_batch_items / service_s(spec, float(spec.max_batch_items)))


def steady_state(
    spec: FleetSpec, items_s: FloatArray, requests_s: FloatArray, items_per_request: FloatArray
) -> SteadyState:
    """Waits, service time and busy fraction of one instance loaded with ``items_s``
    items/s from ``requests_s`` requests/s (arrays of equal length). Loads beyond the
    capacity are treated as the capacity (full batches)."""
    big_b = float(spec.max_batch_items)
    mu = instance_capacity_items_s(spec)
    d = spec.max_queue_delay_ms / 1000.0
    base = spec.base_ms / 1000.0
    per_item = spec.per_item_ms / 1000.0
    lam = np.minimum(items_s, mu)
    m = np.clip(items_per_request, 1e-9, big_b)
    denom = 1.0 - lam * per_item
    with np.errstate(divide="ignore", invalid="ignore"):
        b_busy = np.where(denom > 1e-12, lam * base / np.maximum(denom, 1e-12), big_b)
    b_gather = lam * d
    s_gather = base + per_item * np.maximum(b_gather, m)
    gather = s_gather <= d
    b = np.clip(np.where(gather, b_gather, b_busy), 0.0, big_b)
    cycle = np.where(gather, d, base + per_item * np.maximum(b, m))
    sparse = b < m
    b_eff = np.clip(np.maximum(b, m), 0.0, big_b)
    serve = base + per_item * b_eff
    rate = np.maximum(requests_s, 0.0)
    busy_sparse = np.minimum(rate * serve, 1.0)
    per_batch = np.maximum(b / m, 1.0)
    wait_lo = np.where(sparse, d, np.where(gather, d / per_batch, 0.0))
    wait_hi = np.where(sparse, d, cycle)
    with np.errstate(divide="ignore", invalid="ignore"):
        busy_dense = np.where(gather, serve / d if d > 0 else 1.0, 1.0)
    busy = np.where(sparse, busy_sparse, np.minimum(busy_dense, 1.0))
    busy = np.where(items_s > 0, busy, 0.0)
    extra = m * 2.33 * np.sqrt(np.maximum(b_eff / m, 1.0))
    serve_hi = base + per_item * np.minimum(b_eff + extra, big_b)
    return SteadyState(wait_lo, wait_hi, serve, b_eff, busy, np.maximum(serve_hi, serve))


@dataclass(frozen=True, slots=True)
class BurstState:
    """Requests arriving together at a step's start (LIGO frame boundaries): waits
    from ``wait_lo_s`` (the first batch) to ``wait_hi_s`` (the last batch starts),
    in seconds; each batch takes ``service_s``."""

    wait_lo_s: FloatArray
    wait_hi_s: FloatArray
    service_s: FloatArray
    busy_s: FloatArray
    batch_items: FloatArray
    """Items in each of the burst's batches (full ones while it lasts)."""


def burst_state(
    spec: FleetSpec, burst_items: FloatArray, instances: int, items_per_request: FloatArray
) -> BurstState:
    """A burst of ``burst_items`` items spread over ``instances`` free instances: it
    drains at full capacity; a burst smaller than a full batch per instance waits
    the queue delay first. ``busy_s``: instance-seconds of work it brings."""
    big_b = float(spec.max_batch_items)
    per = burst_items / max(instances, 1)
    batch = np.clip(np.maximum(np.minimum(per, big_b), items_per_request), 0.0, big_b)
    serve = np.asarray(service_s(spec, batch))
    delay = np.where(per >= big_b, 0.0, spec.max_queue_delay_ms / 1000.0)
    drain = per / instance_capacity_items_s(spec)
    has = burst_items > 0
    busy = np.where(has, drain * instances, 0.0)
    last = np.maximum(drain - serve, 0.0)
    return BurstState(
        np.where(has, delay, 0.0),
        np.where(has, delay + last, 0.0),
        serve,
        busy,
        np.where(has, batch, 0.0),
    )


def split_burst(
    rps: FloatArray, items_per_request: FloatArray, burst: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(burst items/s, spread items/s, spread items per request) of each step.

    A trace keeps only a bin's mean items per request, so the split is assumed:
    burst requests are single-item (frame-synchronous streaming requests, as in
    LIGO) unless the whole bin is a burst; the spread requests carry the rest of
    the bin's items, so the item rate is conserved.
    """
    total = rps * items_per_request
    whole = burst >= 1.0
    burst_items = np.where(whole, total, np.minimum(rps * burst, total))
    spread_items = np.maximum(total - burst_items, 0.0)
    spread_req = rps * (1.0 - burst)
    with np.errstate(divide="ignore", invalid="ignore"):
        m_spread = np.where(spread_req > 0, spread_items / spread_req, items_per_request)
    return burst_items, spread_items, np.maximum(m_spread, 1e-9)
