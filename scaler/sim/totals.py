"""A run's results gathered block by block, so memory does not grow with the trace.

The fast fleet hands over each block of finished steps (whole 5-minute windows,
except the last) and forgets it: what a run reports is sums (requests, failures,
replica-seconds, busy seconds), a latency histogram, the window-level SLO
(:mod:`scaler.sim.windows`, computed per block on the same window grid as over the
whole run), the largest overshoot above the oracle's need, and plot series kept at
no more than :data:`SERIES_POINTS` points (the max of each bucket of steps).

A trace of up to :data:`SERIES_POINTS` steps (a day at 1 s) keeps its series at full
resolution, so short runs report exactly what they did before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scaler.sim.fleet import (
    FastFleet,
    FleetModel,
    LatencySummary,
    exponential_histogram,
    share_within_exponential,
    step_p99_ms,
    uniform_histogram,
)
from scaler.sim.scores import OVERSHOOT_WINDOW_S, Pod, overshoot_replicas, rolling_max
from scaler.sim.windows import (
    QUANTILE,
    WINDOW_S,
    WORST_WINDOW_S,
    WindowSlo,
    window_p99_ms,
    window_slo,
)
from scaler.traces.model import FloatArray

SERIES_POINTS = 100_000
"""Most points kept per plot series (ready replicas, per-step p99)."""

_LN_100 = math.log(100.0)
"""An exponential's p99 in means above its start."""

_CANDIDATES = 32
"""Windows whose p99 is bisected at a time, worst upper bound first."""


def series_bucket(steps: int) -> int:
    """Steps per point of a run's plot series."""
    return max(1, math.ceil(steps / SERIES_POINTS))


def bucket_max(values: npt.NDArray[np.number[Any]], bucket: int) -> FloatArray:
    """Max of every ``bucket`` consecutive values (the last bucket may be short)."""
    x = np.asarray(values, dtype=np.float64)
    if bucket <= 1 or len(x) == 0:
        return x
    return np.maximum.reduceat(x, np.arange(0, len(x), bucket))


_PIECE_CHUNK_BUCKETS = 4096
"""Buckets of a step function expanded at a time (:func:`piecewise_bucket_max`)."""


def piecewise_bucket_max(
    starts: npt.NDArray[np.integer[Any]],
    values: npt.NDArray[np.number[Any]],
    steps: int,
    bucket: int,
) -> FloatArray:
    """:func:`bucket_max` of the step function worth ``values[k]`` from step
    ``starts[k]`` until the next start (``starts`` non-decreasing, the first 0), over
    ``steps`` steps, expanded a chunk at a time: a 90-day run's replica series would
    otherwise take a trace-length array (and its float copy) in every worker."""
    starts = np.minimum(np.asarray(starts, dtype=np.int64), steps)
    vals = np.asarray(values, dtype=np.float64)
    chunk = max(bucket, 1) * _PIECE_CHUNK_BUCKETS
    parts = []
    for c0 in range(0, steps, chunk):
        c1 = min(c0 + chunk, steps)
        i0 = max(int(np.searchsorted(starts, c0, side="right")) - 1, 0)
        i1 = int(np.searchsorted(starts, c1, side="left"))
        s = np.clip(starts[i0:i1], c0, c1) - c0
        lengths = np.diff(np.append(s, c1 - c0))
        parts.append(bucket_max(np.repeat(vals[i0:i1], lengths), bucket))
    return np.concatenate(parts) if parts else np.zeros(0)


def held_steps(pods: list[Pod], steps: int, step_s: float, bucket: int) -> FloatArray:
    """Replicas holding a GPU at the start of each step, max per ``bucket`` steps."""
    at: list[int] = []
    delta: list[float] = []
    for p in pods:
        a = min(max(math.ceil(p.created_s / step_s - 1e-9), 0), steps)
        b = min(max(math.ceil(p.released_s / step_s - 1e-9), 0), steps)
        if b > a:
            at += (a, b)
            delta += (1.0, -1.0)
    changes, where = np.unique(np.asarray([0, *at], dtype=np.int64), return_inverse=True)
    level = np.cumsum(np.bincount(where, weights=[0.0, *delta]))
    return piecewise_bucket_max(changes, level, steps, bucket)


def run_totals(fleet: FleetModel, sink: Accumulator) -> RunTotals:
    """The totals of a finished run: the fast fleet fed ``sink`` as it went; the exact
    fleet keeps every step and is summed here the same way."""
    if isinstance(fleet, FastFleet):
        return fleet.finish(sink)
    fleet.advance_to(sink.steps)
    o = fleet.outputs
    latency = fleet.latency(sink.slo_ms)
    windows = window_slo(fleet, o.arrivals, o.failed, sink.step_s, sink.slo_ms, sink.timeout_ms)
    overshoot = (
        None
        if sink.need is None
        else overshoot_replicas(o.ready, np.asarray(sink.need, dtype=np.float64), sink.step_s)
    )
    return RunTotals(
        latency=LatencySummary(
            latency.histogram,
            latency.within_slo,
            latency.served,
            bucket_max(latency.per_step_p99_ms, sink.bucket),
        ),
        windows=windows,
        requests=float(o.arrivals.sum()),
        failed=float(o.failed.sum()),
        ready_s=float(o.ready.sum()) * sink.step_s,
        busy_s=float(o.busy_s.sum()),
        steps=len(o.arrivals),
        ready=bucket_max(o.ready, sink.bucket),
        bucket=sink.bucket,
        overshoot=overshoot,
    )


