"""PID policy: drive a latency signal to its target, in velocity (incremental) form.

Each decision is the *ready* replica count times one increment::

    e(t)   = clip((latency(t) − target) / target, −1, error_cap)       relative error
    ef(t)  = EMA of e with time constant derivative_filter_s               for D only
    Δ      = kp·(e(t) − e(t−T)) + ki·T·e(t) + kd/T·(ef(t) − 2·ef(t−T) + ef(t−2T))
    desired = base · (1 + max(Δ, −max_down_fraction))

with ``T = interval_s`` (the HPA sync period) and ``base`` the ready replica count
clamped to [min, max]. Gains are relative to the fleet, so the same tuning works at
2 GPUs and at 200: ``kp = 0.5`` adds half the fleet when the error jumps by one
target; ``ki·T = 0.3`` adds 30 % of the fleet per sync while latency is at twice its
target.

Why the ready count, not the HPA's desired count or the last decision, is the
state: it is what produced the latency being measured (the HPA's own ``Value``
rule multiplies the same count), it is read from the cluster so it survives a
scaler restart unchanged, and it holds the integral in the plant itself. While
pods ordered earlier are still starting, the error keeps being measured on the
fleet that is serving, so the increment is recomputed rather than piled on top of
the pending pods: no windup from the one-to-four-minute start-up. Pending pods are
kept (never cancelled) while latency is not below target. At the min/max bounds the
base is clamped, so nothing accumulates beyond them either (anti-windup).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import Field

from policies.base import PolicyContext, PolicyParams
from policies.decision import Recommendation
from policies.observation import Observation
from policies.threshold import ThresholdParams, ThresholdPolicy

SETTLE_WINDOW_S = 60.0
"""Seconds the ready count must have held, with no pod starting, before the policy adds
replicas again: a 30 s rate window must show the fleet it is measured on."""

LatencySignal = Literal["queue_time_per_request_ms", "queue_time_per_exec_ms"]


class PidParams(PolicyParams):
    """Gains and target of the PID policy (metadata keys in camelCase: ``targetMs``, ``kp``…)."""

    signal: LatencySignal = Field(
        default="queue_time_per_request_ms",
        description="Latency held at the target: mean queue time per request (ms) or "
        "SuperSONIC's queue time per batch execution (ms).",
    )
    target_ms: float = Field(
        default=50.0, gt=0, le=600_000, description="Target of the signal, milliseconds."
    )
    kp: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="Proportional gain: fraction of the fleet added per unit change of the "
        "relative error over one interval.",
    )
    ki: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Integral gain, 1/s: fraction of the fleet added per second per unit "
        "relative error.",
    )
    kd: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="Derivative gain, seconds, on the filtered error's change of slope.",
    )
    interval_s: float = Field(
        default=15.0,
        ge=1,
        le=600,
        description="Seconds between the errors that are differenced; set to the HPA "
        "sync period so each increment is seen once whatever the refresh rate.",
    )
    derivative_filter_s: float = Field(
        default=30.0,
        ge=0,
        le=3_600,
        description="Time constant (s) of the EMA the derivative is taken on (0: none).",
    )
    error_cap: float = Field(
        default=3.0,
        ge=0.1,
        le=100,
        description="Largest relative error counted (3: latency at 4× target); keeps a "
        "saturated queue from doubling the fleet every sync.",
    )
    max_down_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Largest fraction of the fleet one decision may remove.",
    )
    activation_rps: float = Field(
        default=0.0,
        ge=0,
        description="Wake from zero when the activation rate (req/s) exceeds this, or any "
        "request is pending (as the threshold policy).",
    )


def _error(obs: Observation, p: PidParams) -> float | None:
    v = obs.value(p.signal)
    if obs.ready_replicas <= 0 or v is None or not math.isfinite(v) or v < 0:
        return None
    return min(max((v - p.target_ms) / p.target_ms, -1.0), p.error_cap)


class _ErrorSeries:
    """Errors of the usable observations, oldest first, with their EMA."""

    def __init__(self, history: tuple[Observation, ...], p: PidParams) -> None:
        self.times: list[float] = []
        self.raw: list[float] = []
        self.ema: list[float] = []
        for o in history:
            e = _error(o, p)
            if e is None or (self.times and o.time_s <= self.times[-1]):
                continue
            if not self.ema or p.derivative_filter_s <= 0:
                f = e
            else:
                alpha = 1.0 - math.exp(-(o.time_s - self.times[-1]) / p.derivative_filter_s)
                f = self.ema[-1] + alpha * (e - self.ema[-1])
            self.times.append(o.time_s)
            self.raw.append(e)
            self.ema.append(f)

    def at(self, t: float) -> tuple[float, float]:
        """(raw, filtered) error at ``t``: the latest sample at or before it, else the
        oldest (no history yet: differences are 0 rather than invented)."""
        idx = 0
        for i, ti in enumerate(self.times):
            if ti <= t + 1e-9:
                idx = i
            else:
                break
        return self.raw[idx], self.ema[idx]


class PidPolicy:
    """Velocity-form PID on a latency signal; state is the ready replica count."""

    name: ClassVar[str] = "pid"
    params_model: ClassVar[type[PolicyParams]] = PidParams

    def required_signals(self, params: PidParams) -> tuple[str, ...]:
        return (params.signal,)

    def history_s(self, params: PidParams) -> float:
        return 2 * params.interval_s + 4 * params.derivative_filter_s

    def recommend(self, ctx: PolicyContext, params: PidParams) -> Recommendation:
        p = params
        wake = ThresholdPolicy().recommend(
            ctx,
            ThresholdParams(signal=p.signal, target=p.target_ms, activation_rps=p.activation_rps),
        )
        if ctx.current_replicas <= 0:
            return wake
        series = _ErrorSeries(ctx.history + (ctx.observation,), p)
        now = ctx.observation.time_s
        t = p.interval_s
        e0, f0 = series.at(now)
        e1, f1 = series.at(now - t)
        _, f2 = series.at(now - 2 * t)
        p_term = p.kp * (e0 - e1)
        i_term = p.ki * t * e0
        d_term = p.kd / t * (f0 - 2 * f1 + f2)
        delta = max(p_term + i_term + d_term, -p.max_down_fraction)
        upper = max(ctx.max_replicas, 1)
        base = float(min(max(ctx.current_replicas, ctx.min_replicas, 1), upper))
        desired = base * (1.0 + delta)
        signal = ctx.observation.value(p.signal)
        assert signal is not None
        reason = (
            f"{p.signal}={signal:.3g} vs target {p.target_ms:g} ms (error {e0:+.2f}); "
            f"P {p_term:+.3f} I {i_term:+.3f} D {d_term:+.3f} → {base:g} × "
            f"(1 {delta:+.3f}) = {desired:.2f}"
        )
        pending = ctx.observation.desired_replicas
        if pending is not None and pending > desired and delta >= 0 and e0 >= 0:
            desired = float(min(pending, upper))
            reason += f"; keep the {pending} replicas already ordered while they start"
        settled = all(
            o.ready_replicas == ctx.current_replicas
            and (o.desired_replicas is None or o.desired_replicas <= o.ready_replicas)
            for o in ctx.history
            if o.time_s >= now - SETTLE_WINDOW_S
        )
        if not settled and desired > max(base, float(pending or 0)):
            # The latency still shows the fleet before its last change (or one whose
            # ordered pods are starting): another increase on top of it would be
            # multiplied again as those pods arrive, which is how the fleet overshot
            # to 68 GPUs where 12 were needed. Hold until a rate window has passed.
            desired = max(base, float(min(pending or 0, upper)))
            reason += (
                f"; fleet changed or pods starting within {SETTLE_WINDOW_S:g} s: "
                f"hold {desired:g} until its latency shows"
            )
        return Recommendation(desired, reason, signal, p.target_ms, bool(wake.active))
