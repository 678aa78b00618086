"""Does the simulator tell the truth? Three compressed scenarios — a step, a ramp and a
campaign with a burst, each taking the fleet to at least 4 replicas — run through the
live testbed (real Triton via nvidia-pytriton, real Prometheus, the scaler's gRPC
server, the KEDA + HPA actuator) and through ``scaler simulate``'s engine with the
same ScaledObject, and compared on three figures:

* **replica-seconds** (GPU time charged, start-up included) within 10 %;
* **mean queue wait** per served request within 25 %;
* **p99 end-to-end latency** within 30 %.

The p50 queue time of the first version of this bench is no longer a target: with
one-item requests most requests are served without queueing, so the median sits on
the edge between unqueued and backlogged requests and swings by 100–1300 % for a
second's difference in when a replica arrives; the mean wait and the p99 are the
well-conditioned measures of queueing.

The ScaledObject is the testbed's (``scaler.testbed.runner.TESTBED_SCENARIO``:
threshold policy, 1–6 replicas, KEDA poll 5 s, HPA sync 5 s, its behavior) with
three changes, each for a reason the md states: the fleet's "GPU" is slower
(:data:`FIDELITY_FLEET`: 40 ms per item instead of 20, so 4–6 replicas are reached at
half the request rate, which keeps the CPU time of the load generator, proxy and
pytriton on this 2-core machine small), the start-up is 20 s (:data:`FIDELITY_STARTUP`)
and the threshold is on served requests per replica (:data:`FIDELITY_TRIGGER`).

Calibration: the simulator's service-time law is *measured* on one real Triton
replica behind the testbed's proxy, not typed in. Triton adds a batch's compute
time to every request of the batch, so ``Δcompute_infer_us / Δrequest_success`` is
a request-weighted mean that overstates the time of an execution whenever batch
sizes vary. The fit therefore uses the two loads where every execution has a known
size:

* lone requests (one client, closed loop; checked: items per execution = 1.000):
  ``S(1) = Δcompute_infer_us / Δrequest_success``;
* overload (Poisson well above capacity; checked: items per execution = max batch):
  the instance never idles, so ``S(B) = Δt / Δexec_count``.

``per_item_ms = (S(B) − S(1)) / (B − 1)`` and ``base_ms = S(1) − per_item_ms``. The
transport (HTTP client + proxy) is what a lone request's end-to-end latency adds to
``max_queue_delay + S(1)``; it is added to the simulator's latencies.

Queue wait, the same quantity on both sides: the time from a request's release to
the start of its batch. Testbed: Triton's ``nv_inference_queue_duration_us`` summed
over every replica (read from each replica just before it stops, and from the live
ones at the end) per ``nv_inference_request_success``, plus the load generator's
mean wait for a free client thread. Simulator: its per-request
``batch start − arrival`` (exact mode: per request; fast mode: the fluid model's
queue counter).

The simulator runs both ways: ``--exact`` (request by request, Poisson arrivals like
the testbed's load generator; several seeds, the testbed run being one draw of a
random process; the figures compared are the seeds' medians) and fast (the fluid
model ``scaler simulate`` uses by default). Timers are checked to be identical on both
sides before running.

Run: ``.venv/bin/python bench/fidelity.py`` (about an hour on 2 cores with 5 draws per
scenario; ``--scenarios step`` runs one, ``--draws`` sets the draws). It is real-time
and load-sensitive: run it from a frozen clone and give it and its Triton and
Prometheus children priority (``echo -10 > /proc/<pid>/autogroup``; ``nice`` does
nothing across sessions). Writes ``bench/results/fidelity.json`` and
``bench/results/fidelity.md`` (the run before kept as ``previous_run``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import requests
from code_version import commit as code_commit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaler.metadata import parse_metadata  # noqa: E402
from scaler.sim import engine  # noqa: E402
from scaler.sim.batching import steady_state  # noqa: E402
from scaler.sim.engine import RunResult, simulate  # noqa: E402
from scaler.sim.exact import ExactFleet  # noqa: E402
from scaler.sim.fleet import FastFleet  # noqa: E402
from scaler.sim.hpa import Autoscaler  # noqa: E402
from scaler.sim.scaler_model import ScalerModel  # noqa: E402
from scaler.sim.scenario import (  # noqa: E402
    ExactSpec,
    FleetSpec,
    Scenario,
    scenario_from_dict,
)
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
FIDELITY_FLEET = {"per_item_ms": 40.0}
"""The testbed fleet with a slower "GPU" (see the module docstring)."""
FIDELITY_STARTUP = {"kind": "fixed", "seconds": 20}
"""A pod is ready 20 s after it is created (the testbed's 8 s is shorter than a
pytriton replica takes to boot when the shared cores are busy: measured 8–16 s, so the
real start-up would vary while the simulator's stays fixed)."""
FIDELITY_TRIGGER = {"signal": "rps_per_replica", "target": "9"}
"""The threshold on served requests per replica, not the testbed's GPU utilisation:
the testbed's stand-in for DCGM derives busy time from Triton's per-request compute
counter, which overstates it by ``per_item × Var(b) / E[b]`` per execution whenever
batch sizes vary (the simulator, like DCGM, reports true busy time)."""
LONE_S = 10.0
SWEEP_RPS = (8.0, 14.0, 20.0)
OVERLOAD_RPS = 40.0
SWEEP_S = 10.0
EXACT_SEEDS = tuple(range(11))
"""Exact-mode seeds: the ramp's p99 is bimodal (the first scale-up lands on one HPA
sync or the next), so the median needs more than a handful of draws."""
DRAWS = 5
"""Testbed runs per scenario: one run is one draw of a random process (Poisson
arrivals, the shared machine's timing), and repeated runs of one scenario moved the
figures by 15–35 points, so the simulator is compared with the draws' median. Draw k
seeds the load generator with k, so every run of the bench replays the same arrivals
(the ramp's 40 s/45 s coin falls the same way for a given draw)."""
LOADGEN_THREADS = 1024
"""Client threads: more than the largest backlog of these scenarios (about 500 requests
in the step's), so every request is sent when it is released and waits in a Triton
queue, as behind Envoy, which routes a request to a replica when it arrives. With 256
threads the rest of the step's backlog waited in the load generator's own queue and
went to whichever replica freed first (one shared queue: a new replica took the
oldest requests), which shortened the testbed's p99 and moved up to a third of its
mean wait to the client side."""
TARGETS = {"replica_seconds": 0.10, "mean_queue_ms": 0.25, "p99_latency": 0.30}
"""Largest relative gap |sim − testbed| / testbed allowed for each figure."""

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_COUNTERS = (
    "nv_inference_exec_count",
    "nv_inference_count",
    "nv_inference_request_success",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
)


def _series(*parts: tuple[float, float, int]) -> Any:
    """Piecewise-linear rate: (from rps, to rps, seconds) per part, 1 s bins."""
    return np.concatenate([np.linspace(a, b, n, endpoint=False) for a, b, n in parts])


def fidelity_traces() -> dict[str, Trace]:
    """The three compressed scenarios (3 minutes each, one-item requests, req/s per s).

    With 40 ms per item a replica serves about 20 lone requests/s and 24/s in full
    batches; the threshold wants one replica per 9 served req/s. Every level keeps clear
    of a whole replica count (3, 24, 40 and 50 req/s want 0.3, 2.7, 4.4 and 5.6
    replicas), and so does a backlogged replica serving its capacity (20–24 req/s: 2.2–2.7
    replicas' worth): a figure on the edge makes a scale-up a coin toss of Poisson noise
    in a 10 s rate window, or of a few per cent of calibrated capacity, which no
    simulator can call (a target of 10 put a backlogged replica at 2.0–2.4). The
    campaign's burst is more than its plateau's replicas can serve.
    """
    return {
        "step": Trace("fidelity-step", _series((3, 3, 30), (40, 40, 90), (3, 3, 60))),
        "ramp": Trace(
            "fidelity-ramp",
            _series((3, 3, 20), (3, 50, 100), (50, 50, 20), (50, 3, 20), (3, 3, 20)),
        ),
        "campaign": Trace(
            "fidelity-campaign",
            _series((3, 3, 20), (24, 24, 40), (80, 80, 20), (24, 24, 50), (3, 3, 50)),
        ),
    }


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
    sweep_models(fitted, sweep)
    return {
        "lone": {
            "mean_batch": round(lone_batch, 4),
            "compute_ms_per_exec": round(s1, 3),
            "p50_end_to_end_ms": round(idle, 3),
            "p90_end_to_end_ms": round(float(np.percentile(lat, 90)), 3),
            "p99_end_to_end_ms": round(float(np.percentile(lat, 99)), 3),
            "cv_end_to_end": round(float(np.std(lat) / np.mean(lat)), 3),
        },
        "sweep": sweep,
        "base_ms": round(base_ms, 3),
        "per_item_ms": round(per_item, 3),
        "capacity_rps": round(big_b / s_big * 1e3, 2),
        "transport_ms": round(max(transport, 0.0), 3),
        "idle_latency_ms": round(idle, 3),
        "typed_in_law": {"base_ms": f.base_ms, "per_item_ms": f.per_item_ms},
    }


SWEEP_MODEL_S = 1200
"""Seconds of Poisson load each sweep point is simulated for (exact mode, one replica:
the steady state)."""
SWEEP_WINDOW_DRAWS = 60
"""Exact-mode runs of the sweep's own window (``warm_s`` + :data:`SWEEP_S` from an idle
replica, measured over the last :data:`SWEEP_S`) per sweep point."""
SWEEP_WARM_S = 3


def sweep_models(fleet: FleetSpec, sweep: list[dict[str, Any]]) -> None:
    """Add what both simulator modes give for one replica at each sweep load (the
    overload point excepted): mean batch and mean queue wait, to set beside Triton's.

    A sweep point measures Triton over one 10 s window 3 s after the load starts on an
    idle replica. Near capacity that is a noisy, short-biased sample: at 20 req/s
    (utilisation ≈ 0.86) exact mode's mean wait over such windows has a standard
    deviation of about half its mean and a median below its steady state. So beside the
    steady state (20 minutes) the exact mode also runs the same window
    :data:`SWEEP_WINDOW_DRAWS` times and gives the median and 10–90 % range of its mean
    wait: that range is what one measured point can be compared with."""
    for p in sweep[:-1]:
        lam = np.array([p["served_rps"]])
        ss = steady_state(fleet, lam, lam, np.ones(1))
        p["model_mean_batch"] = round(float(ss.batch_items[0]), 3)
        p["model_queue_ms"] = round(float(ss.wait_mean_s[0] * 1e3), 1)
        trace = Trace("sweep", np.full(SWEEP_MODEL_S, p["served_rps"]))
        ex = ExactFleet(trace, fleet, ExactSpec(seed=0), initial_ready=1)
        ex.latency(1e3)
        o = ex.outputs
        p["exact_mean_batch"] = round(float(o.items.sum() / max(o.execs.sum(), 1.0)), 3)
        p["exact_queue_ms"] = round(float(o.queue_ms.sum() / max(o.success.sum(), 1.0)), 1)
        window = Trace("sweep window", np.full(SWEEP_WARM_S + int(SWEEP_S), p["served_rps"]))
        waits, batches = [], []
        for seed in range(SWEEP_WINDOW_DRAWS):
            ex = ExactFleet(window, fleet, ExactSpec(seed=100 + seed), initial_ready=1)
            ex.latency(1e3)
            o = ex.outputs
            cut = slice(SWEEP_WARM_S, None)
            waits.append(float(o.queue_ms[cut].sum() / max(o.success[cut].sum(), 1.0)))
            batches.append(float(o.items[cut].sum() / max(o.execs[cut].sum(), 1.0)))
        p["exact_window_queue_ms"] = [
            round(float(np.percentile(waits, q)), 1) for q in (10, 50, 90)
        ]
        p["exact_window_mean_batch"] = [
            round(float(np.percentile(batches, q)), 2) for q in (10, 50, 90)
        ]


def base_scenario() -> dict[str, Any]:
    """The testbed scenario with the fidelity fleet, start-up and trigger (a plain dict,
    to derive both sides)."""
    data: dict[str, Any] = json.loads(json.dumps(TESTBED_SCENARIO))
    data["fleet"] = {**data["fleet"], **FIDELITY_FLEET}
    data["startup"] = FIDELITY_STARTUP
    trigger = data["scaledObject"]["triggers"][0]
    trigger["metadata"] = {**trigger["metadata"], **FIDELITY_TRIGGER}
    return data


def mean_law(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The law the simulator runs: the mean of the calibrations before and after the
    testbed run (the machine's load moves the law while the run goes)."""
    return {
        k: round((before[k] + after[k]) / 2, 3)
        for k in ("base_ms", "per_item_ms", "capacity_rps", "transport_ms", "idle_latency_ms")
    }


def scenario_pair(cal: dict[str, Any]) -> tuple[Scenario, Scenario]:
    """(testbed scenario: the law the replicas run, simulator scenario: the calibrated
    law). Everything else, the ScaledObject included, is the same mapping."""
    data = base_scenario()
    real = scenario_from_dict(data, "fidelity")
    data["fleet"] = {**data["fleet"], "base_ms": cal["base_ms"], "per_item_ms": cal["per_item_ms"]}
    return real, scenario_from_dict(data, "fidelity (calibrated)")


def timers(real: Scenario, sim: Scenario, tb: Testbed) -> dict[str, Any]:
    """The timers each side runs with; the run stops if they differ."""
    s = tb.settings
    assert tb.prometheus is not None
    tb_side = {
        "scrape_interval_s": float(tb.prometheus.scrape_interval_s),
        "rate_window_s": parse_metadata("fidelity", "testbed", s.metadata).rate_window_s,
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
        and real.scaler == sim.scaler
        and real.fleet.max_batch_items == sim.fleet.max_batch_items
        and real.fleet.max_queue_delay_ms == sim.fleet.max_queue_delay_ms
    )
    if tb_side != sim_side or not same_rest:
        raise RuntimeError(f"testbed and simulator timers differ: {tb_side} vs {sim_side}")
    return {
        **sim_side,
        "discovery_delay_s": sim.observation.discovery_delay_s,
        "initial_replicas": 1,
        "testbed_only": "GPU exporter poll 1 s, file_sd refresh 1 s (the simulator "
        "models their sum with the first scrape as discovery_delay_s)",
    }


class _CountedReplica(TritonReplica):
    """A replica whose Triton counters are read just before it stops (Prometheus may
    not have scraped its last second, and drops it once it is gone)."""

    def __init__(self, sink: list[dict[str, float]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sink = sink
        self._read = False
        self._lock = threading.Lock()

    def final_counters(self) -> dict[str, float] | None:
        """The counters now, once (None: read before, or the server is gone)."""
        with self._lock:
            if self._read or not self.running:
                return None
            try:
                out = _counters(self.metrics_url)
            except requests.RequestException:
                return None
            self._read = True
            return out

    def close(self) -> None:
        counters = self.final_counters()
        if counters is not None:
            self._sink.append(counters)
        super().close()


class _CountingTestbed(Testbed):
    """The testbed, keeping every replica's final Triton counters."""

    def __init__(self, scenario: Scenario, options: TestbedOptions) -> None:
        super().__init__(scenario, options)
        self.final: list[dict[str, float]] = []
        self.replicas: list[_CountedReplica] = []

    def _replica(self, name: str) -> TritonReplica:
        r = _CountedReplica(
            self.final,
            model=self.options.model,
            law=self.law,
            name=name,
            workdir=self.workdir / name,
        )
        self.replicas.append(r)
        return r

    def triton_totals(self) -> dict[str, float]:
        """Counters summed over every replica of the run (stopped and still running)."""
        rows = list(self.final)
        for r in self.replicas:
            c = r.final_counters()
            if c is not None:
                rows.append(c)
        return {k: sum(row[k] for row in rows) for k in _COUNTERS}


def run_testbed(
    real: Scenario, sim: Scenario, trace: Trace, seed: int = 0
) -> tuple[dict[str, Any], Any]:
    """One live run (one draw: the load generator's Poisson arrivals seeded with
    ``seed``; the machine's timing varies on its own): its figures, its control
    time series, and the timers checked on both sides."""
    opts = TestbedOptions(initial_replicas=1, loadgen_threads=LOADGEN_THREADS, seed=seed)
    load_before = os.getloadavg()[0]
    with _CountingTestbed(real, opts) as tb:
        timer_check = timers(real, sim, tb)
        assert tb.actuator is not None
        syncs = _record_hpa_syncs(tb)
        measured = tb.run(trace).runs[0]
        epoch0 = time.time() - tb.now()
        out = _run_numbers(measured, trace, 0.0)
        totals = tb.triton_totals()
        assert tb.loadgen is not None
        recs = [r for r in tb.loadgen.records() if r.ok]
        lag_ms = float(np.mean([r.lag_s for r in recs])) * 1e3 if recs else 0.0
        ok = totals["nv_inference_request_success"]
        triton_q = totals["nv_inference_queue_duration_us"] / ok / 1e3 if ok > 0 else 0.0
        out["mean_queue_ms"] = round(triton_q + lag_ms, 1)
        out["mean_queue_parts_ms"] = {"triton": round(triton_q, 1), "client": round(lag_ms, 1)}
        out["triton_mean_batch"] = round(
            totals["nv_inference_count"] / max(totals["nv_inference_exec_count"], 1.0), 3
        )
        assert tb.deployment is not None
        out["boot_s"] = [
            round(p.started_s - p.created_s, 1)
            for p in tb.deployment.pods
            if p.started_s is not None and p.started_s > p.created_s
        ]
        out["served_by_triton"] = int(ok)
        out["client_ok"] = len(recs)
        out["sent_per_s"] = round(len(tb.loadgen.records()) / len(trace.rps), 2)
        out["hpa_syncs"] = syncs
        out["scrapes"] = _scrape_samples(tb, epoch0, len(trace.rps) * trace.step_s)
        out["decisions"] = [
            [round(d.time_s - epoch0, 2), _r3(d.signal), _r3(d.value)]
            for d in tb.decision_log()
            if d.time_s - epoch0 >= -1.0
        ]
        out["events"] = [
            {"t_s": round(e.t_s - (tb._replay_t0 or 0.0), 1), "kind": e.kind, "detail": e.detail}
            for e in (tb.actuator.status.events if tb.actuator is not None else [])
        ]
    out["seed"] = seed
    out["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return out, timer_check


def _scrape_samples(tb: Testbed, epoch0: float, span_s: float) -> dict[str, Any]:
    """Every sample Prometheus took of each replica's served-request counter during the
    run, as [trace s, value] per replica (pod label): when the scrapes fell relative to
    the trace's start (their phase, which Prometheus sets per target from a hash of its
    labels) and what each one read. An error is recorded, not raised: the run stands."""
    assert tb.prometheus is not None
    window = int(span_s + 60)
    try:
        resp = requests.get(
            f"{tb.prometheus.url}/api/v1/query",
            params={"query": f"nv_inference_request_success[{window}s]"},
            timeout=10,
        )
        resp.raise_for_status()
        series = resp.json()["data"]["result"]
        return {
            str(s["metric"].get("pod", s["metric"].get("instance", "?"))): [
                [round(float(ts) - epoch0, 3), float(v)] for ts, v in s["values"]
            ]
            for s in series
        }
    except (requests.RequestException, KeyError, ValueError, TypeError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _r3(x: float | None) -> float | None:
    return None if x is None else round(float(x), 3)


def _record_hpa_syncs(tb: Testbed) -> list[list[float | None]]:
    """Every HPA sync of the coming run as [trace s, metric KEDA read, replicas after]
    (the actuator's loops look ``hpa_sync`` up when they start, in :meth:`Testbed.run`)."""
    act = tb.actuator
    assert act is not None
    sync = act.hpa_sync
    rows: list[list[float | None]] = []

    def recorded() -> None:
        sync()
        rows.append([round(tb.now(), 2), _r3(act.status.last_metric), act.autoscaler.replicas])

    act.hpa_sync = recorded  # type: ignore[method-assign]
    return rows


FIGURES = ("replica_seconds", "mean_queue_ms", "p99_latency", "p50_latency")


def _figure(run: dict[str, Any], key: str) -> float:
    if key in ("p99_latency", "p50_latency"):
        return float(run["latency_ms"][key.split("_")[0]])
    return float(run[key])


def testbed_summary(draws: list[dict[str, Any]]) -> dict[str, Any]:
    """The testbed's figures over its draws: each figure's median (what the simulator is
    compared with), its range, and the draws' spread: the largest distance of a draw
    from the median, relative to the median (the testbed's own noise on that figure)."""
    med = {k: float(np.median([_figure(d, k) for d in draws])) for k in FIGURES}
    lo = {k: min(_figure(d, k) for d in draws) for k in FIGURES}
    hi = {k: max(_figure(d, k) for d in draws) for k in FIGURES}
    mid = int(np.argsort([d["replica_seconds"] for d in draws])[len(draws) // 2])
    parts = {
        part: round(float(np.median([d["mean_queue_parts_ms"][part] for d in draws])), 1)
        for part in ("triton", "client")
    }
    return {
        "replica_seconds": round(med["replica_seconds"], 1),
        "mean_queue_ms": round(med["mean_queue_ms"], 1),
        "latency_ms": {"p50": round(med["p50_latency"], 1), "p99": round(med["p99_latency"], 1)},
        "mean_queue_parts_ms": parts,
        "triton_mean_batch": round(float(np.median([d["triton_mean_batch"] for d in draws])), 3),
        "slo_attainment": round(float(np.median([d["slo_attainment"] for d in draws])), 4),
        "peak_replicas": int(np.median([d["peak_replicas"] for d in draws])),
        "held_timeline": draws[mid]["held_timeline"],
        "ready_timeline": draws[mid]["ready_timeline"],
        "range": {k: [round(lo[k], 1), round(hi[k], 1)] for k in FIGURES},
        "spread": {
            k: round(max(hi[k] - med[k], med[k] - lo[k]) / med[k], 3) if med[k] > 0 else None
            for k in FIGURES
        },
        "draws": draws,
    }


class _Recording:
    """Keeps the last fleet the engine built, so the bench can read its queue counter."""

    last: Any = None


def _recording(cls: type) -> type:
    class Recorded(cls):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            _Recording.last = self

    return Recorded


def _simulate(
    trace: Trace, sc: Scenario, *, exact: bool, seed: int = 0
) -> tuple[RunResult, float, dict[str, Any]]:
    """One simulator run, its mean wait before a batch starts (ms per served request),
    and its control time series (HPA syncs, decisions) as the testbed's are recorded."""
    if exact:
        sc = sc.model_copy(update={"exact": sc.exact.model_copy(update={"seed": seed})})
    syncs: list[list[float | None]] = []
    decisions: list[list[float | None]] = []
    hpa_sync = Autoscaler.hpa_sync
    decide = ScalerModel.decide

    def rec_sync(self: Autoscaler, t: float, metric: float | None, *args: Any) -> Any:
        out = hpa_sync(self, t, metric, *args)
        syncs.append([round(t, 2), _r3(metric), self.replicas])
        return out

    def rec_decide(self: ScalerModel, now_s: float, obs: Any) -> Any:
        d = decide(self, now_s, obs)
        decisions.append([round(now_s, 2), _r3(d.signal), _r3(d.value)])
        return d

    with (
        mock.patch.object(engine, "ExactFleet", _recording(ExactFleet)),
        mock.patch.object(engine, "FastFleet", _recording(FastFleet)),
        mock.patch.object(Autoscaler, "hpa_sync", rec_sync),
        mock.patch.object(ScalerModel, "decide", rec_decide),
    ):
        run = simulate(trace, sc, name="sim", initial_replicas=1, exact=exact)
    fleet = _Recording.last
    o = fleet.outputs
    if o.base != 0 or len(o.queue_ms) < len(trace.rps):
        raise RuntimeError("the fleet dropped steps: the trace is too long for this bench")
    series = {"hpa_syncs": syncs, "decisions": decisions}
    return run, float(o.queue_ms.sum() / max(o.success.sum(), 1.0)), series


def _run_numbers(run: RunResult, trace: Trace, extra_ms: float) -> dict[str, Any]:
    s = run.scores
    return {
        "replica_seconds": round(s.gpu_hours * 3600, 1),
        "ready_replica_seconds": round(float(run.ready.sum()) * trace.step_s, 1),
        "peak_replicas": int(run.held.max()),
        "latency_ms": {"p50": round(s.p50_ms + extra_ms, 1), "p99": round(s.p99_ms + extra_ms, 1)},
        "slo_attainment": round(s.slo_attainment, 4),
        "failed_requests": s.failed_requests,
        "scale_events": s.scale_events,
        "held_timeline": [int(x) for x in run.held],
        "ready_timeline": [int(x) for x in run.ready],
        "p99_timeline_ms": [round(float(x) + extra_ms, 1) for x in run.latency_p99_ms],
    }


def simulate_both(trace: Trace, sim: Scenario, transport_ms: float) -> dict[str, Any]:
    """The fast run, and the exact runs over :data:`EXACT_SEEDS` summarised by medians."""
    run, mean_q, series = _simulate(trace, sim, exact=False)
    fast = _run_numbers(run, trace, transport_ms)
    fast["mean_queue_ms"] = round(mean_q, 1)
    fast.update(series)
    runs = []
    for seed in EXACT_SEEDS:
        run, mean_q, series = _simulate(trace, sim, exact=True, seed=seed)
        r = _run_numbers(run, trace, transport_ms)
        r["mean_queue_ms"] = round(mean_q, 1)
        r.update(series)
        runs.append(r)
    return {"fast": fast, "exact": _exact_summary(runs)}


def _exact_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The exact runs over seeds: medians of the numbers, and each seed's."""
    keys = ("replica_seconds", "mean_queue_ms")
    out: dict[str, Any] = {k: round(float(np.median([r[k] for r in runs])), 1) for k in keys}
    out["latency_ms"] = {
        q: round(float(np.median([r["latency_ms"][q] for r in runs])), 1) for q in ("p50", "p99")
    }
    out["peak_replicas"] = int(np.median([r["peak_replicas"] for r in runs]))
    mid = int(np.argsort([r["replica_seconds"] for r in runs])[len(runs) // 2])
    out["held_timeline"] = runs[mid]["held_timeline"]
    out["ready_timeline"] = runs[mid]["ready_timeline"]
    out["p99_timeline_ms"] = runs[mid]["p99_timeline_ms"]
    out["hpa_syncs"] = runs[mid]["hpa_syncs"]
    out["decisions"] = runs[mid]["decisions"]
    out["range"] = {
        "replica_seconds": [
            min(r["replica_seconds"] for r in runs),
            max(r["replica_seconds"] for r in runs),
        ],
        "mean_queue_ms": [
            min(r["mean_queue_ms"] for r in runs),
            max(r["mean_queue_ms"] for r in runs),
        ],
        "p99_ms": [
            min(r["latency_ms"]["p99"] for r in runs),
            max(r["latency_ms"]["p99"] for r in runs),
        ],
    }
    out["seeds"] = [
        {
            **{k: r[k] for k in (*keys, "latency_ms", "scale_events")},
            "first_scale_up_s": _first_scale_up(r["hpa_syncs"]),
        }
        for r in runs
    ]
    return out


def _gap(sim: float | None, real: float | None) -> float | None:
    if sim is None or real is None or real <= 0:
        return None
    return round((sim - real) / real, 3)


def compare(real: dict[str, Any], sim: dict[str, Any]) -> dict[str, Any]:
    """Relative gaps (sim − testbed) / testbed and whether each target is met."""
    held = np.abs(np.array(real["held_timeline"]) - np.array(sim["held_timeline"]))
    gaps = {
        "replica_seconds": _gap(sim["replica_seconds"], real["replica_seconds"]),
        "mean_queue_ms": _gap(sim["mean_queue_ms"], real["mean_queue_ms"]),
        "p99_latency": _gap(sim["latency_ms"]["p99"], real["latency_ms"]["p99"]),
        "p50_latency": _gap(sim["latency_ms"]["p50"], real["latency_ms"]["p50"]),
        "mean_abs_held_replica_diff": round(float(held.mean()), 3),
    }
    met = {k: gaps[k] is not None and abs(gaps[k]) <= lim for k, lim in TARGETS.items()}
    return {"relative_gap": gaps, "met": met}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    traces = fidelity_traces()
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=sorted(traces),
        default=list(traces),
        help="which scenarios to run (default: all three)",
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=DRAWS,
        help=f"testbed runs per scenario (default {DRAWS}); the simulator is compared "
        "with their median",
    )
    parser.add_argument(
        "--simulate-only",
        action="store_true",
        help="re-run only the simulator against the testbed draws and calibrations "
        "bench/results/fidelity.json holds (after a change to the simulator; the md says so)",
    )
    parser.add_argument(
        "--markdown-only",
        action="store_true",
        help="rewrite bench/results/fidelity.md from the json (no run, no simulation)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.markdown_only:
        out = json.loads((RESULTS / "fidelity.json").read_text())
        (RESULTS / "fidelity.md").write_text(markdown(out))
        return 0
    if args.simulate_only:
        return resimulate(RESULTS / "fidelity.json", traces)
    if args.draws < 1:
        parser.error("--draws must be at least 1")
    started = time.monotonic()
    commit = code_commit()
    results: dict[str, Any] = {}
    timer_check: dict[str, Any] = {}
    # The law is measured before the first scenario and after each (the calibration
    # after one scenario is the one before the next): the service time pytriton adds
    # depends on the machine's load, which other work on the shared cores changes.
    before = calibrate(scenario_from_dict(base_scenario(), "fidelity"))
    for name in args.scenarios:
        trace = traces[name]
        t0 = time.monotonic()
        real_sc, _ = scenario_pair(before)
        draws = []
        for k in range(args.draws):
            # Timers are checked against the testbed's scenario: the simulator's differs
            # only in the calibrated law.
            real, timer_check = run_testbed(real_sc, real_sc, trace, seed=k)
            draws.append(real)
            print(
                f"{name} draw {k}: replica-s {real['replica_seconds']:.0f}, wait "
                f"{real['mean_queue_ms']:.0f} ms, p99 {real['latency_ms']['p99']:.0f} ms, "
                f"load {real['load_average_1min']}",
                flush=True,
            )
        after = calibrate(scenario_from_dict(base_scenario(), "fidelity"))
        cal = mean_law(before, after)
        print(
            f"{name}: law {cal['base_ms']:.2f} ms + {cal['per_item_ms']:.2f} ms/item "
            f"(capacity {cal['capacity_rps']:.1f} req/s; before {before['capacity_rps']:.1f}, "
            f"after {after['capacity_rps']:.1f})",
            flush=True,
        )
        _, sim_sc = scenario_pair(cal)
        sims = simulate_both(trace, sim_sc, cal["transport_ms"])
        tb = testbed_summary(draws)
        results[name] = {
            "trace": {"name": trace.name, "rps": [round(float(x), 2) for x in trace.rps]},
            "calibration": {**cal, "before": before, "after": after},
            "load_average_1min": [
                draws[0]["load_average_1min"][0],
                draws[-1]["load_average_1min"][1],
            ],
            "testbed": tb,
            "simulator_exact": sims["exact"],
            "simulator_fast": sims["fast"],
            "exact": compare(tb, sims["exact"]),
            "fast": compare(tb, sims["fast"]),
            "wall_s": round(time.monotonic() - t0, 1),
        }
        print(name, json.dumps({m: results[name][m] for m in ("exact", "fast")}), flush=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        partial = {"timers": timer_check, "scenario": base_scenario(), "scenarios": results}
        (RESULTS / "fidelity.partial.json").write_text(json.dumps(partial, indent=2) + "\n")
        before = after
    out = {
        "previous_run": previous_run(RESULTS / "fidelity.json"),
        "commit": commit,
        "timers": timer_check,
        "scenario": base_scenario(),
        "targets": TARGETS,
        "draws": args.draws,
        "testbed_recorded": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "scenarios": results,
        "wall_s": round(time.monotonic() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fidelity.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "fidelity.md").write_text(markdown(out))
    (RESULTS / "fidelity.partial.json").unlink(missing_ok=True)
    print(markdown(out))
    return 0


def previous_run(path: Path) -> dict[str, Any] | None:
    """The figures of the run ``path`` holds (None: no such file), kept beside a new run
    so its md shows what changed: when and at which commit the testbed was recorded,
    its draws, and per scenario the testbed's medians and both modes' figures and gaps."""
    if not path.exists():
        return None
    old = json.loads(path.read_text())

    def figures(r: dict[str, Any]) -> dict[str, float]:
        return {
            "replica_seconds": r["replica_seconds"],
            "mean_queue_ms": r["mean_queue_ms"],
            "p99_ms": r["latency_ms"]["p99"],
        }

    return {
        "commit": old.get("commit"),
        "testbed_recorded": old.get("testbed_recorded"),
        "simulator_commit": old.get("simulator_commit", old.get("commit")),
        "draws": old.get("draws", 1),
        "scenarios": {
            name: {
                "testbed": figures(r["testbed"]),
                **{
                    mode: {
                        **figures(r[f"simulator_{mode}"]),
                        "gap": r[mode]["relative_gap"],
                        "met": r[mode]["met"],
                    }
                    for mode in ("exact", "fast")
                },
            }
            for name, r in old["scenarios"].items()
        },
    }


def _previous_lines(prev: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"### The run before (testbed recorded {prev.get('testbed_recorded')} at "
        f"`{prev.get('commit')}`, {prev.get('draws')} draws per scenario; simulator at "
        f"`{prev.get('simulator_commit')}`)",
        "",
        "| scenario | mode | replica-s tb / sim | gap | mean wait ms tb / sim | gap | "
        "p99 ms tb / sim | gap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in prev["scenarios"].items():
        t = r["testbed"]
        for mode in ("exact", "fast"):
            s, g, m = r[mode], r[mode]["gap"], r[mode]["met"]
            lines.append(
                f"| {name} | {mode} | {t['replica_seconds']:.0f} / {s['replica_seconds']:.0f} | "
                f"{_mark(g, m, 'replica_seconds')} | {t['mean_queue_ms']:.0f} / "
                f"{s['mean_queue_ms']:.0f} | {_mark(g, m, 'mean_queue_ms')} | "
                f"{t['p99_ms']:.0f} / {s['p99_ms']:.0f} | {_mark(g, m, 'p99_latency')} |"
            )
    return lines


def resimulate(path: Path, traces: dict[str, Trace]) -> int:
    """Re-run the simulator side against the testbed draws ``path`` holds (their
    calibrated laws included) and rewrite the json and md. The simulator's gaps from
    when those draws were recorded are kept (``previous_simulator``), so the md shows
    what the changes since did."""
    old = json.loads(path.read_text())
    out = dict(old)
    out["previous_simulator"] = old.get("previous_simulator") or {
        name: {mode: r[mode]["relative_gap"] for mode in ("exact", "fast")}
        for name, r in old["scenarios"].items()
    }
    out["simulator_rerun"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out["simulator_commit"] = code_commit()
    for name, r in old["scenarios"].items():
        trace = traces[name]
        if [round(float(x), 2) for x in trace.rps] != r["trace"]["rps"]:
            raise RuntimeError(f"{name}: the recorded testbed run replayed another trace")
        cal = r["calibration"]
        for side in ("before", "after"):
            c = cal[side]
            law = {"base_ms": c["base_ms"], "per_item_ms": c["per_item_ms"]}
            sweep_models(scenario_pair(law)[1].fleet, c["sweep"])
        _, sim_sc = scenario_pair(cal)
        sims = simulate_both(trace, sim_sc, cal["transport_ms"])
        out["scenarios"][name] = {
            **r,
            "simulator_exact": sims["exact"],
            "simulator_fast": sims["fast"],
            "exact": compare(r["testbed"], sims["exact"]),
            "fast": compare(r["testbed"], sims["fast"]),
        }
    path.write_text(json.dumps(out, indent=2) + "\n")
    (path.parent / "fidelity.md").write_text(markdown(out))
    print(markdown(out))
    return 0


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.0f} %"


def _mark(gaps: dict[str, Any], met: dict[str, bool], key: str) -> str:
    return f"{_pct(gaps[key])} {'✓' if met[key] else '✗'}"


def _shape(rps: list[float]) -> str:
    """A trace's shape in words: its levels in req/s, rounded."""
    levels: list[int] = []
    for x in rps:
        v = round(x)
        if not levels or abs(v - levels[-1]) >= 10 or (v == rps[-1] and v != levels[-1]):
            levels.append(v)
    return " → ".join(str(v) for v in levels)


def _testbed_row(name: str, t: dict[str, Any]) -> str:
    """The testbed's line of the results table: medians, draws' range and spread."""
    rng, spread = t.get("range"), t.get("spread")
    cells = []
    for key, value in (
        ("replica_seconds", t["replica_seconds"]),
        ("mean_queue_ms", t["mean_queue_ms"]),
        ("p99_latency", t["latency_ms"]["p99"]),
    ):
        if rng is None or spread is None:
            cells += [f"{value:.0f}", ""]
            continue
        cells += [
            f"{value:.0f} ({rng[key][0]:.0f}–{rng[key][1]:.0f})",
            f"tb spread ±{spread[key] * 100:.0f} %",
        ]
    draws = len(t.get("draws", [])) or 1
    return (
        f"| {name} | **testbed**, {draws if draws > 1 else 'one'} "
        f"draw{'s' if draws > 1 else ''} | {t['peak_replicas']} | " + " | ".join(cells) + " | |"
    )


def _first_scale_up(syncs: list[list[Any]]) -> float | None:
    """The HPA sync (trace s) at which the fleet first grew."""
    ups = _first_scale_ups(syncs, 1)
    return None if ups == "—" else float(ups)


def by_first_scale_up(r: dict[str, Any]) -> list[str]:
    """p99 of the testbed's draws and exact mode's seeds grouped by the HPA sync of the
    first scale-up (none when the draws and seeds all agree on it)."""
    tb: dict[float, list[float]] = {}
    for d in r["testbed"].get("draws", []):
        first = _first_scale_up(d.get("hpa_syncs", []))
        if first is not None:
            tb.setdefault(round(first / 5) * 5, []).append(d["latency_ms"]["p99"])
    ex: dict[float, list[float]] = {}
    for seed in r["simulator_exact"].get("seeds", []):
        first = seed.get("first_scale_up_s")
        if first is not None:
            ex.setdefault(round(first / 5) * 5, []).append(seed["latency_ms"]["p99"])
    if len(set(tb) | set(ex)) < 2:
        return []
    rows = []
    for first in sorted(set(tb) | set(ex)):
        t, e = tb.get(first, []), ex.get(first, [])
        rows.append(
            f"{first:.0f} s: testbed {len(t)} draw(s)"
            + (f" p99 {', '.join(f'{x:.0f}' for x in sorted(t))} ms" if t else "")
            + f"; exact {len(e)} seed(s)"
            + (f" p99 {min(e):.0f}–{max(e):.0f} ms (median {np.median(e):.0f})" if e else "")
        )
    return rows


def _first_scale_ups(syncs: list[list[Any]], count: int = 3) -> str:
    """The HPA syncs (trace s) at which the replica count first rose to 2, 3, 4…"""
    out: list[str] = []
    held = 1
    for t, _, replicas in syncs:
        if replicas is not None and replicas > held:
            out.append(f"{t:.0f}")
            held = replicas
        if len(out) >= count:
            break
    return ", ".join(out) or "—"


def scrape_phase(draw: dict[str, Any], interval_s: float = 1.0) -> float | None:
    """When Prometheus scraped the first replica, in seconds into each scrape interval
    of the trace (the median over its samples; None when the draw has no samples)."""
    scrapes = draw.get("scrapes") or {}
    samples = scrapes.get("triton-00") if isinstance(scrapes, dict) else None
    if not samples:
        return None
    return round(float(np.median([t % interval_s for t, _ in samples if t >= 0])), 2)


def _phase_cell(draw: dict[str, Any]) -> str:
    phase = scrape_phase(draw)
    return "—" if phase is None else f"{phase:.2f}"


def draws_table(out: dict[str, Any]) -> list[str]:
    """Each testbed draw's figures beside the simulator's, with the first scale-ups."""
    lines = [
        "### Testbed draws",
        "",
        "Every testbed run (load generator seed, load average at its start → end), with "
        "the HPA syncs at which the fleet first grew (trace seconds; json: `hpa_syncs` and "
        "`decisions` hold every sync's metric and every decision's signal, on both sides).",
        "",
        "| scenario | run | replica-s | mean wait ms (Triton / client) | p99 ms | first "
        "scale-ups s | sent req/s (trace) | load | scrape phase s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in out["scenarios"].items():
        want = sum(r["trace"]["rps"]) / len(r["trace"]["rps"])
        for d in r["testbed"].get("draws", []):
            parts = d["mean_queue_parts_ms"]
            la = d.get("load_average_1min", [0.0, 0.0])
            lines.append(
                f"| {name} | draw seed {d.get('seed', 0)} | {d['replica_seconds']:.0f} | "
                f"{d['mean_queue_ms']:.0f} ({parts['triton']:.0f} / {parts['client']:.0f}) | "
                f"{d['latency_ms']['p99']:.0f} | {_first_scale_ups(d.get('hpa_syncs', []))} | "
                f"{d.get('sent_per_s', float('nan')):.2f} ({want:.2f}) | "
                f"{la[0]:.1f} → {la[1]:.1f} | {_phase_cell(d)} |"
            )
        for mode in ("exact", "fast"):
            sm = r[f"simulator_{mode}"]
            lines.append(
                f"| {name} | simulator {mode}{' (seeds’ medians)' if mode == 'exact' else ''} | "
                f"{sm['replica_seconds']:.0f} | "
                f"{sm['mean_queue_ms']:.0f} | {sm['latency_ms']['p99']:.0f} | "
                f"{_first_scale_ups(sm.get('hpa_syncs', []))} | | | |"
            )
    lines.append("")
    groups = {name: by_first_scale_up(r) for name, r in out["scenarios"].items()}
    if any(groups.values()):
        lines += [
            "Where the first scale-up fell on different HPA syncs, the p99 by that sync "
            "(the figure the first replica's near-capacity minutes set):",
            "",
        ]
        for name, rows in groups.items():
            lines += [f"- {name}, first scale-up at {row}" for row in rows]
        lines.append("")
    return lines


def _same_cal(c: dict[str, Any], cals: dict[str, Any]) -> bool:
    """True when calibration ``c`` is an earlier scenario's "after" (the bench measures
    the law between scenarios once and uses it on both sides)."""
    return any(
        o["after"] is not c and o["after"].get("sweep") == c.get("sweep") for o in cals.values()
    )


def markdown(out: dict[str, Any]) -> str:
    cals = {name: r["calibration"] for name, r in out["scenarios"].items()}
    cal = next(iter(cals.values()))["before"]
    typed = cal["typed_in_law"]
    tm = out["timers"]
    tg = out["targets"]
    meta = out["scenario"]["scaledObject"]["triggers"][0]["metadata"]
    so = out["scenario"]["scaledObject"]
    lines = [
        "# Simulator fidelity against the live testbed",
        "",
        f"Three compressed scenarios, each run {out.get('draws', 1)} times through the live "
        "testbed (real Triton via "
        "nvidia-pytriton on CPU, real Prometheus, the scaler's gRPC server, the KEDA + HPA "
        "actuator) and through the simulator with the same ScaledObject: "
        f"`policy: {meta['policy']}`, `signal: {meta['signal']}`, `target: {meta['target']}`, "
        f"{so['minReplicaCount']}–{so['maxReplicaCount']} replicas, one replica at the start. "
        "Identical timers on both sides (checked by the bench): scrape "
        f"{tm['scrape_interval_s']:g} s, rate window {tm['rate_window_s']:g} s, scaler refresh "
        f"{tm['refresh_interval_s']:g} s, KEDA poll {tm['polling_interval_s']:g} s, HPA sync "
        f"{tm['hpa_sync_s']:g} s, start-up {tm['startup_s']:g} s; the simulator's discovery "
        f"delay for a new replica is {tm['discovery_delay_s']:g} s.",
        "",
        f"**Targets** (relative gap simulator vs testbed): replica-seconds within "
        f"{tg['replica_seconds'] * 100:.0f} %, mean queue wait within "
        f"{tg['mean_queue_ms'] * 100:.0f} %, p99 latency within {tg['p99_latency'] * 100:.0f} %.",
        "",
        "**What differs from the testbed's own scenario, and why.** The replicas' \"GPU\" "
        "takes 40 ms per item instead of 20 (the same replica counts at half the request "
        "rate: less CPU spent by the load generator, proxy and pytriton on the shared "
        "cores). Start-up is 20 s instead of 8: under the machine's load a pytriton "
        "replica took 8–16 s to boot (first runs of this bench), so a nominal 8 s start-up "
        "was really 8–16 s in the testbed and fixed in the simulator; every boot now fits "
        "in 20 s but the odd one on the busiest minutes (json: `boot_s`). The threshold is on "
        "served requests per replica (target 9) instead of GPU utilisation 0.6: the "
        "testbed's stand-in for DCGM derives busy time from Triton's per-request compute "
        "counter, which overstates it by per-item × Var(b)/E(b) per execution whenever "
        "batch sizes vary, so the testbed scaled on a utilisation the simulator (which "
        "reports true busy time, as DCGM does) rightly does not produce.",
        "",
        "**Why no p50 queue-time target any more.** With one-item requests most requests are "
        "served without queueing, so the median falls on the edge between unqueued and "
        "backlogged requests: a second's difference in when a replica arrives moves it from "
        "≈ 0 to hundreds of ms (the previous version of this file measured 96–1309 % gaps on "
        "that figure while replica-seconds agreed within 6–17 %). The mean wait weighs every "
        "request's wait and the p99 the backlog's tail; both are well conditioned, so they "
        "are the queueing targets.",
        "",
        f"Run at commit `{out.get('commit', 'unknown')}`, finished "
        f"{out.get('testbed_recorded', '')}"
        + (f" after {out['wall_s'] / 60:.0f} minutes" if out.get("wall_s") else "")
        + (f" ({out['commit_note']})" if out.get("commit_note") else "")
        + "."
        + (
            f" The simulator's figures were re-simulated on {out['simulator_rerun']} at "
            f"commit `{out.get('simulator_commit', 'unknown')}` against those testbed draws "
            "and calibrations (`--simulate-only`; the gaps before are under the draws table)."
            if out.get("simulator_rerun")
            else ""
        ),
        "",
        "## Results",
        "",
        "The testbed figure is the median of its draws, the draws' range beside it; "
        "*tb spread* is how far the farthest draw lies from that median (the testbed's own "
        "noise on the figure, the yardstick for the targets).",
        "",
        "| scenario | simulator | peak replicas tb / sim | replica-s tb / sim | gap | "
        "mean wait ms tb / sim | gap | p99 ms tb / sim | gap | mean abs Δheld |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in out["scenarios"].items():
        t = r["testbed"]
        lines.append(_testbed_row(name, t))
        for mode in ("exact", "fast"):
            s = r[f"simulator_{mode}"]
            g, m = r[mode]["relative_gap"], r[mode]["met"]
            rng = s.get("range")
            rs = f"{s['replica_seconds']:.0f}"
            mq = f"{s['mean_queue_ms']:.0f}"
            p99 = f"{s['latency_ms']['p99']:.0f}"
            if rng is not None:
                rs += f" ({rng['replica_seconds'][0]:.0f}–{rng['replica_seconds'][1]:.0f})"
                mq += f" ({rng['mean_queue_ms'][0]:.0f}–{rng['mean_queue_ms'][1]:.0f})"
                p99 += f" ({rng['p99_ms'][0]:.0f}–{rng['p99_ms'][1]:.0f})"
            lines.append(
                f"| {name} | {mode} | {t['peak_replicas']} / {s['peak_replicas']} | "
                f"{t['replica_seconds']:.0f} / {rs} | {_mark(g, m, 'replica_seconds')} | "
                f"{t['mean_queue_ms']:.0f} / {mq} | {_mark(g, m, 'mean_queue_ms')} | "
                f"{t['latency_ms']['p99']:.0f} / {p99} | {_mark(g, m, 'p99_latency')} | "
                f"{g['mean_abs_held_replica_diff']:.2f} |"
            )
    met = [
        f"{name} {mode} {key.replace('_', ' ')} {_pct(r[mode]['relative_gap'][key])}"
        for name, r in out["scenarios"].items()
        for mode in ("exact", "fast")
        for key, ok in r[mode]["met"].items()
        if not ok
    ]
    total = sum(
        len(r[mode]["met"]) for r in out["scenarios"].values() for mode in ("exact", "fast")
    )
    lines += [
        "",
        f"**{total - len(met)} of {total} figures met**"
        + (f"; missed: {', '.join(met)}." if met else "."),
    ]
    lines += [
        "",
        "Exact mode: median over seeds " + ", ".join(str(s) for s in EXACT_SEEDS) + " (range "
        "over seeds in brackets). Fast mode: the fluid model with its random-arrival "
        "queueing term (a mean and an exponential tail), which `scaler simulate` uses by "
        "default. "
        "A gap is (simulator − testbed median) / testbed median.",
        "",
    ]
    if out.get("previous_run"):
        lines += _previous_lines(out["previous_run"])
        lines.append("")
    lines += draws_table(out)
    if out.get("simulator_rerun"):
        lines += [
            "",
            f"**The simulator side was re-run on {out['simulator_rerun']}** "
            "(`bench/fidelity.py --simulate-only`) against the testbed runs and calibrations "
            f"recorded {out.get('testbed_recorded', 'earlier')}: the testbed, calibration and "
            "scenario tables are those runs'. The simulator's gaps when those runs were "
            "recorded (replica-s / mean wait / p99):",
            "",
            "| scenario | exact before | fast before |",
            "|---|---|---|",
        ]
        for name, prev in out.get("previous_simulator", {}).items():
            cells = [
                " / ".join(
                    _pct(prev[mode].get(k))
                    for k in ("replica_seconds", "mean_queue_ms", "p99_latency")
                )
                for mode in ("exact", "fast")
            ]
            lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "## Scenarios",
        "",
        "| scenario | seconds | req/s levels | testbed: mean batch, wait in Triton / waiting for "
        "a client thread (ms), p50 ms, SLO attainment |",
        "|---|---|---|---|",
    ]
    for name, r in out["scenarios"].items():
        t = r["testbed"]
        parts = t["mean_queue_parts_ms"]
        lines.append(
            f"| {name} | {len(r['trace']['rps'])} | {_shape(r['trace']['rps'])} | "
            f"{t['triton_mean_batch']:.2f}, {parts['triton']:.0f} / {parts['client']:.0f}, "
            f"{t['latency_ms']['p50']:.0f}, {t['slo_attainment'] * 100:.1f} % |"
        )
    lines += [
        "",
        "## Calibration",
        "",
        f"The replicas sleep {typed['base_ms']:g} ms + {typed['per_item_ms']:g} ms/item per "
        "batch (max batch 8; the testbed's 20 ms/item doubled so that 4–6 replicas are "
        "reached at half the request rate, keeping the load generator's, proxy's and "
        "pytriton's CPU use on this 2-core machine small); pytriton adds its own overhead, "
        "which grows with the machine's load. So the law is measured on one real replica "
        "behind the proxy before the first scenario and after each (the calibration after "
        "one scenario is the one before the next), and each scenario's simulator runs the "
        "mean of the calibrations before and after its draws: a lone request's execution "
        "(every execution a batch of 1) gives S(1), overload (every execution a full batch "
        "of 8) gives S(8), and the law is base = S(1) − per-item, per-item = "
        "(S(8) − S(1)) / 7, plus the HTTP + proxy transport a lone request shows on top.",
        "",
        "| scenario | S(1) ms before / after | S(8) ms before / after | lone request p50 / p99 "
        "ms (before) | simulator law (mean) | capacity req/s | transport ms | load average "
        "(1 min) at the first draw's start → the last draw's end |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in cals.items():
        la = out["scenarios"][name]["load_average_1min"]
        b, a = c["before"], c["after"]
        lines.append(
            f"| {name} | {b['lone']['compute_ms_per_exec']:.1f} / "
            f"{a['lone']['compute_ms_per_exec']:.1f} | {b['sweep'][-1]['ms_per_exec_wall']:.1f} / "
            f"{a['sweep'][-1]['ms_per_exec_wall']:.1f} | {b['lone']['p50_end_to_end_ms']:.0f} / "
            f"{b['lone']['p99_end_to_end_ms']:.0f} | {c['base_ms']:.1f} ms + "
            f"{c['per_item_ms']:.1f} ms/item | {c['capacity_rps']:.1f} | "
            f"{c['transport_ms']:.1f} | {la[0]:.1f} → {la[1]:.1f} |"
        )
    lines += [
        "",
        "Load sweeps of one replica (every calibration: before the first scenario and "
        "after each; 10 s of Poisson load each, 3 s after it starts; mean batch = Triton's "
        "items per execution, queue = Triton's queue time per request) beside the "
        "simulator at the served rate with that calibration's law: exact mode's steady "
        "state (one replica, 20 minutes of Poisson load), exact mode over the sweep's own "
        "window (median and 10–90 % range of 60 draws: what one measured window can show), "
        "and fast mode's steady state:",
        "",
        "| calibration | load req/s | served | mean batch: Triton / exact / fast | queue ms: "
        "Triton / exact / fast | queue ms, exact over the window: median (10–90 %) |",
        "|---|---|---|---|---|---|",
    ]

    def _cell(p: dict[str, Any], key: str, fmt: str) -> str:
        v = p.get(key)
        return "—" if v is None else format(v, fmt)

    def _window(p: dict[str, Any]) -> str:
        w = p.get("exact_window_queue_ms")
        return "—" if w is None else f"{w[1]:.0f} ({w[0]:.0f}–{w[2]:.0f})"

    for name, c in cals.items():
        for side in ("before", "after"):
            if side == "before" and _same_cal(c[side], cals):
                continue
            for p in c[side]["sweep"]:
                lines.append(
                    f"| {side} {name} | {p['rate_rps']:g} | {p['served_rps']:.1f} | "
                    f"{p['mean_batch']:.2f} / "
                    f"{_cell(p, 'exact_mean_batch', '.2f')} / "
                    f"{_cell(p, 'model_mean_batch', '.2f')} | "
                    f"{p['triton_queue_ms_per_request']:.1f} / "
                    f"{_cell(p, 'exact_queue_ms', '.1f')} / {_cell(p, 'model_queue_ms', '.1f')} "
                    f"| {_window(p)} |"
                )
    lines += [
        "",
        "**Mean wait** (the same quantity on both sides): from a request's release to the "
        "start of its batch. Testbed: Triton's queue-duration counter summed over every "
        "replica (read from each replica before it stops) per request served, plus the load "
        "generator's mean wait for a free client thread. Simulator: batch start − arrival per "
        "request served.",
        "",
    ]
    lines += NOTES
    return "\n".join(lines) + "\n"


NOTES = [
    "## Why the figures differ, and what was fixed",
    "",
    "- **A new replica's first seconds in Prometheus** (fixed in the simulator). The "
    "testbed's decisions (json: `decisions`, every refresh: time, signal, value) show that "
    "a replica that became ready is not counted for about 3–6 s, and that when it is, the "
    "fleet's served rate per ready replica *dips* for a rate window: Prometheus's "
    "`rate()` counts a series' increase only between its own samples, so the requests a "
    "new replica served before its first scrape never reach the rate, while the ready "
    "count rises at that first scrape. The simulator counted every completion in the "
    "rate at once and divided by the replicas it had discovered, so its rate per replica "
    "*rose* while a new replica was undiscovered; on the step it scaled 3 → 4 at the "
    "60 s HPA sync where the testbed read 2.67 and scaled at 65 s, which gave the step's "
    "backlog 5 s less in the simulator (the fast mode's −30 % mean wait of the earlier "
    "run). `scaler/sim/observe.py` now counts a replica's Triton counters from its first "
    "scrape on (`discovery_delay_s` after it is ready; completions split evenly over "
    "the ready replicas, as least-request routing spreads them), and the scale-ups that "
    "follow a new replica now land on the testbed's HPA syncs (draws table: first "
    "scale-ups; the first one of all still differs, see below). The "
    "delay itself is measured on this Prometheus by `bench/discovery_probe.py` "
    "(`bench/results/discovery_probe.md`): two 5 s tickers (the discovery manager's "
    "update throttle and the scrape manager's reload) sit between a target and its first "
    "scrape, so it is 1–6 s, 2.7–4.0 s on average over three Prometheus starts; the "
    "simulator's 2.5 s default was kept (a new replica's counters count from its third "
    "second, its ready count from the third or fourth).",
    "- **Timer phases** (modelled in exact mode, and made arbitrary in the testbed, since "
    "this run). Prometheus and the scaler server run long before a trace starts, so a run "
    "meets their timers at arbitrary offsets. The testbed's decision log shows the server "
    "refreshing about every 1.05 s (1 s after the start of its previous refresh, plus up "
    "to the tracker's 0.1 s dispatch tick), so its phase drifts through every value within "
    "a run; the HPA's syncs and KEDA's polls start with the replay (recorded at 5.0x, "
    "10.0x … s), as in the simulator. Exact mode had its scrapes at 0 s and its refresh at "
    "0.5 s in every seed, so its seeds varied only the arrivals; it now draws both phases "
    "per seed, uniform over their intervals (`ExactSpec.random_phases`, from a stream of "
    "the seed of their own, so a seed's arrivals are unchanged; a scrape inside a 1 s step "
    "counts the part of the step's completions before it; fast mode keeps the scenario's "
    "phases). The testbed's own scrape phase was not arbitrary: its start waits for "
    "Prometheus's first sample of the first replica and then took a fixed ~0.4 s, so five "
    "step draws recorded before this run (json `scrapes`: every sample of each replica's "
    "served-request counter) met the scrapes 0.56–0.73 s into each second; the replay now "
    "starts after a delay drawn from the draw's seed, uniform over one scrape interval "
    "(`TestbedOptions.random_phase`; the draws table's last column). With the refresh "
    "drifting, a scrape phase near 0.6 makes the data an HPA sync reads 1.4 s old 60 % of "
    "the time and 0.4 s old 40 %: on the campaign's onset, exact mode with the phase held "
    "at 0.62 s scales first at 30 s in 17 of 60 seeds, with uniform phases in 10 of 60. "
    "That was the campaign's systematic lag of the previous run: its 3 testbed draws "
    "scaled first at 30 s, exact mode's seeds at 25 s (10 of 11). With the replay's start "
    "drawn, this run's draws scale first at 25 s in 4 of 5 (the fifth, its phase 0.59 s, "
    "at 30 s), and exact mode's seeds in 11 of 11. "
    "The decisions read the latest scrape: in those five step draws every decision before "
    "the first scale-up equals Prometheus's `rate()` over the samples up to the latest one "
    "before it (recomputed from `scrapes`), so a sample counts as soon as it is taken, as "
    "modelled.",
    "- **The load generator sent about one request per second more than the trace** "
    "(fixed in the testbed): the runner sets the rate every trace second and the pacer "
    "released a request at once on every call, 4.2 req/s for a 3 req/s trace; the "
    "earlier runs served 88–93 requests more than their traces. On the ramp that moved "
    "the testbed's first scale-up earlier. The column *sent req/s* shows the trace rate "
    "is now what is sent.",
    "- **The load generator's client threads** (fixed in the testbed): with 256 threads "
    "the step's backlog waited partly in the load generator's own queue and went to "
    "whichever replica freed first (a shared queue: a new replica took the oldest "
    "requests), which is neither Envoy nor the simulator; 1,024 threads keep every "
    "request in a Triton queue, routed on arrival. The *client* part of the testbed's wait "
    "is now threads waking late on the loaded cores.",
    "- **Replica-seconds** depend on the actuation chain the simulator is built around "
    "(refresh, KEDA poll, HPA sync and behavior, start-up, Prometheus's discovery of a "
    "new replica): the held-replica timelines (json: `held_timeline`) agree to a fraction "
    "of a replica on average (*mean abs Δheld*).",
    "- **Waits in a backlog** (step, campaign's burst) grow with arrivals − capacity, so a "
    "few per cent of capacity, a few dozen Poisson arrivals more or less, or a scale-up one "
    "HPA sync later move the mean wait by tens of per cent (the exact seeds' range and the "
    "draws' spread show it). The capacity the simulator runs is measured from 10 s of "
    "overload before the first scenario and after each, and on the shared cores it moves "
    "between calibrations (the S(8) column) and during a run (load column).",
    "- **Waits at moderate load** come from Triton's dynamic batcher under random "
    "arrivals. Triton forms a replica's next batch while the instance is busy, "
    "`max_queue_delay` after that batch's first request (its rate limiter lets the "
    "batcher run 2 batches per instance ahead), and a request that arrives after that "
    "batch was formed does not join it: it waits for the batch after, unless it fills "
    "the batch or is the first arrival after a batch formed from requests that had "
    "already waited (`DynamicBatchScheduler::Enqueue` wakes the batcher only then). "
    "Measured on this Triton (`bench/results/batcher_probe.md`): requests at 0, 15, 30 "
    "and 40 ms ran as {0}, {15}, {30, 40} in 17 of 20 trials. Exact mode models this "
    "(`scaler/sim/exact.py`).",
    "- **Near one replica's capacity** the earlier version of this file found exact mode "
    "batching and queueing more than Triton at 20 req/s. That compared exact mode's "
    "20-minute steady state with one 10 s window measured 3 s after the load started: "
    "run over that same window, exact mode's mean wait has a 10–90 % range of about "
    "75–230 ms at 20 req/s, and every measured calibration point falls inside it, near "
    "its median (sweep table, last column). No model change there.",
    "- **The ramp's p99 is bimodal.** It is set by the single replica at 17–25 req/s "
    "before the second is ready, and the HPA metric crosses its tolerance (1.1 replicas) "
    "right at the 40 s sync: a fleet that scales there keeps a lower p99 than one that "
    "scales at 45 s (200 exact seeds of this run's ramp calibration: 69 scale first at "
    "40 s, median p99 306 ms; 125 at 45 s, 448 ms; 6 at 50 s; the testbed's draws: 282, "
    "334, 384 ms at 40 s, 453, 501 ms at 45 s). Which sync it lands on is a coin toss of "
    "the rate window's Poisson count. The previous version of this file could not explain "
    "why the testbed landed on 40 s more often than exact mode (4 of its last 5 draws): "
    "the load generator is seeded with the draw's number, so every run of this bench "
    "replays the same arrivals, and the HPA metric at the 40 s sync repeats to the digit "
    "(seed 0: 1.235 in both runs, seed 1: 1.100 and 1.099, seed 2: 1.185 in both); seeds "
    "0 and 2 cross at 40 s, seed 1 does not, so the 3-draw median was always a 40 s draw. "
    "Seeds 3 and 4 (this run) scale at 40 s and 45 s. The previous miss (+49 %) also came "
    "from the calibration: that run measured a capacity of 23.2 req/s (load average "
    "12–23), this one 24.4 (load 8.6–10.4), and near one replica's capacity the p99 moves by "
    "a third for 5 % of capacity: 200 exact seeds give a median p99 of 509 ms with the "
    "previous calibration and 381 ms with this run's (the 11 seeds of the table: 391 ms). "
    "The timer phases (above) moved the ramp little: with the previous calibration, 67 "
    "of 200 seeds scaled at 40 s with the fixed phases, 70 with the drawn ones.",
    "- **What is left of the testbed's lag.** The previous file found the testbed's "
    "decisions 0.6–1.3 s behind fast mode's (each draw's decision log, total served rate "
    "against time, fitted to the trace's rate windows). Fitted the same way, exact mode's "
    "own 11 seeds lag too (Poisson arrivals and batching delay the served rate): median "
    "0.5 s on the ramp and 0.8 s on the campaign (seeds −0.3–3.5 s and 0.05–1.8 s), the "
    "testbed's 5 draws 0.9 s and 1.25 s (−0.2–3.2 s and 0.8–1.4 s). About 0.4 s is left, "
    "within the seeds' spread; not modelled (the real server stamps a decision when its "
    "refresh starts and publishes it after its queries, and refreshes every ~1.05 s, not "
    "1 s).",
    "- **Fast mode's p99 below one replica's capacity** (fixed in the simulator). Fast "
    "mode's mean wait under Poisson arrivals already came from its random-arrival term, "
    "but its latency percentiles and SLO share came from the fluid's deterministic spread "
    "(one execution plus an unlucky batch's): on one replica of this run's ramp "
    "calibration at a steady 10, 15, 18 and 20 req/s its p99 was 143 ms at every load, "
    "exact mode's 228, 383, 557 and 752 ms. So near saturation the ramp's fast p99 "
    "followed only the few seconds of fluid backlog, and with them the calibrated "
    "capacity: 256 ms (−33 %) at this run's 24.4 req/s, 464 ms (+27 %) at the previous "
    "run's 23.2. Now the requests that find every instance busy (ρ on one instance, "
    "Erlang's C over several) wait an exponential time whose mean makes the term's mean "
    "wait, the others only the queue delay (`scaler/sim/batching.py` "
    "`random_arrival_queue`, `fleet.py`): the p99, the SLO share and the windows come "
    "from that distribution, where the random-arrival wait is larger than the fluid's. "
    "Steady p99 on that replica: 257, 348, 422, 510 ms at 10, 15, 18, 20 req/s (exact "
    "228, 383, 557, 752: still low at 80 % of capacity and beyond, where exact mode's "
    "batches grow in the queue; 206 against 138 ms at 5 req/s, where a wait is bounded "
    "by one execution). The ramp's fast p99 against the calibrated capacity (law scaled, "
    "this run's ramp): 586, 542, 521, 436, 383, 350 ms at 23.0, 23.2, 23.6, 24.0, 24.4, "
    "24.8 req/s, exact mode's median of 11 seeds 541, 521, 458, 442, 391, 386 (fast "
    "before: 476, 444, 371, 303, 256, 223). Replica-seconds and mean waits are unchanged "
    "(decisions do not read the latency spread); `scaler simulate` on the bundled LIGO "
    "day keeps every row's GPU-hours, SLO share and windows met (its batcher mostly "
    "gathers), moves p50/p95/p99 by at most 0.02 ms and static-peak's worst 5-minute "
    "p99 from 14.3 to 16.0 ms; its CPU time is within the machine's noise.",
    "- **Fast mode** is the fluid model plus a random-arrival queueing term "
    "(`scaler/sim/batching.py`, `random_arrival_queue`): below capacity a request waits "
    "the rest of the execution in progress, one execution more if the next batch was "
    "already formed (Triton's batcher, as above), or an M/D/1 wait over full batches, "
    "whichever is larger; over several replicas that is scaled by Erlang's C; the share "
    "that waits waits an exponential time (above). The sweep table shows its mean beside "
    "Triton. Its arrivals are the trace's expected counts, so it has no draw-to-draw "
    "spread; in a backlog it pools the replicas' queues into one.",
    "",
]


if __name__ == "__main__":
    sys.exit(main())
