"""Leading indicators of a generated LIGO-like day: the batch system's job counts.

Offline campaigns and event bursts are run by batch jobs (HTCondor or Slurm) that
sit in the queue and stage data before their first inference request. The count
of such jobs is what a site's Slurm or HTCondor exporter shows Prometheus, minutes
before the requests arrive. Two gauges, one per kind of work (a site would scope
them by account or accounting group):

* ``campaign_jobs``: each campaign job is counted from ``indicator_lead_s`` (±
  ``indicator_jitter_s`` / 2, uniform) before its first request until it stops;
* ``burst_jobs``: ``burst_jobs`` jobs per event burst, counted likewise until the
  burst ends.

``indicator_ghost_fraction`` of the counted jobs never send (they fail while
staging): they are counted from their lead until their would-be start, then leave.
Draws come from their own stream of the seed, so a day's requests are the same
bit for bit with or without indicators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from scaler.traces.model import FloatArray

if TYPE_CHECKING:
    from scaler.traces.ligo import LigoLayout, LigoParams

STREAM = 14
"""Second word of the indicator draws' seed: ``[seed, 14]`` (issue 14)."""


def _count(edges: FloatArray, appear: FloatArray, leave: FloatArray) -> FloatArray:
    """Jobs counted at the start of each bin: appeared at or before it, not yet gone."""
    starts = edges[:-1]
    up = np.searchsorted(np.sort(appear), starts, side="right")
    down = np.searchsorted(np.sort(leave), starts, side="right")
    out: FloatArray = (up - down).astype(np.float64)
    return out


def _jobs(
    rng: np.random.Generator,
    params: LigoParams,
    starts: FloatArray,
    stops: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """(appear, leave) times of real and ghost jobs for jobs starting at ``starts``."""
    half = params.indicator_jitter_s / 2
    lead = np.maximum(params.indicator_lead_s + rng.uniform(-half, half, starts.size), 0.0)
    appear = starts - lead
    f = params.indicator_ghost_fraction
    ghosts = round(starts.size * f / (1 - f)) if f < 1 else 0
    pick = rng.integers(0, max(starts.size, 1), ghosts) if starts.size else np.zeros(0, int)
    ghost_start = starts[pick] if starts.size else np.zeros(0)
    ghost_lead = np.maximum(params.indicator_lead_s + rng.uniform(-half, half, ghosts), 0.0)
    return (
        np.concatenate((appear, ghost_start - ghost_lead)),
        np.concatenate((stops, ghost_start)),
    )


def ligo_indicators(
    params: LigoParams, layout: LigoLayout, edges: FloatArray
) -> dict[str, FloatArray]:
    """``campaign_jobs`` and ``burst_jobs`` at the start of each bin of ``edges``."""
    rng = np.random.default_rng([params.seed, STREAM])
    campaign = params.campaign_duration_s > 0 and params.campaign_rps > 0
    c_starts = layout.job_starts_s if campaign else np.zeros(0)
    c_stops = layout.job_stops_s if campaign else np.zeros(0)
    appear, leave = _jobs(rng, params, c_starts, c_stops)
    b_starts = np.repeat(layout.burst_starts_s, params.burst_jobs)
    b_appear, b_leave = _jobs(rng, params, b_starts, b_starts + params.burst_duration_s)
    return {
        "campaign_jobs": _count(edges, appear, leave),
        "burst_jobs": _count(edges, b_appear, b_leave),
    }
