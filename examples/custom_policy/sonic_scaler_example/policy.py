"""Scale on requests in flight per replica, as Ray Serve's ``target_ongoing_requests``.

desired = (pending requests + request rate × expected service time) / target per
replica. Pure: it reads only the observation it is given (no I/O, no clock), so the
scaler's pipeline can hold on bad data and apply its guardrails to the answer.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from policies import PolicyContext, PolicyParams, Recommendation


class OngoingRequestsParams(PolicyParams):
    """Metadata keys in camelCase: ``targetOngoing``, ``serviceTimeMs``."""

    target_ongoing: float = Field(
        default=4.0, gt=0, le=10_000, description="Requests in flight one replica should hold."
    )
    service_time_ms: float = Field(
        default=12.0, gt=0, le=600_000, description="Mean time one request is served, ms."
    )


class OngoingRequestsPolicy:
    """desired = requests in flight / target per replica."""

    name: ClassVar[str] = "ongoing-requests"
    params_model: ClassVar[type[PolicyParams]] = OngoingRequestsParams

    def required_signals(self, params: OngoingRequestsParams) -> tuple[str, ...]:
        return ("pending_requests", "request_rate_rps")

    def history_s(self, params: OngoingRequestsParams) -> float:
        return 0.0

    def recommend(self, ctx: PolicyContext, params: OngoingRequestsParams) -> Recommendation:
        obs = ctx.observation
        pending = obs.pending_requests or 0.0
        rate = obs.request_rate_rps if obs.request_rate_rps is not None else obs.activation_rps
        in_service = (rate or 0.0) * params.service_time_ms / 1000.0
        ongoing = pending + in_service
        desired = ongoing / params.target_ongoing
        return Recommendation(
            replicas=desired,
            reason=(
                f"{pending:.1f} pending + {in_service:.1f} in service = {ongoing:.1f} in flight "
                f"/ {params.target_ongoing:g} per replica = {desired:.2f}"
            ),
            signal=ongoing / max(ctx.current_replicas, 1),
            target=params.target_ongoing,
        )
