"""``scaler simulate``: replay a trace through the scaling chain and score policies."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from scaler.commands.trace_options import (
    CountColumn,
    PeakReplicas,
    PeakRps,
    RateScale,
    SizeColumn,
    TimeColumn,
    TimeScale,
    TimeUnit,
    load_scaled_trace,
)
from scaler.sim.compare import Comparison, Entry, compare
from scaler.sim.presets import ALL_PRESETS, PRESETS, RETIRED_PRESETS, expand_names
from scaler.sim.recommend import DEFAULT_TARGET, recommend
from scaler.sim.report import write_report
from scaler.sim.scenario import ScenarioError, load_scaled_object, load_scenario
from scaler.sim.summary import duration_text, summary, write_summary
from scaler.sim.ties import tie_hint
from scaler.traces.sources import TraceError

_PROGRESS_MIN_STEPS = 200_000


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x * 100:.2f} %"


def _ms(x: float | None) -> str:
    return "" if x is None else f"{x:.1f}"


def _table(c: Comparison) -> Table:
    s = summary(c)
    table = Table(
        title=f"{c.trace.name}: {duration_text(s['duration_s'])}, {s['requests']:,.0f} requests, "
        f"peak {s['peak_rps']:.4g} req/s, SLO {s['slo_ms']:g} ms, start-up {s['startup_s']:g} s"
    )
    table.add_column("run (ScaledObject)", no_wrap=True)
    for col in (
        "GPU-h",
        "× oracle",
        "SLO met",
        "1-min windows met",
        "p99 ms",
        "worst 5-min p99 ms",
        "failed",
        "scale events/h",
        "max overshoot",
        "GPU util",
    ):
        table.add_column(col, justify="right")
    table.add_row(
        f"oracle (peak {c.oracle.peak_replicas})",
        f"{c.oracle.gpu_hours:.2f}",
        "1.00",
        *[""] * 8,
    )
    table.add_row("oracle_instant", f"{c.oracle.instant_gpu_hours:.2f}", *[""] * 9)
    for p in s["policies"]:
        vs = p["gpu_hours_vs_oracle"]
        so = p["scaled_object"]["name"]
        table.add_row(
            p["name"] if so == p["name"] else f"{p['name']} ({so})",
            f"{p['gpu_hours']:.2f}",
            "" if vs is None else f"{vs:.2f}",
            f"{p['slo_attainment'] * 100:.2f} %",
            _pct(p["windows_met"]),
            f"{p['latency_ms']['p99']:.1f}",
            _ms(p["worst_5min_p99_ms"]),
            f"{p['failed_requests']:.0f}",
            f"{p['scale_events_per_hour']:.1f}",
            f"{p['max_overshoot_replicas']:.0f}",
            f"{p['mean_gpu_utilization']:.2f}",
        )
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        trace: Annotated[
            Path,
            typer.Option(
                help="Trace file (CSV or JSON Lines), or the name of a bundled trace "
                "(`scaler trace list`)."
            ),
        ],
        policy: Annotated[
            list[str] | None,
            typer.Option(
                help="Preset or registered policy to run (repeatable). Presets: "
                + ", ".join(PRESETS)
                + f" ('{ALL_PRESETS}': all of them, the default without --scaled-object); "
                + "retired, when named: "
                + ", ".join(RETIRED_PRESETS)
                + ". "
                "A registered policy name runs on the scenario's ScaledObject with its "
                "trigger metadata."
            ),
        ] = None,
        scaled_object: Annotated[
            list[Path] | None,
            typer.Option(
                "--scaled-object",
                help="A KEDA ScaledObject manifest (YAML) to run exactly as written "
                "(repeatable); its row is named after metadata.name.",
            ),
        ] = None,
        scenario: Annotated[
            Path | None, typer.Option(help="Scenario YAML (default: built-in defaults).")
        ] = None,
        startup_s: Annotated[
            float | None, typer.Option(help="Pod start-up seconds (overrides the scenario).")
        ] = None,
        slo_ms: Annotated[float | None, typer.Option(help="Latency SLO in ms.")] = None,
        slo_target: Annotated[
            float,
            typer.Option(
                min=0.0,
                max=1.0,
                help="Share of requests within the SLO a run must reach to be recommended.",
            ),
        ] = DEFAULT_TARGET,
        exact: Annotated[bool, typer.Option(help="Per-request simulation (short traces).")] = False,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the JSON summary here.")
        ] = None,
        report: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
        time_column: TimeColumn = None,
        time_unit: TimeUnit = None,
        size_column: SizeColumn = None,
        count_column: CountColumn = None,
        rate_scale: RateScale = 1.0,
        time_scale: TimeScale = 1.0,
        peak_rps: PeakRps = None,
        peak_replicas: PeakReplicas = None,
    ) -> None:
        """Replay a load trace through KEDA, the HPA and a modelled Triton fleet, and
        score each policy against the oracle."""
        console = Console(width=None if sys.stdout.isatty() else 140)
        try:
            sc = load_scenario(scenario).with_overrides(startup_s=startup_s, slo_ms=slo_ms)
            tr = load_scaled_trace(
                trace,
                sc,
                time_column=time_column,
                time_unit=time_unit,
                rate_scale=rate_scale,
                time_scale=time_scale,
                peak_rps=peak_rps,
                peak_replicas=peak_replicas,
                size_column=size_column,
                count_column=count_column,
            )
            entries: list[Entry] = [load_scaled_object(p) for p in scaled_object or []]
            entries += expand_names(policy or ([] if entries else [ALL_PRESETS]))
            names = [e if isinstance(e, str) else e.name for e in entries]
            for name, count in tr.skipped.items():
                console.print(f"[yellow]{trace}: skipped {count} rows: {name}[/yellow]")
            if len(tr.rps) * len(names) >= _PROGRESS_MIN_STEPS:
                with Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TextColumn("{task.percentage:>3.0f}%"),
                    TimeRemainingColumn(),
                    console=console,
                    transient=True,
                ) as bar:
                    tasks = {n: bar.add_task(n, total=tr.duration_s) for n in names}

                    def progress(name: str, t: float) -> None:
                        bar.update(tasks[name], completed=t)

                    result = compare(tr, sc, entries, exact=exact, progress=progress)
            else:
                result = compare(tr, sc, entries, exact=exact)
        except (ScenarioError, TraceError, ValueError, LookupError, OSError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        console.print(_table(result))
        hint = tie_hint(result)
        if hint is not None:
            console.print(f"[yellow]note:[/yellow] {hint}", highlight=False)
        if json_out is not None:
            write_summary(result, json_out, slo_target)
            console.print(f"summary: {json_out}")
        if report is not None:
            write_report(result, report, slo_target)
            console.print(f"report: {report}")
        rec = recommend(result.runs, result.oracle.gpu_hours, slo_target)
        if rec is not None:
            console.print(rec.headline(), style="green" if rec.meets else "yellow")
            typer.echo(rec.block, nl=False)  # YAML: never wrapped
