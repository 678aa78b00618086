"""Adaptive policy: the untuned default. Sizes the fleet for the work that arrives, at
the capacity Triton's own counters show, with headroom from the SLO.

Each decision, from the latest observation and the history the pipeline keeps:

1. **Capacity per replica**, learned online (no prior to set): a replica's model
   instances complete ``items_per_s / execs_per_s`` batch items per execution, each
   execution taking ``compute_time_per_request_ms`` (the batch time every request of
   it reports), so one replica serves ``instances × items per execution / execution
   time`` items/s, read from the most loaded tenth of the samples of
   ``capacityWindowSeconds`` (:mod:`policies.work`): there batches are fullest, which
   is what a replica does when capacity matters. This is
   the quantity the oracle sizes with; nothing here depends on the fleet's size, so
   more replicas cannot make capacity look smaller (the ratchet that a busy-fraction
   estimate has). Without compute counters the GPU busy fraction stands in. Where
   batch sizes vary with load, the service law (execution time = base + per item ×
   items) is fitted over 15 min of samples and read at the batch a loaded replica
   runs: a lightly loaded fleet's small batches otherwise read half its capacity.
2. **Work arriving**, items/s: the request rate in front of the fleet (the proxy's
   ``activation_rps`` when there is one, else completions) times items per request.
   The highest rate of the last ``peakHoldSeconds`` (at least ``leadTimeSeconds``,
   the time a pod ordered now takes to serve: a dip shorter than that is cheaper to
   keep GPUs through than to boot across) is what the fleet is sized for, so bursts
   and square waves are provisioned for, not chased. No trend is extrapolated: on
   the step-shaped loads of batch campaigns a fitted trend overshoots by the step.
   Only the lag of the rate itself is made up: while the rate has risen at each of
   the last 3 scrapes, the work is taken to be half a rate window's rise (at the
   slowest of those rises) above its rate, with the SLO's spare (a 30 s rate trails
   a ramp by 15 s; LIGO's campaign was ordered in full 25 s after it began).
   One exception: a **dip** (work below anything the last 12 h showed before it, as
   when a detector stream stops) is sized for the level before it until it has
   lasted 8 start-ups (at least ``leadTimeSeconds``; learned from how long the ready
   count took to rise after the work needed more): giving GPUs back costs a
   start-up of queueing when the work returns. A return to a level seen before (the
   end of a peak) is no dip; "below anything" is below the lowest level kept for a
   30 s rate window, so one odd scrape hides no dip, and work that stops is one.
   On **on/off traffic** (a twentieth or more of the last 30 min's rate readings
   see no work, as on Azure's code trace) the highest rate of those 30 min is held
   instead: bursts recur after gaps longer than the hold, and a fleet given back in
   a lull meets the next burst a start-up short (Azure's code trace at 60 s start-up:
   the fleet fell from 12 to 6 in a 6-minute lull and the next burst, 9 GPUs, put
   3.4 % of the requests over the SLO).
3. **Headroom from the SLO**: with ``S`` the execution time at full batches and
   ``T = targetMs``, a fleet of ``R`` replicas' worth of work plus ``h`` spare
   instances lets a queue wait longer than ``T − S`` only with probability
   ≈ exp(−h (T − S) / S) (many-server queue, exponential tail), so
   ``h = ln(100) · S / (T − S)`` spare instances keep the 99th percentile within
   the target. It is additive: large fleets do not pay a percentage of spare.
   When the work itself jumps from second to second more than that (bursty
   arrivals a 30 s rate averages away), the spare is instead 2.33 standard
   deviations of one-second work (its 99th percentile), estimated from how rates
   over disjoint windows of the last 30 min differ, at most the highest work of
   those 30 min. Not on on/off traffic: there rates of disjoint windows differ by
   the bursts' whole level (a burst against silence), which the held burst level
   already provisions, so a noise spare on top counted the bursts twice (12-13 GPUs
   on Azure's code trace where a static 10 serves 98.9 % of requests).
4. **Queue reaction** for what the rate cannot show (bursts inside a scrape, a
   capacity that dropped): mean queue time per request asks for
   ``ready × queue / (targetMs / 2)`` (counted up to 4×), held like the work. Only
   queues measured on a settled fleet count (for 60 s no pod starting, the same
   ready count, no backlog beyond the queue target): a queue left by a step that
   the work rate already answers, or measured while ordered pods start, would
   otherwise be multiplied again by the growing fleet. Settled queues of the last
   12 h seen under comparable work (within 2×, scaled to today's work) are
   remembered by their median, so after a campaign or a lock loss the fleet returns
   to what the online load needs (2 GPUs for LIGO's frames) instead of to what the
   rate alone says and queueing for a start-up again. A backlog asks for what
   drains it within 30 s once served (at most the fleet again): its size is the
   pending items or, when requests time out of the queue, the work times the mean
   queue time. A queue over the target for a minute on an unchanged fleet asks for
   15 % more than it has, even behind a backlog: completions stop at capacity, so a
   fleet just short of the work (10 replicas for a need of 11) reads as just
   enough, inside the HPA's tolerance.

A fleet handed over (a restarted scaler, a warm start) is kept, unless its queue or
backlog says it is short, until the history covers the hold. Short and saturated (the
GPU busy fraction at least 0.95 over the last rate window), it grows at once to what
the work needs: its batches are then full, so the capacity it reads is a loaded
replica's. Short only in its busiest seconds (busy 0.3-1 from second to second), it
reads its capacity off small batches and keeps to the queue's own evidence. The rows
of the capacity window whose queue filled every batch (a mean queue of half the
target) keep counting their capacity after they have left the most loaded tenth.
Where batch sizes vary
with load and the service law is not learned yet, the answer is at most what the most
work per replica served within the queue target says (the direct reading errs low).

At zero replicas only the proxy rate exists: above ``activationRps`` (or with any
request pending) the fleet wakes to what that rate needs at the last learned
capacity, at least one replica.

Pure: no clock, no I/O; everything about the past comes from ``ctx.history``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from bisect import bisect_left, bisect_right, insort
from typing import Any, ClassVar, NamedTuple

import numpy as np
import numpy.typing as npt
from pydantic import Field

from policies.base import PolicyContext, PolicyParams
from policies.decision import Recommendation
from policies.forecast import FloatArray
from policies.observation import Observation
from policies.stats import median
from policies.work import (
    FIT_SPAN_S,
    FULL_QUEUE_SHARE,
    Capacity,
    WorkHistory,
    learned_capacity,
    since,
    stored,
    work_history,
)

TAIL_FACTOR = math.log(100.0)
"""ln(1 / 1 %): spare capacity, in execution times, that keeps the 99th percentile
of queueing within the slack an SLO leaves after service (exponential tail)."""

SETTLE_S = 60.0
"""Seconds a queue sample's fleet must have been unchanged, complete and without a
backlog for the queue reaction to count it: the rate window (30 s by default) must
not mix in a backlog or another fleet size."""

QUEUE_SHARE = 0.5
"""Share of ``targetMs`` the mean queue time per request may take: with work
arriving in bursts the last request waits about twice the mean."""

SIMILAR_WORK_LOG = math.log(2.0)
"""Work within this factor of the held work is comparable for the queue reaction's
memory."""

QUEUE_MEMORY_S = 12 * 3600.0
"""Seconds of settled queues the queue reaction remembers: longer than a long campaign
and the dip hold after it, so what the online load needs is still known when the fleet
falls back. 6 h was too short for a 6.3 h LIGO campaign at 240 s start-up (its 32 min
hold ended with the memory inside the campaign: the fleet fell to 1 GPU where the
frames need 2, and queued for a start-up: 0.11 % of the day's requests, 6 windows).
It is also the history the policy keeps (``history_s``)."""

NOISE_Z = 2.33
"""Standard deviations of one-second work the spare covers (the 99th percentile)."""

NOISE_WINDOW_S = 1_800.0
"""Seconds of history the one-second noise of the work is measured over."""

ON_OFF_SHARE = 0.05
"""Share of rate readings with no work that makes traffic on/off (Azure's code trace: a
third to two fifths of its 30 s windows are empty; its conversation trace and the
LIGO, World Cup traces none). There the highest work of the last
:data:`NOISE_WINDOW_S` is held and no one-second noise spare is added
(:func:`_burst_level`); elsewhere the noise spare is capped at the highest work of that
window. Capped at the held work on Azure's conversation trace (its single seconds reach
3x their 30 s rate: 142,683 items/s in a minute averaging 40,061), the spare fell with
the easing load at 240 s start-up, the fleet went from 14 to 11 GPUs in the last
minutes, and one second needing 14 put 0.12 % of requests over the SLO. On Azure's code
trace, the 5 min hold with a noise spare of up to the held work kept 12 GPUs for 25
minutes, gave half back in a lull and met the next burst short (96.56 % of requests
for 5.58 GPU-h at 60 s start-up, where a static 9 serves 96.87 % for 4.45); holding the
30 min burst level without the spare: 100 % for 5.01 GPU-h (a static 12: 5.93)."""

RATE_WINDOW_S = 30.0
"""The rate() window the work is measured with (the scaler's default
``rateWindowSeconds``): rates this far apart average disjoint seconds."""

QUEUE_CAP = 4.0
"""Largest queue / target ratio the queue reaction counts, so a backlog left from a
burst does not send the fleet to its maximum."""

DIP_STARTUPS = 8.0
"""Start-ups a drop of the work is kept through before the fleet follows it: a pod
given back during a dip that ends costs a start-up of queueing when the work
returns, so the longer pods take to start the longer a dip is worth keeping GPUs
through (ski rental). 8 start-ups of 4 min keep a detector's 30 min lock loss."""

