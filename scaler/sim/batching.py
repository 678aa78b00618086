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

These regimes are deterministic (a fluid of requests). Random (Poisson) arrivals
also queue below the capacity: :func:`random_arrival_wait_s` is that mean wait, and
:attr:`SteadyState.wait_mean_s` the larger of the two.
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
    wait_mean_s: FloatArray
    """Mean wait before the batch starts: the deterministic spread's mid-point or, where
    the batcher is not gathering (a batch takes longer than the queue delay) and the
    load is below the capacity (at it, the fleet's backlog is the queue), the
    random-arrival wait of :func:`random_arrival_wait_s` if larger. The spread
    ``[wait_lo_s, wait_hi_s]`` stays deterministic (the oracle reads it); where the
    random-arrival wait is the larger, the latency percentiles come from its
    distribution instead (``tail_share``, ``tail_wait_s``, ``idle_wait_s``)."""
    tail_share: FloatArray
    """Share (0–1) of requests that find every instance busy and wait a random time,
    where the random-arrival wait is the mean (else 0: the deterministic spread holds):
    ρ on one instance, Erlang's C over several (:func:`random_arrival_queue`)."""
    tail_wait_s: FloatArray
    """Mean wait of those requests, s: exponential (an M/G/c queue's waiting time beyond
    zero is close to exponential), tail_share × tail_wait_s the mean queueing wait."""
    idle_wait_s: FloatArray
    """Wait of the others (they find an instance idle), s: the queue delay when a batch
    can hold more than one request, else 0."""


def service_s(spec: FleetSpec, items: FloatArray | float) -> FloatArray:
    """Seconds to execute a batch of ``items`` items."""
    return np.asarray((spec.base_ms + spec.per_item_ms * np.asarray(items)) / 1000.0)


def instance_capacity_items_s(spec: FleetSpec) -> float:
    """Items per second one instance serves with full batches."""
    return float(spec.max_batch_items / service_s(spec, float(spec.max_batch_items)))


