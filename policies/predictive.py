"""Predictive policy: provision now for the load that arrives when the pods are ready.

A GPU pod ordered now serves only after ``lead_time_s`` (start-up + KEDA poll + HPA
sync), so each decision asks for the replicas the *forecast* rate needs::

    desired = headroom × (forecast upper rate + scheduled campaigns) / capacity per replica

- the forecast (:mod:`policies.forecast`) is an upper quantile over the lead time,
  with trend, peak hold for steps and square waves, and optional daily seasonality;
- the capacity per replica at the latency target (:mod:`policies.capacity`) is
  learned from the history, starting from ``capacity_rps_prior``;
- known campaigns (:mod:`policies.schedule`) are added before they start;
- a reactive floor: whenever the latency signal is over ``target_ms`` the answer is at
  least the threshold policy's (current × latency / target, the ratio counted up to
  ``reactive_cap``), which catches what the forecast could not foresee or a capacity
  that was guessed too high;
- until the history covers the peak window (or the lead time) the answer is never
  below the ready count: a restarted scaler, or one handed a warm fleet, does not yet
  know what that fleet was sized for.

History: ``history_s`` is the larger of the trend, peak and capacity windows (1 h by
default, ≈ 720 observations at a 5 s refresh, ≈ 120 kB per ScaledObject); with
``seasonality`` on it is a day and a bit (≈ 17,300 observations, ≈ 3 MB per
ScaledObject, and a few milliseconds per decision to scan). The server rebuilds it
from Prometheus range queries after a restart, so the answer does not change.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from policies.base import PolicyContext, PolicyParams
from policies.capacity import estimate_capacity
from policies.decision import Recommendation
from policies.forecast import DAY_S, FloatArray, ForecastSettings, SlopeWindow, forecast
from policies.history import HistoryColumns, history_columns
from policies.pid import LatencySignal
from policies.schedule import (
    LEVEL_WINDOW_S,
    SETTLE_S,
    Schedule,
    level_before_from,
    scheduled_load,
)
from policies.threshold import ThresholdParams, ThresholdPolicy
from policies.work import learned_capacity, work_history

SETTLE_WINDOW_S = 60.0
"""Seconds the fleet must have kept its size, with no pod starting, for the latency
floor to count: a 30 s rate window must not mix two fleet sizes."""


class PredictiveParams(PolicyParams):
    """Forecast, capacity and schedule settings (metadata keys in camelCase)."""

    signal: LatencySignal = Field(
        default="queue_time_per_request_ms",
        description="Latency signal for the reactive floor and for learning capacity (ms).",
    )
    target_ms: float = Field(
        default=50.0, gt=0, le=600_000, description="Target of the latency signal, ms."
    )
    lead_time_s: float = Field(
        default=105.0,
        ge=0,
        le=3_600,
        description="Seconds from ordering a pod to it serving: start-up (60) + KEDA poll "
        "(30) + HPA sync (15) by default.",
    )
    quantile: float = Field(
        default=0.9, ge=0.5, le=0.999, description="Upper quantile of the forecast to provision."
    )
    trend_window_s: float = Field(
        default=600.0, ge=30, le=7_200, description="Seconds of history the trend is fitted on."
    )
    peak_window_s: float = Field(
        default=120.0,
        ge=0,
        le=3_600,
        description="Seconds over which the highest rate is held (steps, square waves).",
    )
    trend_weight: float = Field(
        default=1.0, ge=0, le=2, description="How much of a rising trend to project (0: none)."
    )
    seasonality: bool = Field(
        default=False,
        description="Blend in yesterday's load over the coming lead time (keeps a day of "
        "history: ≈ 3 MB per ScaledObject).",
    )
    seasonal_weight: float = Field(
        default=0.5, ge=0, le=1, description="Weight of yesterday's load when seasonality is on."
    )
    capacity_rps_prior: float = Field(
        default=80.0,
        gt=0,
        le=1e9,
        description="Prior req/s one replica serves at the target (LIGO batch-128: ≈ 80).",
    )
    capacity_blend: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="Weight the learned capacity gets once there is evidence (0: prior only).",
    )
    capacity_window_s: float = Field(
        default=3_600.0,
        ge=60,
        le=86_400,
        description="Seconds of history capacity is learned from.",
    )
    headroom: float = Field(
        default=1.0, ge=1, le=3, description="Multiplier on the forecast replicas (spare)."
    )
    reactive_cap: float = Field(
        default=4.0,
        ge=1,
        le=100,
        description="Largest latency / target ratio the reactive floor counts (4: it asks "
        "for at most 4× the ready replicas), so a queue left from a burst does not send "
        "the fleet to its maximum.",
    )
    schedule: Schedule = Field(
        default=(), description="Known campaigns: START/DURATION/RATE;… or JSON."
    )
    activation_rps: float = Field(
        default=0.0,
        ge=0,
        description="Wake from zero when the activation rate (req/s) exceeds this, or any "
        "request is pending.",
    )


@dataclass(frozen=True, slots=True)
class _Samples:
    """The history as arrays: every usable rate, and (rate per replica, latency) pairs
    where replicas were serving and the latency was finite."""

    times: FloatArray
    rates: FloatArray
    pair_times: FloatArray
    per_replica: FloatArray
    latency: FloatArray
    busy: FloatArray


def _samples(cols: HistoryColumns, signal: str) -> _Samples:
    """Rates (the served rate, else the one in front of the fleet) at strictly
    increasing times, and (time, rate per replica, latency, busy) where replicas served."""
    times = cols.column("time_s")
    served = cols.column("request_rate_rps")
    front = cols.column("activation_rps")
    ready = cols.column("ready_replicas")
    latency = cols.column(signal)
    busy = cols.column("gpu_utilization")
    with np.errstate(invalid="ignore"):
        served_ok = np.isfinite(served) & (served >= 0)
        front_ok = np.isfinite(front) & (front >= 0)
    rate = np.where(served_ok, served, np.where(front_ok, front, np.nan))
    valid = np.flatnonzero(served_ok | front_ok)
    t = times[valid]
    later = np.ones(len(t), dtype=bool)
    if len(t) > 1:
        later[1:] = t[1:] > np.maximum.accumulate(t)[:-1]
    kept = valid[later]
    r = rate[kept]
    with np.errstate(invalid="ignore"):
        paired = kept[(ready[kept] > 0) & (r > 0) & np.isfinite(latency[kept])]
    b = busy[paired]
    return _Samples(
        times=times[kept],
        rates=r,
        pair_times=times[paired],
        per_replica=rate[paired] / ready[paired],
        latency=latency[paired],
        busy=np.where(np.isfinite(b), b, np.nan),
    )


def _rate_ends(cols: HistoryColumns) -> tuple[float | None, float]:
    """(time of the first usable rate or None, the last usable rate or 0) of
    :func:`_samples`, without its arrays, for columns whose times increase (then every
    usable rate is kept): a decision that sizes by Triton's counters needs only these."""
    served, front = cols.column("request_rate_rps"), cols.column("activation_rps")
    n = served.size

    def rate(i: int) -> float | None:
        for x in (served[i], front[i]):
            if math.isfinite(x) and x >= 0:
                return float(x)
        return None

    first = next((i for i in range(n) if rate(i) is not None), None)
    if first is None:
        return None, 0.0
    last = next(v for i in range(n - 1, first - 1, -1) if (v := rate(i)) is not None)
    return float(cols.column("time_s")[first]), last


