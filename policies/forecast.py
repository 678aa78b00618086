"""Request-rate forecast over a provisioning lead time: numpy only, no fitting library.

The forecast is an *upper* figure to provision for, not a mean: a GPU ordered now
serves from ``now + horizon`` on, and running short costs the SLO while running long
costs only GPU-minutes. Three parts, each robust to what inference load looks like:

- **trend**: a Theil–Sen line (median of pairwise slopes) over ``trend_window_s``;
  one outlier or a step inside the window barely tilts it, unlike least squares;
- **upper quantile**: every recent sample is carried forward along the slope to
  the horizon and the ``quantile`` of those is taken, i.e. the line plus the
  quantile of its residuals;
- **peak hold**: never below the highest rate of the last ``peak_window_s``, so an
  on/off square wave is provisioned for its "on" level instead of being chased,
  and a step down is followed only after the window (hysteresis);
- **daily seasonality** (optional, when the history spans a period): yesterday's
  highest rate over the coming horizon, shifted by how today's level differs from
  yesterday's, blended in with ``seasonal_weight``.

The forecast is monotone in load where it matters: adding to or scaling up every
rate, or raising the latest one, never lowers it (the slope then moves up or keeps
still, and each part is non-decreasing in the rates given the slope).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from policies.stats import median, quantile

DAY_S = 86_400.0
"""The seasonal period: load from people and observing runs repeats daily."""

MAX_TREND_SAMPLES = 160
"""Theil–Sen is O(n²) in pairs; longer windows are thinned evenly to this many samples
(≈ 12,700 pairs, well under a millisecond)."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ForecastSettings:
    """How far ahead and how cautiously to forecast (seconds, fractions)."""

    horizon_s: float
    quantile: float = 0.9
    trend_window_s: float = 600.0
    peak_window_s: float = 120.0
    trend_weight: float = 1.0
    seasonal_weight: float = 0.0
    period_s: float = DAY_S


@dataclass(frozen=True, slots=True)
class Forecast:
    """The forecast in req/s, with its parts for the decision's reason."""

    upper_rps: float
    level_rps: float
    trend_rps_per_s: float
    recent_max_rps: float
    seasonal_rps: float | None
    samples: int

    def describe(self) -> str:
        parts = [
            f"level {self.level_rps:.1f} req/s",
            f"trend {self.trend_rps_per_s * 60:+.1f} req/s per min",
            f"recent max {self.recent_max_rps:.1f}",
        ]
        if self.seasonal_rps is not None:
            parts.append(f"yesterday {self.seasonal_rps:.1f}")
        return f"forecast upper {self.upper_rps:.1f} req/s ({', '.join(parts)})"


EMPTY = Forecast(0.0, 0.0, 0.0, 0.0, None, 0)


def theil_sen_slope(t: FloatArray, y: FloatArray) -> float:
    """Median of the slopes between every pair of samples with distinct times."""
    n = t.size
    if n < 2:
        return 0.0
    if n > MAX_TREND_SAMPLES:
        idx = np.linspace(0, n - 1, MAX_TREND_SAMPLES).round().astype(np.int64)
        t, y = t[idx], y[idx]
    i, j = _pairs(t.size)
    dt = t[j] - t[i]
    if bool((t[1:] > t[:-1]).all()):
        # Increasing times (the usual case): every pair counts, no mask to apply.
        return median((y[j] - y[i]) / dt)
    keep = dt > 0
    if not keep.any():
        return 0.0
    return median((y[j] - y[i])[keep] / dt[keep])