def steady_state(
    spec: FleetSpec,
    items_s: FloatArray,
    requests_s: FloatArray,
    items_per_request: FloatArray,
    servers: int = 1,
) -> SteadyState:
    """Waits, service time and busy fraction of one instance loaded with ``items_s``
    items/s from ``requests_s`` requests/s (arrays of equal length). Loads beyond the
    capacity are treated as the capacity (full batches). ``servers``: instances the
    load is spread over (replicas × instances; for the random-arrival wait)."""
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
    fluid_mean = (wait_lo + wait_hi) / 2
    wait_mean = np.where(items_s > 0, fluid_mean, 0.0)
    tail_share = np.zeros_like(wait_mean)
    tail_wait = np.zeros_like(wait_mean)
    idle_wait = np.zeros_like(wait_mean)
    need = ~(gather & ~sparse) & (items_s > 0) & (items_s < mu)
    if need.any():
        req = np.minimum(rate, lam / m)[need]
        queueing, p_wait, idle = random_arrival_queue(spec, req, m[need], servers)
        random_wait = np.where(req > 0, queueing + idle, 0.0)
        wait_mean[need] = np.maximum(fluid_mean[need], random_wait)
        # Where the random wait is the mean, its distribution gives the percentiles.
        random_rules = (random_wait > fluid_mean[need]) & (p_wait > 1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            tail_share[need] = np.where(random_rules, p_wait, 0.0)
            tail_wait[need] = np.where(random_rules, queueing / p_wait, 0.0)
        idle_wait[need] = np.where(random_rules, idle / np.maximum(1.0 - p_wait, 1e-12), 0.0)
    return SteadyState(
        wait_lo,
        wait_hi,
        serve,
        b_eff,
        busy,
        np.maximum(serve_hi, serve),
        wait_mean,
        tail_share,
        tail_wait,
        np.minimum(idle_wait, d),
    )


RANDOM_QUEUE_MAX_UTILISATION = 0.9
"""Load, as a share of full-batch capacity, up to which :func:`random_arrival_wait_s`
grows with it; at and beyond it the term stays at its value there (at most 5 full
executions): near the capacity the fleet's backlog model takes over, and beyond it
the steady state is not reached."""

_BISECTION_ROUNDS = 16
"""Halvings of [m, B] for the mean batch: B / 65,536 items at most off."""


def erlang_c(servers: int, load: FloatArray) -> FloatArray:
    """Probability that a Poisson arrival finds all ``servers`` busy when they carry
    ``load`` (= servers × utilisation, < servers) in total: Erlang's C formula, from
    the Erlang B recursion B_k = a·B_(k−1) / (k + a·B_(k−1))."""
    a = np.maximum(np.asarray(load, dtype=np.float64), 0.0)
    b = np.ones_like(a)
    ab = np.empty_like(a)
    denom = np.empty_like(a)
    for k in range(1, servers + 1):
        # b = a·b / (k + a·b), with a·b computed once and no temporaries: the same floats.
        np.multiply(a, b, out=ab)
        np.add(ab, k, out=denom)
        np.divide(ab, denom, out=b)
    rho = np.minimum(a / servers, 1.0 - 1e-12)
    out: FloatArray = b / (1.0 - rho * (1.0 - b))
    return out


def random_arrival_wait_s(
    spec: FleetSpec, requests_s: FloatArray, items_per_request: FloatArray, servers: int = 1
) -> FloatArray:
    """Mean seconds a request waits before its batch starts, for Poisson arrivals of
    ``requests_s`` requests of ``items_per_request`` items at each of ``servers``
    instances: the queueing wait and the idle wait of :func:`random_arrival_queue`."""
    lam = np.asarray(requests_s, dtype=np.float64)
    queueing, _, idle = random_arrival_queue(spec, lam, items_per_request, servers)
    out: FloatArray = np.where(lam > 0, queueing + idle, 0.0)
    return out


def random_arrival_queue(
    spec: FleetSpec, requests_s: FloatArray, items_per_request: FloatArray, servers: int = 1
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(mean queueing wait s, probability to wait, mean idle wait s) of a request before
    its batch starts, over all requests (the queueing wait of those that wait is the
    first over the second), for Poisson arrivals of ``requests_s`` requests of
    ``items_per_request`` items at each of ``servers`` instances (arrays of equal
    length), with Triton's batcher as :mod:`scaler.sim.exact` runs it.

    * An arrival finds the instance busy with probability ρ, its busy fraction (Poisson
      arrivals see time averages), and then waits the rest of the execution in
      progress: S/2 on average, S = S(b) for the mean batch b (service is
      deterministic in b).
    * Triton forms the next batch ``max_queue_delay`` after the first request that
      arrives during an execution; requests after that wait for the batch after it.
      An arrival at a uniformly random point of an execution has had another arrival
      before it in that execution with probability p = 1 − (1 − e^(−x)) / x, x = λS,
      and then waits one execution more: ρ·S·(1/2 + p).
    * When the queue holds more than full batches, it waits one execution per B items
      ahead: by Little's law there are λ·W requests ahead, so W = ρ·S/2 + S·λ·m·W/B,
      i.e. the Pollaczek–Khinchine M/D/1 wait ρ·S / (2 (1 − λ·m·S/B)) — exact when a
      batch holds one request (B = m).
    * The wait is the larger of the two; an arrival at an idle instance waits the
      queue delay when a batch can hold more than one request (probability 1 − ρ).
    * Over several instances Envoy sends a request to the one with the fewest
      requests outstanding, so it waits only when every instance is busy: the
      one-instance queueing wait is scaled by C(c, cρ) / (cρ), Erlang's C over the
      one-instance busy probability (the Allen–Cunneen approximation of a G/G/c
      queue, which reduces to Pollaczek–Khinchine at c = 1).
    * The probability to wait is ρ on one instance and Erlang's C, C(c, cρ), over
      several (0 without arrivals).

    The mean batch b solves b = m·((1 − ρ) + ρ·E[N | N ≥ 1]), N ~ Poisson(λS), ρ = λ·m·S/b:
    an idle instance starts a batch of one request, a busy one next runs about the
    requests that arrived during one execution (a fixed point, found by bisection).
    Checked against the exact simulation on the fidelity bench's replica (13 ms +
    41.5 ms per item, batches of 8): within 15 % at busy fractions 0.27–0.85
    (tests/sim/test_batching.py), 14 % low at 0.95 and 45 % low at 0.985, where the
    queue takes longer to settle than a load step lasts anyway; exactly M/D/1 with
    batches of one.
    """
    big_b = float(spec.max_batch_items)
    base = spec.base_ms / 1000.0
    per_item = spec.per_item_ms / 1000.0
    d = spec.max_queue_delay_ms / 1000.0
    lam = np.maximum(np.asarray(requests_s, dtype=np.float64), 0.0)
    m = np.clip(np.asarray(items_per_request, dtype=np.float64), 1e-9, big_b)
    # g(b) - b is >= 0 at b = m and <= 0 at b = B: bisect for the fixed point.
    lo, hi = m.copy(), np.maximum(np.full_like(m, big_b), m)
    with np.errstate(divide="ignore", invalid="ignore"):  # once, not at every round
        for _ in range(_BISECTION_ROUNDS):
            b = (lo + hi) / 2
            s = base + per_item * b
            x = lam * s
            n_given_one = np.where(x > 1e-9, x / -np.expm1(-x), 1.0)
            rho = np.minimum(lam * m * s / b, 1.0)
            above = m * ((1.0 - rho) + rho * n_given_one) >= b
            lo = np.where(above, b, lo)
            hi = np.where(above, hi, b)
    b = (lo + hi) / 2
    s = base + per_item * b
    rho = np.minimum(lam * m * s / b, 1.0)
    x = lam * s
    with np.errstate(divide="ignore", invalid="ignore"):
        p_late = np.where(x > 1e-9, 1.0 + np.expm1(-x) / x, 0.0)
    formed_ahead = rho * s * (0.5 + p_late)
    full_batches = lam * m * s / big_b
    md1 = rho * s / 2.0 / (1.0 - np.minimum(full_batches, RANDOM_QUEUE_MAX_UTILISATION))
    idle = np.where(big_b > m + 1e-9, (1.0 - rho) * d, 0.0)
    queueing = np.maximum(formed_ahead, md1)
    p_wait = rho
    if servers > 1:
        c_wait = erlang_c(servers, rho * float(servers))
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(rho > 1e-12, c_wait / (servers * rho), 0.0)
        queueing = queueing * np.minimum(share, 1.0)
        p_wait = np.minimum(c_wait, 1.0)
    return queueing, np.where(lam > 0, p_wait, 0.0), idle


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
