"""gRPC latency and throughput of the scaler as KEDA calls it, beside a bare grpcio server.

200 ScaledObjects are tracked; client threads call GetMetrics then IsActive for
each object in turn, as KEDA's polling loop and the HPA do. The same client load
against a bare grpcio unary server (returning a constant) gives this machine's
ceiling. Writes bench/results/grpc_latency.json.

Target (issue 2): p99 ≤ 5 ms and at least half the bare server's calls/s.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from policies import Observation
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.metadata import ScalerConfig
from scaler.own_metrics import build_metrics
from scaler.server import start_server
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker

OBJECTS = 200
CLIENT_THREADS = 4
DURATION_S = 5.0
RESULTS = Path(__file__).resolve().parent / "results" / "grpc_latency.json"


class FixedObserver:
    """The RPC path answers from memory, so the metrics source is not on it."""

    def observe(self, config: ScalerConfig, now_s: float) -> Observation:
        return Observation(
            time_s=now_s, ready_replicas=3, request_rate_rps=300.0, queue_time_per_request_ms=60.0
        )

    def history(
        self, config: ScalerConfig, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        return []


class BareServicer(pb_grpc.ExternalScalerServicer):
    def GetMetrics(self, request: pb.GetMetricsRequest, context: object) -> pb.GetMetricsResponse:
        return pb.GetMetricsResponse(
            metricValues=[pb.MetricValue(metricName="m", metricValue=3, metricValueFloat=3.0)]
        )

    def IsActive(self, request: pb.ScaledObjectRef, context: object) -> pb.IsActiveResponse:
        return pb.IsActiveResponse(result=True)


def refs() -> list[pb.ScaledObjectRef]:
    return [
        pb.ScaledObjectRef(
            name=f"triton-{i}",
            namespace=f"ns-{i % 20}",
            scalerMetadata={
                "scalerAddress": "sonic-scaler:9100",
                "policy": "threshold",
                "target": "50",
                "maxReplicas": "20",
                "release": f"release-{i}",
            },
        )
        for i in range(OBJECTS)
    ]


def drive(port: int, objects: list[pb.ScaledObjectRef]) -> dict[str, float]:
    """Call GetMetrics + IsActive round-robin over the objects from several threads."""
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(CLIENT_THREADS)]
    errors = [0] * CLIENT_THREADS

    def worker(k: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pb_grpc.ExternalScalerStub(ch)
            i = k
            while not stop.is_set():
                ref = objects[i % len(objects)]
                for call in (
                    lambda r=ref: stub.GetMetrics(
                        pb.GetMetricsRequest(scaledObjectRef=r), timeout=3
                    ),
                    lambda r=ref: stub.IsActive(r, timeout=3),
                ):
                    t0 = time.perf_counter()
                    try:
                        call()
                    except grpc.RpcError:
                        errors[k] += 1
                    latencies[k].append(time.perf_counter() - t0)
                i += CLIENT_THREADS

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        futures = [pool.submit(worker, k) for k in range(CLIENT_THREADS)]
        time.sleep(DURATION_S)
        stop.set()
        for f in futures:
            f.result()
    all_lat = sorted(x for lst in latencies for x in lst)
    q = statistics.quantiles(all_lat, n=100)
    return {
        "calls": len(all_lat),
        "errors": sum(errors),
        "calls_per_s": len(all_lat) / DURATION_S,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
    }


def main() -> None:
    objects = refs()
    metrics = build_metrics()
    observer = FixedObserver()
    tracker = ObjectTracker(observer, metrics, refresh_interval_s=5.0)
    settings = ServerSettings(grpc_listen="127.0.0.1:0", metrics_listen="")
    running = start_server(settings, observer, metrics=metrics, tracker=tracker)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
            stub = pb_grpc.ExternalScalerStub(ch)
            for ref in objects:
                stub.GetMetricSpec(ref, timeout=10)
            for ref in objects:
                stub.IsActive(ref, timeout=10)
        scaler = drive(running.port, objects)
    finally:
        running.stop(0)

    bare = grpc.server(ThreadPoolExecutor(max_workers=16))
    pb_grpc.add_ExternalScalerServicer_to_server(BareServicer(), bare)
    port = bare.add_insecure_port("127.0.0.1:0")
    bare.start()
    try:
        baseline = drive(port, objects)
    finally:
        bare.stop(0)

    result = {
        "objects": OBJECTS,
        "client_threads": CLIENT_THREADS,
        "duration_s": DURATION_S,
        "scaler": scaler,
        "bare_grpc": baseline,
        "throughput_vs_bare": scaler["calls_per_s"] / baseline["calls_per_s"],
        "targets": {"p99_ms_max": 5.0, "throughput_vs_bare_min": 0.5},
        "meets_targets": scaler["p99_ms"] <= 5.0
        and scaler["calls_per_s"] >= 0.5 * baseline["calls_per_s"]
        and scaler["errors"] == 0,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
