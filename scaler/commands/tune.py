"""``scaler tune``: search a policy's parameters for the fewest GPU-hours at the SLO."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
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
from scaler.metadata import POLICY_KEY
from scaler.registry import get_policy
from scaler.sim.presets import recommended_scaled_object
from scaler.sim.scenario import ScenarioError, load_scenario
from scaler.traces.sources import TraceError
from scaler.tuning.holdout import split_days
from scaler.tuning.run import TuneResult, metadata_block, tune, write_json
from scaler.tuning.search import Trial
from scaler.tuning.space import SpaceError


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for v in values or []:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{what} takes KEY=VALUE, got {v!r}")
        out[key.strip()] = value.strip()
    return out


def _ranges(values: list[str] | None) -> dict[str, tuple[float, float]]:
    out = {}
    for key, text in _pairs(values, "--range").items():
        lo, sep, hi = text.partition(":")
        try:
            out[key] = (float(lo), float(hi))
        except ValueError:
            raise typer.BadParameter(f"--range takes KEY=LO:HI, got {key}={text!r}") from None
        if not sep:
            raise typer.BadParameter(f"--range takes KEY=LO:HI, got {key}={text!r}")
    return out


def _table(result: TuneResult) -> Table:
    table = Table(
        title=f"{result.policy} on ScaledObject {result.scaled_object_name}: "
        f"{len(result.trials)} configurations, SLO {result.slo_ms:g} ms, "
        f"attainment target {result.target * 100:g} %, start-up {result.startup_s:g} s"
    )
    table.add_column("trace")
    table.add_column("scored", no_wrap=True)
    table.add_column("oracle GPU-h", justify="right")
    for col in ("start GPU-h", "start SLO met", "best GPU-h", "× oracle", "best SLO met"):
        table.add_column(col, justify="right")
    parts = [("in-sample", result.traces, result.oracle_gpu_hours, result.start, result.best)]
    if result.best_holdout is not None and result.start_holdout is not None:
        parts.append(
            (
                "held out",
                result.holdout_traces,
                result.holdout_oracle_gpu_hours,
                result.start_holdout,
                result.best_holdout,
            )
        )
    for label, names, oracles, start, best in parts:
        for i, name in enumerate(names):
            oracle = oracles[i]
            s = start.scores[i] if start.scores else None
            b = best.scores[i] if best.scores else None
            table.add_row(
                name,
                label,
                f"{oracle:.2f}",
                f"{s.gpu_hours:.2f}" if s else "error",
                f"{s.slo_attainment * 100:.2f} %" if s else "",
                f"{b.gpu_hours:.2f}" if b else "error",
                f"{b.gpu_hours / oracle:.2f}" if b and oracle > 0 else "",
                f"{b.slo_attainment * 100:.2f} %" if b else "",
            )
    return table


def _score_line(label: str, trial: Trial, oracle_gpu_hours: float) -> str:
    if not trial.scores:
        return f"{label}: error ({trial.error})"
    ratio = trial.gpu_hours / oracle_gpu_hours if oracle_gpu_hours > 0 else float("nan")
    return (
        f"{label}: {trial.gpu_hours:.2f} GPU-h ({ratio:.2f}× oracle), worst trace "
        f"{trial.slo_attainment * 100:.2f} % within the SLO"
    )


def register(app: typer.Typer) -> None:
    @app.command(name="tune")
    def tune_cmd(
        trace: Annotated[
            list[Path], typer.Option(help="Trace file (CSV or JSON Lines); repeat for several.")
        ],
        policy: Annotated[str, typer.Option(help="Registered policy (built-in or plug-in).")],
        slo_ms: Annotated[
            float | None, typer.Option(help="Latency SLO in ms (default: the scenario's).")
        ] = None,
        attainment: Annotated[
            float, typer.Option(min=0.0, max=1.0, help="SLO attainment to reach on every trace.")
        ] = 0.99,
        budget: Annotated[int, typer.Option(min=1, help="Configurations to simulate.")] = 60,
        scenario: Annotated[
            Path | None,
            typer.Option(
                help="Scenario YAML: fleet, start-up and the ScaledObject to tune within "
                "(default: built-in fleet with the recommended ScaledObject)."
            ),
        ] = None,
        startup_s: Annotated[
            float | None, typer.Option(help="Pod start-up seconds (overrides the scenario).")
        ] = None,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the result and every trial here.")
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the search.")] = 0,
        workers: Annotated[
            int | None, typer.Option(min=1, help="Processes (default: every core).")
        ] = None,
        set_: Annotated[
            list[str] | None,
            typer.Option("--set", help="Hold a metadata key at a value: KEY=VALUE (repeatable)."),
        ] = None,
        range_: Annotated[
            list[str] | None,
            typer.Option(
                "--range", help="Search a metadata key within LO..HI: KEY=LO:HI (repeatable)."
            ),
        ] = None,
        time_column: TimeColumn = None,
        time_unit: TimeUnit = None,
        size_column: SizeColumn = None,
        count_column: CountColumn = None,
        rate_scale: RateScale = 1.0,
        time_scale: TimeScale = 1.0,
        peak_rps: PeakRps = None,
        peak_replicas: PeakReplicas = None,
        train_days: Annotated[
            float | None,
            typer.Option(
                min=0.0,
                help="Tune on the first N days of each trace and score the best on the rest "
                "(printed beside the in-sample score).",
            ),
        ] = None,
        holdout_trace: Annotated[
            list[Path] | None,
            typer.Option(
                help="Trace the search never sees, scored afterwards (repeatable; same "
                "loading options as --trace)."
            ),
        ] = None,
    ) -> None:
        """Search a policy's parameters for the fewest GPU-hours that keep SLO attainment
        at the target on every trace; print them as complete ScaledObject trigger
        metadata (scope and replica bounds kept), with the held-out score beside the
        in-sample one when --train-days or --holdout-trace is given."""
        console = Console()
        try:
            get_policy(policy)
            fixed = _pairs(set_, "--set")
            ranges = _ranges(range_)
            sc = load_scenario(scenario).with_overrides(startup_s=startup_s, slo_ms=slo_ms)
            if scenario is None:
                so = recommended_scaled_object({POLICY_KEY: policy})
                sc = sc.model_copy(update={"scaledObject": so})
            loaded = [
                load_scaled_trace(
                    path,
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
                for path in [*trace, *(holdout_trace or [])]
            ]
            traces, holdout = loaded[: len(trace)], loaded[len(trace) :]
            if train_days is not None:
                split = [split_days(t, train_days) for t in traces]
                traces = [train for train, _ in split]
                holdout = [held for _, held in split] + holdout
            with Progress(
                TextColumn("tuning {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[best]}"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task(policy, total=budget, best="")

                def progress(done: int, total: int, best: Trial | None) -> None:
                    text = ""
                    if best is not None and best.scores:
                        text = (
                            f"best {best.gpu_hours:.2f} GPU-h at {best.slo_attainment * 100:.2f} %"
                        )
                    bar.update(task, completed=done, total=total, best=text)

                result = tune(
                    traces,
                    policy,
                    scenario=sc,
                    target=attainment,
                    budget=budget,
                    seed=seed,
                    workers=workers,
                    fixed=fixed,
                    ranges=ranges,
                    progress=progress,
                    holdout=holdout,
                )
        except (ScenarioError, TraceError, SpaceError, ValueError, LookupError, OSError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        console.print(_table(result))
        best = result.best
        if result.feasible:
            console.print(
                f"[green]meets {attainment * 100:g} % on every trace with "
                f"{best.gpu_hours:.2f} GPU-h[/green]"
            )
        else:
            console.print(
                f"[yellow]no configuration met {attainment * 100:g} %: the closest reaches "
                f"{best.slo_attainment * 100:.2f} % (short by "
                f"{best.shortfall(attainment) * 100:.2f} points)[/yellow]"
            )
        console.print(_score_line("in-sample", best, sum(result.oracle_gpu_hours)))
        if result.best_holdout is not None:
            console.print(
                _score_line("held out ", result.best_holdout, sum(result.holdout_oracle_gpu_hours))
            )
        else:
            console.print(
                "[dim]in-sample only: the search saw every second it was scored on; "
                "--train-days N (tune on the first N days, score on the rest) or "
                "--holdout-trace FILE prints a held-out score beside it[/dim]"
            )
        meta, example = result.paste
        console.print(
            "Complete trigger metadata, to replace the trigger metadata of the README's "
            "ScaledObject as a whole:"
        )
        typer.echo(metadata_block(meta, example=example), nl=False)  # YAML: never wrapped
        if json_out is not None:
            write_json(result, json_out)
            console.print(f"result: {json_out}", soft_wrap=True, highlight=False)
