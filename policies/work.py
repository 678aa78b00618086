"""Work and per-replica capacity from Triton's own counters, for the policies that
size a fleet from them (adaptive, predictive).

Work is what arrives, in batch items per second: a batch-128 request weighs 128
one-item requests. Capacity is what one replica does when its batches are full:
items per execution over the execution time (Triton reports, per request, the
compute time of the execution it rode in), times the model instances that execute
side by side. Both come from the observation history, so they are pure functions of
what the pipeline passes in.

A lightly loaded replica runs small batches, and a small batch pays the fixed cost
of an execution for few items: items per execution over its time then reads far
below what the replica does when load fills its batches (half, on a conversation
trace with 8-item batches where 128 fit). So the service law is learned too: an
execution of ``b`` items takes ``base + per_item × b``, a line through the (items per
execution, execution time) samples of the window, and the capacity is read off it at
the batch a loaded replica runs (see :func:`learned_capacity`). The execution time is
the GPU's busy time per execution where the busy fraction says it (one instance per
replica, GPU neither idle nor saturated): the compute time each request reports is its
batch's, so its mean weighs large batches by their items and a line through it reads
the per-item cost high (25–75 % on the Azure conversation trace, 0.115–0.16 ms
against 0.092).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from policies.forecast import FloatArray
from policies.history import COLUMN_INDEX as _F
from policies.history import HistoryColumns, history_columns
from policies.observation import Observation
from policies.stats import median, quantile

LOADED_QUANTILE = 0.9
"""Capacity is read from the samples whose work per replica is at or above this
quantile of the window's: the most loaded tenth."""

FIT_SPAN_S = 900.0
"""Seconds of samples the service law is fitted on, at least: 30 disjoint 30 s rate
windows (samples 5 s apart share most of their window, so they are not independent;
on a conversation trace the slope wanders by 2x over the first 10 minutes)."""

MIN_BATCH_SPREAD = 1.5
"""Largest over smallest items per execution the samples must span for the line's
slope to mean anything."""

FULL_QUEUE_SHARE = 0.5
"""A mean queue time of at least this share of the latency target means the replica
was overloaded: the batcher had more waiting than a batch holds for most of the
window, so its batches were as large as the model allows."""

CEILING_SHARE = 0.5
"""Share of the fitted samples at (within :data:`CEILING_CLOSE` of) the largest batch
seen that shows the batches are at the model's maximum, not growing with load."""

CEILING_CLOSE = 0.98

BUSY_MAX = 0.95
"""GPU busy fraction above which busy time no longer grows with the executions' time
(a saturated GPU), so it says nothing about how long one takes."""

SLOPE_T = 3.0
"""Standard errors the service law's slope must span to be extrapolated (read beyond
the batches seen): 3 knows it to within a third."""

MIN_MEASURED = 3
"""Samples at the largest batch seen (within :data:`CEILING_CLOSE` of it) enough to
measure its capacity directly."""

SERVICE_SHARE_OF_TARGET = 0.25
"""Execution time a loaded replica may take, as a share of the latency target: a
request waits up to one execution and is served in one, within the half of the
target the queue may use."""


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
    batch_items: FloatArray
    """Items per execution (NaN without executions)."""
    settled: npt.NDArray[np.bool_]
    """The fleet was what had been asked for (no pod starting): a queue then says the
    fleet is short, not that it is still growing."""
    instances: int = 1
    """Model instances per replica (executions of one replica side by side)."""
    exec_ms: FloatArray | None = None
    """Mean time of one execution, ms, by the GPU busy fraction (busy seconds per
    execution; one instance per replica, GPU neither idle nor saturated), else NaN."""
    columns: HistoryColumns | None = None
    """The pipeline's columns these rows were read from, row for row from ``first`` on
    (None: the rows are not theirs as they are): what :func:`stored` caches on."""
    first: int = 0
    """Index in ``columns`` of the first row."""