class Downsampler:
    """Max of every ``bucket`` consecutive values, fed in chunks of any length."""

    def __init__(self, bucket: int) -> None:
        self.bucket = bucket
        self._parts: list[FloatArray] = []
        self._carry: FloatArray = np.zeros(0)

    def add(self, values: FloatArray) -> None:
        if self.bucket == 1:
            self._parts.append(np.array(values, dtype=np.float64))
            return
        joined = np.concatenate((self._carry, values))
        whole = len(joined) // self.bucket * self.bucket
        if whole:
            self._parts.append(joined[:whole].reshape(-1, self.bucket).max(axis=1))
        self._carry = joined[whole:].copy()

    def result(self) -> FloatArray:
        parts = list(self._parts)
        if len(self._carry):
            parts.append(np.array([self._carry.max()]))
        return np.concatenate(parts) if parts else np.zeros(0)


@dataclass(frozen=True, slots=True)
class RunTotals:
    """What a run reports once its steps are done (see the module docstring).
    ``latency.per_step_p99_ms`` and ``ready`` hold one point per ``bucket`` steps."""

    latency: LatencySummary
    windows: WindowSlo
    requests: float
    failed: float
    ready_s: float
    busy_s: float
    steps: int
    ready: FloatArray
    bucket: int
    overshoot: float | None


class _Spread:
    """The latency spreads of some steps, as :class:`scaler.sim.windows.WithinCounter`:
    (lo, hi, served) of the uniform spread, of the burst, and (start, mean, served) of
    the exponential tail (:class:`scaler.sim.fleet.FastFleet`), ms."""

    def __init__(self, parts: tuple[FloatArray, ...]) -> None:
        self.parts = parts
        self.lo, self.hi, self.w, self.blo, self.bhi, self.bw, self.tlo, self.tmean, self.tw = parts
        self.has_tail = bool(self.tw.any())

    def within_per_step(self, limit_ms: FloatArray) -> FloatArray:
        out: FloatArray = self.w * share_within(self.lo, self.hi, limit_ms) + self.bw * (
            share_within(self.blo, self.bhi, limit_ms)
        )
        if self.has_tail:
            out = out + self.tw * share_within_exponential(self.tlo, self.tmean, limit_ms)
        return out

    def sub(self, index: slice | npt.NDArray[np.int64]) -> _Spread:
        """The same pieces for some of the steps."""
        return _Spread(tuple(part[index] for part in self.parts))


def share_within(lo: FloatArray, hi: FloatArray, limit_ms: FloatArray) -> FloatArray:
    """Share of requests spread uniformly over [lo, hi] ms that take at most ``limit_ms``."""
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(span > 0, (limit_ms - lo) / span, (lo <= limit_ms).astype(float))
    return np.clip(frac, 0.0, 1.0)


