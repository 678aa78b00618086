"""Static provisioning: always the same replica count, whatever the load.

The baseline every autoscaler must beat on GPU-hours: provisioned at the trace's
peak need it meets the SLO all day and pays for the peak all day.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from policies.base import PolicyContext, PolicyParams
from policies.decision import Recommendation


class StaticParams(PolicyParams):
    """Parameters of the static policy (metadata key ``replicas``)."""

    replicas: int = Field(default=1, ge=0, le=10_000, description="Replicas to hold.")


class StaticPolicy:
    """desired = ``replicas``; needs no signal, so it never holds on missing data."""

    name: ClassVar[str] = "static"
    params_model: ClassVar[type[PolicyParams]] = StaticParams

    def required_signals(self, params: StaticParams) -> tuple[str, ...]:
        return ()

    def history_s(self, params: StaticParams) -> float:
        return 0.0

    def recommend(self, ctx: PolicyContext, params: StaticParams) -> Recommendation:
        return Recommendation(
            replicas=float(params.replicas),
            reason=f"static: always {params.replicas} replicas",
            active=params.replicas > 0,
        )
