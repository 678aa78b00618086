"""Fit a trace to a fleet: stretch or compress its time axis, scale its rate.

Real traces rarely have the size of the fleet under test (the Azure LLM traces
peak at tens of req/s; a LIGO fleet serves thousands), so the simulator rescales
them. Each scaling keeps a stated quantity: ``time_scale`` keeps the number of
requests, ``rate_scale`` and ``peak_rps`` keep the shape.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from scaler.traces.model import FloatArray, Trace


def rebin(
    edges_s: FloatArray,
    requests: FloatArray,
    step_s: float,
    *,
    items: FloatArray | None = None,
    bursts: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray | None, FloatArray | None]:
    """Spread ``requests[k]`` evenly over [edges_s[k], edges_s[k+1]) and sum
    them into bins of ``step_s`` from ``edges_s[0]``.

    Returns ``(rps, items_per_request, burst_fraction)`` on the new grid; the
    last two are request-weighted means (``None`` when not given), the trace's
    overall mean in bins without requests. Requests are kept exactly: the new
    bins integrate the piecewise-constant rate. Example: one segment of 3 s
    holding 30 requests, re-binned at 1 s, gives ``rps = [10, 10, 10]``.
    """
    if len(edges_s) != len(requests) + 1:
        raise ValueError("edges_s needs one more value than requests")
    span = float(edges_s[-1] - edges_s[0])
    n_bins = max(1, math.ceil(span / step_s - 1e-9))
    grid = edges_s[0] + np.arange(n_bins + 1, dtype=np.float64) * step_s
    total = np.concatenate(([0.0], np.cumsum(requests)))
    per_bin = np.diff(np.interp(grid, edges_s, total))
    per_bin = np.clip(per_bin, 0.0, None)
    rps = per_bin / step_s

    def weighted(values: FloatArray | None) -> FloatArray | None:
        if values is None:
            return None
        cumulative = np.concatenate(([0.0], np.cumsum(requests * values)))
        weight = np.diff(np.interp(grid, edges_s, cumulative))
        overall = float(cumulative[-1] / total[-1]) if total[-1] > 0 else float(values.mean())
        mean = np.full_like(per_bin, overall)
        nonzero = per_bin > 1e-12
        mean[nonzero] = weight[nonzero] / per_bin[nonzero]
        return mean

    fractions = weighted(bursts)
    if fractions is not None:
        fractions = np.clip(fractions, 0.0, 1.0)
    return rps, weighted(items), fractions


def hold_on_grid(times_s: FloatArray, values: FloatArray, step_s: float, bins: int) -> FloatArray:
    """A gauge (e.g. a leading indicator's job count) on a grid of ``bins`` bins of
    ``step_s`` from time 0: each bin holds the last value at or before its start
    (the first value before the first sample)."""
    grid = np.arange(bins, dtype=np.float64) * step_s
    idx = np.searchsorted(times_s, grid + 1e-9 * step_s, side="right") - 1
    out: FloatArray = values[np.clip(idx, 0, len(values) - 1)].astype(np.float64)
    return out


def rescale(
    trace: Trace,
    *,
    rate_scale: float = 1.0,
    time_scale: float = 1.0,
    peak_rps: float | None = None,
) -> Trace:
    """Return ``trace`` with its time axis multiplied by ``time_scale`` and its
    rate multiplied by ``rate_scale`` (or scaled so its busiest bin is exactly
    ``peak_rps``), on the same ``step_s`` grid.

    ``time_scale = 2`` makes an hour-long trace last two hours at half the
    rate: every request is kept, only spread out (``0.5`` compresses it, at
    double the rate). Mean items per request and burst fractions are carried as
    request-weighted means across the re-binned edges. ``peak_rps`` is applied
    after the time scaling, so the result's ``peak_rps`` equals it exactly;
    giving both ``rate_scale`` and ``peak_rps`` is an error because the second
    would silently override the first.

    Per-request arrivals follow a time scaling (their times are multiplied);
    a rate scaling changes the number of requests, which no list of the original
    arrivals can represent, so the arrivals are dropped and a note says so
    (the binned series remains for the simulator).
    """
    for name, value in (("rate_scale", rate_scale), ("time_scale", time_scale)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value}")
    if peak_rps is not None:
        if not (math.isfinite(peak_rps) and peak_rps > 0):
            raise ValueError(f"peak_rps must be a finite number > 0, got {peak_rps}")
        if rate_scale != 1.0:
            raise ValueError("give rate_scale or peak_rps, not both")

    out = trace
    notes = list(trace.notes)
    if time_scale != 1.0:
        step = trace.step_s
        edges = np.arange(len(trace.rps) + 1, dtype=np.float64) * step * time_scale
        rps, items, bursts = rebin(
            edges,
            trace.rps * step,
            step,
            items=trace.items_per_request,
            bursts=trace.burst_fraction,
        )
        arrivals = None if trace.arrivals_s is None else trace.arrivals_s * time_scale
        old_times = trace.times_s * time_scale
        indicators = {
            name: hold_on_grid(old_times, v, step, len(rps)) for name, v in trace.indicators.items()
        }
        out = replace(
            out,
            rps=rps,
            items_per_request=items,
            burst_fraction=bursts,
            arrivals_s=arrivals,
            indicators=indicators,
        )
        notes.append(f"time scaled ×{time_scale:g} (requests kept, rate ×{1 / time_scale:g})")

    factor = rate_scale
    if peak_rps is not None:
        if out.peak_rps <= 0:
            raise ValueError("cannot scale to peak_rps: the trace has no requests")
        factor = peak_rps / out.peak_rps
    if factor != 1.0:
        dropped = out.arrivals_s is not None
        out = replace(out, rps=out.rps * factor, arrivals_s=None, arrival_items=None)
        if peak_rps is not None:
            out = replace(out, rps=np.where(out.rps == out.rps.max(), peak_rps, out.rps))
        notes.append(
            f"rate scaled ×{factor:.6g}"
            + (" (per-request arrivals dropped: their count no longer matches)" if dropped else "")
        )
    if out is trace:
        return trace
    return replace(out, notes=tuple(notes))
