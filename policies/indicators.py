"""Learn what a leading indicator announces: how much load one unit brings, and when.

A leading indicator counts client work that will soon send requests, such as a batch
system's queued or staging jobs. Two numbers tie it to the arrival rate:

- **lag** (seconds): how long after a unit appears its requests arrive. Learned by
  cross-correlating the *rises* of the indicator with the rises of the arrival rate,
  over lags from 0 to ``max_lag_s``. Rises only, because a job leaves the count when
  it stops sending: the fall has no lag, and correlating levels would split the
  difference between the two.
- **load per unit** (the rate's own unit per indicator unit, e.g. req/s per job): the
  least-squares slope of each rate signal on the units *in force*,
  ``min(I(t − lag), I(t))`` — units announced at least ``lag`` seconds ago and still
  counted, which are the ones that should be sending now.

Both need evidence: the indicator must have risen in the history, and the
correlations must reach ``min_correlation``. Without it the fit is ``None`` and the
indicator contributes nothing, so an indicator that is pure noise costs nothing.

Everything here is a pure function of arrays built from the history it is handed;
series are put on a regular grid holding the last sample (Prometheus gauges).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from policies.observation import Observation

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class IndicatorSettings:
    """One leading indicator as a policy sees it; ``None`` means: learn it online.

    ``load_per_unit`` is in requests per second that one unit (one job) brings;
    ``lead_s`` is the seconds from a unit appearing in the count to its first requests;
    ``items_per_request`` the batch items in one of those requests (None: learned from
    the work rate's slope, else the fleet's current mix).
    """

    name: str
    load_per_unit: float | None = None
    lead_s: float | None = None
    items_per_request: float | None = None
    group_size: float | None = None
    """Units that appear together (a job array, a campaign submitted at once): when the
    first of a group appear, the rest are announced with them. None: learned from the
    indicator's own history (the median size of its past groups)."""
    realised: float | None = None
    """Share of announced units that do send (0 < f ≤ 1): jobs that fail while staging,
    or are cancelled, leave the count without bringing load. None: learned from the
    history (:func:`learn_realised`)."""


@dataclass(frozen=True, slots=True)
class IndicatorFit:
    """What the history says about one indicator.

    ``lag_s``: seconds from a unit appearing to its load arriving; ``per_unit``: slope of
    each rate signal (by Observation field name, in that field's unit) per unit in force;
    ``lag_correlation`` and ``load_correlation``: the evidence (Pearson r of the rises
    at the lag, and of the primary rate against the units in force); ``realised``: the
    share of units that appeared and were still counted when due (1.0 without a
    settled rise to judge by).
    """

    lag_s: float
    per_unit: Mapping[str, float]
    lag_correlation: float
    load_correlation: float
    realised: float = 1.0


WORK_FIELD = "items_per_s"
"""The work rate (batch items/s): what an announced batch job adds besides requests."""


def rate_fields(observation: Observation) -> tuple[str, ...]:
    """Observation fields an indicator's announced load is added to: the request rates
    (``*_rps``) and the work rate (``items_per_s``). Not executions or times: those
    are what the fleet makes of the load, not the load."""
    return tuple(
        name
        for name in observation.__dataclass_fields__
        if name.endswith("_rps") or name == WORK_FIELD
    )


def primary_rate(history: Sequence[Observation]) -> str:
    """The arrival rate to learn from: the rate in front of the fleet when the history
    has it (it does not sag while the fleet is short), else the served rate.

    Not when it reads 0 whenever replicas serve: then it is a wake-only counter
    (Envoy's ``upstream_cx_none_healthy``, which moves only at zero endpoints), not
    arrivals (an arrivals counter reads 0 at most now and then, as a load ends)."""
    recent = history[-16:]
    if not any(o.is_usable("activation_rps") for o in recent):
        return "request_rate_rps"
    serving = [
        o.activation_rps
        for o in recent
        if o.ready_replicas > 0
        and o.request_rate_rps is not None
        and o.request_rate_rps > 0
        and o.is_usable("activation_rps")
    ]
    if serving and all(front == 0 for front in serving):
        return "request_rate_rps"
    return "activation_rps"


def window(history: Sequence[Observation], start_s: float, end_s: float) -> Sequence[Observation]:
    """Observations with ``start_s <= time_s <= end_s``, found by bisection (history is
    oldest first), so a long history costs O(log n) to cut."""
    lo = bisect_left(history, start_s, key=lambda o: o.time_s)
    hi = bisect_right(history, end_s, key=lambda o: o.time_s)
    return history[lo:hi]


def value_at(history: Sequence[Observation], index: int, t_s: float) -> float | None:
    """Indicator ``index`` as last seen at or before ``t_s`` (the oldest value when
    ``t_s`` is before the history; None if it was absent then)."""
    if not history:
        return None
    i = bisect_right(history, t_s, key=lambda o: o.time_s) - 1
    return history[max(i, 0)].indicator(index)


