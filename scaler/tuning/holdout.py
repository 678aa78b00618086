"""Training and held-out parts of a trace: parameters are fitted on the first days and
judged on the days after, so a score is never measured on what it was fitted to."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from scaler.traces.model import FloatArray, Trace

DAY_S = 86_400.0


def cut(trace: Trace, start_s: float, end_s: float, *, label: str | None = None) -> Trace:
    """The part [start_s, end_s) of ``trace`` on its own clock (starting at 0). Single
    arrivals are kept (shifted) so ``--exact`` still works on a cut; leading-indicator
    series are cut with the rate."""
    n = len(trace.rps)
    a = min(max(math.floor(start_s / trace.step_s + 1e-9), 0), n)
    b = min(max(math.floor(end_s / trace.step_s + 1e-9), a), n)

    def part(x: FloatArray | None) -> FloatArray | None:
        return None if x is None else x[a:b]

    arrivals, items = None, None
    if trace.arrivals_s is not None:
        t0, t1 = a * trace.step_s, b * trace.step_s
        keep = (trace.arrivals_s >= t0) & (trace.arrivals_s < t1)
        arrivals = np.asarray(trace.arrivals_s[keep] - t0, dtype=np.float64)
        if trace.arrival_items is not None:
            items = np.asarray(trace.arrival_items[keep], dtype=np.float64)
    name = label or f"{trace.name} ({a * trace.step_s / 3600:g}–{b * trace.step_s / 3600:g} h)"
    return dataclasses.replace(
        trace,
        name=name,
        rps=trace.rps[a:b],
        items_per_request=part(trace.items_per_request),
        burst_fraction=part(trace.burst_fraction),
        arrivals_s=arrivals,
        arrival_items=items,
        indicators={k: v[a:b] for k, v in trace.indicators.items()},
    )


def split_days(trace: Trace, train_days: float) -> tuple[Trace, Trace]:
    """(the first ``train_days`` days, the rest) of ``trace``; ValueError naming the
    trace when either part would be empty."""
    if train_days <= 0:
        raise ValueError(f"--train-days must be > 0, got {train_days:g}")
    at = train_days * DAY_S
    if at >= trace.duration_s:
        raise ValueError(
            f"{trace.name}: --train-days {train_days:g} leaves nothing to score on: the trace "
            f"is {trace.duration_s / DAY_S:.2f} days long"
        )
    train = cut(trace, 0.0, at, label=f"{trace.name} ({_first(train_days)})")
    held = cut(trace, at, trace.duration_s, label=f"{trace.name} (after {_first(train_days)})")
    return train, held


def _first(days: float) -> str:
    """The training part's name: whole days as days ("day 1", "days 1–3"), anything else
    as hours ("the first 0.5 h"), never "days 1–0.02"."""
    if days == 1:
        return "day 1"
    if days == int(days):
        return f"days 1–{int(days)}"
    return f"the first {days * 24:.3g} h"
