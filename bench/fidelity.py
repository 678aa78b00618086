"""Does the simulator tell the truth? The same trace and scenario through the live
testbed (real Triton, Prometheus, the scaler, the KEDA + HPA actuator) and through
``scaler simulate``'s engine, for the threshold and predictive policies.

The simulator's service-time law is *calibrated*, not typed in: a load sweep on one
real Triton replica reads Triton's own counters (mean batch size and mean compute
time per execution at each rate) and a least-squares fit gives ``base_ms`` and
``per_item_ms``. The fixed transport overhead (HTTP + pytriton's IPC, outside
Triton's compute) is measured at the lowest rate and added to the simulator's
latencies, which model only queueing and compute.

Compared per policy: replica-seconds (GPU-seconds held), the replica timelines
(held and ready per second), latency p50/p99, and the p50 queue time, taken as
p50 latency minus the idle latency of one request (measured for the testbed,
``max_queue_delay + base + per_item`` for the simulator).

Run: ``.venv/bin/python bench/fidelity.py`` (about 8 minutes on 2 cores). Writes
``bench/results/fidelity.json`` and ``bench/results/fidelity.md``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaler.sim.engine import RunResult, simulate  # noqa: E402
from scaler.sim.scenario import Scenario, scenario_from_dict  # noqa: E402
from scaler.testbed.loadgen import LoadGenerator  # noqa: E402
from scaler.testbed.runner import (  # noqa: E402
    TESTBED_SCENARIO,
    Testbed,
    TestbedOptions,
    service_law,
)
from scaler.testbed.triton_replica import TritonReplica  # noqa: E402
from scaler.traces.model import Trace  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SWEEP_RPS = (4.0, 15.0, 28.0, 40.0)
SWEEP_S = 10.0
TARGET_REPLICA_S = 0.15
TARGET_QUEUE_P50 = 0.30

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_COUNTERS = (
    "nv_inference_exec_count",
    "nv_inference_count",
    "nv_inference_request_success",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
)


def fidelity_trace() -> Trace:
    """2.5 minutes: quiet, a step to well over one replica's capacity, back to quiet."""
    rps = np.array([12.0] * 30 + [75.0] * 60 + [12.0] * 60)
    return Trace("fidelity-step", rps)


def _counters(url: str) -> dict[str, float]:
    text = requests.get(url, timeout=5).text
    out = dict.fromkeys(_COUNTERS, 0.0)
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) in out:
            out[m.group(1)] += float(m.group(3))
    return out


