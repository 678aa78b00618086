"""Guards shared by every policy, applied in a fixed order around its answer.

Order: stabilisation (scale down only to the highest recommendation of the
window) → activation (0↔1) → step limits per decision → min/max bounds. Bounds
come last so they always hold, whatever a policy (or plug-in) returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.decision import ceil_replicas


@dataclass(frozen=True, slots=True)
class Guardrails:
    """Limits in replicas and seconds.

    ``scale_down_stabilization_s``: a decision never goes below the highest
    recommendation of this many seconds (the HPA's down-window, applied here too
    so the reported value itself is steady). ``stale_after_s``: an observation
    older than this is treated as missing. ``fail_after_s``: after holding this
    long the decision fails, so KEDA's fallback takes over.
    """

    min_replicas: int = 0
    max_replicas: int = 100
    max_step_up: int | None = None
    max_step_down: int | None = None
    scale_down_stabilization_s: float = 300.0
    stale_after_s: float = 90.0
    fail_after_s: float = 300.0

    def __post_init__(self) -> None:
        if self.min_replicas < 0:
            raise ValueError(f"min_replicas={self.min_replicas}: must be ≥ 0")
        if self.max_replicas < max(1, self.min_replicas):
            raise ValueError(
                f"max_replicas={self.max_replicas}: must be ≥ 1 and ≥ min_replicas "
                f"({self.min_replicas})"
            )
        for name in ("max_step_up", "max_step_down"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"{name}={v}: must be ≥ 1 or unset")
        for name in ("scale_down_stabilization_s", "stale_after_s", "fail_after_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be ≥ 0 seconds")


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

    Returns the stabilised value and the trimmed window including ``value``.
    Scale-up is immediate (a new maximum wins); scale-down waits for the window.
    """
    kept = tuple((t, v) for t, v in window if now_s - t < window_s) + ((now_s, value),)
    return max(v for _, v in kept), kept


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
