"""Trace options shared by every command that reads a trace (simulate, tune,
trace info, testbed run): the same flags, the same bundled-name lookup, the same
warnings on stderr and the same exit code (2) for a trace that cannot be read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scaler.sim.oracle import rate_scale_for_peak
from scaler.sim.scenario import Scenario
from scaler.traces import Trace, TraceError, load_trace, rescale
from scaler.traces.bundled import resolve_trace

TRACE_ERROR_EXIT = 2
"""Exit code of every trace command for input it cannot use (as click's usage errors)."""


class TimeUnitChoice(StrEnum):
    """Units a numeric time column can be in."""

    s = "s"
    ms = "ms"
    us = "us"
    ns = "ns"


TimeColumn = Annotated[
    str | None, typer.Option(help="Column holding the time (default: detected by name).")
]
TimeUnit = Annotated[
    TimeUnitChoice | None,
    typer.Option(help="Unit of a numeric time column (default: from its name or magnitude)."),
]
SizeColumn = Annotated[
    str | None,
    typer.Option(help="Column of batch items per request (default: detected by name)."),
]
CountColumn = Annotated[
    str | None,
    typer.Option(
        help="Column of requests per bin: rows are counts over bins of the row spacing "
        "(default: a 'count' or 'requests' column)."
    ),
]
RateScale = Annotated[float, typer.Option(help="Multiply the request rate.")]
TimeScale = Annotated[float, typer.Option(help="Stretch time by this factor.")]
PeakRps = Annotated[float | None, typer.Option(help="Scale the rate so the peak is this (req/s).")]
PeakReplicas = Annotated[
    int | None,
    typer.Option(help="Scale the rate so the oracle needs this many replicas at the peak."),
]


def read_trace(
    path: Path,
    *,
    time_column: str | None = None,
    time_unit: TimeUnitChoice | str | None = None,
    size_column: str | None = None,
    count_column: str | None = None,
    step_s: float = 1.0,
    stderr: Console | None = None,
) -> Trace:
    """Read ``path``, or the bundled trace of that name when no such file exists
    (said on stderr, as are the loader's warnings)."""
    err = stderr or Console(stderr=True)
    resolved, bundled = resolve_trace(path)
    if bundled is not None:
        err.print(
            f"{path}: no such file; using the bundled trace {bundled.name!r} "
            f"({bundled.file}, {bundled.licence}; `scaler trace list` for more)",
            highlight=False,
            markup=False,
        )
    unit = None if time_unit is None else TimeUnitChoice(time_unit).value
    trace = load_trace(
        resolved,
        time_column=time_column,
        time_unit=unit,  # type: ignore[arg-type]
        size_column=size_column,
        count_column=count_column,
        step_s=step_s,
    )
    for warning in trace.warnings:
        err.print(f"[yellow]warning:[/yellow] {resolved}: {warning}", highlight=False)
    return trace


def load_scaled_trace(
    path: Path,
    scenario: Scenario,
    *,
    time_column: str | None,
    time_unit: TimeUnitChoice | str | None,
    rate_scale: float,
    time_scale: float,
    peak_rps: float | None,
    peak_replicas: int | None,
    size_column: str | None = None,
    count_column: str | None = None,
) -> Trace:
    """Read ``path`` (see :func:`read_trace`) and rescale it; ``peak_replicas`` uses
    the scenario's fleet model to scale the rate so the oracle needs that many
    replicas at the peak."""
    trace = read_trace(
        path,
        time_column=time_column,
        time_unit=time_unit,
        size_column=size_column,
        count_column=count_column,
    )
    if rate_scale != 1.0 or time_scale != 1.0 or peak_rps is not None:
        trace = rescale(trace, rate_scale=rate_scale, time_scale=time_scale, peak_rps=peak_rps)
    if peak_replicas is not None:
        factor = rate_scale_for_peak(trace, scenario.fleet, scenario.slo_ms, peak_replicas)
        trace = rescale(trace, rate_scale=factor)
    return trace


@contextmanager
def trace_errors(console: Console | None = None) -> Iterator[None]:
    """Turn a trace that cannot be read into one red line and exit code 2."""
    try:
        yield
    except TraceError as error:
        (console or Console(stderr=True)).print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(TRACE_ERROR_EXIT) from None
