"""The scaler end to end on real parts: a real Prometheus scraping a real Triton
server under generated load, the scaler's gRPC server reading it, and a KEDA-like
client calling GetMetrics / IsActive over a socket."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc
import pytest

from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.server import RunningServer
from scaler.testbed.prometheus_server import PrometheusServer, ScrapeTarget
from scaler.testbed.triton_replica import ServiceLaw
from tests.realparts.fixtures import LoadgenFactory, TritonFactory
from tests.scaler_server import start_prometheus_scaler

pytestmark = pytest.mark.realparts

NAMESPACE = "e2e"
META = {
    "policy": "threshold",
    "signal": "rps_per_replica",
    "target": "20",
    "minReplicas": "1",
    "maxReplicas": "8",
    "scaleDownStabilizationSeconds": "6",
    "staleAfterSeconds": "30",
    "failAfterSeconds": "8",
    "rateWindowSeconds": "4",
    "release": "r",
    "model": "m",
}
LAW = ServiceLaw(base_ms=5.0, per_item_ms=0.5, max_batch=16, max_queue_delay_us=1000)


@pytest.fixture
def scaler(prometheus: PrometheusServer) -> Iterator[RunningServer]:
    running = start_prometheus_scaler(
        prometheus.url, dedup_window_s=0.5, prometheus_timeout_s=2.0, refresh_interval_s=1.0
    )
    yield running
    running.stop(0)


def desired(stub: pb_grpc.ExternalScalerStub) -> float:
    ref = pb.ScaledObjectRef(name="triton", namespace=NAMESPACE, scalerMetadata=META)
    resp = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=3)
    return float(resp.metricValues[0].metricValueFloat)


def wait_for(
    condition: Callable[[], bool], what: str, timeout_s: float = 40.0, every_s: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def test_scaler_follows_real_load_and_holds_through_a_prometheus_outage(
    prometheus: PrometheusServer,
    triton_replica: TritonFactory,
    loadgen: LoadgenFactory,
    scaler: RunningServer,
) -> None:
    replica = triton_replica(model="m", law=LAW)
    prometheus.set_targets(
        [
            ScrapeTarget(
                replica.metrics_address, {"namespace": NAMESPACE, "release": "r", "pod": "t-0"}
            )
        ]
    )
    with grpc.insecure_channel(f"127.0.0.1:{scaler.port}") as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        ref = pb.ScaledObjectRef(name="triton", namespace=NAMESPACE, scalerMetadata=META)

        def ok_value() -> float | None:
            try:
                return desired(stub)
            except grpc.RpcError:
                return None

        wait_for(lambda: ok_value() == 1.0, "an idle fleet to be held at minReplicas=1")

        gen = loadgen([replica.http_url], "m", rate_rps=70.0)
        wait_for(lambda: (ok_value() or 0) >= 2.0, "load to raise the desired replicas")
        assert stub.IsActive(ref, timeout=3).result is True
        last_good = desired(stub)

        prometheus.stop()
        errored = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                value = desired(stub)
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE
                errored = True
                break
            assert value >= last_good, "scaled down while Prometheus was unreachable"
            time.sleep(0.5)
        assert errored, "GetMetrics never failed after failAfterSeconds without metrics"

        prometheus.start()
        wait_for(lambda: (ok_value() or 0) >= 2.0, "recovery after Prometheus is back", 60)

        gen.stop()
        wait_for(lambda: ok_value() == 1.0, "the fleet to fall back to minReplicas", 60)
