"""Does the simulator tell the truth? The same trace and scenario through the live
testbed (real Triton, Prometheus, the scaler, the KEDA + HPA actuator) and through
``scaler simulate``'s engine, for the threshold and predictive policies.

Calibration: the simulator's service-time law is *measured* on one real Triton
replica behind the testbed's proxy, not typed in. Triton adds a batch's compute
time to every request of the batch, so ``Δcompute_infer_us / Δrequest_success`` is
a request-weighted mean that overstates the time of an execution whenever batch
sizes vary (regressing it on the mean batch size inflates ``per_item_ms``). The fit
therefore uses the two loads where every execution has a known size:

* lone requests (one client, closed loop; checked: items per execution = 1.000):
  ``S(1) = Δcompute_infer_us / Δrequest_success``;
* overload (Poisson well above capacity; checked: items per execution = max batch):
  the instance never idles, so ``S(B) = Δt / Δexec_count`` (includes Triton's gap
  between executions, which is what capacity sees).

``per_item_ms = (S(B) − S(1)) / (B − 1)`` and ``base_ms = S(1) − per_item_ms``. With
one-item requests a per-request overhead (pytriton's IPC and serialisation) is
indistinguishable from a per-item cost, so the two-term law is complete for this
traffic. Intermediate Poisson loads are measured too and reported with the mean
batch size the simulator's batching model predicts at that load, as a check.
The transport (HTTP client + proxy) is what a lone request's end-to-end latency
adds to ``max_queue_delay + S(1)``; it is added to the simulator's latencies.

Queue time, the same quantity on both sides: a request's end-to-end latency minus
the latency of a lone request (``idle``), i.e. its wait before its batch starts
plus the extra service of a batch bigger than one item. ``p50 queue`` is the p50
latency minus ``idle`` (the same ``idle`` on both sides). The mean wait before a
batch starts is also reported: testbed = Triton's ``Σqueue_duration /
Σrequest_success`` over the run plus the load generator's mean wait for a free
client thread; simulator (exact mode) = its per-request ``batch start − arrival``.

The simulator runs both ways: fast (the fluid model ``scaler simulate`` uses by
default) and ``--exact`` (request by request, Poisson arrivals like the testbed's
load generator; several seeds, since the testbed run is one draw of a random
process). Timers are checked to be identical on both sides before running.

Run: ``.venv/bin/python bench/fidelity.py`` (about 10 minutes on 2 cores). Writes
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
from unittest import mock

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaler.sim import engine  # noqa: E402
from scaler.sim.batching import steady_state  # noqa: E402
from scaler.sim.engine import RunResult, simulate  # noqa: E402
from scaler.sim.exact import ExactFleet  # noqa: E402
from scaler.sim.scenario import Scenario, scenario_from_dict  # noqa: E402
from scaler.testbed.loadgen import INFER_BODY, LoadGenerator  # noqa: E402
from scaler.testbed.proxy import Proxy  # noqa: E402
from scaler.testbed.runner import (  # noqa: E402
    TESTBED_SCENARIO,
    Testbed,
    TestbedOptions,
    service_law,
)
from scaler.testbed.triton_replica import TritonReplica  # noqa: E402
from scaler.traces.model import Trace  # noqa: E402

RESULTS = ROOT / "bench" / "results"
LONE_S = 10.0
SWEEP_RPS = (10.0, 25.0, 38.0)
OVERLOAD_RPS = 75.0
SWEEP_S = 10.0
EXACT_SEEDS = (0, 1, 2, 3, 4)
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


def _delta(url: str, run: Any) -> tuple[dict[str, float], float, Any]:
    """Counter increases over ``run()`` (which returns anything), and its wall seconds."""
    before = _counters(url)
    t0 = time.monotonic()
    out = run()
    elapsed = time.monotonic() - t0
    after = _counters(url)
    return {k: after[k] - before[k] for k in _COUNTERS}, elapsed, out


def _lone(url: str, seconds: float, gap_s: float = 0.2) -> list[float]:
    """One request at a time, ``gap_s`` apart: every execution is a batch of one.

    The gap matters: back-to-back requests on one keep-alive connection through the
    proxy meet TCP's delayed ACK (≈ 40 ms a request), which the testbed's open-loop
    load, with seconds between requests on a connection, does not.
    """
    session = requests.Session()
    lat: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        resp = session.post(f"{url}/v2/models/model/infer", json=INFER_BODY, timeout=10)
        resp.raise_for_status()
        lat.append((time.monotonic() - t) * 1000)
        time.sleep(gap_s)
    session.close()
    return lat


def _poisson(url: str, rate: float, seconds: float, warm_s: float = 0.0) -> Any:
    gen = LoadGenerator([url], "model", rate_rps=rate, threads=64, seed=1, poisson=True)
    gen.start()
    time.sleep(warm_s)

    def window() -> None:
        time.sleep(seconds)

    return gen, window


def calibrate(base: Scenario) -> dict[str, Any]:
    """Measure one real replica (behind the proxy) and fit ``base_ms + per_item_ms × b``."""
    f = base.fleet
    big_b = f.max_batch_items
    with TritonReplica(law=service_law(base)) as replica, Proxy() as proxy:
        proxy.add(replica.http_url)
        _lone(proxy.url, 2.0)
        d, _, lat = _delta(replica.metrics_url, lambda: _lone(proxy.url, LONE_S))
        lone_batch = d["nv_inference_count"] / d["nv_inference_exec_count"]
        s1 = d["nv_inference_compute_infer_duration_us"] / d["nv_inference_request_success"] / 1e3
        idle = float(np.median(lat))
        sweep = []
        for rate in (*SWEEP_RPS, OVERLOAD_RPS):
            gen, window = _poisson(proxy.url, rate, SWEEP_S, warm_s=3.0)
            d, el, _ = _delta(replica.metrics_url, window)
            gen.stop(timeout_s=5.0)
            execs, items = d["nv_inference_exec_count"], d["nv_inference_count"]
            sweep.append(
                {
                    "rate_rps": rate,
                    "served_rps": round(items / el, 2),
                    "mean_batch": round(items / execs, 3),
                    "ms_per_exec_wall": round(el / execs * 1e3, 2),
                    "compute_ms_per_request": round(
                        d["nv_inference_compute_infer_duration_us"]
                        / d["nv_inference_request_success"]
                        / 1e3,
                        2,
                    ),
                    "triton_queue_ms_per_request": round(
                        d["nv_inference_queue_duration_us"]
                        / d["nv_inference_request_success"]
                        / 1e3,
                        2,
                    ),
                }
            )
    over = sweep[-1]
    if abs(over["mean_batch"] - big_b) > 0.05 or abs(lone_batch - 1.0) > 0.01:
        raise RuntimeError(
            f"calibration loads did not give fixed batch sizes: lone {lone_batch:.3f}, "
            f"overload {over['mean_batch']:.3f} (want 1 and {big_b})"
        )
    s_big = over["ms_per_exec_wall"]
    per_item = (s_big - s1) / (big_b - 1)
    base_ms = s1 - per_item
    transport = idle - f.max_queue_delay_ms - s1
    fitted = base.fleet.model_copy(update={"base_ms": base_ms, "per_item_ms": per_item})
    for p in sweep[:-1]:
        lam = np.array([p["served_rps"]])
        p["model_mean_batch"] = round(
            float(steady_state(fitted, lam, lam, np.ones(1)).batch_items[0]), 3
        )
    return {
        "lone": {
            "mean_batch": round(lone_batch, 4),
            "compute_ms_per_exec": round(s1, 3),
            "p50_end_to_end_ms": round(idle, 3),
        },
        "sweep": sweep,
        "base_ms": round(base_ms, 3),
        "per_item_ms": round(per_item, 3),
        "capacity_rps": round(big_b / s_big * 1e3, 2),
        "transport_ms": round(max(transport, 0.0), 3),
        "idle_latency_ms": round(idle, 3),
        "typed_in_law": {"base_ms": f.base_ms, "per_item_ms": f.per_item_ms},
    }


def scenarios(cal: dict[str, Any]) -> dict[str, tuple[Scenario, Scenario]]:
    """Per policy: (testbed scenario: the law the replicas run, simulator scenario:
    the calibrated law). Everything else is the same mapping."""
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
            "base_ms": cal["base_ms"],
            "per_item_ms": cal["per_item_ms"],
        }
        out[policy] = (real, scenario_from_dict(data, f"fidelity {policy} (calibrated)"))
    return out


def timers(real: Scenario, sim: Scenario, tb: Testbed) -> dict[str, Any]:
    """The timers each side runs with; the run stops if they differ."""
    s = tb.settings
    assert tb.prometheus is not None
    tb_side = {
        "scrape_interval_s": float(tb.prometheus.scrape_interval_s),
        "rate_window_s": float(s.metadata["rateWindowSeconds"]),
        "polling_interval_s": s.polling_interval_s,
        "hpa_sync_s": s.sync_period_s,
        "startup_s": s.startup_s,
        "refresh_interval_s": tb.options.refresh_interval_s,
    }
    sim_side = {
        "scrape_interval_s": sim.observation.scrape_interval_s,
        "rate_window_s": sim.rate_window_s(),
        "polling_interval_s": float(sim.scaledObject.pollingInterval),
        "hpa_sync_s": sim.hpa.sync_period_s,
        "startup_s": sim.startup.nominal_s,
        "refresh_interval_s": sim.scaler.refresh_interval_s,
    }
    same_rest = (
        real.scaledObject == sim.scaledObject
        and real.hpa == sim.hpa
        and real.startup == sim.startup
        and real.observation == sim.observation
        and real.fleet.max_batch_items == sim.fleet.max_batch_items
        and real.fleet.max_queue_delay_ms == sim.fleet.max_queue_delay_ms
    )
    if tb_side != sim_side or not same_rest:
        raise RuntimeError(f"testbed and simulator timers differ: {tb_side} vs {sim_side}")
    return {
        **sim_side,
        "initial_replicas": 1,
        "testbed_only": "GPU exporter poll 1 s, file_sd refresh 1 s (the simulator "
        "models their sum as discovery_delay_s)",
    }


def _testbed_mean_queue_ms(tb: Testbed, end_s: float) -> float | None:
    """Triton's Σqueue_duration / Σrequest_success over the run (all pods, from
    Prometheus) plus the load generator's mean wait for a free client thread."""
    prom, loadgen = tb.prometheus, tb.loadgen
    assert prom is not None and loadgen is not None
    span = max(1, int(np.ceil(end_s)) + 5)
    ns = tb.options.namespace

    def total(metric: str) -> float:
        r = prom.query(f'sum(increase({metric}{{namespace="{ns}"}}[{span}s]))')
        return float(r[0]["value"][1]) if r else 0.0

    ok = total("nv_inference_request_success")
    if ok <= 0:
        return None
    recs = [r for r in loadgen.records() if r.ok]
    lag = float(np.mean([r.lag_s for r in recs])) * 1e3 if recs else 0.0
    return total("nv_inference_queue_duration_us") / ok / 1e3 + lag