DRAIN_S = 30.0
"""Seconds a backlog should take to drain once the replicas ordered for it serve:
while it lasts, nearly every request waits behind it and misses the SLO (60 s lost
0.02 % more of a LIGO test day's requests at the campaign's start, 240 s start-up)."""

PRESSURE_SHARE = 0.75
"""Share of the samples of the last :data:`SETTLE_S` whose mean queue time per request
must exceed the queue target for the queue to count as persistent (a fleet short of
what the work needs, not one burst)."""

PRESSURE_STEP = 1.15
"""Ready replicas × this is asked for when a queue persists on an unchanged fleet:
more than the HPA's 10 % tolerance, or a fleet one replica short (10 for a need of
11) would never be scaled."""

STARTUP_MAX_S = 1_800.0
"""Longest time from work needing more replicas to the ready count rising that is read
as a start-up (longer: the rise answered something else)."""

OVERLOADED_ROWS = 6
"""Overloaded rows (a rate window's worth at a 5 s refresh) the window must hold for
their capacity reading to count (:func:`_with_overloaded`)."""

SATURATED_BUSY = 0.95
"""Mean GPU busy fraction over the last rate window above which a fleet is saturated: a
one-second gauge, it reads 0.3-1 from second to second on a fleet short only in its
busiest seconds (Azure's conversation trace, a warm fleet of 13) and 1 at every sample
on one short of the work (a fleet of 2 where 9 are needed)."""

MAX_SPARE_INSTANCES = 4.0
"""Spare instances when the SLO barely exceeds the service time (the formula's
limit): past this, more GPUs cannot shorten a batch."""


class AdaptiveParams(PolicyParams):
    """Settings of the adaptive policy (metadata keys in camelCase). Every one has a
    default that needs no tuning; ``targetMs`` is the SLO the fleet is sized for."""

    target_ms: float = Field(
        default=100.0,
        gt=0,
        le=600_000,
        description="Latency target (ms) the 99th percentile of requests should meet.",
    )
    lead_time_seconds: float = Field(
        default=240.0,
        ge=0,
        le=3_600,
        description="Seconds from ordering a pod to it serving (start-up + KEDA poll + "
        "HPA sync), at least: the shortest hold, and a dip is kept for 8 of these (or of "
        "the longer start-ups seen). 240: GPU pods loading a model often take minutes.",
    )
    peak_hold_seconds: float = Field(
        default=300.0,
        ge=0,
        le=7_200,
        description="Seconds the highest need is held, so bursts and square waves are "
        "provisioned for instead of chased.",
    )
    capacity_window_seconds: float = Field(
        default=3_600.0,
        ge=60,
        le=86_400,
        description="Seconds of history the per-replica capacity is learned from.",
    )
    instances_per_replica: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Model instances per replica (Triton instance_group count): "
        "executions of one replica that run at the same time.",
        json_schema_extra={"deployment": True},
    )
    activation_rps: float = Field(
        default=0.0,
        ge=0,
        description="Wake from zero when the request rate in front of the fleet "
        "(req/s) exceeds this, or any request is pending.",
    )


def _second_noise(h: WorkHistory, now_s: float) -> float:
    """Standard deviation of the work over one second (items/s), from how rates over
    non-overlapping rate windows differ: a one-second burst that the 30 s rate
    averages away still queues. Robust (median absolute difference)."""
    h = since(h, now_s - NOISE_WINDOW_S)
    kept = stored(h, ("noise", RATE_WINDOW_S), _noise_rows)
    if kept is not None:
        # Each row's difference from the last known work a rate window before it is
        # kept per row; it counts when that row is in this window.
        finite = np.isfinite(h.work)
        if np.count_nonzero(finite) < 8:
            return 0.0
        ok = finite & (np.arange(finite.size) - kept["back"] >= 0)
        if np.count_nonzero(ok) < 4:
            return 0.0
        sigma = 1.4826 * median(kept["diff"][ok]) / math.sqrt(2.0)
        return sigma * math.sqrt(RATE_WINDOW_S)
    use = np.isfinite(h.work)
    t, w = h.times[use], h.work[use]
    if t.size < 8:
        return 0.0
    j = np.searchsorted(t, t - RATE_WINDOW_S, side="right") - 1
    ok = j >= 0
    if ok.sum() < 4:
        return 0.0
    d = w[ok] - w[j[ok]]
    sigma_window = 1.4826 * median(np.abs(d)) / math.sqrt(2.0)
    return sigma_window * math.sqrt(RATE_WINDOW_S)


def _window_work(h: WorkHistory, now_s: float) -> FloatArray:
    """The known work readings (items/s) of the last :data:`NOISE_WINDOW_S`, the window
    the one-second noise is measured over."""
    w = since(h, now_s - NOISE_WINDOW_S).work
    known: FloatArray = w[np.isfinite(w)]
    return known


def _burst_level(known: FloatArray) -> float | None:
    """The highest of the work readings ``known`` (:func:`_window_work`) when the traffic
    is on/off (at least :data:`ON_OFF_SHARE` of them saw no work), else None. On such
    traffic a burst's level recurs after gaps longer than the hold, so it is held for
    the whole window; and the one-second noise measured there is the switching between
    bursts and silence itself (rates of disjoint windows differ by the burst's level),
    which that held level already provisions."""
    if not known.size or np.count_nonzero(known <= 0.0) < ON_OFF_SHARE * known.size:
        return None
    return float(known.max())


def _noise_cap(known: FloatArray, held_work: float) -> float:
    """Largest one-second noise spare (items/s) on continuous traffic: the highest of the
    work readings ``known`` (:func:`_window_work`), the window the noise is measured
    over, so a load that eases within it keeps the spare its seconds showed."""
    if not known.size:
        return held_work
    return max(held_work, float(known.max()))


def _noise_rows(
    h: WorkHistory, start: int, prior: dict[str, npt.NDArray[Any]] | None
) -> dict[str, Any]:
    """Per row from ``start``: the last row with known work at or before it, how many
    rows back the last one with known work a rate window earlier is (``back``; past
    the first row: none), and the absolute difference of their work (``diff``)."""
    t, w = h.times, h.work
    n = t.size
    if prior is not None and start == n - 1:  # one new row: every decision
        r = start
        lf = r if math.isfinite(w[r]) else int(prior["last_finite"][-1])
        q1 = int(np.searchsorted(t, t[r] - RATE_WINDOW_S, side="right")) - 1
        j1 = int(prior["last_finite"][q1]) if q1 >= 0 else -1
        diff = abs(w[r] - w[j1]) if j1 >= 0 else math.nan
        return {"last_finite": lf, "back": r - j1, "diff": diff}
    rows = np.arange(start, n)
    lf_new = np.maximum.accumulate(np.where(np.isfinite(w[start:]), rows, -1))
    if prior is not None:
        lf_new = np.maximum(lf_new, prior["last_finite"][-1])
        lf_all = np.concatenate((prior["last_finite"], lf_new))
    else:
        lf_all = lf_new
    q = np.searchsorted(t, t[start:] - RATE_WINDOW_S, side="right") - 1
    j = np.where(q >= 0, lf_all[np.maximum(q, 0)], -1)
    diff = np.where(j >= 0, np.abs(w[start:] - w[np.maximum(j, 0)]), math.nan)
    return {"last_finite": lf_new, "back": rows - j, "diff": diff}


