"""Soak: the scaler under object churn, held streams and many clients, on loopback.

Runs ``scaler serve`` (its default bounds) against a fake Prometheus (healthy
answers, ``tests/fake_prometheus.py``), each in its own process, and for
``--duration-s`` (default 5 minutes):

* churn: 20,000 ScaledObjects, each with its own ``release`` (so no query is shared),
  asked about by 50 client threads (GetMetricSpec, GetMetrics, IsActive, as KEDA and
  the HPA do), then asked again at random;
* 1,000 ``StreamIsActive`` streams held open for the whole run (KEDA's external-push);
* in a separate process, a canary ScaledObject polled with GetMetrics every 100 ms and
  the gRPC health check every 500 ms (1 s deadline, as a liveness probe).

Writes ``bench/results/soak.json``: the canary's latency percentiles and error count,
health-check failures, the scaler's RSS at start, end and peak, Prometheus queries
per second (from the scaler's own metrics), and each target met or missed.

Targets (issue 13): canary 0 errors, health always answers, canary p99 <= 50 ms, RSS
bounded by the object limit. Run it alone (``nice -n 10 python bench/soak.py``):
it uses both cores for the duration.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "soak.json"
META = {
    "policy": "threshold",
    "signal": "queue_time_per_request_ms",
    "target": "50",
    "maxReplicas": "20",
    "scaleDownStabilizationSeconds": "60",
}
P99_TARGET_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for name in ("sonic_scaler_prometheus_query_seconds_count",):
        m = re.search(rf"^{name} (\S+)$", text, re.M)
        out[name] = float(m.group(1)) if m else 0.0
    out["forgotten"] = sum(
        float(v)
        for v in re.findall(r"^sonic_scaler_objects_forgotten_total\{[^}]*\} (\S+)$", text, re.M)
    )
    return out


def ref(name: str, release: str) -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(
        name=name, namespace="soak", scalerMetadata={**META, "release": release}
    )


def canary(address: str, duration_s: float, out: Any) -> None:
    """Poll like an impatient HPA and a liveness probe; report to ``out`` (a queue)."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    health_fail = 0
    health_checks = 0
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
                latencies.append((time.perf_counter() - t0) * 1000)
            except grpc.RpcError as exc:
                errors[exc.code().name] += 1
            if time.monotonic() >= next_health:
                next_health += 0.5
                health_checks += 1
                try:
                    r = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    if r.status != health_pb2.HealthCheckResponse.SERVING:
                        health_fail += 1
                except grpc.RpcError:
                    health_fail += 1
            time.sleep(0.1)
    out.put(
        {
            "latencies_ms": latencies,
            "errors": dict(errors),
            "health_checks": health_checks,
            "health_failures": health_fail,
        }
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def run(duration_s: float, objects: int, streams: int, clients: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    prom = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_prometheus"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert prom.stdout is not None
    prom_port = int(prom.stdout.readline())
    grpc_port, metrics_port = free_port(), free_port()
    scaler_env = {
        **env,
        "SCALER_GRPC_LISTEN": f"127.0.0.1:{grpc_port}",
        "SCALER_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "SCALER_PROMETHEUS_URL": f"http://127.0.0.1:{prom_port}",
        "SCALER_KUBERNETES_API": "false",
        "SCALER_LOG_LEVEL": "WARNING",
    }
    scaler = subprocess.Popen(
        [sys.executable, "-m", "scaler.cli", "serve"],
        cwd=ROOT,
        env=scaler_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{grpc_port}"
    held: list[Any] = []
    stop = threading.Event()
    churn_codes: Counter[str] = Counter()
    stream_codes: Counter[str] = Counter()
    registered = 0
    lock = threading.Lock()
    try:
        with grpc.insecure_channel(address) as ch:
            grpc.channel_ready_future(ch).result(timeout=30)
            # The canary is a live object before the load starts (as in production).
            stub = pb_grpc.ExternalScalerStub(ch)
            req = pb.GetMetricsRequest(scaledObjectRef=ref("canary", "canary"))
            deadline = time.monotonic() + 30
            while True:
                try:
                    stub.GetMetrics(req, timeout=5)
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
        load_start = os.getloadavg()
        rss_start = rss_mb(scaler.pid)
        before = scrape(metrics_port)
        t_start = time.monotonic()
        results: Any = mp.get_context("spawn").Queue()
        probe = mp.get_context("spawn").Process(
            target=canary, args=(address, duration_s, results), daemon=True
        )
        probe.start()

        stream_channel = grpc.insecure_channel(address)
        stream_stub = pb_grpc.ExternalScalerStub(stream_channel)
        for i in range(streams):
            held.append(stream_stub.StreamIsActive(ref(f"stream-{i}", f"stream-{i}")))

        def client(k: int) -> None:
            nonlocal registered
            rng = random.Random(k)
            with grpc.insecure_channel(address) as ch:
                stub = pb_grpc.ExternalScalerStub(ch)
                while not stop.is_set():
                    with lock:
                        fresh = registered < objects
                        i = registered if fresh else rng.randrange(objects)
                        registered += 1 if fresh else 0
                    r = ref(f"churn-{i}", f"churn-{i}")
                    try:
                        if fresh:
                            stub.GetMetricSpec(r, timeout=5)
                        stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=r), timeout=5)
                        stub.IsActive(r, timeout=5)
                        code = "OK"
                    except grpc.RpcError as exc:
                        code = exc.code().name
                    with lock:
                        churn_codes[code] += 1

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
        for t in threads:
            t.start()
        peak = rss_start
        samples = []
        while time.monotonic() - t_start < duration_s:
            time.sleep(5)
            now = rss_mb(scaler.pid)
            peak = max(peak, now)
            samples.append({"t_s": round(time.monotonic() - t_start), "rss_mb": round(now, 1)})
        stop.set()
        for t in threads:
            t.join(timeout=10)
        elapsed = time.monotonic() - t_start
        load_end = os.getloadavg()
        after = scrape(metrics_port)
        rss_end = rss_mb(scaler.pid)
        for call in held:
            if not call.running() and call.done():
                try:
                    stream_codes[call.code().name] += 1
                except Exception:
                    stream_codes["UNKNOWN"] += 1
            else:
                stream_codes["OPEN"] += 1
            call.cancel()
        stream_channel.close()
        canary_result = results.get(timeout=60)
        probe.join(timeout=10)
    finally:
        stop.set()
        scaler.terminate()
        prom.terminate()
        scaler.wait(timeout=30)
        prom.wait(timeout=10)
    lat = canary_result["latencies_ms"]
    queries = (
        after["sonic_scaler_prometheus_query_seconds_count"]
        - before["sonic_scaler_prometheus_query_seconds_count"]
    )
    canary_errors = sum(canary_result["errors"].values())
    out = {
        "duration_s": round(elapsed, 1),
        "load": {
            "churn_objects": objects,
            "churn_registered": min(registered, objects),
            "held_streams": streams,
            "clients": clients,
            "churn_calls_by_code": dict(churn_codes),
            "streams_at_end": dict(stream_codes),
        },
        "canary": {
            "calls": len(lat) + canary_errors,
            "errors": canary_errors,
            "errors_by_code": canary_result["errors"],
            "p50_ms": round(percentile(lat, 0.50), 2),
            "p99_ms": round(percentile(lat, 0.99), 2),
            "max_ms": round(max(lat), 2) if lat else None,
        },
        "canary_without_load": {
            "p50_ms": round(percentile(idle, 0.50), 2),
            "p99_ms": round(percentile(idle, 0.99), 2),
        },
        "machine": {
            "cores": os.cpu_count(),
            "load_average_1m_start": round(load_start[0], 1),
            "load_average_1m_end": round(load_end[0], 1),
            "nice": os.nice(0),
            "note": "shared with other jobs; the scaler, the fake Prometheus, the clients "
            "and the canary all run on these cores",
        },
        "health": {
            "checks": canary_result["health_checks"],
            "failures": canary_result["health_failures"],
        },
        "rss_mb": {
            "start": round(rss_start, 1),
            "end": round(rss_end, 1),
            "peak": round(peak, 1),
            "samples": samples,
        },
        "prometheus_queries_per_s": round(queries / elapsed, 1),
        "objects_forgotten": after["forgotten"] - before["forgotten"],
        "settings": "defaults: SCALER_MAX_OBJECTS=5000, SCALER_MAX_STREAMS=1000, "
        "SCALER_UNARY_WORKERS=32, SCALER_MAX_PROMETHEUS_QUERIES_PER_S=500",
    }
    out["targets"] = {
        "canary_zero_errors": canary_errors == 0,
        "health_always_answers": canary_result["health_failures"] == 0,
        f"canary_p99_le_{P99_TARGET_MS:g}_ms": percentile(lat, 0.99) <= P99_TARGET_MS,
        "rss_bounded": peak <= rss_start + 400,
        "prometheus_within_budget": queries / elapsed <= 500 * 1.05,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=300.0)
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--streams", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run(args.duration_s, args.objects, args.streams, args.clients)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rss_mb"}, indent=2))
    print("rss_mb", {k: v for k, v in result["rss_mb"].items() if k != "samples"})


if __name__ == "__main__":
    main()