@functools.lru_cache(maxsize=64)
def _floor_params(signal: str, target_ms: float, activation_rps: float) -> ThresholdParams:
    """The reactive floor's threshold settings (validated once, not at every decision)."""
    return ThresholdParams(signal=signal, target=target_ms, activation_rps=activation_rps)


class PredictivePolicy:
    """Forecast × learned capacity, plus schedule, with a reactive latency floor."""

    name: ClassVar[str] = "predictive"
    params_model: ClassVar[type[PolicyParams]] = PredictiveParams

    def required_signals(self, params: PredictiveParams) -> tuple[str, ...]:
        return ("request_rate_rps", params.signal)

    def history_s(self, params: PredictiveParams) -> float:
        need = max(
            params.trend_window_s,
            params.peak_window_s,
            params.capacity_window_s,
            SETTLE_S + LEVEL_WINDOW_S,
        )
        if params.seasonality:
            need = max(need, DAY_S + params.peak_window_s + params.lead_time_s)
        return need

    def recommend(self, ctx: PolicyContext, params: PredictiveParams) -> Recommendation:
        p = params
        now = ctx.observation.time_s
        history = ctx.history
        if not history or history[-1] is not ctx.observation:
            history = history + (ctx.observation,)
        cols = history_columns(history, ctx.columns)
        settings = ForecastSettings(
            horizon_s=p.lead_time_s,
            quantile=p.quantile,
            trend_window_s=p.trend_window_s,
            peak_window_s=p.peak_window_s,
            trend_weight=p.trend_weight,
            seasonal_weight=p.seasonal_weight if p.seasonality else 0.0,
        )
        work = work_history(history, 1, cols)
        counted = learned_capacity(work, now, p.capacity_window_s)
        ends = _rate_ends(cols) if work.columns is not None else None
        data = None
        if ends is None:
            data = _samples(cols, p.signal)
            ends = (float(data.times[0]), float(data.rates[-1])) if data.rates.size else (None, 0.0)
        first_s, level_now = ends
        load = scheduled_load(
            p.schedule,
            now,
            p.lead_time_s,
            level_now,
            level_before_from(history, LEVEL_WINDOW_S),
        )
        has = np.isfinite(work.work)
        known = np.flatnonzero(has)
        if counted is not None and known.size:
            # Triton's counters show the work (items/s) and what a replica does with
            # it: size in items, so many small requests are not priced as large ones
            # and a larger fleet's smaller batches cannot shrink the capacity (the
            # busy-fraction estimate below ratchets the fleet up on mixed traffic).
            work_known = work.work[known]
            if work.columns is not None:
                # The trend's pairwise slopes are kept from decision to decision.
                ids = known + (work.columns.offset + work.first)
                slopes = work.columns.carried(("trend slopes", p.trend_window_s), SlopeWindow)
                wfc = forecast(work.times[known], work_known, now, settings, ids=ids, slopes=slopes)
            else:
                wfc = forecast(work.times[known], work_known, now, settings)
            items_per_request = float(work_known[-1]) / level_now if level_now > 0 else 1.0
            planned = wfc.upper_rps + load.extra_rps * items_per_request
            predicted = p.headroom * planned / counted.items_s
            reason = (
                f"work {wfc.describe().removeprefix('forecast ')} items/s"
                + (f" + {load.describe()}" if load.extra_rps > 0 else "")
                + f"; capacity {counted.items_s:.0f} items/s per replica from Triton's "
                f"counters → {predicted:.2f} replicas in {p.lead_time_s:g} s"
            )
        else:
            # Without Triton's counters: the request rate's forecast (only then: a
            # Theil-Sen fit is most of a decision's cost) and the capacity it is sized by.
            if data is None:
                data = _samples(cols, p.signal)
            fc = forecast(data.times, data.rates, now, settings)
            keep = data.pair_times >= now - p.capacity_window_s
            capacity = estimate_capacity(
                data.per_replica[keep],
                data.latency[keep],
                p.target_ms,
                p.capacity_rps_prior,
                p.capacity_blend,
                data.busy[keep],
            )
            planned_rps = fc.upper_rps + load.extra_rps
            predicted = p.headroom * planned_rps / capacity.rps_per_replica
            reason = (
                f"{fc.describe()}"
                + (f" + {load.describe()}" if load.extra_rps > 0 else "")
                + f"; {capacity.describe()} → {predicted:.2f} replicas in {p.lead_time_s:g} s"
            )
        seen_s = now - first_s if first_s is not None else 0.0
        if seen_s < min(p.peak_window_s, p.lead_time_s) and ctx.current_replicas > predicted:
            predicted = float(ctx.current_replicas)
            reason += (
                f"; only {seen_s:.0f} s of history (less than the peak window or lead time): "
                f"keep the {ctx.current_replicas} ready"
            )
        signal = ctx.observation.value(p.signal) if ctx.current_replicas > 0 else None
        floor_ctx = ctx
        if signal is not None and signal > p.reactive_cap * p.target_ms:
            cap: dict[str, Any] = {p.signal: p.reactive_cap * p.target_ms}
            capped = dataclasses.replace(ctx.observation, **cap)
            floor_ctx = dataclasses.replace(ctx, observation=capped)
        floor = ThresholdPolicy().recommend(
            floor_ctx, _floor_params(p.signal, p.target_ms, p.activation_rps)
        )
        desired = predicted
        # While ordered pods start, or within a rate window of the fleet changing, the
        # latency is that of another fleet: a floor of ready × latency / target would
        # be multiplied again as each pod arrives (the fleet ratchets up), so it counts
        # only on a settled fleet. There it applies below the target too, so the fleet
        # holds what the latency needs instead of dropping and queueing again.
        if work.columns is not None:  # times increase: the recent rows are the last ones
            first = int(np.searchsorted(cols.column("time_s"), now - SETTLE_WINDOW_S, "left"))
            recent_rows: slice | npt.NDArray[np.bool_] = slice(first, None)
        else:
            recent_rows = cols.column("time_s") >= now - SETTLE_WINDOW_S
        ready_rows = cols.column("ready_replicas")[recent_rows]
        desired_rows = cols.column("desired_replicas")[recent_rows]
        settled = ctx.current_replicas > 0 and bool(
            (
                (ready_rows == ctx.current_replicas)
                & (np.isnan(desired_rows) | (desired_rows <= ready_rows))
            ).all()
        )
        if settled and counted is not None:
            # A backlog the fleet cannot clear within the target is an overload the
            # forecast already counts; its queue time says nothing more, and neither
            # does the queue time of the rate window after it: that window still
            # averages the backlog's drain (a floor of 8 × 4 replicas after a step
            # the work rate had already sized 8 for).
            recent = slice(int(np.searchsorted(work.times, now - SETTLE_WINDOW_S, "left")), None)
            limit = counted.items_s * work.ready[recent] * p.target_ms / 1000.0
            with np.errstate(invalid="ignore"):
                settled = not bool((work.backlog_items[recent] > limit).any())
        if (settled or ctx.current_replicas == 0) and floor.replicas > desired:
            desired = floor.replicas
            reason += f"; reactive floor: {floor.reason}"
        active = bool(floor.active) or desired > 0
        return Recommendation(
            desired, reason, signal, p.target_ms if signal is not None else None, active
        )