def field_at(history: Sequence[Observation], name: str, t_s: float) -> float | None:
    """Signal ``name`` as last seen at or before ``t_s`` (the oldest value when ``t_s``
    is before the history; None if it was absent or not finite then)."""
    if not history:
        return None
    o = history[max(bisect_right(history, t_s, key=lambda o: o.time_s) - 1, 0)]
    return o.value(name) if o.is_usable(name) else None


@dataclass(frozen=True, slots=True)
class Group:
    """Units that appeared together: rises of the count each within ``gap_s`` of the
    previous one. ``start_s`` and ``last_s``: times of its first and latest rise;
    ``size``: units that appeared in it."""

    start_s: float
    last_s: float
    size: float


def groups(times: Sequence[float], values: Sequence[float | None], gap_s: float) -> list[Group]:
    """The groups of rises of an indicator sampled at ``times`` (oldest first): a batch
    system's job array or campaign shows as a run of rises over a minute or two, its
    jobs' submissions and queue waits jittered."""
    out: list[Group] = []
    prev: float | None = None
    for t, v in zip(times, values, strict=True):
        if v is None or not math.isfinite(v):
            continue
        if prev is not None and v > prev:
            rise = v - prev
            if out and t - out[-1].last_s <= gap_s:
                g = out[-1]
                out[-1] = Group(g.start_s, t, g.size + rise)
            else:
                out.append(Group(t, t, rise))
        prev = v
    return out


def typical_group(past: Sequence[Group]) -> float | None:
    """The median size of past groups (None without any): how many units a group
    announced by its first units will have."""
    if not past:
        return None
    return float(np.median([g.size for g in past]))


def held(times: FloatArray, values: FloatArray, grid: FloatArray) -> FloatArray:
    """Value of the last finite sample at or before each grid time (NaN before any)."""
    ok = np.isfinite(values)
    t, v = times[ok], values[ok]
    if t.size == 0:
        return np.full(grid.shape, np.nan)
    idx = np.searchsorted(t, grid, side="right") - 1
    out: FloatArray = np.where(idx >= 0, v[np.maximum(idx, 0)], np.nan)
    return out


def _rises(x: FloatArray, smooth: int) -> FloatArray:
    """Positive increments, box-smoothed over ``smooth`` grid steps (tolerates jitter)."""
    d = np.diff(x, prepend=x[:1])
    d = np.where(np.isfinite(d) & (d > 0), d, 0.0)
    if smooth > 1:
        d = np.convolve(d, np.ones(smooth) / smooth, mode="same")
    return d


def pearson(x: FloatArray, y: FloatArray) -> float:
    """Pearson correlation of two equal-length arrays; 0 when either is constant."""
    if x.size < 3:
        return 0.0
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float(np.dot(xc, xc)) * float(np.dot(yc, yc)))
    return float(np.dot(xc, yc)) / den if den > 0 else 0.0


def learn_lag(
    indicator: FloatArray, rate: FloatArray, step_s: float, max_lag_s: float, smooth_s: float
) -> tuple[float, float]:
    """(lag in seconds, correlation) maximising the correlation of the indicator's rises
    with the rate's rises ``lag`` later, for lags 0 … ``max_lag_s`` on a ``step_s`` grid."""
    smooth = max(1, round(smooth_s / step_s))
    a, b = _rises(indicator, smooth), _rises(rate, smooth)
    n = a.size
    best_k, best_r = 0, 0.0
    for k in range(min(int(max_lag_s / step_s), n - 3) + 1):
        r = pearson(a[: n - k], b[k:])
        if r > best_r:
            best_k, best_r = k, r
    return best_k * step_s, best_r


def in_force(indicator: FloatArray, lag_steps: int) -> FloatArray:
    """Units announced at least ``lag_steps`` grid steps ago and still counted."""
    lagged = np.full(indicator.shape, np.nan)
    if lag_steps < indicator.size:
        lagged[lag_steps:] = indicator[: indicator.size - lag_steps]
    out: FloatArray = np.minimum(lagged, indicator)
    return out


def learn_realised(indicator: FloatArray, lag_steps: int, settle_steps: int) -> float | None:
    """Share of the units that appeared which were still counted ``lag_steps`` later,
    when their load was due: the rises of the units in force over the rises of the
    count. Units that leave the count before they are due (a job failing while it
    stages, a cancelled campaign) never sent, so announced units are worth this
    fraction of a unit in force. Only rises at least ``lag_steps + settle_steps`` old
    are judged (their fate is known); None when there are none."""
    n = indicator.size
    judged = n - lag_steps - settle_steps
    if judged <= 1:
        return None
    up = np.diff(indicator[:judged])
    appeared = float(np.sum(up[np.isfinite(up) & (up > 0)]))
    if appeared <= 0:
        return None
    forced = in_force(indicator, lag_steps)[: n - settle_steps]
    d = np.diff(forced[lag_steps:]) if forced.size > lag_steps + 1 else np.zeros(0)
    kept = float(np.sum(d[np.isfinite(d) & (d > 0)]))
    return min(1.0, kept / appeared)