def _startup_seen(h: WorkHistory, fallback_s: float, cap_items_s: float | None = None) -> float:
    """Seconds the fleet took to become what was ordered, at least ``fallback_s`` (the
    configured lead). Where the desired count is known (the server sees it only at
    zero ready replicas), the longest stretch with fewer ready replicas than desired
    that has ended. Else, from the ready count's rises: the median time from the
    moment the work first needed more than the ready replicas (at ``cap_items_s``
    per replica) to the rise; rises the work did not call for (a queue's) are left
    out."""
    seen = fallback_s
    if not h.settled.all():
        waiting = np.zeros(h.settled.size + 2, dtype=np.int8)  # np.r_ costs ~20x this
        waiting[1:-1] = ~h.settled
        edges = np.diff(waiting)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        done = ends < h.times.size
        if done.any():
            spans = h.times[ends[done]] - h.times[starts[done]]
            seen = max(float(spans.max()), seen)
    if cap_items_s is None or not cap_items_s > 0 or h.times.size < 2:
        return seen
    r = h.ready
    if h.columns is not None:
        return _startup_from_rows(h, cap_items_s, seen)
    with np.errstate(invalid="ignore"):
        short = h.work / cap_items_s > r
    idx = np.arange(r.size)
    last_fine = np.maximum.accumulate(np.where(short, -1, idx))
    rises = np.flatnonzero((r[1:] > r[:-1]) & short[:-1]) + 1
    rises = rises[last_fine[rises - 1] >= 0]
    if not rises.size:
        return seen
    fine_before = last_fine[rises - 1]
    leads = h.times[rises] - h.times[fine_before + 1]
    leads = leads[leads <= STARTUP_MAX_S]
    if leads.size:
        seen = max(seen, median(leads))
    return seen


class _StartupRows:
    """What :func:`_startup_seen` reads of the rows of one history storage (kept with it,
    :meth:`~policies.history.HistoryColumns.carried`), by storage row: the rows where
    the ready count rose from the row before (``rise``, rows ``[rise_lo, rise_hi)``
    examined), and the rows where the work did not need more than the ready replicas at
    capacity ``cap`` (``fine``, rows ``[fine_lo, fine_hi)``). Stored rows never change,
    so each row is examined once (again only when the capacity changes: a few hundred
    times a day), instead of 12 h of rows at every decision. Both lists increase."""

    __slots__ = ("cap", "fine", "fine_hi", "fine_lo", "rise", "rise_hi", "rise_lo")

    def __init__(self) -> None:
        self.rise: list[int] = []
        self.rise_lo = self.rise_hi = 0
        self.cap = math.nan
        self.fine: list[int] = []
        self.fine_lo = self.fine_hi = 0


def _startup_from_rows(h: WorkHistory, cap_items_s: float, seen: float) -> float:
    """The rises part of :func:`_startup_seen` for a history read from the pipeline's
    columns, from :class:`_StartupRows`: the same rises, the same last row before each
    where the work did not need more (within ``h``), the same leads, so the same value.
    (The work over the capacity is compared with the ready count as Python floats or
    NumPy arrays: the same IEEE division and comparison, NaN never short.)"""
    cols = h.columns
    assert cols is not None
    r, work, times = h.ready, h.work, h.times
    n = times.size
    base = cols.offset + h.first  # storage row of h's first row
    end = base + n
    c = cols.carried("startup rows", _StartupRows)
    if not c.rise_lo <= base + 1 <= c.rise_hi:
        c.rise, c.rise_lo, c.rise_hi = [], base + 1, base + 1
    if end > c.rise_hi:
        i0 = c.rise_hi - base  # >= 1: each row is compared with the one before, in h
        if n - i0 == 1:
            if r[i0] > r[i0 - 1]:
                c.rise.append(c.rise_hi)
        else:
            c.rise.extend((np.flatnonzero(r[i0:] > r[i0 - 1 : -1]) + c.rise_hi).tolist())
        c.rise_hi = end
    if c.cap != cap_items_s or not c.fine_lo <= base <= c.fine_hi:
        c.cap, c.fine, c.fine_lo, c.fine_hi = cap_items_s, [], base, base
    if end > c.fine_hi:
        i0 = c.fine_hi - base
        if n - i0 == 1:
            if not float(work[i0]) / cap_items_s > float(r[i0]):
                c.fine.append(c.fine_hi)
        else:
            with np.errstate(invalid="ignore"):
                short = work[i0:] / cap_items_s > r[i0:]
            c.fine.extend((np.flatnonzero(~short) + c.fine_hi).tolist())
        c.fine_hi = end
    leads: list[float] = []
    fine = c.fine
    for row in c.rise[bisect_right(c.rise, base) : bisect_left(c.rise, end)]:
        i = row - base
        # A rise the work called for: it needed more than the ready replicas just before.
        if not float(work[i - 1]) / cap_items_s > float(r[i - 1]):
            continue
        k = bisect_right(fine, row - 1) - 1
        if k < 0 or fine[k] < base:
            continue
        lead = float(times[i] - times[fine[k] - base + 1])
        if lead <= STARTUP_MAX_S:
            leads.append(lead)
    if leads:
        seen = max(seen, median(np.array(leads)))
    return seen


