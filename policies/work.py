"""Work and per-replica capacity from Triton's own counters, for the policies that
size a fleet from them (adaptive, predictive).

Work is what arrives, in batch items per second: a batch-128 request weighs 128
one-item requests. Capacity is what one replica does when its batches are full:
items per execution over the execution time (Triton reports, per request, the
compute time of the execution it rode in), times the model instances that execute
side by side. Both come from the observation history, so they are pure functions of
what the pipeline passes in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from policies.forecast import FloatArray
from policies.history import COLUMN_INDEX as _F
from policies.history import HistoryColumns, history_columns
from policies.observation import Observation

LOADED_QUANTILE = 0.9
"""Capacity is read from the samples whose work per replica is at or above this
quantile of the window's: the most loaded tenth."""


@dataclass(frozen=True, slots=True)
class WorkHistory:
    """The history as arrays (NaN where a signal was absent), strictly increasing times."""

    times: FloatArray
    ready: FloatArray
    work: FloatArray
    capacity: FloatArray
    service_ms: FloatArray
    queue_ms: FloatArray
    backlog_items: FloatArray
    settled: npt.NDArray[np.bool_]
    """The fleet was what had been asked for (no pod starting): a queue then says the
    fleet is short, not that it is still growing."""


def work_history(
    history: tuple[Observation, ...], instances: int, columns: HistoryColumns | None = None
) -> WorkHistory:
    """The history as arrays; ``instances`` model instances run in each replica.
    ``columns``: the pipeline's columns of ``history`` (``PolicyContext.columns``), if any."""
    raw = history_columns(history, columns).matrix()
    times = raw[_F["time_s"]]
    if times.size > 1 and not bool((times[1:] > times[:-1]).all()):
        keep = np.ones(times.size, dtype=bool)
        keep[1:] = times[1:] > np.maximum.accumulate(times)[:-1]
        raw = raw[:, keep]
        times = raw[_F["time_s"]]
    with np.errstate(invalid="ignore", divide="ignore"):
        # Every field at once: negative or non-finite values as NaN.
        valid = np.where((raw >= 0) & (raw < np.inf), raw, np.nan)
        ready = valid[_F["ready_replicas"]]
        desired = raw[_F["desired_replicas"]]
        served = valid[_F["request_rate_rps"]]
        front = valid[_F["activation_rps"]]
        items = valid[_F["items_per_s"]]
        execs = valid[_F["execs_per_s"]]
        compute = valid[_F["compute_time_per_request_ms"]]
        busy = valid[_F["gpu_utilization"]]
        pending = valid[_F["pending_requests"]]
        per_request = np.where(served > 0, items / served, np.nan)
        # The last known items per request stands in where none completed.
        per_request = _forward_fill(per_request)
        per_request = np.where(np.isfinite(per_request), per_request, 1.0)
        # Arrivals in front of the fleet when they are measured: completions stop
        # growing at capacity, so they understate an overload. A front counter that
        # is 0 while replicas serve is not "no arrivals": Envoy's none_healthy
        # counter (the examples' activationMetric) moves only at zero endpoints.
        serving = ready > 0
        front_counts = np.isfinite(front) & ((front > 0) | ~serving)
        requests = np.where(front_counts, front, served)
        work = requests * per_request
        per_exec = np.where(execs > 0, items / execs, np.nan)
        by_compute = instances * per_exec / (compute / 1000.0)
        by_busy = items / (np.minimum(busy, 1.0) * ready)
        by_compute = np.where((compute > 0) & (items > 0), by_compute, np.nan)
        by_busy = np.where((busy >= 0.1) & serving & (items > 0), by_busy, np.nan)
        computed = np.isfinite(by_compute)
        capacity = np.where(computed, by_compute, by_busy)
        service = np.where(computed, compute, np.nan)
        queue = np.where(serving, valid[_F["queue_time_per_request_ms"]], np.nan)
        backlog = pending * per_request
        settled = ~(desired > ready)
    return WorkHistory(times, ready, work, capacity, service, queue, backlog, settled)


def _forward_fill(x: FloatArray) -> FloatArray:
    """Each NaN replaced by the last finite value before it (leading NaNs by the first)."""
    idx = np.where(np.isfinite(x), np.arange(x.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out: FloatArray = x[idx]
    if x.size and not np.isfinite(x[0]):
        first = np.flatnonzero(np.isfinite(x))
        if first.size:
            out[: first[0]] = x[first[0]]
    return out


@dataclass(frozen=True, slots=True)
class Capacity:
    """Items/s one replica serves with full batches, and the execution time then."""

    items_s: float
    service_ms: float
    samples: int


def learned_capacity(h: WorkHistory, now_s: float, window_s: float) -> Capacity | None:
    """Capacity from the most loaded samples of the window: there batches are fullest,
    so items per execution over the execution time is what a busy replica does. (Each
    request reports its batch's time, so on lightly loaded replicas many small
    requests in small batches would weigh in too much, in either direction.)"""
    use = (h.times >= now_s - window_s) & np.isfinite(h.capacity) & (h.capacity > 0)
    use &= np.isfinite(h.work) & (h.ready > 0)
    n = int(use.sum())
    if n == 0:
        return None
    load = h.work[use] / h.ready[use]
    top = load >= np.quantile(load, LOADED_QUANTILE)
    cap = float(np.median(h.capacity[use][top]))
    service = h.service_ms[use][top]
    service = service[np.isfinite(service)]
    s = float(np.median(service)) if service.size else math.nan
    return Capacity(cap, s, n)
