"""Trace options shared by every command that replays a trace (simulate, tune):
how to read the file and how to rescale it to a fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scaler.sim.oracle import rate_scale_for_peak
from scaler.sim.scenario import Scenario
from scaler.traces import Trace, load_trace, rescale

TimeColumn = Annotated[str | None, typer.Option(help="Timestamp column.")]
TimeUnit = Annotated[str | None, typer.Option(help="Unit of numeric timestamps: s, ms or us.")]
RateScale = Annotated[float, typer.Option(help="Multiply the request rate.")]
TimeScale = Annotated[float, typer.Option(help="Stretch time by this factor.")]
PeakRps = Annotated[float | None, typer.Option(help="Scale the rate so the peak is this (req/s).")]
PeakReplicas = Annotated[
    int | None,
    typer.Option(help="Scale the rate so the oracle needs this many replicas at the peak."),
]


def load_scaled_trace(
    path: Path,
    scenario: Scenario,
    *,
    time_column: str | None,
    time_unit: str | None,
    rate_scale: float,
    time_scale: float,
    peak_rps: float | None,
    peak_replicas: int | None,
) -> Trace:
    """Read ``path`` and rescale it; ``peak_replicas`` uses the scenario's fleet model
    to scale the rate so the oracle needs that many replicas at the peak."""
    if time_unit is not None and time_unit not in ("s", "ms", "us"):
        raise typer.BadParameter(f"--time-unit must be s, ms or us, got {time_unit!r}")
    trace = load_trace(path, time_column=time_column, time_unit=time_unit)  # type: ignore[arg-type]
    if rate_scale != 1.0 or time_scale != 1.0 or peak_rps is not None:
        trace = rescale(trace, rate_scale=rate_scale, time_scale=time_scale, peak_rps=peak_rps)
    if peak_replicas is not None:
        factor = rate_scale_for_peak(trace, scenario.fleet, scenario.slo_ms, peak_replicas)
        trace = rescale(trace, rate_scale=factor)
    return trace