def learn_load(
    indicator: FloatArray,
    rates: Mapping[str, FloatArray],
    primary: str,
    lag_steps: int,
) -> tuple[dict[str, float], float] | None:
    """(slope of each rate on the units in force, correlation of the primary rate), or
    None when the units in force never varied (nothing to learn from)."""
    units = in_force(indicator, lag_steps)
    ok = np.isfinite(units) & np.isfinite(rates[primary])
    u = units[ok]
    if u.size < 3 or float(u.var()) <= 0:
        return None
    slopes: dict[str, float] = {}
    for name, series in rates.items():
        both = ok & np.isfinite(series)
        uu, rr = units[both], series[both]
        var = float(uu.var()) if uu.size >= 3 else 0.0
        if var > 0:
            slope = float(np.mean((uu - uu.mean()) * (rr - rr.mean()))) / var
            slopes[name] = max(0.0, slope)
    return slopes, pearson(u, rates[primary][ok])


def _grid(
    history: Sequence[Observation], step_s: float
) -> tuple[Sequence[Observation], FloatArray, FloatArray] | None:
    """(history without repeated times, its times, a regular grid over them), or None
    when fewer than three grid points."""
    if len(history) < 3:
        return None
    times = np.fromiter((o.time_s for o in history), dtype=np.float64, count=len(history))
    if not np.all(np.diff(times) > 0):
        keep = np.concatenate(([True], np.diff(times) > 0))
        history = [o for o, k in zip(history, keep.tolist(), strict=True) if k]
        times = times[keep]
    grid = np.arange(times[0], times[-1] + step_s / 2, step_s)
    if grid.size < 3:
        return None
    return history, times, grid


def _column(
    history: Sequence[Observation], times: FloatArray, grid: FloatArray, get: str | int
) -> FloatArray:
    """Indicator ``get`` (an index) or signal ``get`` (a field name) held on ``grid``."""
    if isinstance(get, int):
        raw = (o.indicator(get) for o in history)
    else:
        raw = (o.value(get) for o in history)
    values = np.fromiter(
        (math.nan if v is None else v for v in raw), dtype=np.float64, count=len(history)
    )
    return held(times, values, grid)


def realised_share(
    history: Sequence[Observation], index: int, *, lag_s: float, step_s: float, settle_s: float
) -> float:
    """:func:`learn_realised` on ``history`` (1.0 when nothing there can be judged):
    for an indicator whose lag and load are given but whose realised share is not."""
    gridded = _grid(history, step_s)
    if gridded is None:
        return 1.0
    history, times, grid = gridded
    ind = _column(history, times, grid, index)
    share = learn_realised(ind, round(lag_s / step_s), round(settle_s / step_s))
    return 1.0 if share is None else share


def fit_indicator(
    history: Sequence[Observation],
    index: int,
    fields: Sequence[str],
    primary: str,
    *,
    step_s: float,
    max_lag_s: float,
    smooth_s: float,
    lag_s: float | None = None,
    settle_s: float = 0.0,
) -> IndicatorFit | None:
    """Fit indicator ``index`` (0-based) against the rate ``fields`` of ``history``.

    ``lag_s`` given: only the loads are fitted. ``settle_s``: seconds after a unit is
    due before its fate counts for the realised share (late starters). None when the
    history has fewer than three grid points or the indicator never varied. The caller
    judges the evidence.
    """
    gridded = _grid(history, step_s)
    if gridded is None:
        return None
    history, times, grid = gridded

    def column(get: str | int) -> FloatArray:
        return _column(history, times, grid, get)

    ind = column(index)
    rates = {name: column(name) for name in fields}
    if primary not in rates:
        return None
    lag_corr = 1.0
    if lag_s is None:
        lag_s, lag_corr = learn_lag(ind, rates[primary], step_s, max_lag_s, smooth_s)
    lag_steps = round(lag_s / step_s)
    loads = learn_load(ind, rates, primary, lag_steps)
    if loads is None:
        return None
    per_unit, load_corr = loads
    realised = learn_realised(ind, lag_steps, round(settle_s / step_s))
    return IndicatorFit(
        lag_s=lag_s,
        per_unit=per_unit,
        lag_correlation=lag_corr,
        load_correlation=load_corr,
        realised=1.0 if realised is None else realised,
    )
