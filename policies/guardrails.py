"""Guards shared by every policy, applied in a fixed order around its answer.

Order: stabilisation (scale down only to the highest recommendation of the
window) → activation (0↔1) → step limits per decision → min/max bounds. Bounds
come last so they always hold, whatever a policy (or plug-in) returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from policies.decision import ceil_replicas
from policies.naming import metadata_alias, metadata_key


def _key(model: type[BaseModel], name: str) -> str:
    """The metadata key of ``model``'s field ``name`` as the model now spells it, so a
    message or help text follows a rename of the key (never a spelling of its own)."""
    return metadata_key(name, model.model_fields[name])


def _schema_bounds(schema: JsonDict, model: type[Any]) -> None:
    """Say in the JSON schema (the dashboard's field help) which key the highest
    replica count must be at least, by that key's current name."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    prop = properties.get(_key(model, "max_replicas"))
    if isinstance(prop, dict):
        said = str(prop.get("description", "")).rstrip(".")
        prop["description"] = f"{said} (≥ {_key(model, 'min_replicas')})."


class Guardrails(BaseModel):
    """Limits in replicas and seconds, and their ScaledObject metadata keys: the one
    declaration of every guardrail key (``minReplicas``, ``maxReplicas``, ``maxStepUp``,
    ``maxStepDown``, ``scaleDownStabilizationSeconds``, ``staleAfterSeconds``,
    ``failAfterSeconds``); the metadata parser, the dashboard's override keys, tuning
    and the inverse config → metadata all read them from here.

    ``scale_down_stabilization_s``: a decision never goes below the highest
    recommendation of this many seconds (the HPA's down-window, applied here too
    so the reported value itself is steady). ``stale_after_s``: an observation
    older than this is treated as missing. ``fail_after_s``: after holding this
    long the decision fails, so KEDA's fallback takes over.
    """

    model_config = ConfigDict(
        alias_generator=metadata_alias,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        json_schema_extra=_schema_bounds,
    )

    min_replicas: int = Field(default=0, ge=0, le=10_000, description="Lowest replica count.")
    max_replicas: int = Field(default=100, ge=1, le=10_000, description="Highest replica count.")
    max_step_up: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Most replicas added per decision (unset: no limit).",
    )
    max_step_down: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Most replicas removed per decision (unset: no limit).",
    )
    scale_down_stabilization_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="Seconds: never report less than the highest recommendation of this window.",
    )
    stale_after_s: float = Field(
        default=90.0, gt=0, le=3_600, description="Seconds: older metrics count as missing."
    )
    fail_after_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="Seconds of missing data after which GetMetrics errors (KEDA fallback).",
    )

    @model_validator(mode="after")
    def _bounds(self) -> Guardrails:
        if self.max_replicas < self.min_replicas:
            model = type(self)
            raise ValueError(
                f"{_key(model, 'max_replicas')} ({self.max_replicas}) must be ≥ "
                f"{_key(model, 'min_replicas')} ({self.min_replicas})"
            )
        return self


@dataclass(frozen=True, slots=True)
class Guarded:
    """A guarded value and the names of the guards that changed it."""

    value: float
    applied: tuple[str, ...]


def stabilize(
    value: float,
    now_s: float,
    window: tuple[tuple[float, float], ...],
    window_s: float,
) -> tuple[float, tuple[tuple[float, float], ...]]:
    """Highest of ``value`` and the recommendations of the last ``window_s`` seconds.

    Returns the stabilised value and the trimmed window ending with ``value``.
    Scale-up is immediate (a new maximum wins); scale-down waits for the window.
    Entries no higher than ``value`` are dropped too: ``value`` is newer, so it stays
    in the window longer and none of them can be the maximum again. The window thus
    stays a short decreasing run (a few entries, not every decision of the window).
    """
    kept = [(t, v) for t, v in window if now_s - t < window_s]
    while kept and kept[-1][1] <= value:
        kept.pop()
    highest = max([v for _, v in kept], default=value)
    kept.append((now_s, value))
    return max(highest, value), tuple(kept)


def apply_guardrails(
    recommended: float,
    stabilised: float,
    base: float,
    active: bool,
    g: Guardrails,
) -> Guarded:
    """Activation, step limits relative to ``base`` (the last decision), then bounds."""
    applied: list[str] = []
    value = stabilised
    if stabilised > recommended:
        applied.append("stabilization")
    if active and value < 1:
        value = 1.0
        applied.append("activation")
    if not active and g.min_replicas == 0 and value > 0 and ceil_replicas(value) <= 1:
        value = 0.0
        applied.append("deactivation")
    if g.max_step_up is not None and value > base + g.max_step_up:
        value = base + g.max_step_up
        applied.append("max_step_up")
    if g.max_step_down is not None and value < base - g.max_step_down:
        value = base - g.max_step_down
        applied.append("max_step_down")
    if value < g.min_replicas:
        value = float(g.min_replicas)
        applied.append("min_replicas")
    if value > g.max_replicas:
        value = float(g.max_replicas)
        applied.append("max_replicas")
    return Guarded(value=max(0.0, value), applied=tuple(applied))