def work_history(
    history: tuple[Observation, ...], instances: int, columns: HistoryColumns | None = None
) -> WorkHistory:
    """The history as arrays; ``instances`` model instances run in each replica.
    ``columns``: the pipeline's columns of ``history`` (``PolicyContext.columns``), if any.

    On the pipeline's columns each observation's arrays are computed once, when it
    arrives (:meth:`HistoryColumns.derived`), so a decision pays for one row."""
    cols: HistoryColumns | None = history_columns(history, columns)
    assert cols is not None
    rows = _work_rows(cols, instances)
    n = rows["times"].size
    if n > 1 and rows["unordered"][-1] != rows["unordered"][0]:
        # Times that do not increase (never from the pipeline): drop each row not later
        # than every row before it, and compute the rest afresh.
        raw = cols.matrix()
        times = raw[_F["time_s"]]
        keep = np.ones(times.size, dtype=bool)
        keep[1:] = times[1:] > np.maximum.accumulate(times)[:-1]
        rows = _rows(raw[:, keep], instances, None)
        cols = None
    work, backlog = rows["work"], rows["backlog"]
    known = rows["per_request"]
    if known.size and not np.isfinite(known[0]):
        # Items per request are carried forward over observations without completions;
        # before this history's first known value, that value stands in (1 without
        # any), not one from an observation older than the history.
        first = np.flatnonzero(np.isfinite(known))
        k, fill = (int(first[0]), float(known[first[0]])) if first.size else (known.size, 1.0)
        work, backlog = work.copy(), backlog.copy()
        work[:k] = rows["requests"][:k] * fill
        backlog[:k] = rows["pending"][:k] * fill
        cols = None
    return WorkHistory(
        rows["times"],
        rows["ready"],
        work,
        rows["capacity"],
        rows["service"],
        rows["queue"],
        backlog,
        rows["batch"],
        rows["settled"],
        instances,
        rows["exec_ms"],
        cols,
    )


def _work_rows(cols: HistoryColumns, instances: int) -> dict[str, npt.NDArray[Any]]:
    """:func:`_rows` of every row of ``cols``, each computed once (see
    :meth:`HistoryColumns.derived`)."""
    return cols.derived(
        ("work", instances),
        lambda raw, before: _rows(raw, instances, before),
        lambda raw, before: _row(raw, instances, before),
    )


StoredRows = Callable[[WorkHistory, int, dict[str, npt.NDArray[Any]] | None], dict[str, Any]]
"""Values of the rows of a :class:`WorkHistory` from ``start`` on, given the values
computed before for the rows before ``start`` (None: none)."""


def stored(
    h: WorkHistory, key: Hashable, compute: StoredRows
) -> dict[str, npt.NDArray[Any]] | None:
    """``compute``'s values for ``h``'s rows, computed once per row the pipeline stores
    instead of over hours of rows at every decision; None when ``h`` was not read from
    the pipeline's columns as it is (compute afresh then).

    ``compute`` is given every stored row up to ``h``'s last as a :class:`WorkHistory`
    (from the storage's first row: it may start before ``h``), the first row to compute
    and its earlier values, and must be causal (a row's values depend on it and on
    earlier rows only) and the same function for the same ``key``. Only the fields
    that each row carries on its own are meaningful in that history (``times``,
    ``ready``, ``settled``, ``queue_ms``, ...): its work before this history's first
    row may be carried differently. Values that depend on rows before ``h``'s first are
    the caller's to recompute (they are those of the storage's, longer, history)."""
    cols = h.columns
    if cols is None:
        return None
    return cols.stored_rows((key, h.instances), partial(_fill, h.instances, compute), h.first)


