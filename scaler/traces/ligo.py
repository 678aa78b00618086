"""A synthetic LIGO-like day of inference load (see docs: ligo-workload.md).

Four features, each a few parameters of :class:`LigoParams`:

* **online streams**: each detector stream releases ``stream_rate_hz ·
  frame_s`` one-item requests at every frame boundary (DeepClean at 512 Hz:
  512 requests per 1 s frame), a square wave that is flat when binned at the
  frame length. Exact counts, no noise: a stream's rate is set by its sampling.
* **offline campaign**: ``campaign_jobs`` batch jobs, together
  ``campaign_rps`` batch-128 requests/s, start within ``campaign_ramp_s`` of
  ``campaign_start_s``, hold a plateau and stop within ``campaign_ramp_s`` of
  its end: a step up and a step down. Poisson counts per bin.
* **lock loss**: ``lock_loss_streams`` streams send nothing for
  ``lock_loss_duration_s`` from ``lock_loss_start_s`` (detector downtime).
* **event bursts**: ``bursts`` short parameter-estimation bursts at random
  times. Poisson counts per bin.

Defaults give the documented day: 3 × 512 = 1,536 req/s baseline, a 4 h
campaign at 800 req/s from 6 h, a 30 min lock loss of one stream at 14 h, two
bursts. Everything random comes from ``seed``: the same parameters give the
same trace, bit for bit.

``days`` > 1 strings days of ``duration_s`` together, each drawn afresh from the
seed: the campaign starts at a random time (its length ×0.5–1.5 and its rate
×0.75–1.25 of the parameters), the lock loss falls at a random time, and the
bursts at random times, so a policy tuned on the first days meets a campaign
and a lock loss at hours it has not seen (the policy benchmark's train/test split).

The online requests of a bin arrive together at its start; the trace says so
in ``burst_fraction`` (online requests / all requests), and how a burst queues
is left to the fleet model. Mixed request sizes are folded into the mean
``items_per_request`` of each bin (see :class:`~scaler.traces.model.Trace`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from scaler.traces.ligo_indicators import ligo_indicators
from scaler.traces.model import FloatArray, Trace


class LigoParams(BaseModel):
    """Parameters of :func:`generate_ligo`; units in the names, the default is the
    documented LIGO-like day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(
        default=0,
        ge=0,
        description="Seed of every random draw (job start/stop times, burst times, Poisson "
        "counts): the same seed and parameters give the same trace.",
    )
    duration_s: float = Field(
        default=86_400.0, gt=0, le=366 * 86_400, description="Length of the trace, s."
    )
    days: int = Field(
        default=1,
        ge=1,
        le=366,
        description="Days to generate, each duration_s long. With more than one, every day "
        "draws its own campaign start, length (×0.5–1.5) and rate (×0.75–1.25), lock-loss "
        "start and burst times from the seed; campaign_start_s and lock_loss_start_s then "
        "only set day 1.",
    )
    step_s: float = Field(
        default=1.0,
        gt=0,
        description="Bin width, s. Must divide frame_s, so each frame's burst lands at the start "
        "of a bin; below frame_s the square wave shows as a spike in the first bin of each frame.",
    )
    frame_s: float = Field(
        default=1.0,
        gt=0,
        description="Length of a detector data frame, s: each online stream releases its "
        "requests at every frame boundary.",
    )
    streams: int = Field(default=3, ge=0, description="Online streams (detector channels).")
    stream_rate_hz: float = Field(
        default=512.0,
        ge=0,
        description="Inference rate of one online stream, requests/s (DeepClean: 512 Hz).",
    )
    online_items: float = Field(default=1.0, gt=0, description="Batch items in one online request.")
    campaign_start_s: float = Field(
        default=6 * 3600.0, ge=0, description="Start of the offline campaign, s from the start."
    )
    campaign_duration_s: float = Field(
        default=4 * 3600.0, ge=0, description="Length of the campaign plateau, s (0: no campaign)."
    )
    campaign_rps: float = Field(
        default=800.0,
        ge=0,
        description="Plateau request rate of the campaign, requests/s, all jobs together.",
    )
    campaign_items: float = Field(
        default=128.0,
        gt=0,
        description="Batch items in one campaign request (128 kernel evaluations, ≈32 s of "
        "two-detector strain).",
    )
    campaign_jobs: int = Field(
        default=16,
        ge=1,
        description="Batch jobs of the campaign, each paced at campaign_rps / campaign_jobs.",
    )
    campaign_ramp_s: float = Field(
        default=60.0,
        ge=0,
        description="Jobs start at uniform random times within this many seconds of "
        "campaign_start_s and stop likewise after the plateau: the rise and fall time of the step.",
    )
    lock_loss_start_s: float = Field(
        default=14 * 3600.0, ge=0, description="Start of the lock loss, s from the start."
    )
    lock_loss_duration_s: float = Field(
        default=1800.0, ge=0, description="Length of the lock loss, s (0: none)."
    )
    lock_loss_streams: int = Field(
        default=1, ge=0, description="Online streams that go silent during the lock loss."
    )
    bursts: int = Field(
        default=2, ge=0, description="Event-driven bursts, starting at random whole seconds."
    )
    burst_duration_s: float = Field(default=300.0, gt=0, description="Length of one burst, s.")
    burst_rps: float = Field(
        default=200.0, ge=0, description="Request rate during a burst, requests/s."
    )
    burst_items: float = Field(default=16.0, gt=0, description="Batch items in one burst request.")
    indicators: bool = Field(
        default=False,
        description="Also write leading indicators: campaign_jobs and burst_jobs, the batch "
        "jobs counted from indicator_lead_s before their first request until they stop.",
    )
    indicator_lead_s: float = Field(
        default=180.0, ge=0, le=86_400, description="Seconds a job is counted before it sends."
    )
    indicator_jitter_s: float = Field(
        default=60.0, ge=0, le=86_400, description="Each job's lead varies by ± half this, s."
    )
    indicator_ghost_fraction: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Share of counted jobs that never send (fail while staging; they leave "
        "the count at their would-be start).",
    )
    burst_jobs: int = Field(
        default=4, ge=1, le=1_000, description="Batch jobs behind one event burst (indicators)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        frames_per_step = self.frame_s / self.step_s
        if abs(frames_per_step - round(frames_per_step)) > 1e-9 * frames_per_step:
            raise ValueError(
                f"step_s={self.step_s:g} must divide frame_s={self.frame_s:g} "
                "(frame bursts must start a bin)"
            )
        if self.lock_loss_streams > self.streams:
            raise ValueError(
                f"lock_loss_streams={self.lock_loss_streams} exceeds streams={self.streams}"
            )
        if self.bursts and self.burst_duration_s > self.duration_s:
            raise ValueError(
                f"burst_duration_s={self.burst_duration_s:g} exceeds duration_s={self.duration_s:g}"
            )
        return self


@dataclass(frozen=True)
class LigoLayout:
    """Where the random features of a generated day fall, seconds from the start."""

    job_starts_s: FloatArray
    job_stops_s: FloatArray
    burst_starts_s: FloatArray


def ligo_layout(params: LigoParams) -> LigoLayout:
    """Draw the campaign jobs' start/stop times and the burst times from the seed."""
    rng = np.random.default_rng(params.seed)
    return _draw_layout(params, rng)


def _draw_layout(params: LigoParams, rng: np.random.Generator) -> LigoLayout:
    end = params.campaign_start_s + params.campaign_duration_s
    starts = params.campaign_start_s + rng.uniform(0, params.campaign_ramp_s, params.campaign_jobs)
    stops = end + rng.uniform(0, params.campaign_ramp_s, params.campaign_jobs)
    latest = max(0.0, params.duration_s - params.burst_duration_s)
    bursts = np.sort(np.floor(rng.uniform(0, latest, params.bursts)))
    return LigoLayout(job_starts_s=starts, job_stops_s=stops, burst_starts_s=bursts)


def generate_ligo(params: LigoParams | None = None) -> Trace:
    """A LIGO-like trace drawn from ``params`` (the documented day by default).

    Example: with the defaults, ``rps`` is 1,536 at t = 1 h, about 2,336 at
    t = 8 h (campaign), 1,024 at t = 14.2 h (lock loss), and
    ``items_per_request`` is 1 outside the campaign and bursts.
    """
    params = params or LigoParams()
    if params.days == 1:
        return _generate_day(params)
    days = [_generate_day(p) for p in day_params(params)]
    notes = tuple(f"day {i + 1}: {note}" for i, day in enumerate(days) for note in day.notes[1:])
    return Trace(
        name=f"ligo-seed{params.seed}-{params.days}d",
        rps=np.concatenate([d.rps for d in days]),
        step_s=params.step_s,
        items_per_request=np.concatenate([_need(d.items_per_request) for d in days]),
        burst_fraction=np.concatenate([_need(d.burst_fraction) for d in days]),
        notes=days[0].notes[:1] + notes,
        indicators={
            name: np.concatenate([d.indicators[name] for d in days]) for name in days[0].indicators
        },
    )


def _need(a: FloatArray | None) -> FloatArray:
    assert a is not None, "a generated day always has items and burst fractions"
    return a


def day_params(params: LigoParams) -> list[LigoParams]:
    """One single-day parameter set per day of a multi-day trace: day 1 as given,
    later days with the campaign and lock loss moved and resized from the seed."""
    rng = np.random.default_rng([params.seed, params.days])
    seeds = rng.integers(0, 2**31 - 1, params.days)
    day = params.duration_s
    out = [params.model_copy(update={"days": 1, "seed": int(seeds[0])})]
    for i in range(1, params.days):
        length = float(round(min(params.campaign_duration_s * rng.uniform(0.5, 1.5), day / 2)))
        start = float(np.floor(rng.uniform(0, max(day - length - params.campaign_ramp_s, 0))))
        loss = float(np.floor(rng.uniform(0, max(day - params.lock_loss_duration_s, 0))))
        rate = float(round(params.campaign_rps * rng.uniform(0.75, 1.25)))
        out.append(
            params.model_copy(
                update={
                    "days": 1,
                    "seed": int(seeds[i]),
                    "campaign_start_s": start,
                    "campaign_duration_s": length,
                    "campaign_rps": rate,
                    "lock_loss_start_s": loss,
                }
            )
        )
    return out


def _generate_day(params: LigoParams) -> Trace:
    """One day (``duration_s``) of :func:`generate_ligo`."""
    rng = np.random.default_rng(params.seed)
    layout = _draw_layout(params, rng)
    bins = math.ceil(params.duration_s / params.step_s - 1e-9)
    edges = np.arange(bins + 1, dtype=np.float64) * params.step_s

    online = _online_requests(params, bins)
    campaign_mean = np.zeros(bins)
    if params.campaign_duration_s > 0 and params.campaign_rps > 0:
        per_job = params.campaign_rps / params.campaign_jobs
        for start, stop in zip(layout.job_starts_s, layout.job_stops_s, strict=True):
            campaign_mean += per_job * _overlap(edges, start, stop)
    burst_mean = np.zeros(bins)
    for start in layout.burst_starts_s:
        burst_mean += params.burst_rps * _overlap(edges, start, start + params.burst_duration_s)
    campaign = rng.poisson(campaign_mean).astype(np.float64)
    burst = rng.poisson(burst_mean).astype(np.float64)

    total = online + campaign + burst
    items = online * params.online_items + campaign * params.campaign_items
    items += burst * params.burst_items
    busy = total > 0
    overall = float(items.sum() / total.sum()) if busy.any() else params.online_items
    items_per_request = np.full(bins, overall)
    items_per_request[busy] = items[busy] / total[busy]
    burst_fraction = np.zeros(bins)
    burst_fraction[busy] = online[busy] / total[busy]
    return Trace(
        name=f"ligo-seed{params.seed}",
        rps=total / params.step_s,
        step_s=params.step_s,
        items_per_request=items_per_request,
        burst_fraction=burst_fraction,
        notes=_describe(params, layout),
        indicators=ligo_indicators(params, layout, edges) if params.indicators else {},
    )


def _online_requests(params: LigoParams, bins: int) -> FloatArray:
    """Requests of all online streams per bin: a frame's requests land in the
    bin its boundary falls in."""
    frames = math.ceil(params.duration_s / params.frame_s - 1e-9)
    frame_starts = np.arange(frames, dtype=np.float64) * params.frame_s
    active = np.full(frames, float(params.streams))
    lost = (frame_starts >= params.lock_loss_start_s) & (
        frame_starts < params.lock_loss_start_s + params.lock_loss_duration_s
    )
    active[lost] -= params.lock_loss_streams
    per_frame = active * params.stream_rate_hz * params.frame_s
    index = np.floor(frame_starts / params.step_s + 1e-9).astype(np.int64)
    keep = index < bins
    counts = np.bincount(index[keep], weights=per_frame[keep], minlength=bins)
    return counts.astype(np.float64)


def _overlap(edges: FloatArray, start: float, stop: float) -> FloatArray:
    """Seconds of [start, stop) inside each bin."""
    inside: FloatArray = np.minimum(edges[1:], stop) - np.maximum(edges[:-1], start)
    return np.maximum(inside, 0.0)


def _describe(params: LigoParams, layout: LigoLayout) -> tuple[str, ...]:
    notes = [
        f"online: {params.streams} streams × {params.stream_rate_hz:g} req/s of "
        f"{params.online_items:g} item(s), released at every {params.frame_s:g} s frame",
    ]
    if params.campaign_duration_s > 0 and params.campaign_rps > 0:
        notes.append(
            f"campaign: {params.campaign_rps:g} req/s of {params.campaign_items:g} items from "
            f"{params.campaign_start_s:g} s for {params.campaign_duration_s:g} s "
            f"({params.campaign_jobs} jobs starting within {params.campaign_ramp_s:g} s)"
        )
    if params.lock_loss_duration_s > 0 and params.lock_loss_streams > 0:
        notes.append(
            f"lock loss: {params.lock_loss_streams} stream(s) silent from "
            f"{params.lock_loss_start_s:g} s for {params.lock_loss_duration_s:g} s"
        )
    for start in layout.burst_starts_s:
        notes.append(
            f"burst: {params.burst_rps:g} req/s of {params.burst_items:g} items from "
            f"{start:.0f} s for {params.burst_duration_s:g} s"
        )
    if params.indicators:
        notes.append(
            f"indicators: campaign_jobs and burst_jobs ({params.burst_jobs} per burst) counted "
            f"{params.indicator_lead_s:g} ± {params.indicator_jitter_s / 2:g} s before their "
            f"first request, {params.indicator_ghost_fraction:.0%} never send"
        )
    return tuple(notes)
