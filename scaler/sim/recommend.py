"""What to deploy: the cheapest run of a comparison that meets the SLO target, with its
trigger metadata ready to paste (``scaler simulate``'s table, JSON and HTML report).

"Meets" means SLO attainment (the share of requests within the SLO) at or above the
target. Among those, the fewest GPU-hours wins; a tie goes to the higher share of
1-minute windows meeting the SLO. When no run meets the target the recommendation
says so and names the run that came closest, so a reader never mistakes it for a pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scaler.metadata import as_written
from scaler.sim.engine import RunResult
from scaler.sim.paste import complete_metadata, metadata_block

DEFAULT_TARGET = 0.99
"""SLO attainment a run must reach to be recommended, unless ``--slo-target`` says."""


@dataclass(frozen=True, slots=True)
class Recommendation:
    """``run``: the recommended run's name; ``meets``: whether it reaches ``target``;
    ``metadata``: its complete trigger metadata as written (a ``<key>FromEnv`` names
    its variable, never its value; :func:`scaler.metadata.as_written`);
    ``example_keys``: scope keys filled in from the README example (to be replaced by a
    site's own)."""

    run: str
    meets: bool
    target: float
    gpu_hours: float
    x_oracle: float | None
    slo_attainment: float
    windows_met: float | None
    metadata: dict[str, str]
    example_keys: tuple[str, ...]

    @property
    def block(self) -> str:
        """The metadata as a ready-to-paste ``metadata:`` block."""
        return metadata_block(self.metadata, example=list(self.example_keys))

    def headline(self) -> str:
        """One sentence: what to deploy and why (or why nothing qualifies)."""
        ratio = "" if self.x_oracle is None else f" ({self.x_oracle:.2f}× oracle)"
        windows = (
            ""
            if self.windows_met is None
            else f", {self.windows_met * 100:.2f} % of 1-minute windows"
        )
        score = (
            f"{self.gpu_hours:,.2f} GPU-h{ratio}, {self.slo_attainment * 100:.2f} % of "
            f"requests within the SLO{windows}"
        )
        if self.meets:
            return (
                f"Recommended: {self.run}, the cheapest run meeting the "
                f"{self.target * 100:g} % SLO target: {score}."
            )
        return (
            f"No run meets the {self.target * 100:g} % SLO target; closest: {self.run}: "
            f"{score}. Raise maxReplicas, lower the start-up time or tune a policy."
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "run": self.run,
            "meets_target": self.meets,
            "slo_target": self.target,
            "gpu_hours": self.gpu_hours,
            "gpu_hours_vs_oracle": self.x_oracle,
            "slo_attainment": self.slo_attainment,
            "windows_met": self.windows_met,
            "metadata": self.metadata,
            "example_keys": list(self.example_keys),
        }


def recommend(
    runs: Sequence[RunResult], oracle_gpu_hours: float, target: float = DEFAULT_TARGET
) -> Recommendation | None:
    """The cheapest run meeting ``target`` (else the closest); None without runs."""
    if not runs:
        return None
    meeting = [r for r in runs if r.scores.slo_attainment >= target]
    if meeting:
        best = min(meeting, key=lambda r: (r.scores.gpu_hours, -_windows(r)))
    else:
        best = max(runs, key=lambda r: (r.scores.slo_attainment, -r.scores.gpu_hours))
    s = best.scores
    meta, example = complete_metadata(
        as_written(best.metadata, best.from_env),
        best.min_replicas,
        best.max_replicas if best.max_replicas > 0 else 100,
    )
    return Recommendation(
        run=best.name,
        meets=bool(meeting),
        target=target,
        gpu_hours=s.gpu_hours,
        x_oracle=s.gpu_hours / oracle_gpu_hours if oracle_gpu_hours > 0 else None,
        slo_attainment=s.slo_attainment,
        windows_met=None if math.isnan(s.windows_met) else s.windows_met,
        metadata=meta,
        example_keys=tuple(example),
    )


def _windows(run: RunResult) -> float:
    w = run.scores.windows_met
    return 0.0 if math.isnan(w) else w
