"""When a comparison cannot tell policies apart, say why and what to do.

A trace whose peak the oracle serves with one replica (261 req/s of one-item
requests, say) leaves every policy at the floor: they tie, and the table looks
like a result. So do policies whose GPU-hours and SLO attainment all agree. The
fix is to scale the load to a fleet: ``--peak-replicas N``.
"""

from __future__ import annotations

from scaler.sim.compare import Comparison

GPU_HOURS_TIE = 0.01
"""Relative spread of GPU-hours under which runs count as tied."""

ATTAINMENT_TIE = 1e-4
"""Spread of SLO attainment (share of requests) under which runs count as tied."""

SUGGESTED_PEAK = 20
"""Replicas to suggest for --peak-replicas: a fleet where scaling decisions matter."""


def tie_hint(c: Comparison) -> str | None:
    """A sentence for the user when the comparison is a tie, else ``None``."""
    fix = (
        f"pass --peak-replicas N (e.g. {SUGGESTED_PEAK}) to scale the trace's rate to a fleet "
        "whose oracle needs N replicas at the peak"
    )
    peak = c.oracle.peak_replicas
    if peak <= 1:
        return (
            f"the oracle needs {peak} replica at the peak ({c.trace.peak_rps:,.4g} req/s): "
            f"every policy sits at the floor, so the comparison cannot rank them; {fix}"
        )
    if len(c.runs) < 2:
        return None
    gpu = [r.scores.gpu_hours for r in c.runs]
    slo = [r.scores.slo_attainment for r in c.runs]
    spread = (max(gpu) - min(gpu)) / max(max(gpu), 1e-12)
    if spread <= GPU_HOURS_TIE and max(slo) - min(slo) <= ATTAINMENT_TIE:
        return (
            f"all {len(c.runs)} policies tie (GPU-hours within {spread:.1%}, the same SLO "
            f"attainment) with the oracle's peak at {peak} replicas; {fix}"
        )
    return None