class Accumulator:
    """Receives blocks of finished steps in order; :meth:`finish` gives the totals."""

    def __init__(
        self,
        steps: int,
        step_s: float,
        slo_ms: float,
        timeout_ms: float,
        need: npt.NDArray[np.integer[Any]] | None = None,
    ) -> None:
        self.steps = steps
        self.step_s = step_s
        self.slo_ms = slo_ms
        self.timeout_ms = timeout_ms
        self.need = need
        self.bucket = series_bucket(steps)
        self.done = 0
        self.hist = np.zeros(0)
        self.within = 0.0
        self.served = 0.0
        self.requests = 0.0
        self.failed = 0.0
        self.ready_s = 0.0
        self.busy_s = 0.0
        self.windows = 0
        self.met = 0
        self.worst = (0.0, 0.0)
        self.overshoot = -math.inf
        self._p99 = Downsampler(self.bucket)
        self._ready = Downsampler(self.bucket)
        self._per_minute = max(1, round(WINDOW_S / step_s))
        self._per_worst = max(1, round(WORST_WINDOW_S / step_s))

    def add(
        self,
        arrivals: FloatArray,
        failed: FloatArray,
        ready: FloatArray,
        busy_s: FloatArray,
        spread: tuple[FloatArray, ...],
    ) -> None:
        """Steps ``done .. done + len(arrivals)``. ``spread``: (lo, hi, served) of the
        requests spread uniformly over the step, (lo, hi, served) of those in its burst
        and (start, mean, served) of those in its exponential tail, ms."""
        t0 = self.done
        self.done += len(arrivals)
        lo, hi, w, blo, bhi, bw, tlo, tmean, tw = spread
        h, inside = uniform_histogram(lo, hi, w, self.slo_ms)
        hb, inside_b = uniform_histogram(blo, bhi, bw, self.slo_ms)
        ht, inside_t = exponential_histogram(tlo, tmean, tw, self.slo_ms)
        self.hist = h + hb + ht if len(self.hist) == 0 else self.hist + h + hb + ht
        self.within += inside + inside_b + inside_t
        self.served += float(w.sum() + bw.sum() + tw.sum())
        self.requests += float(arrivals.sum())
        self.failed += float(failed.sum())
        self.ready_s += float(ready.sum()) * self.step_s
        self.busy_s += float(busy_s.sum())
        self._p99.add(step_p99_ms((lo, hi, w), (blo, bhi, bw), (tlo, tmean, tw), QUANTILE))
        self._ready.add(ready)
        counter = _Spread(spread)
        self._minutes(counter, arrivals)
        self._worst_window(counter, arrivals, failed, t0)
        if self.need is not None:
            self._overshoot(ready, t0)

    def _minutes(self, counter: _Spread, arrivals: FloatArray) -> None:
        per = self._per_minute
        starts = np.arange(0, len(arrivals), per)
        total = np.add.reduceat(arrivals, starts)
        ok = np.add.reduceat(counter.within_per_step(np.full(len(arrivals), self.slo_ms)), starts)
        busy = total > 0
        self.windows += int(busy.sum())
        self.met += int((busy & (ok >= QUANTILE * total * (1 - 1e-9))).sum())

    def _worst_window(
        self, counter: _Spread, arrivals: FloatArray, failed: FloatArray, t0: int
    ) -> None:
        """The worst 5-minute p99 of this block, bisecting only the windows whose
        upper bound (their slowest request) could beat the worst found so far."""
        per = self._per_worst
        n = len(arrivals)
        starts = np.arange(0, n, per)
        # A window's p99 is at most the highest p99 of its pieces: the slowest request of
        # a uniform piece, the p99 of an exponential one.
        upper = np.maximum(
            np.maximum.reduceat(np.where(counter.w > 0, counter.hi, 0.0), starts),
            np.maximum.reduceat(np.where(counter.bw > 0, counter.bhi, 0.0), starts),
        )
        if counter.has_tail:
            tail_p99 = counter.tlo + counter.tmean * _LN_100
            upper = np.maximum(
                upper, np.maximum.reduceat(np.where(counter.tw > 0, tail_p99, 0.0), starts)
            )
        upper = np.maximum(
            upper, np.where(np.add.reduceat(failed, starts) > 0, 2 * self.timeout_ms + 1e3, 0.0)
        )
        order = np.argsort(-upper, kind="stable")
        best, best_start = self.worst
        for k in range(0, len(order), _CANDIDATES):
            pick = order[k : k + _CANDIDATES]
            if upper[pick[0]] <= best:
                break
            index = np.concatenate([np.arange(starts[i], min(starts[i] + per, n)) for i in pick])
            sub = counter.sub(index)
            lengths = [min(per, n - starts[i]) for i in pick]
            p99 = self._p99_of(sub, arrivals[index], failed[index], lengths)
            j = int(np.argmax(p99))
            if p99[j] > best:
                best, best_start = float(p99[j]), (t0 + int(starts[pick[j]])) * self.step_s
        self.worst = (best, best_start)

    def _p99_of(
        self, sub: _Spread, arrivals: FloatArray, failed: FloatArray, lengths: list[int]
    ) -> FloatArray:
        if all(length == self._per_worst for length in lengths):
            p99, _ = window_p99_ms(
                sub,
                arrivals,
                failed,
                self.step_s,
                self.timeout_ms,
                window_s=self._per_worst * self.step_s,
            )
            return p99
        out = []
        offset = 0
        for length in lengths:
            part = slice(offset, offset + length)
            piece = sub.sub(part)
            p99, _ = window_p99_ms(
                piece,
                arrivals[part],
                failed[part],
                self.step_s,
                self.timeout_ms,
                window_s=length * self.step_s,
            )
            out.append(float(p99[0]) if len(p99) else 0.0)
            offset += length
        return np.asarray(out)

    def _overshoot(self, ready: FloatArray, t0: int) -> None:
        assert self.need is not None
        per = max(1, round(OVERSHOOT_WINDOW_S / self.step_s))
        t1 = min(t0 + len(ready), len(self.need))
        if t1 <= t0:
            return
        lead = max(0, t0 - per + 1)
        recent = rolling_max(np.asarray(self.need[lead:t1], dtype=np.float64), per)[t0 - lead :]
        self.overshoot = max(self.overshoot, float(np.max(ready[: t1 - t0] - recent)))

    def finish(self) -> RunTotals:
        hist = self.hist if len(self.hist) else np.zeros(0)
        worst, start = self.worst
        windows = WindowSlo(
            self.met / self.windows if self.windows else 1.0,
            self.windows,
            worst,
            start,
        )
        return RunTotals(
            latency=LatencySummary(hist, self.within, self.served, self._p99.result()),
            windows=windows,
            requests=self.requests,
            failed=self.failed,
            ready_s=self.ready_s,
            busy_s=self.busy_s,
            steps=self.done,
            ready=self._ready.result(),
            bucket=self.bucket,
            overshoot=None if self.need is None else max(self.overshoot, 0.0),
        )
