"""What one replica can serve at the latency target, learned from what the fleet did.

Two kinds of evidence, from the history of (rate per replica, latency, GPU busy
fraction) samples:

- **bounds**: at ``rate / ready`` req/s per replica the queue time was within the
  target (capacity is *at least* that) or over it (capacity is *at most* that). A
  robust high quantile of the first and a robust low quantile of the second bound
  the capacity. A lower bound alone only says what the current fleet already
  serves, so while latency is fine it can never show that fewer GPUs would do.
- **utilisation**: a replica busy a fraction ``u`` of the time while serving ``r``
  req/s would serve about ``r / u`` req/s fully busy. The ratio of the sums over the
  samples with a meaningful busy fraction (≥ :data:`MIN_BUSY`), times
  :data:`BUSY_AT_TARGET`, is an *estimate* rather than a bound, and it is what lets
  a fleet that is mostly idle learn that it is too big. Small batches at low load
  cost more per request than full ones, so at low load it errs low (more GPUs).

The learned figure is the utilisation estimate (the prior when there is no
utilisation data) moved into the bounds; conflicting evidence resolves to the lower
figure, so the answer errs towards more GPUs. On bursty load the upper bound is what
counts the burstiness: a 30 s mean rate over target at a modest rate per replica
says that, for this traffic, capacity at the target is no more than that rate. The
result is blended with the prior by a weight that grows with the amount of
evidence, so a site starts from its prior (e.g. 80 req/s per GPU for LIGO's
batch-128 requests) and converges on what its fleet actually does, without
measuring it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from policies.stats import quantile

LOWER_QUANTILE = 0.9
"""Quantile of the within-target rates taken as "capacity is at least": a robust max."""

UPPER_QUANTILE = 0.1
"""Quantile of the over-target rates taken as "capacity is at most": a robust min."""

EVIDENCE_HALF = 12
"""Usable observations after which the data carries half of ``blend`` (≈ 1 min at 5 s)."""

MIN_BUSY = 0.1
"""Busy fraction below which a sample says too little about capacity (an idle GPU's
busy fraction is mostly batching overhead and scrape timing)."""

BUSY_AT_TARGET = 0.85
"""Share of a fully busy replica's throughput counted as capacity at the latency
target: a queue builds as a GPU approaches 100 % busy."""


@dataclass(frozen=True, slots=True)
class CapacityEstimate:
    """Requests per second one replica serves with queue time at the target."""

    rps_per_replica: float
    prior_rps: float
    at_least_rps: float | None
    at_most_rps: float | None
    samples: int
    weight: float
    utilisation_rps: float | None = None

    def describe(self) -> str:
        bounds = []
        if self.at_least_rps is not None:
            bounds.append(f"≥ {self.at_least_rps:.1f}")
        if self.at_most_rps is not None:
            bounds.append(f"≤ {self.at_most_rps:.1f}")
        if self.utilisation_rps is not None:
            bounds.append(f"≈ {self.utilisation_rps:.1f} from GPU busy")
        seen = f" seen {' and '.join(bounds)}" if bounds else ""
        return (
            f"capacity {self.rps_per_replica:.1f} req/s per replica (prior "
            f"{self.prior_rps:g},{seen} over {self.samples} samples, weight {self.weight:.2f})"
        )


def utilisation_capacity(
    rps_per_replica: npt.NDArray[np.float64], busy: npt.NDArray[np.float64]
) -> tuple[float | None, int]:
    """(req/s per replica at the target by the busy fraction, samples used); None when
    no sample has a meaningful busy fraction. NaN marks a missing busy fraction."""
    use = np.isfinite(busy) & (busy >= MIN_BUSY)
    n = int(use.sum())
    if n == 0:
        return None, 0
    full = float(rps_per_replica[use].sum() / np.minimum(busy[use], 1.0).sum())
    return BUSY_AT_TARGET * full, n


def estimate_capacity(
    rps_per_replica: npt.NDArray[np.float64],
    latency_ms: npt.NDArray[np.float64],
    target_ms: float,
    prior_rps: float,
    blend: float,
    busy: npt.NDArray[np.float64] | None = None,
) -> CapacityEstimate:
    """Blend ``prior_rps`` with what the samples say about capacity.

    ``rps_per_replica``, ``latency_ms`` and ``busy`` (GPU busy fraction 0–1, NaN where
    unknown) are paired samples (finite rate > 0 and latency); ``blend`` (0–1) is the
    weight the data gets once there is plenty of it.
    """
    within = rps_per_replica[latency_ms <= target_ms]
    over = rps_per_replica[latency_ms > target_ms]
    at_least = quantile(within, LOWER_QUANTILE) if within.size else None
    at_most = quantile(over, UPPER_QUANTILE) if over.size else None
    by_busy, n_busy = utilisation_capacity(rps_per_replica, busy) if busy is not None else (None, 0)
    learned = prior_rps if by_busy is None else by_busy
    if at_least is not None:
        learned = max(learned, at_least)
    if at_most is not None:
        learned = min(learned, at_most)
    n = n_busy if by_busy is not None else int(rps_per_replica.size)
    weight = blend * n / (n + EVIDENCE_HALF)
    value = (1 - weight) * prior_rps + weight * learned
    return CapacityEstimate(
        rps_per_replica=max(value, 1e-9),
        prior_rps=prior_rps,
        at_least_rps=at_least,
        at_most_rps=at_most,
        samples=n,
        weight=weight,
        utilisation_rps=by_busy,
    )