def _block_max(
    h: WorkHistory, start: int, prior: dict[str, npt.NDArray[Any]] | None
) -> dict[str, Any]:
    """Per row: the rate window its time falls in (a float floor division, the slowest
    array operation of a decision: done once per row), whether the row starts one, and
    the highest work (non-finite as +inf) of its window up to the row."""
    times, work = h.times, h.work
    n = times.size
    if prior is not None and start == n - 1:  # one new row: every decision
        block = int(times[start] // RATE_WINDOW_S)
        opens = block != prior["block"][-1]
        w = work[start] if math.isfinite(work[start]) else math.inf
        top = w if opens else max(prior["running"][-1], w)
        return {"block": block, "opens": opens, "running": top}
    blocks = (times[start:] // RATE_WINDOW_S).astype(np.int64)
    opens = np.empty(blocks.size, dtype=bool)
    opens[:1] = prior is None or blocks[0] != prior["block"][-1]
    opens[1:] = blocks[1:] != blocks[:-1]
    ws = np.where(np.isfinite(work[start:]), work[start:], np.inf)
    running = np.empty(blocks.size)
    cuts = [0, *np.flatnonzero(opens).tolist(), blocks.size]
    for lo, hi in itertools.pairwise(cuts):
        if hi > lo:
            np.maximum.accumulate(ws[lo:hi], out=running[lo:hi])
    if blocks.size and not opens[0] and prior is not None:
        # The first rows continue the window the stored rows before them were in.
        k = int(cuts[1]) if len(cuts) > 2 else blocks.size
        np.maximum(running[:k], prior["running"][-1], out=running[:k])
    return {"block": blocks, "opens": opens, "running": running}


def _lowest_window_max(mem: WorkHistory, b: int) -> float:
    """The least over the rate windows of ``mem``'s first ``b`` rows of the highest work
    in each (non-finite as +inf): the first window from this history's rows, the others
    from the running maxima kept per row (:func:`_block_max`)."""
    cached = stored(mem, ("block max", RATE_WINDOW_S), _block_max)
    if cached is None:
        w = np.where(np.isfinite(mem.work[:b]), mem.work[:b], np.inf)
        block = (mem.times[:b] // RATE_WINDOW_S).astype(np.int64)
        blocks = np.flatnonzero(np.concatenate(([True], block[1:] != block[:-1])))
        return float(np.maximum.reduceat(w, blocks).min())
    # The windows that end in rows [0, b - 1) (row i ends one where row i + 1 opens one),
    # with their maxima, looked up by storage row instead of found among 12 h of rows.
    base, ends, maxima, lo, hi = _window_ends(mem, cached, b)
    e1 = int(ends[lo]) - base + 1 if hi > lo else b
    head = mem.work[:e1]
    low = float(np.where(np.isfinite(head), head, np.inf).max())
    if hi > lo:
        low = min(low, float(cached["running"][b - 1]))
        if hi - lo > 1:
            low = min(low, float(maxima[lo + 1 : hi].min()))
    return low


class _WindowEnds:
    """The rate windows of one history storage (kept with it,
    :meth:`~policies.history.HistoryColumns.carried`) that have ended, in storage rows
    ``[lo, hi)`` examined: each window's last row (``ends``, increasing) and its highest
    work (``maxima``, non-finite as +inf: :func:`_block_max`'s running maximum there),
    the first ``count`` of each array. Stored rows never change, so a window is
    recorded once, when the row after it opens the next."""

    __slots__ = ("count", "ends", "hi", "lo", "maxima")

    def __init__(self) -> None:
        self.ends = np.empty(_MIN_WINDOWS, dtype=np.int64)
        self.maxima = np.empty(_MIN_WINDOWS)
        self.count = self.lo = self.hi = 0

    def add(self, ends: npt.NDArray[np.int64], maxima: FloatArray) -> None:
        k = self.count + ends.size
        if k > self.ends.size:
            room = max(2 * self.ends.size, k)
            self.ends = np.concatenate(
                (self.ends[: self.count], np.empty(room - self.count, np.int64))
            )
            self.maxima = np.concatenate((self.maxima[: self.count], np.empty(room - self.count)))
        self.ends[self.count : k] = ends
        self.maxima[self.count : k] = maxima
        self.count = k


_MIN_WINDOWS = 256


def _window_ends(
    mem: WorkHistory, cached: dict[str, npt.NDArray[Any]], b: int
) -> tuple[int, npt.NDArray[np.int64], FloatArray, int, int]:
    """(base, ends, maxima, lo, hi): ``mem``'s first row in its storage, and the windows
    ``ends[lo:hi]`` (storage rows) and
    ``maxima[lo:hi]`` are those of :class:`_WindowEnds` that end in ``mem``'s rows
    ``[0, b - 1)``; ``cached``: :func:`_block_max` of ``mem``'s rows."""
    cols = mem.columns
    assert cols is not None
    base = cols.offset + mem.first  # storage row of mem's first row
    n = mem.times.size
    end = base + n
    c = cols.carried(("window ends", RATE_WINDOW_S), _WindowEnds)
    if not c.lo <= base + 1 <= c.hi:
        c.count, c.lo, c.hi = 0, base + 1, base + 1
    if end > c.hi:
        i0 = c.hi - base  # >= 1: rows of mem from here on are examined
        opens, running = cached["opens"], cached["running"]
        if n - i0 == 1:
            if opens[i0]:
                c.add(np.array([c.hi - 1]), running[i0 - 1 : i0])
        else:
            rows = np.flatnonzero(opens[i0:]) + (i0 - 1)  # mem rows that end a window
            c.add(rows + base, running[rows])
        c.hi = end
    ends = c.ends[: c.count]
    lo = int(np.searchsorted(ends, base, side="left"))
    hi = int(np.searchsorted(ends, base + b - 1, side="left"))
    return base, ends, c.maxima, lo, hi


def _dip_floor(
    h: WorkHistory, now_s: float, lead_s: float, held_work: float, cap_items_s: float | None
) -> float:
    """Work to keep sizing for through a dip (0: none). A dip is work below anything
    the last :data:`QUEUE_MEMORY_S` showed before it (a stream that stopped, not the
    end of a peak: that returns to a level seen before), for less than
    :data:`DIP_STARTUPS` start-ups. The floor is the highest work just before the
    drop, but no more than the lowest level the work kept to for as long before."""
    mem = since(h, now_s - QUEUE_MEMORY_S)
    hold_s = DIP_STARTUPS * _startup_seen(h, lead_s, cap_items_s)
    if not hold_s > 0:  # no lead time and no start-up seen: nothing to bridge
        return 0.0
    # Times increase: the rows before ``now_s - hold_s`` are the first ``b``.
    b = int(np.searchsorted(mem.times, now_s - hold_s, side="left"))
    if b < 8 or now_s - float(mem.times[0]) < 2 * hold_s:
        return 0.0
    # The lowest level the work kept for a rate window (the least of 30 s block
    # maxima), not the raw minimum: one odd scrape would hide every dip for 12 h.
    # Work that falls to 0 is a dip too (a stream that stopped).
    low = _lowest_window_max(mem, b)
    if not held_work < low:
        return 0.0
    w = np.where(np.isfinite(mem.work), mem.work, np.inf)
    before = mem.times < now_s - hold_s
    last = w[~before]
    last = last[np.isfinite(last)]
    if not last.size:
        return 0.0
    # Lowest ceiling over hold_s-long stretches before, from quarter-hold block maxima.
    t = mem.times[before]
    idx = ((t - t[0]) // (hold_s / 4.0)).astype(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], idx[1:] != idx[:-1])))
    peaks = np.maximum.reduceat(np.where(np.isfinite(w[before]), w[before], 0.0), starts)
    if peaks.size < 4:
        return 0.0
    ceiling = float(np.lib.stride_tricks.sliding_window_view(peaks, 4).max(axis=1).min())
    return min(float(last.max()), ceiling)


RISE_SAMPLES = 3
"""Consecutive rising scrapes of the work rate that show a steady rise (noise rarely
rises that many times in a row)."""


def _rise_lag(h: WorkHistory) -> float:
    """Items/s the latest work rate lags behind work that rises steadily: a rate over
    :data:`RATE_WINDOW_S` trails a ramp by half its window, so the rise of that half
    window is added, at the slowest of the last :data:`RISE_SAMPLES` increments (all
    must rise; the slowest bounds what noise or a step's end can add). At a 240 s
    start-up every second an order comes sooner is a second less of queueing: LIGO's
    campaign (work 5x in 50 s) was ordered in full 25 s after the rate began to
    rise."""
    n = RISE_SAMPLES
    if h.times.size < n + 1:
        return 0.0
    # Four rows: Python floats, the same IEEE operations as NumPy's diff and divide,
    # at a tenth the cost; NumPy's min is NaN if any slope is (then no lag).
    t, w = h.times[-n - 1 :].tolist(), h.work[-n - 1 :].tolist()
    if not all(map(math.isfinite, w)) or t[-1] - t[0] > RATE_WINDOW_S:
        return 0.0
    slopes = [(w[i + 1] - w[i]) / (t[i + 1] - t[i]) for i in range(n)]
    if any(map(math.isnan, slopes)):
        return 0.0
    slope = min(slopes)
    return slope * RATE_WINDOW_S / 2.0 if slope > 0 else 0.0


def _pressed(h: WorkHistory, q_target_ms: float) -> npt.NDArray[np.bool_]:
    """Samples ending :data:`SETTLE_S` of a persistent queue on an unchanged fleet: the
    same ready count (> 0), no pod known to be starting, and the mean queue time per
    request over ``q_target_ms`` in at least :data:`PRESSURE_SHARE` of the samples,
    the sample itself included.

    Each row is worked out once, when it arrives (:func:`stored`); the rows whose
    window or settling reaches back before this history's first row are those of
    :func:`_pressed_direct` over this history alone, as if it were all there is."""
    cached = _pressed_cache(h, q_target_ms)
    if cached is None:
        return _pressed_direct(h.times, h.ready, h.settled, h.queue_ms, q_target_ms)
    out = cached["pressed"].copy()
    m, head = _pressed_head(h, q_target_ms, cached)
    out[:m] = head
    return out


def _pressed_head(
    h: WorkHistory,
    q_target_ms: float,
    cached: dict[str, npt.NDArray[Any]],
    first_settle: int | None = None,
) -> tuple[int, npt.NDArray[np.bool_]]:
    """How many of ``h``'s first rows :func:`_pressed` works out on ``h`` alone, and their
    values (``cached``: :func:`_pressed_cache` of ``h``; ``first_settle``:
    :func:`_first_settle` of its times, if known): the later rows are the cached."""
    t = h.times
    n = t.size
    # Rows less than SETTLE_S after the first are never pressed here (the first row
    # counts as a change); from there on a row's window and settling lie inside this
    # history, unless rounding puts one a row before it: those are worked out again.
    m = _first_settle(t) if first_settle is None else first_settle
    back = cached["back"]
    if m < n and m - back[m] < 0:
        while m < n and m - back[m] < 0:
            m += 1
        return m, _pressed_direct(t[:m], h.ready[:m], h.settled[:m], h.queue_ms[:m], q_target_ms)
    return m, np.zeros(m, dtype=bool)


def _pressed_cache(h: WorkHistory, q_target_ms: float) -> dict[str, npt.NDArray[Any]] | None:
    """:func:`_pressed_rows` of ``h``'s rows, each computed once (None: not cached)."""
    return stored(
        h,
        ("pressed", q_target_ms),
        lambda w, start, prior: _pressed_rows(w, q_target_ms, start, prior),
    )


def _first_settle(t: FloatArray) -> int:
    """How many rows of ``t`` (increasing) are less than :data:`SETTLE_S` after the first."""
    n = t.size
    if not n:
        return 0
    t0 = t[0]
    m = int(np.searchsorted(t, t0 + SETTLE_S, side="left"))
    while m > 0 and t[m - 1] - t0 >= SETTLE_S:
        m -= 1
    while m < n and t[m] - t0 < SETTLE_S:
        m += 1
    return m


def _undisturbed(
    h: WorkHistory, overload: npt.NDArray[np.bool_] | None, q_target_ms: float
) -> npt.NDArray[np.bool_]:
    """Per row: at least :data:`SETTLE_S` since the fleet last changed its ready count,
    had a pod starting, or (``overload``, if given) a backlog it could not clear.

    The last change before each row is kept per row (:func:`_pressed_rows`); rows less
    than :data:`SETTLE_S` after this history's first are worked out on it alone (a
    change before it does not count)."""
    t = h.times
    cached = _pressed_cache(h, q_target_ms)
    if cached is None:
        m = t.size
        out = np.empty(m, dtype=bool)
    else:
        last = cached["last_change"]
        if overload is not None and overload.any():
            k0 = int(np.argmax(overload))
            last = last.copy()
            np.maximum(
                last[k0:],
                np.maximum.accumulate(np.where(overload[k0:], t[k0:], -math.inf)),
                out=last[k0:],
            )
        out = t - last >= SETTLE_S
        m = _first_settle(t)
    if m:
        out[:m] = _undisturbed_head(h, None if overload is None else overload[:m], m)
    return out


def _undisturbed_head(
    h: WorkHistory, overload: npt.NDArray[np.bool_] | None, m: int
) -> npt.NDArray[np.bool_]:
    """:func:`_undisturbed` of ``h``'s first ``m`` rows (``overload``: theirs) on them
    alone."""
    t = h.times
    disturbed = ~h.settled[:m]
    disturbed[1:] |= h.ready[1:m] != h.ready[: m - 1]
    if overload is not None:
        disturbed |= overload
    last_m = np.maximum.accumulate(np.where(disturbed, t[:m], -math.inf))
    out: npt.NDArray[np.bool_] = t[:m] - last_m >= SETTLE_S
    return out


def _overload(
    backlog: FloatArray, ready: FloatArray, cap_items_s: float, q_target_ms: float
) -> npt.NDArray[np.bool_]:
    """Rows whose backlog the fleet could not clear within the queue target at
    ``cap_items_s`` items/s per replica (NaN: not)."""
    with np.errstate(invalid="ignore"):
        out: npt.NDArray[np.bool_] = backlog > cap_items_s * ready * q_target_ms / 1000.0
    return out


def _queue_values(
    ready: FloatArray,
    queue_ms: FloatArray,
    pressed: npt.NDArray[np.bool_],
    undisturbed: npt.NDArray[np.bool_],
    q_target_ms: float,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Per row, what the queue reaction reads: the replicas its queue asks for (``ready
    × queue / target``, at most :data:`QUEUE_CAP` ×; where the queue persists on an
    unchanged fleet, at least :data:`PRESSURE_STEP` × ready) and whether it counts (a
    settled fleet's queue, or a persistent one)."""
    settled = np.isfinite(queue_ms) & (ready > 0)
    settled &= undisturbed
    with np.errstate(invalid="ignore", divide="ignore"):
        asked = ready * np.minimum(queue_ms / q_target_ms, QUEUE_CAP)
        # A persistent queue on an unchanged fleet asks for more than it has even
        # when a backlog (requests timing out) hides the cause: completions stop at
        # capacity, so a fleet just short of the work reads as just enough.
        asked = np.where(
            pressed, np.maximum(np.where(settled, asked, 0.0), ready * PRESSURE_STEP), asked
        )
    settled |= pressed
    return asked, settled


class _QueueRows:
    """:func:`_queue_values` of the rows of one history storage (kept with it,
    :meth:`~policies.history.HistoryColumns.carried`) for one capacity ``cap`` (None: not
    learned), by storage row, rows ``[lo, hi)`` done: the replicas asked (``asked``),
    whether the row counts (``counts``), and whether its fleet was undisturbed
    (``undisturbed``, with overloads at ``cap`` since row ``lo``; ``overload_s``: the last
    overload's time so far). Stored rows never change, so each row is worked out once
    while the capacity stays (it changes a few hundred times a day), instead of 12 h of
    rows at every decision. An overload before a history's first row changes no row
    ``SETTLE_S`` or more after that first row (it is older still), and the rows before
    are worked out on the history alone (:func:`_queue_rows`), so rows done for an
    earlier, longer history hold for this one."""

    __slots__ = (
        "asked",
        "asked_view",
        "built",
        "cap",
        "counts",
        "counts_view",
        "hi",
        "lo",
        "memory",
        "overload_s",
        "undisturbed",
        "value",
    )

    def __init__(self) -> None:
        self.built = False
        self.cap: float | None = None
        self.lo = self.hi = 0
        self.overload_s = -math.inf
        self.asked = np.empty(0)
        self.counts = np.empty(0, dtype=bool)
        self.asked_view, self.counts_view = self.asked, self.counts
        """The same, read-only: what :func:`_queue_rows` hands out."""
        self.undisturbed = np.empty(0, dtype=bool)
        self.value = np.empty(0)
        """Per storage row, what it adds to the remembered queues (``memory``; NaN: not
        comparable or not counted)."""
        self.memory: _Remembered | None = None

    def reset(self, cap: float | None, row: int) -> None:
        self.built, self.cap, self.lo, self.hi, self.overload_s = True, cap, row, row, -math.inf
        self.memory = None

    def room(self, rows: int) -> None:
        if rows > self.asked.size:
            size = max(2 * self.asked.size, rows)
            for name in ("asked", "counts", "undisturbed", "value"):
                old = getattr(self, name)
                new = np.empty(size, dtype=old.dtype)
                new[self.lo : self.hi] = old[self.lo : self.hi]
                setattr(self, name, new)
            self.asked_view = self.asked.view()
            self.asked_view.flags.writeable = False
            self.counts_view = self.counts.view()
            self.counts_view.flags.writeable = False


class _QueueView(NamedTuple):
    """:func:`_queue_rows` of one history: per row (of the history's), the replicas its
    queue asks for (``asked``), whether it counts (``counts``: a settled fleet's queue,
    or a persistent one) and whether it ends a persistent queue (``pressed``,
    :func:`_pressed`). Read through :meth:`rows`: the arrays are the kept rows'
    (:class:`_QueueRows`), the history's first ``head`` rows' own values apart."""

    asked: FloatArray
    counts: npt.NDArray[np.bool_]
    pressed: npt.NDArray[np.bool_]
    kept: _QueueRows | None = None
    """Where the rows were kept (None: worked out on this history alone)."""
    base: int = 0
    """The storage row of the history's first row."""
    head: int = 0
    """The history's first rows, worked out on it alone: their values are in
    ``head_values``, not in the arrays."""
    head_values: tuple[FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None = None

    def rows(
        self, lo: int, hi: int
    ) -> tuple[FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """(asked, counts, pressed) of rows ``[lo, hi)`` (read-only views unless the
        first rows are among them: then copies with their values)."""
        asked, counts, pressed = self.asked[lo:hi], self.counts[lo:hi], self.pressed[lo:hi]
        m = min(self.head, hi)
        if m > lo and self.head_values is not None:
            asked, counts, pressed = asked.copy(), counts.copy(), pressed.copy()
            a, c, p = self.head_values
            asked[: m - lo], counts[: m - lo], pressed[: m - lo] = a[lo:m], c[lo:m], p[lo:m]
        return asked, counts, pressed


def _queue_rows(h: WorkHistory, cap_items_s: float | None, q_target_ms: float) -> _QueueView:
    """Per row of ``h``: :func:`_queue_values` (replicas the queue asks for, whether it
    counts) and :func:`_pressed`; with ``cap_items_s`` (items/s per replica), rows the
    fleet was overloaded at (a backlog it could not clear within the queue target) do
    not count as settled for :data:`SETTLE_S`. Each row is worked out once per
    capacity (:class:`_QueueRows`); the first rows, whose settling reaches back before
    this history, on it alone."""
    cached = _pressed_cache(h, q_target_ms)
    if cached is None or h.columns is None:
        overload = None
        if cap_items_s is not None:
            overload = _overload(h.backlog_items, h.ready, cap_items_s, q_target_ms)
        pressed = _pressed(h, q_target_ms)
        asked, counts = _queue_values(
            h.ready, h.queue_ms, pressed, _undisturbed(h, overload, q_target_ms), q_target_ms
        )
        return _QueueView(asked, counts, pressed)
    cols = h.columns
    base = cols.offset + h.first  # storage row of h's first row
    n = h.times.size
    end = base + n
    c = cols.carried(("queue rows", q_target_ms), _QueueRows)
    before = None
    if not c.built or c.cap != cap_items_s or not c.lo <= base <= c.hi:
        memory = c.memory
        if memory is not None and c.lo <= base <= memory.lo and memory.hi <= end:
            # A new capacity rarely changes a row (only an overload's): the remembered
            # queues stay sorted if none of theirs changed (compared bit for bit).
            rows = slice(memory.lo, memory.hi)
            before = (memory, c.asked[rows].copy(), c.counts[rows].copy(), c.value[rows].copy())
        c.reset(cap_items_s, base)
    if end > c.hi:
        c.room(end)
        _queue_rows_add(h, cached, c, c.hi - base, q_target_ms)
        c.hi = end
    if before is not None:
        memory, asked_before, counts_before, value_before = before
        rows = slice(memory.lo, memory.hi)
        if np.array_equal(c.counts[rows], counts_before) and np.array_equal(
            c.asked[rows].view(np.int64), asked_before.view(np.int64)
        ):
            # The rows' values go back with the memory: growing the arrays after the
            # reset copies no row, and the memory's removals read these values.
            c.value[rows] = value_before
            c.memory = memory
    m_u = _first_settle(h.times)
    m, head = _pressed_head(h, q_target_ms, cached, m_u)
    asked, counts = c.asked_view[base:end], c.counts_view[base:end]
    if not m:
        return _QueueView(asked, counts, cached["pressed"], c, base)
    # The rows whose settling reaches back before this history: worked out on it
    # alone (:func:`_undisturbed_head`, :func:`_queue_values`), on Python floats (the
    # same IEEE operations; a dozen rows, where NumPy calls cost more).
    t, ready = h.times[:m].tolist(), h.ready[:m].tolist()
    queue, settled = h.queue_ms[:m].tolist(), h.settled[:m].tolist()
    backlog, calm = h.backlog_items[:m].tolist(), c.undisturbed[base : base + m].tolist()
    head_asked, head_counts = np.empty(m), np.empty(m, dtype=bool)
    last = -math.inf
    for i, p in enumerate(head.tolist()):
        if i < m_u:
            disturbed = not settled[i] or (i > 0 and ready[i] != ready[i - 1])
            if not disturbed and cap_items_s is not None:
                disturbed = backlog[i] > cap_items_s * ready[i] * q_target_ms / 1000.0
            if disturbed and t[i] > last:
                last = t[i]
            calm[i] = t[i] - last >= SETTLE_S
        head_asked[i], head_counts[i] = _queue_value(ready[i], queue[i], p, calm[i], q_target_ms)
    heads = (head_asked, head_counts, head)
    return _QueueView(asked, counts, cached["pressed"], c, base, m, heads)


def _comparable(
    asked: FloatArray, counts: npt.NDArray[np.bool_], work: FloatArray, held_work: float
) -> FloatArray:
    """Per row, the replicas its queue asked for scaled to ``held_work`` (``asked ×
    held_work / work``), where it counts and its work was comparable (within
    :data:`SIMILAR_WORK_LOG`); NaN elsewhere."""
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = held_work / work
        older = counts & (np.abs(np.log(scale)) <= SIMILAR_WORK_LOG)
        # Rows without work scale by inf (0 × inf: NaN); they are never ``older``.
        out: FloatArray = np.where(older, asked * scale, math.nan)
    return out


def _remembered(h: WorkHistory, q: _QueueView, held_work: float, lo: int, hi: int) -> float:
    """The median over ``h``'s rows ``[lo, hi)`` of the replicas settled queues asked
    for under work comparable to ``held_work`` (within :data:`SIMILAR_WORK_LOG`),
    scaled to it (0 without any): the queue reaction's memory.

    With the rows kept (:class:`_QueueRows`), the values of the kept rows are kept
    sorted for one ``held_work`` (it changes a few hundred times a day, where the
    window slides a row at every decision), so a decision adds and removes the rows
    that entered and left, instead of scaling and partitioning 12 h of rows; the first
    rows of the history (their own values) are merged in."""
    c = q.kept
    if c is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = held_work / h.work[lo:hi]
            older = q.counts[lo:hi] & (np.abs(np.log(scale)) <= SIMILAR_WORK_LOG)
            # Rows without work scale by inf (0 × inf: NaN); they are never ``older``.
            remembered_q = (q.asked[lo:hi] * scale)[older]
        return median(remembered_q) if remembered_q.size else 0.0
    base = q.base
    head_hi = min(q.head, hi)
    extra: list[float] = []
    if head_hi > lo:
        asked, counts, _ = q.rows(lo, head_hi)
        first = _comparable(asked, counts, h.work[lo:head_hi], held_work)
        extra = sorted(first[~np.isnan(first)].tolist())
    a, b = base + max(lo, head_hi), base + hi
    m = c.memory
    if m is None or m.held != held_work or not m.lo <= a <= m.hi <= b or a - m.lo + b - m.hi > 64:
        i0, i1 = a - base, b - base
        c.value[a:b] = _comparable(c.asked[a:b], c.counts[a:b], h.work[i0:i1], held_work)
        kept = c.value[a:b]
        m = c.memory = _Remembered(held_work, a, b, np.sort(kept[~np.isnan(kept)]).tolist())
    else:
        values = m.values
        for r in range(m.lo, a):  # rows that left the memory
            gone = float(c.value[r])
            if gone == gone:
                del values[bisect_left(values, gone)]
        for r in range(m.hi, b):  # rows that entered it
            came = _comparable_one(c, r, float(h.work[r - base]), held_work)
            c.value[r] = came
            if came == came:
                insort(values, came)
        m.lo, m.hi = a, b
    return _median_of(m.values, extra)


class _Remembered:
    """The values (:func:`_comparable`) of kept rows ``[lo, hi)`` for one ``held``
    work, sorted: what :func:`_remembered` takes the median of."""

    __slots__ = ("held", "hi", "lo", "values")

    def __init__(self, held: float, lo: int, hi: int, values: list[float]) -> None:
        self.held, self.lo, self.hi, self.values = held, lo, hi, values


def _comparable_one(c: _QueueRows, row: int, work: float, held_work: float) -> float:
    """:func:`_comparable` of one kept row, on Python floats and NumPy's own ``log`` (a
    NumPy scalar takes the very loop an array does; ``math.log`` differs from it in the
    last bit for one value in seven): the same value."""
    if not c.counts[row] or not (math.isfinite(work) and work != 0.0):
        return math.nan
    scale = held_work / work
    if not (math.isfinite(scale) and scale > 0.0):
        return math.nan  # a log of 0, inf or NaN is never within the bound
    if not abs(np.log(scale)) <= SIMILAR_WORK_LOG:
        return math.nan
    return float(c.asked[row]) * scale


def _median_of(values: list[float], extra: list[float]) -> float:
    """:func:`policies.stats.median` of the values of two sorted lists taken together
    (``extra`` short), 0 if both are empty: the same order statistics, the same
    arithmetic."""
    n = len(values) + len(extra)
    if n == 0:
        return 0.0
    half = n // 2
    if n % 2:
        return _kth(values, extra, half)
    return (_kth(values, extra, half - 1) + _kth(values, extra, half)) / 2.0


def _kth(values: list[float], extra: list[float], k: int) -> float:
    """The ``k``-th smallest (from 0) of two sorted lists taken together: the least
    candidate with more than ``k`` values at or below it. It is ``extra``'s or one of
    ``values[k - len(extra) : k + 1]``."""
    if not extra:
        return values[k]
    candidates = sorted(values[max(0, k - len(extra)) : k + 1] + extra)
    # More than k values at or below a candidate holds from some candidate on: bisect.
    lo, hi = 0, len(candidates) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        x = candidates[mid]
        if bisect_right(values, x) + bisect_right(extra, x) > k:
            hi = mid
        else:
            lo = mid + 1
    return candidates[lo]


def _queue_value(
    ready: float, queue_ms: float, pressed: bool, undisturbed: bool, q_target_ms: float
) -> tuple[float, bool]:
    """:func:`_queue_values` of one row, on Python floats: the same IEEE operations."""
    counts = math.isfinite(queue_ms) and ready > 0 and undisturbed
    x = queue_ms / q_target_ms
    asked = ready * (QUEUE_CAP if x > QUEUE_CAP else x)  # NaN stays NaN, as np.minimum
    if pressed:
        floor = asked if counts else 0.0
        step = ready * PRESSURE_STEP  # > 0: a pressed row has replicas ready
        asked = step if step > floor else floor
        counts = True
    return asked, counts


def _queue_rows_add(
    h: WorkHistory, cached: dict[str, npt.NDArray[Any]], c: _QueueRows, i0: int, q_target_ms: float
) -> None:
    """Work out ``h``'s rows from ``i0`` on into ``c`` (from its storage row ``c.hi``)."""
    n = h.times.size
    cap = c.cap
    if n - i0 == 1 and c.hi > c.lo:
        # One new row (every decision): Python floats, the same IEEE operations.
        t = float(h.times[i0])
        last = float(cached["last_change"][i0])
        ready = float(h.ready[i0])
        if cap is not None and float(h.backlog_items[i0]) > cap * ready * q_target_ms / 1000.0:
            c.overload_s = max(c.overload_s, t)
        if c.overload_s > last:
            last = c.overload_s
        calm = t - last >= SETTLE_S
        asked, counts = _queue_value(
            ready, float(h.queue_ms[i0]), bool(cached["pressed"][i0]), calm, q_target_ms
        )
        c.undisturbed[c.hi], c.asked[c.hi], c.counts[c.hi] = calm, asked, counts
        return
    t_new = h.times[i0:]
    last_new = cached["last_change"][i0:]
    if cap is not None:
        overload = _overload(h.backlog_items[i0:], h.ready[i0:], cap, q_target_ms)
        seen = np.maximum.accumulate(np.where(overload, t_new, -math.inf))
        np.maximum(seen, c.overload_s, out=seen)
        if seen.size:
            c.overload_s = float(seen[-1])
        last_new = np.maximum(last_new, seen)
    undisturbed = t_new - last_new >= SETTLE_S
    asks, count = _queue_values(
        h.ready[i0:], h.queue_ms[i0:], cached["pressed"][i0:], undisturbed, q_target_ms
    )
    rows = slice(c.hi, c.hi + n - i0)
    c.undisturbed[rows], c.asked[rows], c.counts[rows] = undisturbed, asks, count


def _pressed_rows(
    h: WorkHistory, q_target_ms: float, start: int, prior: dict[str, npt.NDArray[Any]] | None
) -> dict[str, Any]:
    """:func:`_pressed_direct` of rows ``[start, n)`` of ``h`` (``prior``: the values of
    the rows before), reading only the :data:`SETTLE_S` of rows before ``start`` it
    needs; with each row's last change, count of samples over the target so far and
    how many rows back its window starts."""
    t, ready = h.times, h.ready
    n = t.size
    if prior is not None and start == n - 1:
        # One new row (every decision): Python scalars, not a dozen one-element arrays.
        k = start
        tk = t[k]
        j1 = int(np.searchsorted(t, tk - SETTLE_S, side="left"))
        changed = (not h.settled[k]) or ready[k] != ready[k - 1]
        lc = max(prior["last_change"][k - 1], tk if changed else -math.inf)
        is_over = bool(h.queue_ms[k] > q_target_ms)
        cum = int(prior["cum"][k - 1]) + is_over
        n_window = k + 1 - j1
        n_over = cum - (int(prior["cum"][j1 - 1]) if j1 > 0 else 0)
        ok = bool(tk - lc >= SETTLE_S) and bool(ready[k] > 0) and n_window >= 4
        ok = ok and n_over >= PRESSURE_SHARE * n_window and is_over
        return {"pressed": ok, "last_change": lc, "cum": cum, "back": k - j1}
    s0 = int(np.searchsorted(t, t[start] - SETTLE_S, side="left")) if start < n else start
    ts = t[s0:]
    changed = ~h.settled[s0:]
    if s0 > 0:
        assert prior is not None  # s0 <= start
        changed |= ready[s0:] != ready[s0 - 1 : n - 1]
        seed = float(prior["last_change"][s0 - 1])
        base = int(prior["cum"][s0 - 1])
    else:
        changed[1:] |= ready[1:] != ready[:-1]
        changed[:1] = True
        seed, base = -math.inf, 0
    last_change = np.maximum(np.maximum.accumulate(np.where(changed, ts, -math.inf)), seed)
    with np.errstate(invalid="ignore"):
        over = (h.queue_ms[s0:] > q_target_ms).astype(np.int64)
    counts = np.concatenate(([base], base + np.cumsum(over)))
    rows = np.arange(start, n)
    j = np.searchsorted(t, t[start:] - SETTLE_S, side="left")
    in_window = rows + 1 - j
    over_window = counts[rows - s0 + 1] - counts[j - s0]
    lc = last_change[start - s0 :]
    ok = (t[start:] - lc >= SETTLE_S) & (ready[start:] > 0) & (in_window >= 4)
    ok &= over_window >= PRESSURE_SHARE * in_window
    ok &= over[start - s0 :].astype(bool)
    return {"pressed": ok, "last_change": lc, "cum": counts[start - s0 + 1 :], "back": rows - j}


def _pressed_direct(
    t: FloatArray,
    ready: FloatArray,
    settled: npt.NDArray[np.bool_],
    queue_ms: FloatArray,
    q_target_ms: float,
) -> npt.NDArray[np.bool_]:
    """:func:`_pressed` over these rows alone."""
    n = t.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    changed = ~settled
    changed[1:] |= ready[1:] != ready[:-1]
    changed[0] = True
    last_change = np.maximum.accumulate(np.where(changed, t, -math.inf))
    with np.errstate(invalid="ignore"):
        over = (queue_ms > q_target_ms).astype(np.int64)
    counts = np.concatenate(([0], np.cumsum(over)))
    j = np.searchsorted(t, t - SETTLE_S, side="left")
    idx = np.arange(n)
    in_window = idx + 1 - j
    over_window = counts[idx + 1] - counts[j]
    ok: npt.NDArray[np.bool_] = (t - last_change >= SETTLE_S) & (ready > 0) & (in_window >= 4)
    ok &= over_window >= PRESSURE_SHARE * in_window
    # A queue that has just fallen back under the target is a backlog drained, not a
    # fleet short of the work (the last sample of the window must be over it too).
    ok &= over.astype(bool)
    return ok


def _backlog_items(h: WorkHistory) -> float:
    """Items waiting now: the pending count, or by Little's law the arrival rate times
    the mean queue time when that says more (requests that time out leave the pending
    count, so at an overload it understates what the fleet must catch up on)."""
    pending = float(h.backlog_items[-1]) if np.isfinite(h.backlog_items[-1]) else 0.0
    q, w = h.queue_ms[-1], h.work[-1]
    waiting = float(q) / 1000.0 * float(w) if np.isfinite(q) and np.isfinite(w) else 0.0
    return max(pending, waiting)


def _with_overloaded(h: WorkHistory, cap: Capacity, start_s: float, target_ms: float) -> Capacity:
    """``cap``, or the median capacity of the window's overloaded rows when that is
    higher. A queue of at least :data:`FULL_QUEUE_SHARE` of the target fills every batch
    to the model's maximum, so those rows read what a loaded replica does; a fleet that
    left its overload quickly (2 GPUs grown to 13 within 2.5 min on Azure's conversation
    trace) has too few of them to stay in the most loaded tenth once light-load rows
    outnumber them, and the service law fitted to light load then read an execution of
    128 items at 15.2 ms for the 12.3 it took (8,400 items/s per replica for 10,427)."""
    i = int(np.searchsorted(h.times, start_s, side="left"))
    with np.errstate(invalid="ignore"):
        rows = (h.queue_ms[i:] >= FULL_QUEUE_SHARE * target_ms) & np.isfinite(h.service_ms[i:])
        rows &= np.isfinite(h.capacity[i:])
    if np.count_nonzero(rows) < OVERLOADED_ROWS:
        return cap
    items_s = median(h.capacity[i:][rows])
    if not items_s > cap.items_s:
        return cap
    return dataclasses.replace(cap, items_s=items_s, service_ms=median(h.service_ms[i:][rows]))


def _saturated(history: tuple[Observation, ...], now_s: float) -> bool:
    """Whether the GPU busy fraction averaged at least :data:`SATURATED_BUSY` over the
    last :data:`RATE_WINDOW_S` (False when no sample of it shows one): the batcher then
    fills every batch, so the capacity read now is a loaded replica's."""
    total, count = 0.0, 0
    for o in reversed(history):
        if o.time_s < now_s - RATE_WINDOW_S:
            break
        u = o.gpu_utilization
        if u is not None and math.isfinite(u):
            total += min(u, 1.0)
            count += 1
    return count > 0 and total / count >= SATURATED_BUSY


def _spare_instances(service_ms: float, target_ms: float) -> float:
    """Spare instances that keep the 99th percentile of queueing within the SLO."""
    if not math.isfinite(service_ms) or service_ms <= 0:
        return 1.0
    slack = target_ms - service_ms
    if slack <= 0:
        return MAX_SPARE_INSTANCES
    return min(TAIL_FACTOR * service_ms / slack, MAX_SPARE_INSTANCES)


class AdaptivePolicy:
    """Work forecast ÷ learned capacity + SLO headroom, with a held queue reaction."""

    name: ClassVar[str] = "adaptive"
    params_model: ClassVar[type[PolicyParams]] = AdaptiveParams

    def required_signals(self, params: AdaptiveParams) -> tuple[str, ...]:
        return ("request_rate_rps", "queue_time_per_request_ms")

    def history_s(self, params: AdaptiveParams) -> float:
        return max(
            params.capacity_window_seconds,
            params.peak_hold_seconds,
            params.lead_time_seconds,
            QUEUE_MEMORY_S,
        )

    def recommend(self, ctx: PolicyContext, params: AdaptiveParams) -> Recommendation:
        p = params
        obs = ctx.observation
        now = obs.time_s
        history = ctx.history
        if not history or history[-1] is not obs:
            history = history + (obs,)
        h = work_history(history, p.instances_per_replica, ctx.columns)
        cap = learned_capacity(h, now, p.capacity_window_seconds, p.target_ms)
        if cap is not None:
            cap = _with_overloaded(h, cap, now - p.capacity_window_seconds, p.target_ms)
        hold_s = max(p.peak_hold_seconds, p.lead_time_seconds)
        # Times strictly increase: the hold and the queue memory are index ranges
        # (bisection), not masks over 12 h of history.
        i_recent = int(np.searchsorted(h.times, now - hold_s, side="left"))
        i_memory = min(int(np.searchsorted(h.times, now - QUEUE_MEMORY_S, side="left")), i_recent)
        work_recent = h.work[i_recent:]
        work_recent = work_recent[np.isfinite(work_recent)]
        held_work = float(work_recent.max()) if work_recent.size else 0.0
        cap_items = cap.items_s if cap is not None else None
        held_text = f"highest of {hold_s:g} s"
        window_work = _window_work(h, now)
        burst = _burst_level(window_work)
        if burst is not None and burst > held_work:
            held_work = burst
            held_text = f"on/off traffic: highest of {NOISE_WINDOW_S:g} s"
        floor = _dip_floor(h, now, p.lead_time_seconds, held_work, cap_items)
        if floor > held_work:
            held_work = floor
        work_now = float(h.work[-1]) if np.isfinite(h.work[-1]) else 0.0
        pending = obs.pending_requests
        front = obs.activation_rps
        waiting = (pending is not None and pending > 0) or (
            front is not None and math.isfinite(front) and front > p.activation_rps
        )
        active = waiting or held_work > 0
        parts: list[str] = []
        need = 0.0
        drain = 0.0
        q_target = QUEUE_SHARE * p.target_ms
        if cap is not None:
            spare = _spare_instances(cap.service_ms, p.target_ms) / p.instances_per_replica
            slo_spare = spare
            noise = 0.0
            if burst is None:
                noise = min(NOISE_Z * _second_noise(h, now), _noise_cap(window_work, held_work))
                noise /= cap.items_s
            if noise > spare:
                spare = noise
            need = held_work / cap.items_s + (spare if held_work > 0 else 0.0)
            parts.append(
                f"work {work_now:.0f} items/s now, {held_text} {held_work:.0f}, ÷ "
                f"{cap.items_s:.0f} items/s per replica (learned from {cap.samples} samples, "
                f"execution {cap.service_ms:.1f} ms) + {spare:.2f} spare for {p.target_ms:g} ms "
                f"→ {need:.2f}"
            )
            # A steady rise is sized where the work is, not where its rate trails it; its
            # noise is what the noise spare above already covers.
            rising = (work_now + _rise_lag(h)) / cap.items_s + slo_spare
            if rising > need:
                need = rising
                parts.append(f"rising: the rate trails by half its window → {need:.2f}")
            backlog = _backlog_items(h)
            if ctx.current_replicas > 0 and backlog > 0:
                # At most the fleet the work needs again: a pending count with no
                # timeout behind it can be any size, and twice the fleet drains any
                # backlog within DRAIN_S of its own arrival rate.
                drain = min(backlog / (cap.items_s * DRAIN_S), max(need, 1.0))
                if drain >= 0.5:
                    need += drain
                    parts.append(
                        f"+ {drain:.2f} to drain {backlog:.0f} items waiting in {DRAIN_S:g} s"
                    )
                else:
                    drain = 0.0
        else:
            parts.append("capacity not learned yet (no completed batches)")
        # A backlog the fleet cannot clear within the queue target (at the learned
        # capacity) is an overload the work rate already counts; the queue reaction is
        # for what it cannot see, so such rows do not count as settled.
        queues = _queue_rows(h, cap_items, q_target)
        # The queues of the hold (the last rows); the older ones of the queue memory
        # are read by _remembered.
        by_queue_recent, settled_recent, pressed_recent = queues.rows(i_recent, h.times.size)
        recent_q = by_queue_recent[settled_recent]
        by_queue = float(recent_q.max()) if recent_q.size else 0.0
        # Older queues seen under comparable work (within 2x, scaled to today's work:
        # a burst of twice the items takes twice the GPUs to drain in time) still say
        # what that work needs: otherwise, once the hold has passed (after a campaign,
        # a lock loss), the fleet drops to what the rate alone asks and queues again
        # for a start-up. Their median counts, so one bad minute is not remembered.
        remembered = _remembered(h, queues, held_work, i_memory, i_recent)
        if remembered > by_queue:
            by_queue = remembered
        if by_queue > need:
            need = by_queue
            source = (
                "remembered for comparable work"
                if remembered >= by_queue
                else (f"highest of {hold_s:g} s")
            )
            how = f"ready × queue / {q_target:g} ms"
            if pressed_recent.any():
                how += (
                    f" (× {PRESSURE_STEP:g} where the queue stayed over {q_target:g} ms for "
                    f"{SETTLE_S:g} s on an unchanged fleet)"
                )
            parts.append(f"queue reaction: {how}, {source} = {by_queue:.2f}")
        seen_s = now - float(h.times[0]) if h.times.size else 0.0
        learning = cap is not None and cap.batches_vary and not cap.fitted
        learning &= seen_s < FIT_SPAN_S
        if learning and seen_s >= hold_s and ctx.current_replicas > 0 and active:
            # Capacity read directly from light load errs low (small batches): while the
            # service law is not learned yet, the most work per replica the fleet has
            # served with its queue within target is known to be enough, spare and
            # noise included, so the answer is at most what that says.
            with np.errstate(invalid="ignore", divide="ignore"):
                fine = (h.ready > 0) & (h.queue_ms <= q_target) & np.isfinite(h.work)
                shown = h.work[fine] / h.ready[fine]
            if shown.size and shown.max() > 0:
                enough = max(float(ctx.current_replicas), held_work / float(shown.max()))
                if need > enough:
                    need = max(enough, by_queue, drain)
                    parts.append(
                        f"capacity still being learned: {float(shown.max()):.0f} items/s per "
                        f"replica served within the queue target → at most {need:.2f}"
                    )
        if seen_s < hold_s and ctx.current_replicas > 0 and active:
            # The held work, the capacity and the queues do not yet cover the hold: a
            # restarted scaler, or one handed a warm fleet, does not know what that
            # fleet was sized for. It keeps it unless its queue or backlog says short.
            # A fleet that is short and saturated (every GPU busy through the last rate
            # window) runs full batches, so the capacity it reads is what a loaded
            # replica does: it grows to what the work needs at once, never below the
            # fleet it has. Waiting for settled queues (none form while a backlog grows)
            # kept an Azure-conversation fleet of 2 at 2-4 GPUs for 6 min while the work
            # needed 4-13. A fleet short only in some seconds (busy 0.3-1 from second to
            # second) reads its capacity off small batches, far below what a loaded
            # replica does (3,700 items/s for 10,427): sized from it, a warm fleet of 13
            # went to 40.
            q_last = h.queue_ms[-1]
            short = drain > 0 or bool(np.isfinite(q_last) and q_last > q_target)
            if short and cap is not None and _saturated(history, now):
                need = max(float(ctx.current_replicas), need)
                parts.append(
                    f"only {seen_s:.0f} s of history, the queue says short and every GPU "
                    f"is busy: grow to what the work needs, {need:.2f}"
                )
            else:
                need = max(float(ctx.current_replicas), by_queue, drain)
                parts.append(
                    f"only {seen_s:.0f} s of history: keep the {ctx.current_replicas} ready "
                    "unless the queue says short"
                )
        if ctx.current_replicas == 0:
            if waiting:
                need = max(need, 1.0)
                parts.insert(0, "no ready replica and load is waiting: wake")
            else:
                need = 0.0
                parts.insert(0, "no ready replica and no load: stay at 0")
        elif not active:
            need = 0.0
            parts.append("no work held: idle")
        queue_now = obs.queue_time_per_request_ms if ctx.current_replicas > 0 else None
        return Recommendation(
            replicas=need,
            reason="; ".join(parts),
            signal=queue_now,
            target=q_target if queue_now is not None else None,
            active=bool(active or need > 0),
        )
