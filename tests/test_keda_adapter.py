"""What KEDA reads: one adapter for the gRPC service, the simulator and the testbed, and
the same ScaledObject gives the same GetMetrics value through the server's pipeline and
through the simulator's scaler model on the same observations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import grpc
import pytest

from policies import Decision, Observation, Status
from scaler import keda_adapter as keda
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.metadata import parse_metadata
from scaler.own_metrics import build_metrics
from scaler.server import RunningServer, start_server
from scaler.settings import ServerSettings
from scaler.sim.scaler_model import ScalerModel
from scaler.sim.scenario import Scenario
from scaler.tracker import ObjectTracker
from tests.scripted_observer import ManualClock, ScriptedObserver

META = {
    "scalerAddress": "sonic-scaler.keda:9100",
    "policy": "threshold",
    "signal": "queue_time_per_request_ms",
    "targetMs": "50",
    "minReplicas": "1",
    "maxReplicas": "20",
    "scaleDownStabilizationSeconds": "20",
    "staleAfterSeconds": "30",
    "failAfterSeconds": "25",
}


def decision(value: float, status: Status = Status.OK, time_s: float = 0.0) -> Decision:
    return Decision(
        time_s=time_s,
        value=value,
        status=status,
        reason="because",
        active=True,
        policy="threshold",
        recommended=value,
    )


def test_value_is_rounded_and_errors_are_unavailable() -> None:
    view = keda.keda_view(decision(2.71828), now_s=1.0, fail_after_s=60, refresh_interval_s=5)
    assert view == keda.KedaView(2.718, True)
    assert keda.metric_int(2.718) == 3
    failed = decision(3.0, Status.FAIL)
    assert keda.keda_view(failed, now_s=1.0, fail_after_s=60, refresh_interval_s=5).error
    assert not keda.is_active(failed)
    stale = keda.keda_view(decision(3.0), now_s=71.0, fail_after_s=60, refresh_interval_s=5)
    assert stale.value is None and "71 s old" in (stale.error or "")
    assert keda.hpa_input(stale, decision(3.0), "AverageValue") == (None, keda.TARGET)
    assert keda.keda_reads(0.0, 4) == 4.0 and keda.keda_reads(2.5, 3) == 2.5


@pytest.fixture
def server() -> Iterator[tuple[RunningServer, ScriptedObserver, ManualClock]]:
    observer, clock = ScriptedObserver(), ManualClock()
    metrics = build_metrics()
    # refreshed by hand on the manual clock (the background loop would wait an hour)
    tracker = ObjectTracker(observer, metrics, refresh_interval_s=3600, clock=clock)
    cfg = ServerSettings(grpc_listen="127.0.0.1:0", metrics_listen="127.0.0.1:0")
    running = start_server(cfg, observer, metrics=metrics, tracker=tracker)
    yield running, observer, clock
    running.stop(0)


def _obs(queue_ms: float, ready: int) -> Observation:
    return Observation(
        time_s=0.0,
        ready_replicas=ready,
        request_rate_rps=100.0 * ready,
        queue_time_per_request_ms=queue_ms,
        pending_requests=1.0,
    )


# Queue times over 5 s refreshes: a rise, a fall held by stabilisation, then Prometheus
# gone long enough to hold and then fail, then back.
SCRIPT: list[tuple[float, int] | None] = [
    (100.0, 2),
    (140.0, 4),
    (80.0, 6),
    (30.0, 6),
    (20.0, 6),
    (10.0, 6),
    (10.0, 5),
    None,
    None,
    None,
    None,
    None,
    None,
    (60.0, 5),
    (45.0, 5),
]


def test_the_server_and_the_simulator_give_keda_the_same_value(
    server: tuple[RunningServer, ScriptedObserver, ManualClock],
) -> None:
    running, observer, clock = server
    ref = pb.ScaledObjectRef(name="triton", namespace="cms", scalerMetadata=META)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    stub = pb_grpc.ExternalScalerStub(channel)
    model = ScalerModel(parse_metadata("triton", "cms", META), Scenario())
    try:
        observer.observation = _obs(50.0, 2)
        stub.GetMetricSpec(ref, timeout=5)
        obj = running.tracker.get("cms/triton")
        assert obj is not None and obj.ready.wait(5)
        assert obj.decision is not None
        model.decide(obj.decision.time_s, replace(_obs(50.0, 2), time_s=obj.decision.time_s))
        seen_error = False
        for step in SCRIPT:
            clock.advance(5.0)
            now = clock.now_s
            if step is None:
                observer.error = "Prometheus unreachable"
                obs = None
            else:
                observer.error = None
                observer.observation = _obs(*step)
                obs = replace(observer.observation, time_s=now)
            running.tracker.refresh_all()
            model.decide(now, obs)
            view = model.view(now)
            try:
                got = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=5)
                server_says: object = got.metricValues[0].metricValueFloat
            except grpc.RpcError as exc:
                assert exc.code() is grpc.StatusCode.UNAVAILABLE
                server_says = "UNAVAILABLE"
            sim_says = view.value if view.error is None else "UNAVAILABLE"
            assert server_says == sim_says, f"t={now - clock.now_s:+g}: {step}"
            seen_error = seen_error or view.error is not None
        assert seen_error, "the script should reach failAfterSeconds"
    finally:
        channel.close()