def calibrate(base: Scenario) -> dict[str, Any]:
    """Sweep one real replica; fit compute time per execution = base + per_item × batch."""
    points = []
    with TritonReplica(law=service_law(base)) as replica:
        for rate in SWEEP_RPS:
            gen = LoadGenerator([replica.http_url], "model", rate_rps=rate, threads=32, seed=1)
            before = _counters(replica.metrics_url)
            gen.start()
            time.sleep(SWEEP_S)
            gen.stop()
            after = _counters(replica.metrics_url)
            d = {k: after[k] - before[k] for k in _COUNTERS}
            ok = sorted(r.lag_s + r.latency_s for r in gen.records() if r.ok)
            points.append(
                {
                    "rate_rps": rate,
                    "mean_batch": d["nv_inference_count"] / d["nv_inference_exec_count"],
                    "compute_ms_per_exec": d["nv_inference_compute_infer_duration_us"]
                    / d["nv_inference_request_success"]
                    / 1000,
                    "triton_ms_per_request": d["nv_inference_request_duration_us"]
                    / d["nv_inference_request_success"]
                    / 1000,
                    "p50_end_to_end_ms": ok[len(ok) // 2] * 1000,
                }
            )
    b = np.array([p["mean_batch"] for p in points])
    t = np.array([p["compute_ms_per_exec"] for p in points])
    per_item, base_ms = np.polyfit(b, t, 1) if np.ptp(b) > 0.2 else (t.mean(), 0.0)
    if per_item <= 0:
        per_item, base_ms = float(np.mean(t / b)), 0.0
    low = points[0]
    overhead = low["p50_end_to_end_ms"] - low["triton_ms_per_request"]
    return {
        "sweep": points,
        "base_ms": max(float(base_ms), 0.0),
        "per_item_ms": float(per_item),
        "transport_overhead_ms": max(float(overhead), 0.0),
        "idle_latency_ms": float(low["p50_end_to_end_ms"]),
    }


def scenarios(cal: dict[str, Any]) -> dict[str, tuple[Scenario, Scenario]]:
    """Per policy: (testbed scenario: the law the replicas run, simulator scenario:
    the calibrated law)."""
    out = {}
    for policy, meta in (
        ("threshold", {}),
        (
            "predictive",
            {
                "policy": "predictive",
                "targetMs": "60",
                "leadTimeS": "18",
                "trendWindowS": "30",
                "peakWindowS": "20",
                "capacityRpsPrior": "35",
                "capacityWindowS": "120",
            },
        ),
    ):
        data = json.loads(json.dumps(TESTBED_SCENARIO))
        trig = data["scaledObject"]["triggers"][0]
        if meta:
            trig["metadata"] = {
                **{k: v for k, v in trig["metadata"].items() if k not in ("signal", "target")},
                **meta,
            }
        real = scenario_from_dict(data, f"fidelity {policy}")
        data["fleet"] = {
            **data["fleet"],
            "base_ms": round(cal["base_ms"], 3),
            "per_item_ms": round(cal["per_item_ms"], 3),
        }
        out[policy] = (real, scenario_from_dict(data, f"fidelity {policy} (calibrated)"))
    return out


def _run_numbers(run: RunResult, trace: Trace, idle_ms: float, extra_ms: float) -> dict[str, Any]:
    s = run.scores
    return {
        "replica_seconds": round(s.gpu_hours * 3600, 1),
        "ready_replica_seconds": round(float(run.ready.sum()) * trace.step_s, 1),
        "peak_replicas": int(run.held.max()),
        "latency_ms": {"p50": round(s.p50_ms + extra_ms, 1), "p99": round(s.p99_ms + extra_ms, 1)},
        "p50_queue_ms": round(max(s.p50_ms + extra_ms - idle_ms, 0.0), 1),
        "slo_attainment": round(s.slo_attainment, 4),
        "failed_requests": s.failed_requests,
        "scale_events": s.scale_events,
        "held_timeline": [int(x) for x in run.held],
        "ready_timeline": [int(x) for x in run.ready],
    }


def _gap(sim: float, real: float) -> float | None:
    return round((sim - real) / real, 3) if real > 0 else None


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    trace = fidelity_trace()
    base = scenario_from_dict(TESTBED_SCENARIO)
    started = time.monotonic()
    cal = calibrate(base)
    print(f"calibrated: {cal['base_ms']:.2f} ms + {cal['per_item_ms']:.2f} ms/item", flush=True)
    results: dict[str, Any] = {}
    for policy, (real_sc, sim_sc) in scenarios(cal).items():
        with Testbed(real_sc, TestbedOptions(initial_replicas=1)) as tb:
            measured = tb.run(trace).runs[0]
        sim_run = simulate(trace, sim_sc, name=policy, initial_replicas=1)
        sim_idle = sim_sc.fleet.max_queue_delay_ms + sim_sc.fleet.base_ms + sim_sc.fleet.per_item_ms
        real = _run_numbers(measured, trace, cal["idle_latency_ms"], 0.0)
        sim = _run_numbers(
            sim_run, trace, sim_idle + cal["transport_overhead_ms"], cal["transport_overhead_ms"]
        )
        held_diff = np.abs(np.array(real["held_timeline"]) - np.array(sim["held_timeline"]))
        gaps = {
            "replica_seconds": _gap(sim["replica_seconds"], real["replica_seconds"]),
            "p50_queue_ms": _gap(sim["p50_queue_ms"], real["p50_queue_ms"]),
            "p50_latency": _gap(sim["latency_ms"]["p50"], real["latency_ms"]["p50"]),
            "p99_latency": _gap(sim["latency_ms"]["p99"], real["latency_ms"]["p99"]),
            "mean_abs_held_replica_diff": round(float(held_diff.mean()), 3),
        }
        met = {
            "replica_seconds_within_15pct": gaps["replica_seconds"] is not None
            and abs(gaps["replica_seconds"]) <= TARGET_REPLICA_S,
            "p50_queue_within_30pct": gaps["p50_queue_ms"] is not None
            and abs(gaps["p50_queue_ms"]) <= TARGET_QUEUE_P50,
        }
        results[policy] = {"testbed": real, "simulator": sim, "relative_gap": gaps, "met": met}
        print(policy, json.dumps(gaps), json.dumps(met), flush=True)
    out = {
        "trace": {"name": trace.name, "rps": [float(x) for x in trace.rps]},
        "calibration": cal,
        "scenario": TESTBED_SCENARIO,
        "policies": results,
        "wall_s": round(time.monotonic() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fidelity.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "fidelity.md").write_text(markdown(out))
    print(markdown(out))
    return 0


def markdown(out: dict[str, Any]) -> str:
    cal = out["calibration"]
    lines = [
        "# Simulator fidelity against the live testbed",
        "",
        f"Trace `{out['trace']['name']}` ({len(out['trace']['rps'])} s: 12 → 75 → 12 req/s, "
        "one-item requests). Replicas run 5 ms + 20 ms/item (max batch 8); the simulator "
        f"uses the law fitted from a sweep of one real replica: **{cal['base_ms']:.2f} ms + "
        f"{cal['per_item_ms']:.2f} ms/item**, plus {cal['transport_overhead_ms']:.1f} ms of "
        "measured transport overhead added to its latencies.",
        "",
        "| policy | replica-s testbed | replica-s sim | gap | p50 queue testbed | "
        "p50 queue sim | gap | p50 ms tb / sim | p99 ms tb / sim | mean |Δheld| |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in out["policies"].items():
        t, s, g = r["testbed"], r["simulator"], r["relative_gap"]

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x * 100:+.0f} %"

        lines.append(
            f"| {name} | {t['replica_seconds']:.0f} | {s['replica_seconds']:.0f} | "
            f"{pct(g['replica_seconds'])} | {t['p50_queue_ms']:.0f} ms | "
            f"{s['p50_queue_ms']:.0f} ms | {pct(g['p50_queue_ms'])} | "
            f"{t['latency_ms']['p50']:.0f} / {s['latency_ms']['p50']:.0f} | "
            f"{t['latency_ms']['p99']:.0f} / {s['latency_ms']['p99']:.0f} | "
            f"{g['mean_abs_held_replica_diff']:.2f} |"
        )
    lines += [
        "",
        "Targets: replica-seconds within 15 %, p50 queue time within 30 %. Met: "
        + "; ".join(
            f"{n}: replica-s {'yes' if r['met']['replica_seconds_within_15pct'] else 'no'}, "
            f"p50 queue {'yes' if r['met']['p50_queue_within_30pct'] else 'no'}"
            for n, r in out["policies"].items()
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
