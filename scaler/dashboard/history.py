"""An object's own recent traffic, read from Prometheus as a :class:`Trace`: the
"replay my last day" trace source of the tuning page.

Read through the observer the scaler decides with (its Prometheus client: TLS,
credentials, timeouts, query budget and ``serverAddress`` checks are the server's),
as one history of the object's signals with a rate window of at least two steps:
the fleet's request rate (the same PromQL the scaler decides on, from
:mod:`scaler.promql`) and its item rate (batch items per request, which is what
loads the GPUs). Gaps where Prometheus has no sample are read as zero load and
counted in ``Trace.skipped``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from scaler.metadata import ScalerConfig
from scaler.observer import ObserveError, Observer
from scaler.promql import queries_for
from scaler.traces.model import Trace

MAX_POINTS = 10_000
"""Prometheus refuses range queries of more than 11,000 points per series."""

MIN_STEP_S = 15.0
MAX_HOURS = 168.0


class HistoryError(RuntimeError):
    """Prometheus could not give the history; the message names the query and why."""


def prometheus_trace(
    observer: Observer, cfg: ScalerConfig, hours: float, *, now_s: float, source: str
) -> Trace:
    """The last ``hours`` (≤ 168) of ``cfg``'s request rate as a rate series, with a
    step of at least 15 s (more for long spans, to stay under Prometheus's limit).
    ``source`` names the Prometheus in the trace's notes (without credentials)."""
    if not (math.isfinite(hours) and 0 < hours <= MAX_HOURS):
        raise ValueError(f"hours must be > 0 and ≤ {MAX_HOURS:g}, got {hours}")
    span_s = hours * 3600.0
    step_s = max(MIN_STEP_S, math.ceil(span_s / MAX_POINTS))
    end_s = math.floor(now_s / step_s) * step_s
    start_s = end_s - span_s + step_s
    # A rate window shorter than two steps would skip requests between the points.
    wide = replace(cfg, rate_window_s=max(cfg.rate_window_s, int(2 * step_s)))
    queries = queries_for(wide)
    try:
        past = observer.history(wide, start_s, end_s, step_s)
    except ObserveError as exc:
        raise HistoryError(str(exc)) from None
    rates = [o.request_rate_rps for o in past]
    first = next((i for i, r in enumerate(rates) if r is not None), None)
    if first is None:
        raise HistoryError(
            f"Prometheus has no request rate for {cfg.key} in the last {hours:g} h "
            f"({queries.request_rate_rps})"
        )
    n = len(past) - first
    rps = np.zeros(n)
    per_request = np.ones(n)
    missing = 0
    any_items = False
    for i, o in enumerate(past[first:]):
        r = o.request_rate_rps
        if r is None or not math.isfinite(r):
            missing += 1
            continue
        rps[i] = max(r, 0.0)
        it = o.items_per_s
        if it is not None and math.isfinite(it):
            any_items = True
            if r > 0:
                per_request[i] = max(it / r, 1.0)
    skipped = {"no sample in Prometheus (read as 0 req/s)": missing} if missing else {}
    items_note = f"{queries.items_per_s} ÷ request rate"
    return Trace(
        name=f"prometheus:{cfg.key}:{hours:g}h",
        rps=rps,
        step_s=float(step_s),
        items_per_request=per_request if any_items else None,
        skipped=skipped,
        notes=(
            f"last {hours:g} h of {cfg.key} from {source}",
            f"request rate: {queries.request_rate_rps} at {step_s:g} s steps",
            f"items per request: {items_note}" if any_items else "1 item per request",
        ),
    )
