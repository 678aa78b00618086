"""Soak: the scaler under object churn, held streams and many clients, on loopback.

Runs ``scaler serve`` (its default bounds) against a real Prometheus
(``/usr/bin/prometheus``, scraping one exporter with Triton series for the canary
and each held stream's release; churned objects find no series, as a wrong
``release`` would), each in its own process, and for ``--duration-s`` (default 5
minutes):

* churn: 20,000 ScaledObjects, each with its own ``release`` (so no query is shared),
  registered as KEDA does (GetMetricSpec) by 50 clients that also poll registered
  objects at random (GetMetrics then IsActive, as the HPA and KEDA do), with no pause;
* 1,000 ``StreamIsActive`` streams held open for the whole run (KEDA's external-push),
  each read to its end, so a stream that ends is counted with its status and details;
* a canary ScaledObject polled with GetMetrics every 100 ms and the gRPC health check
  every 500 ms (1 s deadline, as a liveness probe).

The load generator is not the scaler's competitor for the same interpreter: the
churn clients run as ``grpc.aio`` coroutines in ``--client-procs`` processes, the
streams in one more, the canary in its own; each reports the CPU it used.

Writes ``bench/results/soak.json``: the canary's latency percentiles and error count
(and the same canary's before the load: the machine's floor), health-check failures,
the scaler's RSS at start, end and peak, Prometheus queries per second (from the
scaler's own metrics), CPU seconds of every process, the load average through the
run, and each target met or missed.

Targets (issue 13): canary 0 errors, health always answers, canary p99 <= 50 ms, RSS
bounded by the object limit (:func:`rss_verdict`: the peak, teardown included, within
what the object and decision limits allow, and no growth over the load's second half,
from half time to its last sample before the clients stop, beyond what the objects and
decisions added in it explain; the growth while 1,000 streams end at once is reported
apart as ``teardown_growth_mb``). Also recorded, to tell runs apart: the load average,
the hypervisor's steal time, and each scaler thread group's CPU and run-queue wait.
Run it alone (``python bench/soak.py``): it uses both cores for the duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "soak.json"
NAMESPACE = "soak"
META = {
    "policy": "threshold",
    "signal": "queue_time_per_request_ms",
    "target": "50",
    "maxReplicas": "20",
    "scaleDownStabilizationSeconds": "60",
}
P99_TARGET_MS = 50.0
OBJECT_KB = 16.0
"""Memory one tracked ScaledObject may cost the scaler (config, state, metric series,
its parse-cache entry), KB: measured 12 KB with tracemalloc, a third more allowed."""
DECISION_KB = 1.2
"""Memory one decision kept for the dashboard may cost, KB: measured 0.84 KB."""
LEAK_SLACK_MB = 8.0
"""RSS growth over the run's second half beyond what its objects and decisions
explain that is still allocator noise, not a leak, MB."""
DEFAULT_MAX_OBJECTS = 5_000
DEFAULT_MAX_LOGGED = 200_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """``pid`` and every process below it (the scaler may run helpers)."""
    out = [pid]
    for p in out:
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        out.extend(int(k) for k in kids)
    return out


MEMORY_KEYS = ("rss_mb", "serving_rss_mb", "tracked_objects", "logged_decisions")
"""What the soak reports at half time and at the end: RSS of the scaler with its
reader, of the serving process alone, and the scaler's two memory gauges."""


def rss_mb(pid: int, *, tree: bool = True) -> float:
    """Resident memory of ``pid`` and (``tree``) its children, MB."""
    total = 0
    for p in children(pid) if tree else [pid]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_s(pid: int, *, tree: bool = True) -> float:
    """User + system CPU seconds of ``pid`` (and its children) so far."""
    total = 0
    for p in children(pid) if tree else [pid]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def threads(pid: int) -> Iterator[tuple[str, int, str]]:
    """(role, process id, thread id) of every thread of ``pid`` ("serving") and of its
    children ("reader"); a process that ended meanwhile has none."""
    for i, p in enumerate(children(pid)):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            yield ("serving" if i == 0 else "reader"), p, tid


