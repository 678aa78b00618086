"""``scaler trace``: look at a trace file, list the bundled traces, or generate a
LIGO-like day.

``scaler trace ligo`` has one ``--flag`` per :class:`LigoParams` field, made
from the model, so the options, their help and their defaults cannot drift
from the generator's documentation.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from scaler.commands.trace_options import (
    CountColumn,
    SizeColumn,
    TimeColumn,
    TimeUnit,
    read_trace,
    trace_errors,
)
from scaler.traces.bundled import bundled_traces
from scaler.traces.ligo import LigoParams, generate_ligo
from scaler.traces.model import Trace
from scaler.traces.writer import write_trace_csv


def register(app: typer.Typer) -> None:
    """Add the ``trace`` command group to ``app``."""
    group = typer.Typer(
        name="trace",
        help="Inspect load traces and generate synthetic ones.",
        no_args_is_help=True,
    )
    group.command("info")(info)
    group.command("list")(list_traces)
    group.command("ligo")(_ligo_command())
    app.add_typer(group, name="trace")


def info(
    file: Annotated[
        Path,
        typer.Argument(
            help="Trace file: .csv/.tsv or JSON Lines (.jsonl/.ndjson/.json), or the name "
            "of a bundled trace (`scaler trace list`)."
        ),
    ],
    time_column: TimeColumn = None,
    time_unit: TimeUnit = None,
    size_column: SizeColumn = None,
    count_column: CountColumn = None,
    step_s: Annotated[float, typer.Option(min=1e-6, help="Bin width, s.")] = 1.0,
) -> None:
    """Print a trace's duration, requests, mean and peak rate, and skipped rows."""
    with trace_errors():
        trace = read_trace(
            file,
            time_column=time_column,
            time_unit=time_unit,
            size_column=size_column,
            count_column=count_column,
            step_s=step_s,
        )
    Console().print(summary_table(trace, title=str(file)))


def list_traces() -> None:
    """List the traces shipped with scaler, with where they come from and their
    licence; pass a name to --trace (or `trace info`) from any directory."""
    console = Console()
    for t in bundled_traces():
        console.print(f"[bold]{t.name}[/bold]  {t.file}", highlight=False)
        console.print(f"  {t.description}", highlight=False, markup=False)
        console.print(f"  source: {t.source}", highlight=False, markup=False)
        console.print(f"  licence: {t.licence}", highlight=False, markup=False)


def summary_table(trace: Trace, *, title: str) -> Table:
    """The numbers a user checks before simulating a trace."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    requests = trace.requests
    items_per_s = trace.items_per_s
    table.add_row("duration", f"{trace.duration_s:,.0f} s ({trace.duration_s / 3600:.2f} h)")
    table.add_row("bins", f"{len(trace.rps):,} × {trace.step_s:g} s")
    table.add_row("requests", f"{requests:,.0f}")
    table.add_row("mean rate", f"{trace.mean_rps:,.2f} req/s")
    table.add_row("peak rate", f"{trace.peak_rps:,.2f} req/s")
    if requests > 0:
        mean_items = float(items_per_s.sum() * trace.step_s / requests)
        table.add_row("items/request", f"{mean_items:,.2f} (mean)")
        table.add_row("peak items/s", f"{float(items_per_s.max()):,.1f}")
    if trace.burst_fraction is not None and requests > 0:
        bursty = float((trace.rps * trace.burst_fraction).sum() * trace.step_s / requests)
        table.add_row("at bin starts", f"{bursty:.1%} of requests (frame bursts)")
    table.add_row("empty bins", f"{float((trace.rps == 0).mean()):.1%}")
    skipped = ", ".join(f"{n:,} × {reason}" for reason, n in trace.skipped.items())
    table.add_row("skipped rows", skipped or "none")
    for note in trace.notes:
        table.add_row("note", note)
    for warning in trace.warnings:
        table.add_row("[yellow]warning[/yellow]", warning)
    return table


def _ligo_command() -> Any:
    """The ``ligo`` command, with its options built from :class:`LigoParams`."""

    def ligo(output: Path, **values: Any) -> None:
        """Generate a LIGO-like day (online streams, an offline campaign, a lock
        loss, event bursts) and write it as a rate-series CSV."""
        try:
            params = LigoParams(**values)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'parameters'}: {e['msg']}"
                for e in error.errors()
            )
            Console(stderr=True).print(f"[red]error:[/red] {problems}", highlight=False)
            raise typer.Exit(2) from None
        trace = generate_ligo(params)
        try:
            write_trace_csv(trace, output)
        except OSError as error:
            Console(stderr=True).print(
                f"[red]error:[/red] cannot write {output}: {error.strerror or error}",
                highlight=False,
            )
            raise typer.Exit(1) from None
        Console().print(summary_table(trace, title=f"{output} (seed {params.seed})"))

    parameters = [
        inspect.Parameter(
            "output",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[
                Path, typer.Option("--output", "-o", help="CSV file to write.", dir_okay=False)
            ],
        )
    ]
    for name, field in LigoParams.model_fields.items():
        parameters.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=field.default,
                annotation=Annotated[field.annotation, typer.Option(help=field.description)],
            )
        )
    ligo.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return ligo
