"""``--report FILE.html``: one self-contained page (plotly inlined, no network) that says
what to deploy: the recommendation with its metadata, every run's scores with each
column defined, GPU-hours against SLO attainment, the load, each run's replicas against
the oracle's need, and latency against the SLO."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from scaler.sim.compare import Comparison
from scaler.sim.plots import (
    COLORS,
    Figure,
    Page,
    ParetoSeries,
    definitions_html,
    layout,
    pareto_figure,
    table_html,
    time_series,
)
from scaler.sim.recommend import DEFAULT_TARGET, recommend
from scaler.sim.summary import duration_text, summary

COLUMNS: dict[str, str] = {
    "run": "A preset (a complete ScaledObject: trigger metadata, KEDA timers, HPA behavior) "
    "or a registered policy on the scenario's ScaledObject.",
    "GPU-h": "GPU-hours: every second a pod holds its GPU, booting, serving or draining, "
    "summed over pods, in hours.",
    "× oracle": "GPU-hours divided by the oracle's: the clairvoyant fleet that boots "
    "exactly in time with the same start-up delay (1.00 is the floor).",
    "SLO met": "Share of all requests answered within the latency SLO; failed requests "
    "count as misses.",
    "1-min windows met": "Share of 1-minute windows (with requests) whose p99 latency is "
    "within the SLO: a bad quarter hour shows here even when the day's total is fine.",
    "p50 / p95 / p99 ms": "Latency percentiles over served requests, ms (queueing, batching "
    "wait and execution).",
    "worst 5-min p99 ms": "The highest p99 latency of any 5-minute window, ms; failed "
    "requests count at the queue timeout.",
    "failed": "Requests rejected: queued longer than the queue timeout, or arriving with no "
    "replica ready (a fleet at zero).",
    "scale events/h": "Changes of the replica count per hour of trace: how restless the "
    "fleet is (oscillation shows here).",
    "max overshoot": "The most ready replicas above the oracle's highest need of the last "
    "5 minutes, at any second: replicas kept after a peak beyond a stabilisation window, "
    "or an oscillation's overshoot.",
    "GPU util": "Mean busy fraction of ready replicas.",
}
"""Every column of the table (and of ``scaler simulate``'s terminal table)."""


def _fmt(x: float | None, spec: str, suffix: str = "") -> str:
    return "" if x is None else f"{x:{spec}}{suffix}"


def _table(s: dict[str, Any], c: Comparison) -> str:
    header = ["run", "GPU-h", "× oracle", "SLO met", "1-min windows met", "p50 ms", "p95 ms"]
    header += ["p99 ms", "worst 5-min p99 ms", "failed", "scale events/h", "max overshoot"]
    header += ["GPU util"]
    rows = [
        [f"oracle (start-up {c.oracle.startup_s:g} s, peak {c.oracle.peak_replicas})"]
        + [f"{c.oracle.gpu_hours:,.2f}", "1.00"]
        + [""] * 10,
        ["oracle_instant (no start-up)", f"{c.oracle.instant_gpu_hours:,.2f}"] + [""] * 11,
    ]
    for p in s["policies"]:
        lat = p["latency_ms"]
        pct = p["windows_met"]
        rows.append(
            [
                p["name"],
                f"{p['gpu_hours']:,.2f}",
                _fmt(p["gpu_hours_vs_oracle"], ".2f"),
                f"{p['slo_attainment'] * 100:.2f} %",
                "" if pct is None else f"{pct * 100:.2f} %",
                f"{lat['p50']:.1f}",
                f"{lat['p95']:.1f}",
                f"{lat['p99']:.1f}",
                _fmt(p["worst_5min_p99_ms"], ".1f"),
                f"{p['failed_requests']:,.0f}",
                f"{p['scale_events_per_hour']:.1f}",
                f"{p['max_overshoot_replicas']:.0f}",
                f"{p['mean_gpu_utilization']:.2f}",
            ]
        )
    return table_html(header, rows)


def _recommendation(c: Comparison, target: float) -> str:
    rec = recommend(c.runs, c.oracle.gpu_hours, target)
    if rec is None:
        return ""
    css = "rec" if rec.meets else "rec miss"
    return (
        f"<div class='{css}'><h2>What to deploy</h2><p>{html.escape(rec.headline())}</p>"
        "<p>Trigger metadata of that run, complete (scope keys marked as the README's are "
        "examples: use your own):</p>"
        f"<pre>{html.escape(rec.block)}</pre></div>"
    )


def _figures(c: Comparison, target: float) -> list[Figure]:
    dt = c.trace.step_s
    x, load = time_series(c.trace.rps, dt)
    figs = [
        Figure(
            [
                {"type": "scatter", "mode": "lines", "name": "requests/s (max per point)", "x": x}
                | {"y": load, "line": {"color": "#333", "width": 1}}
            ],
            layout("Load", "time (h)", "requests/s"),
        )
    ]
    figs.append(
        pareto_figure(
            "GPU-hours against SLO attainment (each run one point)",
            [
                ParetoSeries(
                    r.name,
                    [r.scores.gpu_hours],
                    [r.scores.slo_attainment],
                    [r.name],
                )
                for r in c.runs
            ],
            oracle_gpu_hours=c.oracle.gpu_hours,
            target=target,
        )
    )
    _, need = time_series(c.oracle.need.astype(np.float64), dt)
    for i, run in enumerate(c.runs):
        color = COLORS[i % len(COLORS)]
        data = [
            {"name": "oracle need", "y": need, "line": {"color": "#999", "dash": "dash"}},
            {"name": "ready", "y": time_series(run.ready, dt)[1], "line": {"color": color}},
            {
                "name": "desired (HPA)",
                "y": time_series(run.desired, dt)[1],
                "line": {"color": "#000", "dash": "dot", "width": 1},
            },
            {
                "name": "holding a GPU",
                "y": time_series(run.held, dt)[1],
                "line": {"color": "#e6a000", "width": 1},
            },
        ]
        figs.append(
            Figure(
                [{"type": "scatter", "mode": "lines", "x": x} | d for d in data],
                layout(f"{run.name}: replicas (max per point)", "time (h)", "replicas"),
            )
        )
    lat = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": r.name,
            "x": x,
            "y": [None if v is None or v <= 0 else v for v in time_series(r.latency_p99_ms, dt)[1]],
            "line": {"color": COLORS[i % len(COLORS)], "width": 1},
        }
        for i, r in enumerate(c.runs)
    ]
    lat.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"SLO {c.scenario.slo_ms:g} ms",
            "x": [x[0], x[-1]] if x else [0, 1],
            "y": [c.scenario.slo_ms, c.scenario.slo_ms],
            "line": {"color": "#000", "dash": "dot"},
        }
    )
    figs.append(
        Figure(
            lat,
            layout(
                "Latency: p99 of each second's requests (max per point)",
                "time (h)",
                "p99 latency (ms, log scale)",
                y_log=True,
                height=380,
            ),
        )
    )
    return figs


def render(c: Comparison, slo_target: float = DEFAULT_TARGET) -> str:
    """The page as a string."""
    s = summary(c, slo_target)
    page = Page(f"scaler simulate: {c.trace.name}")
    page.add(f"<h1>scaler simulate — {html.escape(c.trace.name)}</h1>")
    page.add(
        f"<p>{duration_text(s['duration_s'])}, {s['requests']:,.0f} requests, mean "
        f"{s['mean_rps']:,.4g} req/s, peak {s['peak_rps']:,.4g} req/s; SLO {s['slo_ms']:g} ms "
        f"(target {slo_target * 100:g} % of requests); pod start-up {s['startup_s']:g} s; "
        f"mode {s['mode']}.</p>"
    )
    page.add(_recommendation(c, slo_target))
    page.add("<h2>Every run</h2>")
    page.add(_table(s, c))
    page.add("<h3>What the columns mean</h3>")
    page.add(definitions_html(COLUMNS))
    for fig in _figures(c, slo_target):
        page.add(fig)
    return page.render()


def write_report(c: Comparison, path: Path, slo_target: float = DEFAULT_TARGET) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(c, slo_target))