def thread_sched(pid: int) -> dict[str, list[float]]:
    """Per thread group of ``pid`` and its children (named by process and thread name,
    pool numbers dropped): [CPU s, run-queue wait s, times run] from the kernel's
    ``schedstat``. The wait is time runnable but not running: waiting for a core, not
    for the interpreter lock (a thread waiting for the GIL sleeps on a futex)."""
    out: dict[str, list[float]] = {}
    for role, p, tid in threads(pid):
        try:
            comm = Path(f"/proc/{p}/task/{tid}/comm").read_text().strip()
            cpu, wait, slices = Path(f"/proc/{p}/task/{tid}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        name = f"{role}:{re.sub(r'[_-]?[0-9]+$', '', comm)}"
        acc = out.setdefault(name, [0.0, 0.0, 0.0])
        acc[0] += int(cpu) / 1e9
        acc[1] += int(wait) / 1e9
        acc[2] += int(slices)
    return out


def sched_idle_threads(pid: int) -> dict[str, list[int]]:
    """[threads under SCHED_IDLE, threads] of the serving process and of its reader:
    the reader's all, the serving process's none (a SCHED_IDLE thread holding the
    serving interpreter's lock would stall every answer)."""
    out: dict[str, list[int]] = {}
    idle = getattr(os, "SCHED_IDLE", -1)
    for role, _, tid in threads(pid):
        acc = out.setdefault(role, [0, 0])
        try:
            acc[0] += os.sched_getscheduler(int(tid)) == idle
            acc[1] += 1
        except OSError:
            continue
    return out


def sched_delta(
    before: dict[str, list[float]], after: dict[str, list[float]]
) -> dict[str, dict[str, float]]:
    """What each thread group did between two :func:`thread_sched` looks (threads that
    ended meanwhile are not counted)."""
    out = {}
    for name, (cpu, wait, slices) in sorted(after.items()):
        c0, w0, s0 = before.get(name, [0.0, 0.0, 0.0])
        runs = slices - s0
        out[name] = {
            "cpu_s": round(cpu - c0, 2),
            "runqueue_wait_s": round(wait - w0, 2),
            "runs": int(runs),
            "wait_per_run_ms": round((wait - w0) / runs * 1000, 3) if runs > 0 else 0.0,
        }
    return out


def rss_verdict(
    rss_start_mb: float,
    peak_mb: float,
    mid: dict[str, float],
    end: dict[str, float],
    max_objects: int,
    max_logged: int,
) -> dict[str, Any]:
    """Is the scaler's memory bounded by its object limit? Two checks, each able to fail
    within a soak:

    * ``bound``: the peak is at most the start plus what ``max_objects`` objects and
      ``max_logged`` decisions may cost (:data:`OBJECT_KB`, :data:`DECISION_KB`);
    * ``no_leak``: over the second half (the object table full, objects still churned
      in and out), RSS grows by no more than the objects and decisions added in that
      half explain, plus :data:`LEAK_SLACK_MB`. Memory kept per forgotten object, or
      per call, shows here long before it reaches the bound.

    ``mid`` and ``end``: ``rss_mb``, ``tracked_objects`` and ``logged_decisions`` at the
    run's half and end (the scaler's own gauges)."""
    bound = rss_start_mb + (max_objects * OBJECT_KB + max_logged * DECISION_KB) / 1024
    explained = (
        (end["tracked_objects"] - mid["tracked_objects"]) * OBJECT_KB
        + (end["logged_decisions"] - mid["logged_decisions"]) * DECISION_KB
    ) / 1024
    growth = end["rss_mb"] - mid["rss_mb"]
    unexplained = growth - max(0.0, explained)
    return {
        "bound_mb": round(bound, 1),
        "peak_within_bound": peak_mb <= bound,
        "second_half_growth_mb": round(growth, 1),
        "second_half_explained_mb": round(explained, 1),
        "second_half_unexplained_mb": round(unexplained, 1),
        "no_leak": unexplained <= LEAK_SLACK_MB,
        "table_full_at_half": mid["tracked_objects"] >= max_objects,
        "ok": peak_mb <= bound and unexplained <= LEAK_SLACK_MB,
    }


def lag_summary(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """The scaler's event-loop lateness between two scrapes (its 50 ms probe): how many
    probes, the share later than each bucket bound, and the bucket holding the 99th
    percentile."""
    total = after.get("+Inf", 0.0) - before.get("+Inf", 0.0)
    out: dict[str, Any] = {"probes": int(total)}
    p99 = None
    for le, count in after.items():
        if le == "+Inf":
            continue
        within = count - before.get(le, 0.0)
        out[f"over_{float(le) * 1000:g}_ms_pct"] = round(100 * (1 - within / max(1.0, total)), 2)
        if p99 is None and within >= 0.99 * total:
            p99 = float(le) * 1000
    out["p99_at_most_ms"] = p99
    return out


def steal_jiffies() -> tuple[int, int]:
    """(steal, total) CPU jiffies of the machine so far: time the hypervisor gave this
    VM's CPUs to others, which no process here sees as its own wait."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def scrape(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, Any] = {}
    m = re.search(r"^sonic_scaler_prometheus_query_seconds_count (\S+)$", text, re.M)
    out["queries"] = float(m.group(1)) if m else 0.0
    decisions = re.findall(r"^sonic_scaler_decisions_total\{([^}]*)\} (\S+)$", text, re.M)
    out["canary_decisions"] = sum(
        float(v) for labels, v in decisions if 'scaledobject="canary"' in labels
    )
    by_status: Counter[str] = Counter()
    for labels, v in decisions:
        if 'scaledobject="canary"' in labels:
            status = re.search(r'status="([^"]*)"', labels)
            by_status[status.group(1) if status else "?"] += int(float(v))
    out["canary_decisions_by_status"] = dict(by_status)
    out["loop_lag"] = {
        le: float(v)
        for le, v in re.findall(
            r'^sonic_scaler_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M
        )
    }
    for gauge in ("tracked_objects", "logged_decisions"):
        g = re.search(rf"^sonic_scaler_{gauge} (\S+)$", text, re.M)
        out[gauge] = float(g.group(1)) if g else 0.0
    out["forgotten"] = sum(
        float(v)
        for v in re.findall(r"^sonic_scaler_objects_forgotten_total\{[^}]*\} (\S+)$", text, re.M)
    )
    return out


def ref(name: str, release: str) -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(
        name=name, namespace=NAMESPACE, scalerMetadata={**META, "release": release}
    )


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def canary(address: str, duration_s: float, out: Any) -> None:
    """Poll like an impatient HPA and a liveness probe; report to ``out`` (a queue).

    In a session of its own, so the kernel schedules it as its own group (as the
    kubelet's probe and the HPA are), not as a share of the load generator's CPU."""
    os.setsid()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    health_fail = 0
    health_checks = 0
    health_failed: list[dict[str, Any]] = []
    slow: list[dict[str, float]] = []
    error_log: list[dict[str, Any]] = []
    t_start = time.monotonic()
    with grpc.insecure_channel(address) as ch:
        stub = pb_grpc.ExternalScalerStub(ch)
        health = health_pb2_grpc.HealthStub(ch)
        req = pb.GetMetricsRequest(scaledObjectRef=ref("canary", "canary"))
        end = time.monotonic() + duration_s
        next_health = time.monotonic()
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                stub.GetMetrics(req, timeout=2)
                ms = (time.perf_counter() - t0) * 1000
                latencies.append(ms)
                if ms > P99_TARGET_MS:
                    slow.append({"t_s": round(time.monotonic() - t_start, 1), "ms": round(ms, 1)})
                    slow[-1]["epoch_s"] = round(time.time(), 2)
            except grpc.RpcError as exc:
                errors[exc.code().name] += 1
                # When and why, first and then every 50th (the reason may change).
                if sum(errors.values()) % 50 == 1:
                    error_log.append(
                        {
                            "t_s": round(time.monotonic() - t_start, 1),
                            "code": exc.code().name,
                            "details": (exc.details() or "")[:300],
                        }
                    )
            if time.monotonic() >= next_health:
                next_health += 0.5
                health_checks += 1
                h0 = time.perf_counter()
                failure: dict[str, Any] | None = None
                try:
                    r = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    if r.status != health_pb2.HealthCheckResponse.SERVING:
                        failure = {"status": int(r.status)}
                except grpc.RpcError as exc:
                    failure = {"code": exc.code().name}
                if failure is not None:
                    health_fail += 1
                    failure["t_s"] = round(time.monotonic() - t_start, 1)
                    failure["ms"] = round((time.perf_counter() - h0) * 1000, 1)
                    health_failed.append(failure)
            time.sleep(0.1)
    out.put(
        {
            "role": "canary",
            "latencies_ms": latencies,
            "slow": slow,
            "errors": dict(errors),
            "error_log": error_log,
            "health_checks": health_checks,
            "health_failures": health_fail,
            "health_failed": health_failed,
            "cpu_s": own_cpu_s(),
            "sched": thread_sched(os.getpid()),
        }
    )


async def _churn(
    address: str, proc: int, procs: int, objects: int, clients: int, stop_at: float
) -> dict[str, Any]:
    """``clients`` coroutines; this process registers objects ``proc``, ``proc+procs``, …"""
    fresh = iter(range(proc, objects, procs))
    registered: list[int] = []
    codes: Counter[str] = Counter()
    calls = 0

    async def client(k: int) -> None:
        nonlocal calls
        rng = random.Random(proc * 1000 + k)
        async with grpc.aio.insecure_channel(address) as ch:
            stub = pb_grpc.ExternalScalerStub(ch)
            while time.time() < stop_at:
                i = next(fresh, None)
                try:
                    if i is not None:
                        await stub.GetMetricSpec(ref(f"churn-{i}", f"churn-{i}"), timeout=5)
                        registered.append(i)
                    if registered:
                        j = rng.choice(registered)
                        r = ref(f"churn-{j}", f"churn-{j}")
                        await stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=r), timeout=5)
                        await stub.IsActive(r, timeout=5)
                    code = "OK"
                except grpc.aio.AioRpcError as exc:
                    code = exc.code().name
                codes[code] += 1
                calls += 1

    await asyncio.gather(*(client(k) for k in range(clients)))
    return {"registered": len(registered), "iterations": calls, "codes": dict(codes)}


def churn(
    address: str, proc: int, procs: int, objects: int, clients: int, stop_at: float, out: Any
) -> None:
    result = asyncio.run(_churn(address, proc, procs, objects, clients, stop_at))
    out.put({"role": "churn", **result, "cpu_s": own_cpu_s()})


async def _streams(address: str, count: int, stop_at: float) -> dict[str, Any]:
    ended: Counter[str] = Counter()
    details: Counter[str] = Counter()
    messages = 0
    t0 = time.time()
    end_times: list[float] = []
    async with grpc.aio.insecure_channel(address) as ch:
        stub = pb_grpc.ExternalScalerStub(ch)

        async def hold(i: int) -> None:
            nonlocal messages
            call = stub.StreamIsActive(ref(f"stream-{i}", f"stream-{i}"))
            try:
                async for _ in call:
                    messages += 1
            except grpc.aio.AioRpcError:
                pass
            except asyncio.CancelledError:  # the run's end: still open
                call.cancel()
                raise
            code = await call.code()
            ended[code.name] += 1
            details[f"{code.name}: {(await call.details())[:120]}"] += 1
            end_times.append(round(time.time() - t0, 1))

        tasks = [asyncio.create_task(hold(i)) for i in range(count)]
        await asyncio.sleep(max(0.0, stop_at - time.time()))
        still_open = sum(1 for t in tasks if not t.done())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "open_at_end": still_open,
        "ended_by_code": dict(ended),
        "ended_details": dict(details.most_common(5)),
        "ended_at_s": sorted(end_times)[:20],
        "messages": messages,
    }


def streams(address: str, count: int, stop_at: float, out: Any) -> None:
    result = asyncio.run(_streams(address, count, stop_at))
    out.put({"role": "streams", **result, "cpu_s": own_cpu_s()})


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class _FakeProm:
    """``tests/fake_prometheus`` in its own process (``--prometheus fake``)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_prometheus"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"
        self.pid = self.proc.pid

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class _RealProm:
    """``/usr/bin/prometheus`` scraping two exporters every 5 s: the canary's Triton
    pod, a target labelled with its release as Kubernetes service discovery labels a
    pod (so ``up{release="canary"}`` exists and the canary sees one ready replica),
    and one target serving every held stream's release. The streams' objects see
    their series but no ready replica (``up`` carries no release for them): they hold
    on their first decision, as before this split the canary did, until it turned
    into ``UNAVAILABLE`` 330 s into a longer soak."""

    def __init__(self, streams: int) -> None:
        from scaler.testbed.prometheus_server import PrometheusServer, ScrapeTarget
        from tests.realparts.exporter import KnownExporter, triton_series

        self.exporter = KnownExporter()
        self.canary = KnownExporter()
        series = {"model": "m", "rps": 60, "queue_ms_per_request": 100, "batch": 2, "pending": 1}
        triton_series(self.canary, **series, extra={"release": "canary"})  # type: ignore[arg-type]
        for release in (f"stream-{i}" for i in range(streams)):
            triton_series(self.exporter, **series, extra={"release": release})  # type: ignore[arg-type]
        self.server = PrometheusServer(scrape_interval_s=5, evaluation_interval_s=5)
        self.server.set_targets(
            [
                ScrapeTarget(
                    self.canary.address,
                    {"namespace": NAMESPACE, "pod": "triton-canary-0", "release": "canary"},
                ),
                ScrapeTarget(self.exporter.address, {"namespace": NAMESPACE, "pod": "triton-0"}),
            ]
        )
        self.server.start()
        self.server.wait_for('nv_inference_request_success{release="canary"}', timeout_s=60)
        self.url = self.server.url
        proc = self.server._proc
        self.pid = proc.pid if proc is not None else 0

    def close(self) -> None:
        self.server.close()
        self.exporter.close()
        self.canary.close()


def run(
    duration_s: float,
    objects: int,
    streams_n: int,
    clients: int,
    client_procs: int,
    prometheus: str,
    scaler_settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    prom: _FakeProm | _RealProm = _FakeProm(env) if prometheus == "fake" else _RealProm(streams_n)
    grpc_port, metrics_port = free_port(), free_port()
    scaler_env = {
        **env,
        "SCALER_GRPC_LISTEN": f"127.0.0.1:{grpc_port}",
        "SCALER_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "SCALER_PROMETHEUS_URL": prom.url,
        "SCALER_KUBERNETES_API": "false",
        "SCALER_LOG_LEVEL": "WARNING",
        **(scaler_settings or {}),
    }
    # Its own session: with the kernel's autogroup scheduling (on by default) a session
    # is one scheduling group, so the scaler gets a container's share of the CPU
    # instead of sharing one with the 50 clients and 1,000 streams loading it.
    scaler = subprocess.Popen(
        [sys.executable, "-m", "scaler.cli", "serve"],
        cwd=ROOT,
        env=scaler_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"127.0.0.1:{grpc_port}"
    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    try:
        with grpc.insecure_channel(address) as ch:
            grpc.channel_ready_future(ch).result(timeout=30)
            # The canary is a live object before the load starts (as in production).
            stub = pb_grpc.ExternalScalerStub(ch)
            req = pb.GetMetricsRequest(scaledObjectRef=ref("canary", "canary"))
            deadline = time.monotonic() + 30
            while True:
                try:
                    canary_value = stub.GetMetrics(req, timeout=5).metricValues[0].metricValueFloat
                    break
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            # The machine's floor: the canary with nothing else running (60 calls).
            idle: list[float] = []
            for _ in range(60):
                t0 = time.perf_counter()
                stub.GetMetrics(req, timeout=5)
                idle.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.05)
        loads = [os.getloadavg()[0]]
        rss_start = rss_mb(scaler.pid)
        cpu_start = {
            "scaler_serving": cpu_s(scaler.pid, tree=False),
            "scaler_with_reader": cpu_s(scaler.pid),
            "prometheus": cpu_s(prom.pid),
        }
        before = scrape(metrics_port)
        sched_start = thread_sched(scaler.pid)
        steal_start = steal_jiffies()
        t_start = time.monotonic()
        stop_at = time.time() + duration_s
        results: Any = ctx.Queue()
        procs.append(ctx.Process(target=canary, args=(address, duration_s, results)))
        procs.append(ctx.Process(target=streams, args=(address, streams_n, stop_at, results)))
        per = [clients // client_procs + (k < clients % client_procs) for k in range(client_procs)]
        for k, n in enumerate(per):
            procs.append(
                ctx.Process(
                    target=churn, args=(address, k, client_procs, objects, n, stop_at, results)
                )
            )
        for p in procs:
            p.daemon = True
            p.start()
        peak = rss_start
        samples = []
        mid: dict[str, float] | None = None
        last: dict[str, float] | None = None
        idle_threads: dict[str, list[int]] = {}
        steal_prev = steal_start
        while time.monotonic() - t_start < duration_s:
            time.sleep(SAMPLE_S)
            elapsed_s = time.monotonic() - t_start
            now = rss_mb(scaler.pid)
            peak = max(peak, now)
            load = os.getloadavg()[0]
            loads.append(load)
            steal_now = steal_jiffies()
            steal_pct = 100 * (steal_now[0] - steal_prev[0]) / max(1, steal_now[1] - steal_prev[1])
            steal_prev = steal_now
            samples.append(
                {
                    "t_s": round(elapsed_s),
                    "rss_mb": round(now, 1),
                    "load_1m": load,
                    "steal_pct": round(steal_pct, 1),
                }
            )
            if mid is None and elapsed_s >= duration_s / 2:
                idle_threads = sched_idle_threads(scaler.pid)
                # One scrape at half time (a scrape of every object's series costs the
                # scaler some milliseconds, so not every sample).
                mid = {
                    **scrape(metrics_port),
                    "rss_mb": rss_mb(scaler.pid),
                    "serving_rss_mb": rss_mb(scaler.pid, tree=False),
                }
            elif mid is not None and duration_s - SAMPLE_S <= elapsed_s < duration_s:
                # The same measurement at the load's last sample, before the clients
                # stop: the second half's growth is steady-state growth, not the
                # teardown of 1,000 streams at once (reported apart).
                last = {
                    **scrape(metrics_port),
                    "rss_mb": rss_mb(scaler.pid),
                    "serving_rss_mb": rss_mb(scaler.pid, tree=False),
                }
        reports = [results.get(timeout=120) for _ in procs]
        elapsed = time.monotonic() - t_start
        after = scrape(metrics_port)
        sched_end = thread_sched(scaler.pid)
        steal_end = steal_jiffies()
        rss_end = rss_mb(scaler.pid)
        serving_rss_end = rss_mb(scaler.pid, tree=False)
        peak = max(peak, rss_end)
        cpu_end = {
            "scaler_serving": cpu_s(scaler.pid, tree=False),
            "scaler_with_reader": cpu_s(scaler.pid),
            "prometheus": cpu_s(prom.pid),
        }
        for p in procs:
            p.join(timeout=10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        scaler.terminate()
        try:
            scaler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            scaler.kill()
            print("scaler serve ignored SIGTERM for 30 s: killed", file=sys.stderr)
        prom.close()
    by_role: dict[str, list[dict[str, Any]]] = {}
    for r in reports:
        by_role.setdefault(r["role"], []).append(r)
    canary_result = by_role["canary"][0]
    stream_result = by_role["streams"][0]
    churned = by_role["churn"]
    churn_codes: Counter[str] = Counter()
    for c in churned:
        churn_codes.update(c["codes"])
    lat = canary_result["latencies_ms"]
    queries = after["queries"] - before["queries"]
    canary_errors = sum(canary_result["errors"].values())
    cpu = {k: round(cpu_end[k] - cpu_start[k], 1) for k in cpu_end}
    cpu["canary"] = round(canary_result["cpu_s"], 1)
    canary_sched = sched_delta({}, canary_result["sched"])
    cpu["streams_client"] = round(stream_result["cpu_s"], 1)
    cpu["churn_clients"] = round(sum(c["cpu_s"] for c in churned), 1)
    settings = scaler_settings or {}
    end_ = {**after, "rss_mb": rss_end, "serving_rss_mb": serving_rss_end}
    mid_ = mid if mid is not None else end_
    last_ = last if last is not None else end_
    memory = rss_verdict(
        rss_start,
        peak,
        mid_,
        last_,
        int(settings.get("SCALER_MAX_OBJECTS", DEFAULT_MAX_OBJECTS)),
        int(settings.get("SCALER_MAX_LOGGED_DECISIONS", DEFAULT_MAX_LOGGED)),
    )
    out = {
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "duration_s": round(elapsed, 1),
        "prometheus": "real (/usr/bin/prometheus)" if prometheus == "real" else "fake",
        "load": {
            "churn_objects": objects,
            "churn_registered": sum(c["registered"] for c in churned),
            "held_streams": streams_n,
            "clients": clients,
            "client_processes": client_procs,
            "churn_iterations": sum(c["iterations"] for c in churned),
            "churn_iterations_by_code": dict(churn_codes),
            "streams": {k: v for k, v in stream_result.items() if k not in ("role", "cpu_s")},
        },
        "canary": {
            "calls": len(lat) + canary_errors,
            "errors": canary_errors,
            "errors_by_code": canary_result["errors"],
            "errors_when": canary_result["error_log"][:100],
            "p50_ms": round(percentile(lat, 0.50), 2),
            "p99_ms": round(percentile(lat, 0.99), 2),
            "max_ms": round(max(lat), 2) if lat else None,
            "value_before_load": canary_value,
            "over_target": canary_result["slow"][:200],
        },
        "canary_without_load": {
            "p50_ms": round(percentile(idle, 0.50), 2),
            "p99_ms": round(percentile(idle, 0.99), 2),
        },
        "cpu_seconds": cpu,
        "scaler_event_loop_lag": lag_summary(before["loop_lag"], after["loop_lag"]),
        "scaler_threads": sched_delta(sched_start, sched_end),
        "sched_idle_threads_at_half": idle_threads,
        "canary_threads": canary_sched,
        "machine": {
            "cores": os.cpu_count(),
            "load_average_1m": {
                "start": round(loads[0], 1),
                "min": round(min(loads), 1),
                "mean": round(sum(loads) / len(loads), 1),
                "max": round(max(loads), 1),
                "end": round(loads[-1], 1),
            },
            "steal_percent": round(
                100 * (steal_end[0] - steal_start[0]) / max(1, steal_end[1] - steal_start[1]), 1
            ),
            "nice": os.nice(0),
            "autogroup_scheduling": Path("/proc/sys/kernel/sched_autogroup_enabled")
            .read_text()
            .strip()
            == "1",
            "note": "shared with other jobs; the scaler, Prometheus, the clients and the "
            "canary all run on these cores, each (clients together) in its own session, so "
            "with autogroup scheduling each is one scheduling group, as separate containers",
        },
        "health": {
            "checks": canary_result["health_checks"],
            "failures": canary_result["health_failures"],
            "failed": canary_result["health_failed"][:50],
        },
        "rss_mb": {
            "start": round(rss_start, 1),
            "end": round(rss_end, 1),
            "peak": round(peak, 1),
            "check": memory,
            "at_half": {k: mid_[k] for k in MEMORY_KEYS},
            "at_load_end": {k: last_[k] for k in MEMORY_KEYS},
            "at_end": {k: end_[k] for k in MEMORY_KEYS},
            "teardown_growth_mb": round(rss_end - last_["rss_mb"], 1),
            "samples": samples,
        },
        "prometheus_queries_per_s": round(queries / elapsed, 1),
        "canary_decisions": after["canary_decisions"] - before["canary_decisions"],
        "canary_decisions_by_status_at_end": after["canary_decisions_by_status"],
        "canary_decision_interval_s": round(
            elapsed / max(1.0, after["canary_decisions"] - before["canary_decisions"]), 1
        ),
        "canary_refresh_note": "the canary is refreshed in turn with every tracked object, "
        "oldest first, within the Prometheus query budget: an object with series costs about "
        "10 queries a refresh, one whose labels match nothing (the churned objects) one; its "
        "decisions must come well within failAfterSeconds (300 s) or it answers UNAVAILABLE",
        "objects_forgotten": after["forgotten"] - before["forgotten"],
        "settings": scaler_settings
        or "defaults: SCALER_MAX_OBJECTS=5000, SCALER_MAX_STREAMS=1000, "
        "SCALER_UNARY_WORKERS=2, SCALER_MAX_PROMETHEUS_QUERIES_PER_S=500",
    }
    out["targets"] = {
        "canary_zero_errors": canary_errors == 0,
        "health_always_answers": canary_result["health_failures"] == 0,
        f"canary_p99_le_{P99_TARGET_MS:g}_ms": percentile(lat, 0.99) <= P99_TARGET_MS,
        "rss_bounded": memory["ok"],
        "prometheus_within_budget": queries / elapsed <= 500 * 1.05,
    }
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several soaks of the same code, reported together: each figure's median and worst
    run, and each target met only if every run met it (a target met in the best run
    alone is not met)."""
    import statistics

    def figures(r: dict[str, Any]) -> dict[str, float]:
        return {
            "canary_p99_ms": r["canary"]["p99_ms"],
            "canary_p50_ms": r["canary"]["p50_ms"],
            "canary_max_ms": r["canary"]["max_ms"] or 0.0,
            "canary_errors": r["canary"]["errors"],
            "health_failures": r["health"]["failures"],
            "rss_end_mb": r["rss_mb"]["end"],
            "load_mean": r["machine"]["load_average_1m"]["mean"],
        }

    table = [figures(r) for r in runs]
    out: dict[str, Any] = {"runs": len(runs)}
    for key in table[0]:
        values = [t[key] for t in table]
        if key == "load_mean":
            # The machine's, not a figure of the scaler's: no side of it is "worse".
            spread = {"min": min(values), "max": max(values)}
        else:
            spread = {"worst": max(values)}
        out[key] = {"each": values, "median": statistics.median(values), **spread}
    out["targets_met_in_every_run"] = {
        name: all(r["targets"][name] for r in runs) for name in runs[0]["targets"]
    }
    out["targets_met_in_runs"] = {
        name: sum(bool(r["targets"][name]) for r in runs) for name in runs[0]["targets"]
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=300.0)
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--streams", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--client-procs", type=int, default=2, help="processes the churn clients run in"
    )
    parser.add_argument("--prometheus", choices=("real", "fake"), default="real")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SCALER_X=V",
        help="a scaler setting (environment variable) other than its default",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="soaks one after the other; the results hold every run, each figure's "
        "median and worst, and a target is met only if every run met it",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    for _ in range(args.runs):
        result = run(
            args.duration_s,
            args.objects,
            args.streams,
            args.clients,
            args.client_procs,
            args.prometheus,
            dict(kv.split("=", 1) for kv in args.set),
        )
        result["started_utc"] = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - result["duration_s"])
        )
        runs.append(result)
        shown = {k: v for k, v in result.items() if k not in ("rss_mb", "canary")}
        print(json.dumps(shown, indent=2))
        print("canary", {k: v for k, v in result["canary"].items() if k != "over_target"})
        print("rss_mb", {k: v for k, v in result["rss_mb"].items() if k != "samples"})
        out = runs[0] if args.runs == 1 else {"summary": summary(runs), "runs": runs}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")  # after each run
    if args.runs > 1:
        print(json.dumps(summary(runs), indent=2))


if __name__ == "__main__":
    main()
