"""What comes out of the pipeline: the replica count to ask for, and why."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """How much a decision can be trusted.

    ``ok``: computed from fresh, valid data. ``hold``: data was missing or invalid,
    so the last good decision is repeated (never lower). ``fail``: data has been
    bad for longer than the configured limit; the server answers with an error so
    that KEDA's ``fallback`` takes over.
    """

    OK = "ok"
    HOLD = "hold"
    FAIL = "fail"
    NO_SERIES = "no series"
    """Computed, but from a metrics source that matched no series at all for the
    fleet: probably a wrong label. Answered like ``ok`` (it may be an idle fleet at
    zero), shown and counted apart so a misconfiguration is visible."""


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A policy's raw answer before the guardrails.

    ``replicas`` may be fractional (e.g. 2.3 GPUs' worth of load); the pipeline
    rounds up only at the end so that the HPA sees the same ratio SuperSONIC's
    ``Value`` trigger would give it.
    """

    replicas: float
    reason: str
    signal: float | None = None
    target: float | None = None
    active: bool | None = None
    """Whether the fleet should be awake (0↔1). None lets the pipeline infer it
    from ``replicas > 0``."""
    details: dict[str, float] = field(default_factory=dict)
    """Named numbers behind the answer (e.g. a leading indicator's contribution in
    replicas), merged into the decision's ``inputs`` for logs and the dashboard."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The pipeline's output for one ScaledObject at ``time_s``.

    ``value`` is what the scaler reports to KEDA (``metricValueFloat``, with
    ``targetSizeFloat = 1`` and ``AverageValue`` semantics); ``replicas`` is its
    ceiling, what the HPA will ask for outside its tolerance.
    """

    time_s: float
    value: float
    status: Status
    reason: str
    active: bool
    policy: str
    recommended: float | None = None
    signal: float | None = None
    target: float | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    guardrails: tuple[str, ...] = ()

    @property
    def replicas(self) -> int:
        """Whole replicas: the ceiling of ``value`` (tolerant of float noise)."""
        return ceil_replicas(self.value)

    @property
    def valid(self) -> bool:
        return self.status is Status.OK

    def as_record(self) -> dict[str, Any]:
        """A flat record with every input and output, for logs, the API and CSV."""
        return {
            "time_s": self.time_s,
            "policy": self.policy,
            "status": self.status.value,
            "value": self.value,
            "replicas": self.replicas,
            "active": self.active,
            "recommended": self.recommended,
            "signal": self.signal,
            "target": self.target,
            "reason": self.reason,
            "guardrails": list(self.guardrails),
            "inputs": dict(self.inputs),
        }


def ceil_replicas(x: float) -> int:
    """Round a replica count up, ignoring float noise below 1e-9 (2.0000000001 → 2)."""
    if not math.isfinite(x) or x <= 0:
        return 0
    return max(0, math.ceil(x - 1e-9))
