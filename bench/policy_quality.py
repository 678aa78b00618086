"""Policy quality: every built-in policy against SuperSONIC and the clairvoyant oracle.

Traces: the bundled LIGO day and both Azure LLM traces of ``simulations/traces``,
rescaled so the oracle needs 20 GPUs at the peak; pod start-up 60 s and 240 s.
``pid``, ``predictive`` and ``threshold`` are tuned with ``scaler tune``'s search on
the FIRST half of each trace and scored on the SECOND half, so no number is fitted
to what it measures; the presets (``threshold``, ``supersonic`` in the chart-default
and Purdue production forms, ``static`` at the second half's peak need) are scored
on the second half as they are. Every run of a half starts warm: with the oracle's
highest need over the first start-up period already booted (a fleet that was running
before the half began), so a policy is not charged for a cold start the oracle never
pays.

Targets per trace and start-up: the best of our policies reaches SLO attainment
≥ 99 % with GPU-hours ≤ 1.2 × the oracle (same start-up), and is at least as good
as ``supersonic`` on both, strictly better on one.

Run: ``.venv/bin/python bench/policy_quality.py`` (≈ 6 minutes on 2 cores). Writes
``bench/results/policy_quality.json`` and ``bench/results/policy_quality.md``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from scaler.sim.batching import instance_capacity_items_s
from scaler.sim.engine import simulate
from scaler.sim.oracle import compute_oracle, rate_scale_for_peak
from scaler.sim.presets import recommended_scaled_object, scenario_for
from scaler.sim.scenario import Scenario
from scaler.traces.loader import load_trace
from scaler.traces.model import Trace
from scaler.traces.rescale import rescale
from scaler.tuning.run import make_problem, tune
from scaler.tuning.search import evaluate

REPO = Path(__file__).resolve().parents[1]
TRACES = REPO / "simulations" / "traces"
RESULTS = REPO / "bench" / "results"
STARTUPS_S = (60.0, 240.0)
PEAK_REPLICAS = 20
ATTAINMENT = 0.99
OVER_ORACLE = 1.2
PRESETS = (
    "threshold-gpu70",
    "supersonic",
    "supersonic-purdue",
    "supersonic-default",
    "static-peak",
)
BASELINE = "supersonic"
SEED = 0

TUNE_MARGIN = 0.003
"""Attainment the search must reach on the first half above the target: a point that
only just meets it there is likely to miss on the second half."""

BUDGETS: dict[str, dict[str, int]] = {
    "ligo": {"pid": 40, "predictive": 24, "threshold": 24},
    "azure": {"pid": 96, "predictive": 96, "threshold": 48},
}
"""Configurations simulated per tuned policy: the LIGO half-day takes ≈ 1 s per run
(predictive ≈ 4 s, its windows limited to an hour of history), an Azure half-hour a
few hundredths."""


def load_traces(scenario: Scenario) -> dict[str, Trace]:
    out = {"ligo": load_trace(REPO / "simulations" / "traces" / "ligo.csv")}
    for kind in ("code", "conv"):
        raw = load_trace(TRACES / f"azure2023_AzureLLMInferenceTrace_{kind}.csv")
        factor = rate_scale_for_peak(raw, scenario.fleet, scenario.slo_ms, PEAK_REPLICAS)
        out[f"azure-{kind}"] = rescale(raw, rate_scale=factor)
    return out


def half(trace: Trace, which: int) -> Trace:
    """The first (0) or second (1) half of ``trace`` on its own clock."""
    n = len(trace.rps) // 2
    sl = slice(0, n) if which == 0 else slice(n, None)

    def cut(a: Any) -> Any:
        return None if a is None else a[sl]

    return dataclasses.replace(
        trace,
        name=f"{trace.name}[{'first' if which == 0 else 'second'} half]",
        rps=trace.rps[sl],
        items_per_request=cut(trace.items_per_request),
        burst_fraction=cut(trace.burst_fraction),
        arrivals_s=None,
        arrival_items=None,
    )


def capacity_rps(trace: Trace, scenario: Scenario) -> float:
    """Requests per second one GPU serves at full batches for this request mix: what a
    site knows of its model (the prior of ``predictive``)."""
    items = trace.items
    mean_items = float(np.sum(trace.rps * items) / max(np.sum(trace.rps), 1e-9))
    per_gpu = instance_capacity_items_s(scenario.fleet) * scenario.fleet.instances_per_replica
    return per_gpu / max(mean_items, 1e-9)


def tuning_setup(
    policy: str, train: Trace, scenario: Scenario
) -> tuple[dict[str, str], dict[str, str], dict[str, tuple[float, float]]]:
    """(start, fixed, ranges) for ``policy``: sensible fixed defaults for most keys and
    two or three searched ones, so the search has little room to fit the first half's
    accidents (a wide search found points that were 3–7× the oracle on the second)."""
    startup = scenario.startup.nominal_s
    if policy == "pid":
        return (
            {
                "policy": "pid",
                "targetMs": "50",
                "ki": "0.02",
                "scaleDownStabilizationSeconds": "300",
            },
            {
                "signal": "queue_time_per_request_ms",
                "kp": "0.5",
                "kd": "0",
                "intervalS": "15",
                "derivativeFilterS": "30",
                "errorCap": "3",
                "maxDownFraction": "0.5",
            },
            {
                "targetMs": (10.0, 90.0),
                "ki": (0.002, 0.05),
                "scaleDownStabilizationSeconds": (60.0, 900.0),
            },
        )
    if policy == "predictive":
        cap = capacity_rps(train, scenario)
        return (
            {
                "policy": "predictive",
                "headroom": "1.3",
                "capacityBlend": "0.5",
                "peakWindowS": "900",
            },
            {
                "signal": "queue_time_per_request_ms",
                "targetMs": "50",
                "leadTimeS": f"{startup + 45:g}",
                "quantile": "0.99",
                "trendWindowS": "600",
                "trendWeight": "1",
                "capacityRpsPrior": f"{cap * 0.8:.4g}",
                "capacityWindowS": "1800",
                "reactiveCap": "2",
                "seasonality": "false",
                "seasonalWeight": "0.5",
                "scaleDownStabilizationSeconds": "300",
            },
            {
                "headroom": (1.0, 2.5),
                "capacityBlend": (0.0, 1.0),
                "peakWindowS": (startup, 1800.0),
            },
        )
    return (
        {"policy": "threshold", "target": "20", "scaleDownStabilizationSeconds": "300"},
        {"signal": "queue_time_per_exec_ms"},
        {"target": (1.0, 100.0), "scaleDownStabilizationSeconds": (60.0, 900.0)},
    )


def row(name: str, gpu_hours: float, attainment: float, oracle: float) -> dict[str, Any]:
    return {
        "name": name,
        "gpu_hours": round(gpu_hours, 4),
        "x_oracle": round(gpu_hours / oracle, 4) if oracle > 0 else None,
        "slo_attainment": round(attainment, 6),
    }


def verdict(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, bool]:
    att_ok = ours["slo_attainment"] >= ATTAINMENT
    cost_ok = ours["x_oracle"] is not None and ours["x_oracle"] <= OVER_ORACLE
    no_worse = (
        ours["gpu_hours"] <= base["gpu_hours"] and ours["slo_attainment"] >= base["slo_attainment"]
    )
    strictly = (
        ours["gpu_hours"] < base["gpu_hours"] or ours["slo_attainment"] > base["slo_attainment"]
    )
    beats = no_worse and strictly
    return {
        "attainment_ge_99": att_ok,
        "gpu_hours_le_1_2_oracle": cost_ok,
        "beats_supersonic": beats,
        "all": att_ok and cost_ok and beats,
    }


def pick_best(ours: list[dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
    """Meets every target first; then beats SuperSONIC; then ≥ 99 % with the fewest
    GPU-hours; then the highest attainment; on a tie the first listed (tuned first)."""

    def key(r: dict[str, Any]) -> tuple[bool, bool, bool, float]:
        v = verdict(r, base)
        feasible = v["attainment_ge_99"]
        return (
            not v["all"],
            not v["beats_supersonic"],
            not feasible,
            r["gpu_hours"] if feasible else -r["slo_attainment"],
        )

    return min(ours, key=key)


def run_case(trace: Trace, kind: str, startup: float) -> dict[str, Any]:
    base = Scenario().with_overrides(startup_s=startup)
    train, test = half(trace, 0), half(trace, 1)
    oracle_result = compute_oracle(test, base.fleet, base.slo_ms, startup)
    oracle = oracle_result.gpu_hours
    initial = make_problem([test], base, warm_start_s=startup).initial_replicas[0]
    rows = []
    for name in PRESETS:
        sc = scenario_for(name, base, static_replicas=oracle_result.peak_replicas)
        r = simulate(test, sc, name=name, initial_replicas=initial)
        rows.append(
            row(name, r.scores.gpu_hours, r.scores.slo_attainment, oracle) | {"tuned": False}
        )
    for policy, budget in BUDGETS[kind].items():
        sc = base.model_copy(update={"scaledObject": recommended_scaled_object({"policy": policy})})
        start, fixed, ranges = tuning_setup(policy, train, sc)
        t0 = time.monotonic()
        result = tune(
            [train],
            policy,
            scenario=sc,
            target=ATTAINMENT + TUNE_MARGIN,
            budget=budget,
            seed=SEED,
            start=start,
            fixed=fixed,
            ranges=ranges,
            warm_start_s=startup,
        )
        best = result.best
        scores, error = evaluate(make_problem([test], sc, warm_start_s=startup), best.metadata)
        if error is not None:
            raise RuntimeError(f"{policy}: tuned metadata refused on the test half: {error}")
        s = scores[0]
        rows.append(
            row(f"{policy} (tuned)", s.gpu_hours, s.slo_attainment, oracle)
            | {
                "tuned": True,
                "metadata": best.metadata,
                "train": {
                    "gpu_hours": round(best.gpu_hours, 4),
                    "x_oracle": round(best.gpu_hours / result.oracle_gpu_hours[0], 4),
                    "slo_attainment": round(best.slo_attainment, 6),
                    "trials": len(result.trials),
                    "seconds": round(time.monotonic() - t0, 1),
                },
            }
        )
        print(
            f"  {policy}: train {best.gpu_hours:.2f} GPU-h {best.slo_attainment:.4f}; "
            f"test {s.gpu_hours:.2f} GPU-h ({s.gpu_hours / oracle:.2f}×) {s.slo_attainment:.4f}",
            file=sys.stderr,
        )
    supersonic = next(r for r in rows if r["name"] == BASELINE)
    ours = sorted(
        (r for r in rows if not r["name"].startswith("supersonic")), key=lambda r: not r["tuned"]
    )
    best_row = pick_best(ours, supersonic)
    return {
        "trace": trace.name,
        "kind": kind,
        "startup_s": startup,
        "test_half": test.name,
        "test_hours": round(test.duration_s / 3600, 3),
        "oracle_gpu_hours": round(oracle, 4),
        "oracle_peak_replicas": oracle_result.peak_replicas,
        "initial_replicas": initial,
        "policies": rows,
        "best": best_row["name"],
        "targets": verdict(best_row, supersonic),
    }


def pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def markdown(cases: list[dict[str, Any]]) -> str:
    yes = {True: "yes", False: "**no**"}
    out = [
        "| trace (second half) | start-up | oracle GPU-h | supersonic GPU-h (× oracle) / SLO "
        "| best of ours | GPU-h (× oracle) / SLO | ≥ 99 % | ≤ 1.2 × oracle | beats supersonic |",
        "|---|---:|---:|---|---|---|:-:|:-:|:-:|",
    ]
    for c in cases:
        ss = next(r for r in c["policies"] if r["name"] == BASELINE)
        b = next(r for r in c["policies"] if r["name"] == c["best"])
        t = c["targets"]
        out.append(
            f"| {c['trace']} | {c['startup_s']:g} s | {c['oracle_gpu_hours']:.2f} "
            f"| {ss['gpu_hours']:.2f} ({ss['x_oracle']:.2f}×) / {pct(ss['slo_attainment'])} "
            f"| {c['best']} | {b['gpu_hours']:.2f} ({b['x_oracle']:.2f}×) / "
            f"{pct(b['slo_attainment'])} | {yes[t['attainment_ge_99']]} "
            f"| {yes[t['gpu_hours_le_1_2_oracle']]} | {yes[t['beats_supersonic']]} |"
        )
    out += [
        "",
        "Every policy, second half of each trace (tuned policies were tuned on the first half):",
        "",
        "| trace | start-up | policy | GPU-h | × oracle | SLO attainment |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for c in cases:
        out.append(
            f"| {c['trace']} | {c['startup_s']:g} s | oracle | {c['oracle_gpu_hours']:.2f} "
            "| 1.00 | |"
        )
        for r in c["policies"]:
            out.append(
                f"| {c['trace']} | {c['startup_s']:g} s | {r['name']} | {r['gpu_hours']:.2f} "
                f"| {r['x_oracle']:.2f} | {pct(r['slo_attainment'])} |"
            )
    return "\n".join(out) + "\n"


def main() -> None:
    t0 = time.monotonic()
    traces = load_traces(Scenario())
    cases = []
    for name, trace in traces.items():
        kind = "ligo" if name == "ligo" else "azure"
        for startup in STARTUPS_S:
            print(f"{name}, start-up {startup:g} s", file=sys.stderr)
            cases.append(run_case(trace, kind, startup))
    elapsed = time.monotonic() - t0
    doc = {
        "bench": "policy_quality",
        "peak_replicas": PEAK_REPLICAS,
        "attainment_target": ATTAINMENT,
        "gpu_hours_over_oracle_target": OVER_ORACLE,
        "budgets": BUDGETS,
        "tune_margin": TUNE_MARGIN,
        "seed": SEED,
        "seconds": round(elapsed, 1),
        "all_targets_met": all(c["targets"]["all"] for c in cases),
        "cases": cases,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "policy_quality.json").write_text(json.dumps(doc, indent=2) + "\n")
    (RESULTS / "policy_quality.md").write_text(markdown(cases))
    print(markdown(cases))
    print(f"{elapsed:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
