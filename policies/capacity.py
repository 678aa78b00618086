"""What one replica can serve at the latency target, learned from what the fleet did.

Every observation with ready replicas is a small experiment: the fleet served
``rate / ready`` req/s per replica, and its queue time was either within the target
or not. Within target, capacity is *at least* that rate (evidence from below); over
target, capacity is *at most* that rate (evidence from above). A robust high quantile
of the first and a robust low quantile of the second bound the capacity; the prior is
moved into those bounds, and the result is blended with the prior by a weight that
grows with the amount of evidence. So a site starts from its prior (e.g. 80 req/s per
GPU for LIGO's batch-128 requests) and converges on what its fleet actually does,
without measuring it by hand; where the evidence conflicts (a fleet both slow and
fast at similar rates, e.g. while pods start), the lower figure wins so the answer
errs towards more GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

LOWER_QUANTILE = 0.9
"""Quantile of the within-target rates taken as "capacity is at least": a robust max."""

UPPER_QUANTILE = 0.1
"""Quantile of the over-target rates taken as "capacity is at most": a robust min."""

EVIDENCE_HALF = 12
"""Usable observations after which the data carries half of ``blend`` (≈ 1 min at 5 s)."""


@dataclass(frozen=True, slots=True)
class CapacityEstimate:
    """Requests per second one replica serves with queue time at the target."""

    rps_per_replica: float
    prior_rps: float
    at_least_rps: float | None
    at_most_rps: float | None
    samples: int
    weight: float

    def describe(self) -> str:
        bounds = []
        if self.at_least_rps is not None:
            bounds.append(f"≥ {self.at_least_rps:.1f}")
        if self.at_most_rps is not None:
            bounds.append(f"≤ {self.at_most_rps:.1f}")
        seen = f" seen {' and '.join(bounds)}" if bounds else ""
        return (
            f"capacity {self.rps_per_replica:.1f} req/s per replica (prior "
            f"{self.prior_rps:g},{seen} over {self.samples} samples, weight {self.weight:.2f})"
        )


def estimate_capacity(
    rps_per_replica: npt.NDArray[np.float64],
    latency_ms: npt.NDArray[np.float64],
    target_ms: float,
    prior_rps: float,
    blend: float,
) -> CapacityEstimate:
    """Blend ``prior_rps`` with the bounds the samples put on capacity.

    ``rps_per_replica`` and ``latency_ms`` are paired samples (finite, rate > 0);
    ``blend`` (0–1) is the weight the data gets once there is plenty of it.
    """
    within = rps_per_replica[latency_ms <= target_ms]
    over = rps_per_replica[latency_ms > target_ms]
    at_least = float(np.quantile(within, LOWER_QUANTILE)) if within.size else None
    at_most = float(np.quantile(over, UPPER_QUANTILE)) if over.size else None
    learned = prior_rps
    if at_least is not None:
        learned = max(learned, at_least)
    if at_most is not None:
        learned = min(learned, at_most)
    n = int(rps_per_replica.size)
    weight = blend * n / (n + EVIDENCE_HALF)
    value = (1 - weight) * prior_rps + weight * learned
    return CapacityEstimate(
        rps_per_replica=max(value, 1e-9),
        prior_rps=prior_rps,
        at_least_rps=at_least,
        at_most_rps=at_most,
        samples=n,
        weight=weight,
    )
