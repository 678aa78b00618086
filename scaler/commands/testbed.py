"""``scaler testbed`` and ``scaler demo``: the scaling loop with real servers on loopback."""

from __future__ import annotations

import importlib.util
import json
import signal
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from scaler.commands.trace_options import (
    CountColumn,
    SizeColumn,
    TimeColumn,
    TimeUnit,
    read_trace,
)
from scaler.sim.compare import Comparison
from scaler.sim.presets import PRESET_NAMES, scenario_for
from scaler.sim.report import render
from scaler.sim.scenario import Scenario, ScenarioError, load_scaled_object, load_scenario
from scaler.sim.summary import summary
from scaler.traces.bundled import LIGO, bundled_trace
from scaler.traces.loader import load_trace
from scaler.traces.model import Trace
from scaler.traces.rescale import rescale
from scaler.traces.sources import TraceError
from scaler.tuning.holdout import cut

if TYPE_CHECKING:
    # The runner (Triton, Prometheus and gRPC clients) is imported when a testbed runs,
    # not by every `scaler` command.
    from scaler.testbed.runner import Snapshot, TestbedOptions

BUNDLED_LIGO = bundled_trace(LIGO)
DEMO_SECONDS = 240.0
"""The demo plays the LIGO day in four minutes."""
DEMO_PEAK_RPS = 110.0
"""Peak one-item requests/s of the demo: what this 2-core machine's CPU Tritons serve
(≈ 45 req/s per replica with the built-in testbed scenario)."""


def testbed_summary(c: Comparison) -> dict[str, Any]:
    """The ``scaler simulate`` summary of a measured run (``mode: testbed``)."""
    out = summary(c)
    out["mode"] = "testbed"
    return out


def write_outputs(c: Comparison, json_out: Path | None, report: Path | None) -> None:
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(testbed_summary(c), indent=2) + "\n")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        page = (
            render(c)
            .replace("scaler simulate", "scaler testbed")
            .replace("mode fast", "measured on the live testbed")
        )
        report.write_text(page)


def with_metadata(scenario: Scenario, pairs: list[str]) -> Scenario:
    """The scenario with ``KEY=VALUE`` pairs merged into its trigger metadata."""
    if not pairs:
        return scenario
    trig = scenario.scaledObject.trigger
    meta = dict(trig.metadata)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--metadata {pair!r}: expected KEY=VALUE")
        meta[key] = value
    so = scenario.scaledObject.model_copy(
        update={"triggers": [trig.model_copy(update={"metadata": meta})]}
    )
    out = scenario.model_copy(update={"scaledObject": so})
    out.scaler_config()
    return out


TESTBED_EXTRA_MISSING = (
    "the live testbed needs Triton's Python server (nvidia-pytriton), which is not "
    "installed: pip install 'sonic-scaler[testbed]' (Linux x86-64 or arm64, Python 3.11+)"
)


def demo_scenario(base: Scenario, policy: str | None) -> Scenario:
    """The demo's scenario running ``policy`` the way ``simulate --policy`` would: a
    preset's ScaledObject, or the registered policy on the testbed's own trigger with its
    scope and guardrail keys kept and the other policy's parameters dropped (merging
    ``policy=adaptive`` into threshold's keys left ``signal`` behind and the parse
    refused it)."""
    if not policy:
        return base
    return scenario_for(policy, base, static_replicas=base.scaledObject.maxReplicaCount)


def require_testbed_extra() -> None:
    """Stop with one clear line, before anything starts, when the ``testbed`` extra is missing."""
    if importlib.util.find_spec("pytriton") is None:
        Console(stderr=True).print(f"[red]error:[/red] {escape(TESTBED_EXTRA_MISSING)}")
        raise typer.Exit(2)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _view(s: Snapshot) -> Group:
    table = Table.grid(padding=(0, 2))
    for _ in range(4):
        table.add_column()
    lat = (
        f"p50 {s.p50_ms:.0f} ms · p99 {s.p99_ms:.0f} ms"
        if s.p50_ms is not None and s.p99_ms is not None
        else "—"
    )
    table.add_row(
        "[b]time[/b]",
        f"{s.t_s:5.0f} / {s.duration_s:.0f} s",
        "[b]load[/b]",
        f"{s.target_rps:6.1f} req/s asked · {s.served_rps:6.1f} served",
    )
    table.add_row(
        "[b]replicas[/b]",
        f"{s.ready} ready · {s.holding} holding a GPU · {s.desired} desired",
        "[b]latency[/b]",
        lat + (f" · {s.held_requests} retrying a 503" if s.held_requests else ""),
    )
    d = s.decision
    decision = (
        f"[b]{d.replicas}[/b] replicas ({d.status.value}): {d.reason}" if d is not None else "—"
    )
    parts: list[Any] = [
        table,
        Panel(decision, title="last decision", title_align="left"),
        Panel(s.last_event or "—", title="last actuator event", title_align="left"),
    ]
    if s.error:
        parts.append(f"[red]{s.error}[/red]")
    return Group(*parts)


