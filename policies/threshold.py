"""Threshold policy: desired = current × signal / target, KEDA/HPA style.

With ``signal=queue_time_per_exec_ms`` and ``target_ms=100`` this is exactly
SuperSONIC's Prometheus trigger under ``metricType: Value``: the HPA computes
ceil(ready × metric / threshold), and we report the unrounded product so the
HPA applies its 10 % tolerance to the same ratio.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field, model_validator

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

LATENCY_SIGNALS = frozenset({"queue_time_per_request_ms", "queue_time_per_exec_ms"})
"""Signals in milliseconds: their target is ``targetMs``, as in every other policy."""

DEFAULT_TARGET: dict[str, float] = {"gpu_utilization": 0.7, "rps_per_replica": 50.0}
"""``target`` of the non-latency signals when unset (fraction 0–1, req/s per replica)."""


class ThresholdParams(PolicyParams):
    """Parameters of the threshold policy. A latency signal's target is ``targetMs``
    (the one name of a latency target in every policy); GPU utilisation and request
    rate per replica take ``target`` in their own unit. :attr:`goal` is the target in
    force. ``target`` with a latency signal is the deprecated spelling of ``targetMs``
    (the parser renames it with a warning; Python callers may still pass it)."""

    signal: Signal = Field(
        default="queue_time_per_request_ms",
        description="Which signal to hold at its target: mean queue time per request (ms), "
        "SuperSONIC's queue time per batch execution (ms), mean GPU utilisation (0–1), "
        "or request rate per replica (req/s).",
    )
    target_ms: float = Field(
        default=50.0,
        gt=0,
        le=600_000,
        description="Target of a latency signal (queue_time_*), milliseconds.",
    )
    target: float | None = Field(
        default=None,
        gt=0,
        description="Target per replica of a non-latency signal: GPU utilisation as a "
        "fraction 0–1 (default 0.7) or req/s per replica (default 50).",
    )
    activation_rps: float = Field(
        default=0.0,
        ge=0,
        description="Wake the fleet from zero when the request rate seen in front of it "
        "(activation signal, req/s) exceeds this, or any request is pending.",
    )

    @model_validator(mode="after")
    def _target_fits_signal(self) -> ThresholdParams:
        if self.signal not in LATENCY_SIGNALS and "target_ms" in self.model_fields_set:
            raise ValueError(
                f"targetMs is the target of a latency signal; signal {self.signal} "
                "takes `target` (fraction 0–1 or req/s per replica)"
            )
        if (
            self.signal in LATENCY_SIGNALS
            and self.target is not None
            and "target_ms" in self.model_fields_set
        ):
            raise ValueError(f"signal {self.signal} takes targetMs: remove `target`")
        return self

    @property
    def goal(self) -> float:
        """The target in force, in the signal's unit."""
        if self.signal in LATENCY_SIGNALS:
            return self.target if self.target is not None else self.target_ms
        return self.target if self.target is not None else DEFAULT_TARGET[self.signal]

    @classmethod
    def renamed_keys(cls, metadata: Mapping[str, str]) -> dict[str, str]:
        out = super().renamed_keys(metadata)
        signal = metadata.get("signal", cls.model_fields["signal"].default)
        if signal in LATENCY_SIGNALS:
            out["target"] = "targetMs"
        return out

    @classmethod
    def unused_keys(cls, metadata: Mapping[str, str]) -> frozenset[str]:
        signal = metadata.get("signal", cls.model_fields["signal"].default)
        return frozenset({"target"} if signal in LATENCY_SIGNALS else {"targetMs"})


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
            desired = signal / params.goal
            reason = (
                f"{signal:.1f} req/s over {current} replicas = {per_replica:.1f} req/s each, "
                f"target {params.goal:g} → {desired:.2f}"
            )
            return Recommendation(desired, reason, per_replica, params.goal, active or None)
        desired = current * signal / params.goal
        reason = (
            f"{params.signal}={signal:.3g} vs target {params.goal:g} at {current} replicas "
            f"→ {current} × {signal:.3g} / {params.goal:g} = {desired:.2f}"
        )
        return Recommendation(desired, reason, signal, params.goal, active or None)