class _RecordingExact(ExactFleet):
    """The exact fleet, kept so the bench can read its per-request queue times."""

    last: ExactFleet | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _RecordingExact.last = self


def _simulate_exact(trace: Trace, sc: Scenario, seed: int) -> tuple[RunResult, float]:
    """One exact run and its mean wait before a batch starts (ms per served request)."""
    sc = sc.model_copy(update={"exact": sc.exact.model_copy(update={"seed": seed})})
    with mock.patch.object(engine, "ExactFleet", _RecordingExact):
        run = simulate(trace, sc, name="exact", initial_replicas=1, exact=True)
    fleet = _RecordingExact.last
    assert fleet is not None
    o = fleet.outputs
    return run, float(o.queue_ms.sum() / max(o.success.sum(), 1.0))


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


def _gap(sim: float | None, real: float | None) -> float | None:
    if sim is None or real is None or real <= 0:
        return None
    return round((sim - real) / real, 3)


def _met(gaps: dict[str, Any]) -> dict[str, bool]:
    rs, q = gaps["replica_seconds"], gaps["p50_queue_ms"]
    return {
        "replica_seconds_within_15pct": rs is not None and abs(rs) <= TARGET_REPLICA_S,
        "p50_queue_within_30pct": q is not None and abs(q) <= TARGET_QUEUE_P50,
    }