def run_testbed(
    tr: Trace,
    sc: Scenario,
    options: TestbedOptions,
    console: Console,
    *,
    live: bool,
) -> Comparison:
    from scaler.testbed.runner import Testbed

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with Testbed(sc, options) as tb:
            if not live:
                return tb.run(tr)
            with Live(console=console, refresh_per_second=2, transient=False) as view:
                return tb.run(tr, on_second=lambda s: view.update(_view(s)))
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_result(console: Console, c: Comparison) -> None:
    s = testbed_summary(c)
    p = s["policies"][0]
    lat = p["latency_ms"]
    console.print(
        f"[b]{p['name']}[/b] on {s['trace']}: {p['gpu_hours'] * 3600:.0f} GPU-seconds "
        f"(oracle {s['oracle']['gpu_hours'] * 3600:.0f}), SLO met "
        f"{p['slo_attainment'] * 100:.1f} %, p50 {lat['p50']:.0f} ms, p99 {lat['p99']:.0f} ms, "
        f"{p['failed_requests']:.0f} failed, {p['scale_events']} scale events"
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def testbed(
        trace: Annotated[
            Path,
            typer.Option(help="Trace file (CSV or JSON Lines), or a bundled trace's name."),
        ],
        scenario: Annotated[
            Path | None,
            typer.Option(help="Scenario YAML (default: the built-in testbed scenario)."),
        ] = None,
        time_column: TimeColumn = None,
        time_unit: TimeUnit = None,
        size_column: SizeColumn = None,
        count_column: CountColumn = None,
        policy: Annotated[
            str | None,
            typer.Option(help="Preset (" + ", ".join(PRESET_NAMES) + ") or registered policy."),
        ] = None,
        scaled_object: Annotated[
            Path | None,
            typer.Option(
                "--scaled-object",
                help="A KEDA ScaledObject manifest (YAML) to run exactly as written.",
            ),
        ] = None,
        metadata: Annotated[
            list[str] | None,
            typer.Option(help="Trigger metadata KEY=VALUE (repeatable), over the scenario's."),
        ] = None,
        time_scale: Annotated[
            float, typer.Option(help="Stretch the trace's time by this (0.01: 100× faster).")
        ] = 1.0,
        rate_scale: Annotated[float, typer.Option(help="Multiply the request rate.")] = 1.0,
        startup_s: Annotated[
            float | None, typer.Option(help="Pod start-up seconds (overrides the scenario).")
        ] = None,
        duration_s: Annotated[
            float | None, typer.Option(help="Replay only the first this many seconds.")
        ] = None,
        initial_replicas: Annotated[
            int | None, typer.Option(help="Replicas running at the start (default: min).")
        ] = None,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the JSON summary here.")
        ] = None,
        report: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
        live: Annotated[bool, typer.Option(help="Show the live view.")] = False,
    ) -> None:
        """Run the trace against real Triton servers, Prometheus, the scaler and a
        KEDA + HPA actuator on loopback; write the same summary as `scaler simulate`."""
        require_testbed_extra()
        from scaler.testbed.runner import TestbedOptions, testbed_scenario

        console = Console()
        try:
            sc = load_scenario(scenario) if scenario is not None else testbed_scenario()
            sc = sc.with_overrides(startup_s=startup_s)
            if scaled_object is not None:
                sc = sc.model_copy(update={"scaledObject": load_scaled_object(scaled_object)})
            if policy is not None:
                sc = scenario_for(policy, sc, static_replicas=sc.scaledObject.maxReplicaCount)
            sc = with_metadata(sc, list(metadata or []))
            tr = read_trace(
                trace,
                time_column=time_column,
                time_unit=time_unit,
                size_column=size_column,
                count_column=count_column,
            )
            tr = _shape(tr, time_scale=time_scale, rate_scale=rate_scale, duration_s=duration_s)
            options = TestbedOptions(initial_replicas=initial_replicas)
            result = run_testbed(tr, sc, options, console, live=live)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: everything stopped[/yellow]")
            raise typer.Exit(130) from None
        except (ScenarioError, TraceError, ValueError, LookupError, OSError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        except RuntimeError as exc:
            console.print(f"[red]testbed failed:[/red] {exc}")
            raise typer.Exit(1) from None
        _print_result(console, result)
        write_outputs(result, json_out, report)

    @app.command()
    def demo(
        seconds: Annotated[
            float, typer.Option(help="Wall-clock length: the LIGO day is compressed to this.")
        ] = DEMO_SECONDS,
        peak_rps: Annotated[
            float, typer.Option(help="Peak one-item requests/s (what this machine serves).")
        ] = DEMO_PEAK_RPS,
        policy: Annotated[str, typer.Option(help="Policy to run.")] = "threshold",
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the JSON summary here.")
        ] = None,
        report: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
    ) -> None:
        """The testbed on the bundled LIGO day, compressed to a few minutes, with a live view."""
        require_testbed_extra()
        from scaler.testbed.runner import TestbedOptions, one_item_requests, testbed_scenario

        console = Console()
        try:
            tr = load_trace(BUNDLED_LIGO)
            tr = one_item_requests(tr)
            tr = rescale(tr, time_scale=seconds / tr.duration_s)
            tr = rescale(tr, peak_rps=peak_rps)
            sc = demo_scenario(testbed_scenario(), policy)
            result = run_testbed(tr, sc, TestbedOptions(), console, live=True)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: everything stopped[/yellow]")
            raise typer.Exit(130) from None
        except (ScenarioError, TraceError, ValueError, LookupError, OSError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        except RuntimeError as exc:
            console.print(f"[red]testbed failed:[/red] {exc}")
            raise typer.Exit(1) from None
        _print_result(console, result)
        write_outputs(result, json_out, report)


def _shape(tr: Trace, *, time_scale: float, rate_scale: float, duration_s: float | None) -> Trace:
    if time_scale != 1.0 or rate_scale != 1.0:
        tr = rescale(tr, time_scale=time_scale, rate_scale=rate_scale)
    if duration_s is not None:
        if not duration_s > 0:
            raise ValueError(f"--duration-s must be > 0, got {duration_s}")
        n = max(1, int(duration_s / tr.step_s))
        tr = cut(tr, 0.0, n * tr.step_s, label=tr.name)
        tr = replace(tr, arrivals_s=None, arrival_items=None)
    return tr