def _fill(
    instances: int,
    compute: StoredRows,
    whole: HistoryColumns,
    start: int,
    prior: dict[str, npt.NDArray[Any]] | None,
) -> dict[str, Any]:
    """``compute`` of the rows of ``whole`` (every stored row) from ``start`` on, read as
    a :class:`WorkHistory` (built once per set of rows: several keys ask for it)."""

    def everything() -> WorkHistory:
        r = _work_rows(whole, instances)
        return WorkHistory(
            r["times"],
            r["ready"],
            r["work"],
            r["capacity"],
            r["service"],
            r["queue"],
            r["backlog"],
            r["batch"],
            r["settled"],
            instances,
            r["exec_ms"],
        )

    return compute(whole.memo(("stored", instances), everything), start, prior)


def _rows(
    raw: FloatArray, instances: int, before: dict[str, Any] | None
) -> dict[str, npt.NDArray[Any]]:
    """What :func:`work_history` reads from each observation (rows of ``raw`` as
    :meth:`HistoryColumns.matrix`) given the values of the row before (``before``;
    None: none): the work and the backlog in items (requests × the last known items
    per request, 1 before any), and the count of rows so far whose time did not
    increase (``unordered``), besides what each row says on its own."""
    with np.errstate(invalid="ignore", divide="ignore"):
        # Every field at once: negative or non-finite values as NaN.
        valid = np.where((raw >= 0) & (raw < np.inf), raw, np.nan)
        times = raw[_F["time_s"]]
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
        carried = np.concatenate(([math.nan if before is None else before["carried"]], per_request))
        idx = np.where(np.isfinite(carried), np.arange(carried.size), 0)
        np.maximum.accumulate(idx, out=idx)
        carried = carried[idx][1:]
        factor = np.where(np.isfinite(carried), carried, 1.0)
        # Arrivals in front of the fleet when they are measured: completions stop
        # growing at capacity, so they understate an overload. A front counter that
        # is 0 while replicas serve is not "no arrivals": Envoy's none_healthy
        # counter (the examples' activationMetric) moves only at zero endpoints.
        serving = ready > 0
        front_counts = np.isfinite(front) & ((front > 0) | ~serving)
        requests = np.where(front_counts, front, served)
        per_exec = np.where(execs > 0, items / execs, np.nan)
        by_compute = instances * per_exec / (compute / 1000.0)
        by_busy = items / (np.minimum(busy, 1.0) * ready)
        by_compute = np.where((compute > 0) & (items > 0), by_compute, np.nan)
        by_busy = np.where((busy >= 0.1) & serving & (items > 0), by_busy, np.nan)
        computed = np.isfinite(by_compute)
        by_gpu = busy * ready * 1000.0 / execs
        by_gpu = np.where(
            (instances == 1) & (busy >= 0.1) & (busy <= BUSY_MAX) & (execs > 0) & serving,
            by_gpu,
            np.nan,
        )
        later = np.empty(times.size, dtype=bool)
        if times.size:
            later[0] = before is None or times[0] > before["times"]
            later[1:] = times[1:] > times[:-1]
        unordered = np.cumsum(~later) + (0 if before is None else before["unordered"])
        return {
            "times": times,
            "ready": ready,
            "per_request": per_request,
            "carried": carried,
            "requests": requests,
            "pending": pending,
            "work": requests * factor,
            "backlog": pending * factor,
            "capacity": np.where(computed, by_compute, by_busy),
            "service": np.where(computed, compute, np.nan),
            "queue": np.where(serving, valid[_F["queue_time_per_request_ms"]], np.nan),
            "batch": np.where(execs > 0, per_exec, np.nan),
            "settled": ~(desired > ready),
            "exec_ms": by_gpu,
            "unordered": unordered,
        }


_NAN = math.nan
_T, _READY, _DESIRED = _F["time_s"], _F["ready_replicas"], _F["desired_replicas"]
_SERVED, _FRONT, _ITEMS = _F["request_rate_rps"], _F["activation_rps"], _F["items_per_s"]
_EXECS, _COMPUTE = _F["execs_per_s"], _F["compute_time_per_request_ms"]
_BUSY, _PENDING, _QUEUE = (
    _F["gpu_utilization"],
    _F["pending_requests"],
    _F["queue_time_per_request_ms"],
)