def _pairs(n: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every pair ``i < j < n`` once, ordered by ``j`` (then ``i``): the first
    ``n (n - 1) / 2`` of :data:`_PAIRS_I`/:data:`_PAIRS_J`, built once at import. A
    median does not depend on the order, and slicing is free where building the pairs
    at each of two Theil-Sen fits per decision is not."""
    k = n * (n - 1) // 2
    return _PAIRS_I[:k], _PAIRS_J[:k]


_PAIRS_J: npt.NDArray[np.int64] = np.repeat(
    np.arange(MAX_TREND_SAMPLES, dtype=np.int64), np.arange(MAX_TREND_SAMPLES)
)
_PAIRS_I: npt.NDArray[np.int64] = np.concatenate(
    [np.arange(j, dtype=np.int64) for j in range(MAX_TREND_SAMPLES)]
)
_PAIRS_I.flags.writeable = False
_PAIRS_J.flags.writeable = False


IntArray = npt.NDArray[np.int64]


class SlopeWindow:
    """The sorted pairwise slopes of a window of samples that slides forward, so that
    the Theil-Sen slope of the next window costs the pairs of the samples that left and
    came (a few hundred) instead of every pair (thousands, gathered and partitioned at
    each decision). The median of the same slopes is the same float: it is read off
    the sorted array as :func:`policies.stats.median` reads it off a partition.

    A cache, not state: samples are named by ids (the pipeline's storage rows, which
    never change); a window that does not continue the last one rebuilds it."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        empty = np.empty(0)
        self.last: tuple[IntArray, FloatArray, FloatArray, FloatArray] = (
            np.empty(0, dtype=np.int64),
            empty,
            empty,
            empty,
        )
        """(ids, times, values, sorted slopes) of the last window, replaced as one: a
        forecast that reads it meanwhile sees one window or the other, never a mix."""

    def slope(self, ids: IntArray, t: FloatArray, y: FloatArray) -> float:
        """:func:`theil_sen_slope` of ``(t, y)``, the samples named ``ids`` (increasing;
        the arrays are kept, not copied: they must not change)."""
        n = t.size
        if n < 2 or n > MAX_TREND_SAMPLES or not bool((t[1:] > t[:-1]).all()):
            return theil_sen_slope(t, y)
        s = self._slide(self.last, ids, t, y)
        if s is None:
            i, j = _pairs(n)
            s = np.sort((y[j] - y[i]) / (t[j] - t[i]))
        self.last = (ids, t, y, s)
        k = s.size
        half = k // 2
        if math.isnan(s[-1]):
            return math.nan
        if k % 2:
            return float(s[half])
        return float((s[half - 1] + s[half]) / 2.0)

    @staticmethod
    def _slide(
        last: tuple[IntArray, FloatArray, FloatArray, FloatArray],
        ids: IntArray,
        t: FloatArray,
        y: FloatArray,
    ) -> FloatArray | None:
        """The sorted slopes of this window from the last one's; None if it does not
        continue it (the same samples from some point on, then later ones)."""
        old, ot, oy, s = last
        if old.size < 2 or ids[0] < old[0]:
            return None
        p = int(np.searchsorted(old, ids[0], side="left"))
        keep = old.size - p
        if keep < 2 or keep > ids.size or old[-1] != ids[keep - 1]:
            return None
        if ids.size > keep and not ids[keep] > old[-1]:
            return None
        if p:
            if p == 1:
                gone = np.sort((oy[1:] - oy[0]) / (ot[1:] - ot[0]))
            else:
                parts = [(oy[d + 1 :] - oy[d]) / (ot[d + 1 :] - ot[d]) for d in range(p)]
                gone = np.sort(np.concatenate(parts))
            at = np.searchsorted(s, gone, side="left")
            if gone.size > 1 and not bool((gone[1:] > gone[:-1]).all()):
                at += np.arange(gone.size) - np.searchsorted(gone, gone, side="left")
            if at[-1] >= s.size or not np.array_equal(s[at], gone):
                return None
            kept = np.ones(s.size, dtype=bool)
            kept[at] = False
            s = s[kept]
        if ids.size > keep:
            if ids.size == keep + 1:
                new = np.sort((y[-1] - y[:-1]) / (t[-1] - t[:-1]))
            else:
                parts = [(y[q] - y[:q]) / (t[q] - t[:q]) for q in range(keep, ids.size)]
                new = np.sort(np.concatenate(parts))
            at = np.searchsorted(s, new, side="left") + np.arange(new.size)
            out = np.empty(s.size + new.size)
            rest = np.ones(out.size, dtype=bool)
            rest[at] = False
            out[at] = new
            out[rest] = s
            s = out
        return s


def _window(times: FloatArray, rates: FloatArray, start_s: float, end_s: float) -> FloatArray:
    lo = int(np.searchsorted(times, start_s, side="left"))
    hi = int(np.searchsorted(times, end_s, side="right"))
    return rates[lo:hi]


def _seasonal(
    times: FloatArray, rates: FloatArray, now_s: float, s: ForecastSettings
) -> float | None:
    """Yesterday's peak over the coming horizon, moved to today's level."""
    then = now_s - s.period_s
    if times.size == 0 or times[0] > then - s.peak_window_s:
        return None
    ahead = _window(times, rates, then, then + max(s.horizon_s, 1.0))
    level_then = _window(times, rates, then - s.peak_window_s, then)
    level_now = _window(times, rates, now_s - s.peak_window_s, now_s)
    if ahead.size == 0 or level_then.size == 0 or level_now.size == 0:
        return None
    return max(0.0, float(ahead.max() - median(level_then) + median(level_now)))


def forecast(
    times: FloatArray,
    rates: FloatArray,
    now_s: float,
    s: ForecastSettings,
    *,
    ids: IntArray | None = None,
    slopes: SlopeWindow | None = None,
) -> Forecast:
    """Upper forecast of the rate over ``[now_s, now_s + horizon_s]``.

    ``times`` (s, ascending) and ``rates`` (req/s, finite, ≥ 0) are the samples to
    learn from, the latest last. With ``ids`` (a name for each sample, increasing, the
    same sample always the same name) and ``slopes`` (kept from the last forecast over
    these samples) the trend's slope is updated instead of computed afresh: the same.
    """
    if times.size == 0:
        return EMPTY
    recent = _window(times, rates, now_s - s.peak_window_s, now_s)
    recent_max = float(recent.max()) if recent.size else float(rates[-1])
    lo = int(np.searchsorted(times, now_s - s.trend_window_s, side="left"))
    t, y = times[lo:], rates[lo:]
    window = ids[lo:] if ids is not None else None
    if t.size == 0:
        t, y = times[-1:], rates[-1:]
        window = ids[-1:] if ids is not None else None
    if slopes is not None and window is not None:
        slope = slopes.slope(window, t, y)
    else:
        slope = theil_sen_slope(t, y)
    residual = y - slope * (t - now_s)  # the samples with the trend taken out, at now
    level = median(residual)
    ahead = s.trend_weight * max(slope, 0.0) * s.horizon_s
    trend_upper = quantile(residual, s.quantile) + ahead
    upper = max(trend_upper, recent_max)
    seasonal = None
    if s.seasonal_weight > 0:
        seasonal = _seasonal(times, rates, now_s, s)
        if seasonal is not None:
            blended = (1 - s.seasonal_weight) * trend_upper + s.seasonal_weight * seasonal
            upper = max(blended, recent_max)
    return Forecast(
        upper_rps=max(0.0, upper),
        level_rps=max(0.0, level),
        trend_rps_per_s=slope,
        recent_max_rps=recent_max,
        seasonal_rps=seasonal,
        samples=int(times.size),
    )
