"""Threshold policy: desired = current × signal / target, KEDA/HPA style.

With ``signal=queue_time_per_exec_ms`` and ``target_ms=100`` this is exactly
SuperSONIC's Prometheus trigger under ``metricType: Value``: the HPA computes
ceil(ready × metric / threshold), and we report the unrounded product so the
HPA applies its 10 % tolerance to the same ratio.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from policies.base import PolicyContext, PolicyParams
from policies.decision import Recommendation

Signal = Literal[
    "queue_time_per_request_ms",
    "queue_time_per_exec_ms",
    "gpu_utilization",
    "rps_per_replica",
]

_SOURCE: dict[str, str] = {
    "queue_time_per_request_ms": "queue_time_per_request_ms",
    "queue_time_per_exec_ms": "queue_time_per_exec_ms",
    "gpu_utilization": "gpu_utilization",
    "rps_per_replica": "request_rate_rps",
}


class ThresholdParams(PolicyParams):
    """Parameters of the threshold policy (metadata keys in camelCase)."""

    signal: Signal = Field(
        default="queue_time_per_request_ms",
        description="Which signal to hold at its target: mean queue time per request (ms), "
        "SuperSONIC's queue time per batch execution (ms), mean GPU utilisation (0–1), "
        "or request rate per replica (req/s).",
    )
    target: float = Field(
        default=50.0,
        gt=0,
        description="Target value of the signal per replica, in the signal's unit "
        "(ms, fraction 0–1, or req/s).",
    )
    activation_rps: float = Field(
        default=0.0,
        ge=0,
        description="Wake the fleet from zero when the request rate seen in front of it "
        "(activation signal, req/s) exceeds this, or any request is pending.",
    )


def _is_active(ctx: PolicyContext, threshold_rps: float) -> bool:
    obs = ctx.observation
    for name in ("activation_rps", "request_rate_rps"):
        v = obs.value(name)
        if v is not None and obs.is_usable(name) and v > threshold_rps:
            return True
    pending = obs.pending_requests
    return pending is not None and obs.is_usable("pending_requests") and pending > 0


class ThresholdPolicy:
    """desired = ceil(current × signal / target), with 0↔1 activation."""

    name: ClassVar[str] = "threshold"
    params_model: ClassVar[type[PolicyParams]] = ThresholdParams

    def required_signals(self, params: ThresholdParams) -> tuple[str, ...]:
        return (_SOURCE[params.signal],)

    def history_s(self, params: ThresholdParams) -> float:
        return 0.0

    def recommend(self, ctx: PolicyContext, params: ThresholdParams) -> Recommendation:
        active = _is_active(ctx, params.activation_rps)
        current = ctx.current_replicas
        if current == 0:
            return Recommendation(
                replicas=1.0 if active else 0.0,
                reason="no ready replicas; "
                + ("load is waiting: wake to 1" if active else "no load: stay at 0"),
                active=active,
            )
        signal = ctx.observation.value(_SOURCE[params.signal])
        assert signal is not None
        if params.signal == "rps_per_replica":
            per_replica = signal / current
            desired = signal / params.target
            reason = (
                f"{signal:.1f} req/s over {current} replicas = {per_replica:.1f} req/s each, "
                f"target {params.target:g} → {desired:.2f}"
            )
            return Recommendation(desired, reason, per_replica, params.target, active or None)
        desired = current * signal / params.target
        reason = (
            f"{params.signal}={signal:.3g} vs target {params.target:g} at {current} replicas "
            f"→ {current} × {signal:.3g} / {params.target:g} = {desired:.2f}"
        )
        return Recommendation(desired, reason, signal, params.target, active or None)