def _compare(real: dict[str, Any], sim: dict[str, Any]) -> dict[str, Any]:
    held = np.abs(np.array(real["held_timeline"]) - np.array(sim["held_timeline"]))
    gaps = {
        "replica_seconds": _gap(sim["replica_seconds"], real["replica_seconds"]),
        "p50_queue_ms": _gap(sim["p50_queue_ms"], real["p50_queue_ms"]),
        "mean_queue_ms": _gap(sim.get("mean_queue_ms"), real.get("mean_queue_ms")),
        "p50_latency": _gap(sim["latency_ms"]["p50"], real["latency_ms"]["p50"]),
        "p99_latency": _gap(sim["latency_ms"]["p99"], real["latency_ms"]["p99"]),
        "mean_abs_held_replica_diff": round(float(held.mean()), 3),
    }
    return {"relative_gap": gaps, "met": _met(gaps)}


def _exact_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The exact runs over seeds: medians of the numbers, and each seed's."""
    keys = ("replica_seconds", "p50_queue_ms", "mean_queue_ms")
    out: dict[str, Any] = {k: round(float(np.median([r[k] for r in runs])), 1) for k in keys}
    out["latency_ms"] = {
        q: round(float(np.median([r["latency_ms"][q] for r in runs])), 1) for q in ("p50", "p99")
    }
    mid = int(np.argsort([r["replica_seconds"] for r in runs])[len(runs) // 2])
    out["held_timeline"] = runs[mid]["held_timeline"]
    out["ready_timeline"] = runs[mid]["ready_timeline"]
    out["replica_seconds_range"] = [
        min(r["replica_seconds"] for r in runs),
        max(r["replica_seconds"] for r in runs),
    ]
    out["seeds"] = [{k: r[k] for k in (*keys, "latency_ms", "scale_events")} for r in runs]
    return out


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    trace = fidelity_trace()
    base = scenario_from_dict(TESTBED_SCENARIO)
    started = time.monotonic()
    cal = calibrate(base)
    print(
        f"calibrated: {cal['base_ms']:.2f} ms + {cal['per_item_ms']:.2f} ms/item "
        f"(capacity {cal['capacity_rps']:.1f} req/s), idle {cal['idle_latency_ms']:.1f} ms",
        flush=True,
    )
    idle, transport = cal["idle_latency_ms"], cal["transport_ms"]
    results: dict[str, Any] = {}
    timer_check: dict[str, Any] = {}
    for policy, (real_sc, sim_sc) in scenarios(cal).items():
        with Testbed(real_sc, TestbedOptions(initial_replicas=1)) as tb:
            timer_check = timers(real_sc, sim_sc, tb)
            measured = tb.run(trace).runs[0]
            real = _run_numbers(measured, trace, idle, 0.0)
            real["mean_queue_ms"] = _round(_testbed_mean_queue_ms(tb, trace.duration_s))
        sim_idle = sim_sc.fleet.max_queue_delay_ms + sim_sc.fleet.base_ms + sim_sc.fleet.per_item_ms
        fast = _run_numbers(
            simulate(trace, sim_sc, name=policy, initial_replicas=1),
            trace,
            sim_idle + transport,
            transport,
        )
        exact_runs = []
        for seed in EXACT_SEEDS:
            run, mean_q = _simulate_exact(trace, sim_sc, seed)
            r = _run_numbers(run, trace, sim_idle + transport, transport)
            r["mean_queue_ms"] = round(mean_q, 1)
            exact_runs.append(r)
        exact = _exact_summary(exact_runs)
        results[policy] = {
            "testbed": real,
            "simulator_fast": fast,
            "simulator_exact": exact,
            "fast": _compare(real, fast),
            "exact": _compare(real, exact),
        }
        print(policy, json.dumps(results[policy]["exact"]), flush=True)
    out = {
        "trace": {"name": trace.name, "rps": [float(x) for x in trace.rps]},
        "calibration": cal,
        "timers": timer_check,
        "scenario": TESTBED_SCENARIO,
        "policies": results,
        "wall_s": round(time.monotonic() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fidelity.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "fidelity.md").write_text(markdown(out))
    print(markdown(out))
    return 0


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.0f} %"


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def markdown(out: dict[str, Any]) -> str:
    cal = out["calibration"]
    typed = cal["typed_in_law"]
    tm = out["timers"]
    lines = [
        "# Simulator fidelity against the live testbed",
        "",
        f"Trace `{out['trace']['name']}` ({len(out['trace']['rps'])} s: 12 → 75 → 12 req/s, "
        "one-item requests), one replica at the start, identical timers on both sides "
        f"(scrape {tm['scrape_interval_s']:g} s, rate window {tm['rate_window_s']:g} s, KEDA "
        f"poll {tm['polling_interval_s']:g} s, HPA sync {tm['hpa_sync_s']:g} s, start-up "
        f"{tm['startup_s']:g} s).",
        "",
        f"**Calibration.** The replicas sleep {typed['base_ms']:g} ms + "
        f"{typed['per_item_ms']:g} ms/item per batch (max batch 8); pytriton adds its own "
        "overhead. Measured on one real replica behind the proxy: a lone request's "
        f"execution takes {cal['lone']['compute_ms_per_exec']:.1f} ms (batch "
        f"{cal['lone']['mean_batch']:.3f}), and under overload every execution is a full batch "
        f"of 8 at {cal['sweep'][-1]['ms_per_exec_wall']:.1f} ms → the simulator's law "
        f"**{cal['base_ms']:.2f} ms + {cal['per_item_ms']:.2f} ms/item** (capacity "
        f"{cal['capacity_rps']:.1f} req/s per replica), plus {cal['transport_ms']:.1f} ms of "
        "HTTP + proxy transport added to its latencies (a lone request end to end: "
        f"{cal['idle_latency_ms']:.1f} ms).",
        "",
        "| load req/s | served | mean batch measured | mean batch model | Triton queue ms |",
        "|---|---|---|---|---|",
    ]
    for p in cal["sweep"]:
        model = p.get("model_mean_batch")
        lines.append(
            f"| {p['rate_rps']:g} | {p['served_rps']:.1f} | {p['mean_batch']:.2f} | "
            f"{'—' if model is None else f'{model:.2f}'} | "
            f"{p['triton_queue_ms_per_request']:.1f} |"
        )
    lines += [
        "",
        "**Queue time** (same definition on both sides): end-to-end latency minus a lone "
        f"request's ({cal['idle_latency_ms']:.1f} ms): the wait before the batch starts plus "
        "the extra service of a batch bigger than one. *Mean wait* is the wait before the "
        "batch starts only: testbed = Triton's queue-duration counter per request plus the "
        "load generator's wait for a free client thread; simulator (exact) = batch start − "
        "arrival.",
        "",
        "| policy | simulator | replica-s testbed / sim | gap | p50 queue tb / sim | gap | "
        "mean wait tb / sim | p50 ms tb / sim | p99 ms tb / sim | mean abs Δheld |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in out["policies"].items():
        t = r["testbed"]
        for mode in ("exact", "fast"):
            s = r[f"simulator_{mode}"]
            g = r[mode]["relative_gap"]
            rs = f"{s['replica_seconds']:.0f}"
            if "replica_seconds_range" in s:
                lo, hi = s["replica_seconds_range"]
                rs += f" ({lo:.0f}–{hi:.0f})"
            mq, tq = s.get("mean_queue_ms"), t.get("mean_queue_ms")
            lines.append(
                f"| {name} | {mode} | {t['replica_seconds']:.0f} / {rs} | "
                f"{_pct(g['replica_seconds'])} | {t['p50_queue_ms']:.1f} / "
                f"{s['p50_queue_ms']:.1f} ms | {_pct(g['p50_queue_ms'])} | "
                f"{'—' if tq is None else f'{tq:.0f}'} / {'—' if mq is None else f'{mq:.0f}'} ms | "
                f"{t['latency_ms']['p50']:.0f} / {s['latency_ms']['p50']:.0f} | "
                f"{t['latency_ms']['p99']:.0f} / {s['latency_ms']['p99']:.0f} | "
                f"{g['mean_abs_held_replica_diff']:.2f} |"
            )
    lines += [
        "",
        "Exact mode: median over seeds " + ", ".join(str(s) for s in EXACT_SEEDS) + " (range "
        "in brackets). Targets: replica-seconds within 15 %, p50 queue time within 30 %.",
        "",
    ]
    for name, r in out["policies"].items():
        for mode in ("exact", "fast"):
            m = r[mode]["met"]
            lines.append(
                f"- {name}, {mode}: replica-s {_yes(m['replica_seconds_within_15pct'])}, "
                f"p50 queue {_yes(m['p50_queue_within_30pct'])}"
            )
    lines += [
        "",
        "Notes. Fast mode spreads each second's latencies evenly between the best case and "
        "an unluckily large batch (mean batch + 2.33 √batch items), so at light load it puts "
        "the median tens of ms above a lone request's; exact mode draws real batches. On this "
        "trace the step leaves the fleet short for tens of seconds and a large share of all "
        "requests wait in that backlog, so the p50 sits near the edge between unqueued and "
        "backlogged requests and moves by a lot for small changes; the mean wait (the queue "
        "time proper) and the replica-seconds are the better-conditioned comparisons. "
        "Unmodelled on the simulator's side: Prometheus's discovery of a new replica "
        "(file_sd refresh, first scrape, the exporter's two polls: 2–3 s before the scaler "
        "counts it) and the scaler's 1 s refresh.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