def _valid(x: float) -> float:
    return x if 0 <= x < math.inf else _NAN


def _row(raw: list[float], instances: int, before: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`_rows` of one row after a stored one, on Python floats: the same IEEE
    operations in the same order, so the same values (a test compares them)."""
    time = raw[_T]
    ready = _valid(raw[_READY])
    desired = raw[_DESIRED]
    served = _valid(raw[_SERVED])
    front = _valid(raw[_FRONT])
    items = _valid(raw[_ITEMS])
    execs = _valid(raw[_EXECS])
    compute = _valid(raw[_COMPUTE])
    busy = _valid(raw[_BUSY])
    pending = _valid(raw[_PENDING])
    per_request = items / served if served > 0 else _NAN
    carried = per_request if math.isfinite(per_request) else float(before["carried"])
    factor = carried if math.isfinite(carried) else 1.0
    serving = ready > 0
    requests = front if math.isfinite(front) and (front > 0 or not serving) else served
    per_exec = items / execs if execs > 0 else _NAN
    compute_s = compute / 1000.0
    # A compute time so small that it is 0 in seconds (subnormal) reads as no reading,
    # as the block path's inf does.
    by_compute = instances * per_exec / compute_s if compute_s > 0 and items > 0 else _NAN
    computed = math.isfinite(by_compute)
    if computed:
        capacity = by_compute
    elif busy >= 0.1 and serving and items > 0:
        capacity = items / (min(busy, 1.0) * ready)
    else:
        capacity = _NAN
    exec_ms = _NAN
    if instances == 1 and 0.1 <= busy <= BUSY_MAX and execs > 0 and serving:
        exec_ms = busy * ready * 1000.0 / execs
    return {
        "times": time,
        "ready": ready,
        "per_request": per_request,
        "carried": carried,
        "requests": requests,
        "pending": pending,
        "work": requests * factor,
        "backlog": pending * factor,
        "capacity": capacity,
        "service": compute if computed else _NAN,
        "queue": _valid(raw[_QUEUE]) if serving else _NAN,
        "batch": per_exec if execs > 0 else _NAN,
        "settled": not desired > ready,
        "exec_ms": exec_ms,
        "unordered": int(before["unordered"]) + (0 if time > before["times"] else 1),
    }


def since(h: WorkHistory, start_s: float) -> WorkHistory:
    """The samples at or after ``start_s`` (views, no copy): times are strictly
    increasing, so the window is found by bisection instead of a mask over hours."""
    i = int(np.searchsorted(h.times, start_s, side="left"))
    if i == 0:
        return h
    return WorkHistory(
        h.times[i:],
        h.ready[i:],
        h.work[i:],
        h.capacity[i:],
        h.service_ms[i:],
        h.queue_ms[i:],
        h.backlog_items[i:],
        h.batch_items[i:],
        h.settled[i:],
        h.instances,
        None if h.exec_ms is None else h.exec_ms[i:],
        h.columns,
        h.first + i,
    )


@dataclass(frozen=True, slots=True)
class Capacity:
    """Items/s one replica serves with full batches, and the execution time then."""

    items_s: float
    service_ms: float
    samples: int
    batch_items: float = math.nan
    """Items per execution the capacity is read at (NaN: read directly, no fit)."""
    seen_full: bool = False
    """A queue showed the batcher's largest batch (else it is bounded by the SLO)."""
    fitted: bool = False
    """The service law was fitted (enough samples over enough batch sizes)."""
    batches_vary: bool = False
    """Items per execution vary with load (else batches are set by the requests, and
    the direct reading is what a loaded replica does)."""


def _capacity_samples(
    h: WorkHistory, start: int, prior: dict[str, npt.NDArray[Any]] | None
) -> dict[str, Any]:
    """Per row from ``start``: whether it shows a capacity (``use``: a positive
    capacity reading, known work, replicas serving), whether it also shows the service
    law (``fit``: a batch size and a service time), and its work per replica (``load``;
    computed once per row, see :func:`stored`)."""
    if prior is not None and start == h.times.size - 1:  # one new row: every decision
        c, w, r = h.capacity[start], h.work[start], h.ready[start]
        b, s = h.batch_items[start], h.service_ms[start]
        one = bool(math.isfinite(c) and c > 0 and math.isfinite(w) and r > 0)
        fits = one and bool(math.isfinite(b) and b > 0 and s > 0)
        per = w / r if r > 0 else math.nan  # read only where replicas serve
        return {"use": one, "fit": fits, "load": per}
    cap, work, ready = h.capacity[start:], h.work[start:], h.ready[start:]
    batch, service = h.batch_items[start:], h.service_ms[start:]
    use = np.isfinite(cap) & (cap > 0)
    use &= np.isfinite(work) & (ready > 0)
    fit = use & np.isfinite(batch) & (batch > 0) & (service > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        load = work / ready
    return {"use": use, "fit": fit, "load": load}


def _direct(
    h: WorkHistory, use: npt.NDArray[np.bool_] | None, load: FloatArray
) -> tuple[float, float]:
    """(capacity, execution ms) read directly from the most loaded samples (``use``;
    None: every one) (``load``: their work per replica)."""
    top = load >= quantile(load, LOADED_QUANTILE)
    capacity, service = h.capacity, h.service_ms
    if use is not None:
        capacity, service = capacity[use], service[use]
    cap = median(capacity[top])
    service = service[top]
    service = service[np.isfinite(service)]
    return cap, median(service) if service.size else math.nan


def _slope(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    """Least-squares slope of ``y`` on ``x`` and its standard error (from the scatter
    around the line). The busy-time samples scatter both ways around the law (a
    one-second busy fraction over a 30 s execution rate), which a mean averages out; a
    median of pairwise slopes wandered by 3x between windows."""
    dx = x - x.mean()
    var = float(np.dot(dx, dx))
    if not var > 0:
        return 0.0, math.inf
    slope = float(np.dot(dx, y - y.mean()) / var)
    if x.size < 3:
        return slope, math.inf
    # Rows 5 s apart share most of their 30 s rate window, so their scatter is not
    # independent and this error reads smaller than it is: a bound, not a test.
    resid = y - y.mean() - slope * dx
    return slope, math.sqrt(float(np.dot(resid, resid)) / (x.size - 2) / var)


def learned_capacity(
    h: WorkHistory, now_s: float, window_s: float, target_ms: float | None = None
) -> Capacity | None:
    """Capacity from the window's samples.

    Directly: items per execution over the execution time, from the most loaded
    samples, where batches are fullest. (Each request reports its batch's time, so on
    lightly loaded replicas many small requests in small batches would weigh in too
    much, in either direction.)

    From the service law, when the samples span batch sizes and ``target_ms`` is
    given: ``b / (base + per_item × b)`` at the batch ``b`` a loaded replica runs.
    Once an overload has been seen (a mean queue time of half the target: the
    batcher then fills batches to the model's maximum), that is the largest batch
    seen; before, load would grow batches until an execution takes a quarter of the
    target (wait one, serve one, within the queue's half), so it is read there, never
    below the largest batch seen. The line needs :data:`FIT_SPAN_S` of samples over
    batch sizes that vary with load. The higher of the two readings counts: each is
    evidence the replica does at least that much.

    Two limits keep the line from overruling what was measured. At a batch the
    samples ran (the largest seen, once overloaded or piled up at the model's
    maximum), the capacity is the median those rows measured (:data:`MIN_MEASURED` of
    them at least), not the line read there. And the line is read beyond the batches
    seen only when its slope is at least :data:`SLOPE_T` standard errors; else the
    direct reading, which errs low, stands.
    """
    h = since(h, now_s - window_s)
    flags = stored(h, "capacity samples", _capacity_samples)
    if flags is None:
        flags = _capacity_samples(h, 0, None)
    use = flags["use"]
    n = int(np.count_nonzero(use))
    if n == 0:
        return None
    if n == use.size:  # every sample (the usual case): no copies to take
        cap, service = _direct(h, None, flags["load"])
    else:
        cap, service = _direct(h, use, flags["load"][use])
    if target_ms is None:
        return Capacity(cap, service, n)
    fit = flags["fit"]
    b = h.batch_items[fit]
    varies = bool(b.size) and bool(b.max() >= MIN_BATCH_SPREAD * b.min())
    if not varies or h.times[fit][-1] - h.times[fit][0] < FIT_SPAN_S:
        return Capacity(cap, service, n, batches_vary=varies)
    line_b, line_c = b, h.service_ms[fit]
    if h.exec_ms is not None:
        # Each request reports its batch's time, so the per-request mean weighs large
        # batches more (by items): a line through it reads the per-item cost high. Busy
        # time per execution weighs every execution once, as the law is meant. (Only
        # the line: a saturated GPU's samples, left out of it, still show the batches.)
        e = h.exec_ms[fit]
        ok = np.isfinite(e)
        if ok.sum() >= 0.5 * ok.size and bool(b[ok].max() >= MIN_BATCH_SPREAD * b[ok].min()):
            line_b, line_c = b[ok], e[ok]
    per_item, spread = _slope(line_b, line_c)
    if not per_item > 0:
        return Capacity(cap, service, n)
    base = max(median(line_c - per_item * line_b), 0.0)
    with np.errstate(invalid="ignore"):
        full = h.queue_ms[fit] >= FULL_QUEUE_SHARE * target_ms
    largest = float(b.max())
    batch = largest
    # Batches piled up at the largest seen are at the model's maximum batch (LIGO's
    # online frames: every execution 128 items): they cannot grow with load, and a
    # line through them and a few odd samples (a burst's mixed requests) is no law.
    at_ceiling = np.count_nonzero(b >= CEILING_CLOSE * largest) / b.size >= CEILING_SHARE
    if not full.any() and not at_ceiling:
        by_target = (SERVICE_SHARE_OF_TARGET * target_ms - base) / per_item
        if by_target > largest and per_item < SLOPE_T * spread:
            # Read where load would grow the batches, far beyond those seen, a slope
            # its own scatter cannot pin down multiplies its error: a conversation
            # trace's warm fleet (batches of 2-15 items, 0.028 +- 0.012 ms per item for
            # the simulator's 0.092) read 34,600 items/s per replica for 10,427 and cut
            # the fleet from 12 to 5 under work needing 13.
            return Capacity(cap, service, n, batches_vary=True)
        batch = max(largest, by_target)
    else:
        # The batch read at is one the samples ran: what those executions did is
        # measured, where the line is an estimate drawn mostly through smaller batches
        # (a conversation trace's warm fleet: its line, 0.026 ms per item for the
        # simulator's 0.092, read 29,000 items/s at 128 items where those rows measured
        # 10,427, and the fleet was cut from 14 to 11 under work needing 15-17).
        at = b >= CEILING_CLOSE * largest
        if np.count_nonzero(at) >= MIN_MEASURED:
            return Capacity(
                max(median(h.capacity[fit][at]), cap),
                median(h.service_ms[fit][at]),
                n,
                batch_items=largest,
                seen_full=bool(full.any()),
                fitted=True,
                batches_vary=True,
            )
    per_exec_ms = base + per_item * batch
    fitted = h.instances * batch / per_exec_ms * 1000.0
    if fitted > cap:
        return Capacity(fitted, per_exec_ms, n, batch, bool(full.any()), True, True)
    return Capacity(cap, service, n, fitted=True, batches_vary=True)
