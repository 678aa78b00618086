"""What KEDA reads: one adapter for the gRPC service, the simulator and the testbed, and
the same ScaledObject gives the same GetMetrics value through the server's pipeline and
through the simulator's scaler model on the same observations."""

from __future__ import annotations

import time
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

GUARDS = {
    "scalerAddress": "sonic-scaler.keda:9100",
    "minReplicas": "0",
    "scaleDownStabilizationSeconds": "20",
    "staleAfterSeconds": "30",
    "failAfterSeconds": "25",
}
OBJECTS = {
    "triton-threshold": {
        **GUARDS,
        "policy": "threshold",
        "signal": "queue_time_per_request_ms",
        "targetMs": "37.5",
        "maxReplicas": "20",
        "activationRps": "0.5",
    },
    "triton-adaptive": {
        **GUARDS,
        "policy": "adaptive",
        "targetMs": "80",
        "leadTimeSeconds": "45",
        "peakHoldSeconds": "30",
        "maxReplicas": "30",
    },
}
"""Two ScaledObjects with targets that make the values non-integer (rounding)."""


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
    assert view.metric() == (2.718, 3)
    first = keda.keda_view(None, now_s=1.0, fail_after_s=60, refresh_interval_s=5)
    assert first == keda.KedaView(None, False, keda.NOT_READY)
    with pytest.raises(ValueError, match="not ready"):
        first.metric()


REFRESH_S = 5.0
"""The server's refresh interval and the simulator's (Scenario's default)."""


@pytest.fixture
def server() -> Iterator[tuple[RunningServer, ScriptedObserver, ManualClock]]:
    observer, clock = ScriptedObserver(), ManualClock()
    metrics = build_metrics()
    # The tracker's own loop refreshes each object when the manual clock reaches its
    # due time (an interval after its last refresh), so the server decides on its
    # cadence as in production; the test moves the clock.
    tracker = ObjectTracker(observer, metrics, refresh_interval_s=REFRESH_S, clock=clock)
    cfg = ServerSettings(grpc_listen="127.0.0.1:0", metrics_listen="127.0.0.1:0")
    running = start_server(cfg, observer, metrics=metrics, tracker=tracker)
    yield running, observer, clock
    running.stop(0)


def _obs(queue_ms: float, ready: int, rps: float, pending: float) -> Observation:
    """Triton's signals for one refresh: batches of 4 items, 7.3 ms of compute each."""
    return Observation(
        time_s=0.0,
        ready_replicas=ready,
        request_rate_rps=rps,
        queue_time_per_request_ms=queue_ms,
        pending_requests=pending,
        items_per_s=rps,
        execs_per_s=rps / 4,
        compute_time_per_request_ms=7.3,
        gpu_utilization=min(1.0, rps / (ready * 120.0)) if ready else 0.0,
    )


# One row per refresh, 5 s apart: a rise, a fall held by stabilisation, no traffic
# (inactive), then Prometheus gone long enough to hold and then fail, then back.
SCRIPT: list[tuple[float, int, float, float] | None] = [
    (61.3, 2, 173.7, 3.0),
    (94.1, 3, 260.2, 11.0),
    (140.6, 4, 301.4, 9.0),
    (47.9, 6, 311.9, 2.0),
    (22.6, 7, 280.9, 0.0),
    (12.2, 7, 150.3, 0.0),
    (0.0, 5, 0.0, 0.0),
    (0.0, 5, 0.0, 0.0),
    (0.0, 3, 0.0, 0.0),
    (0.0, 1, 0.0, 0.0),
    (0.0, 0, 0.0, 0.0),
    (0.0, 0, 0.0, 0.0),
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    (73.3, 0, 41.7, 6.0),
    (88.8, 1, 97.1, 4.0),
    (45.5, 2, 120.6, 1.0),
]

POLL_OFFSETS_S = (0.0, 2.0)
"""KEDA polls right after a refresh and between two (it reads the latest decision)."""


def _server_reads(stub: pb_grpc.ExternalScalerStub, ref: pb.ScaledObjectRef) -> object:
    """What KEDA takes from the server: (the number it reads, IsActive), or the error."""
    try:
        got = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=5)
        active = stub.IsActive(ref, timeout=5).result
    except grpc.RpcError as exc:
        assert exc.code() is grpc.StatusCode.UNAVAILABLE, exc.details()
        return "UNAVAILABLE"
    mv = got.metricValues[0]
    return keda.keda_reads(mv.metricValueFloat, mv.metricValue), active


def _sim_reads(view: keda.KedaView) -> object:
    """What KEDA takes from the simulator's scaler model through the same adapter."""
    if view.error is not None:
        return "UNAVAILABLE"
    return keda.keda_reads(*view.metric()), view.active


def _decided_at(running: RunningServer, key: str, now: float) -> Decision:
    """The server's decision at ``now`` (its loop refreshes when the clock is due)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        obj = running.tracker.get(key)
        if obj is not None and obj.decision is not None and obj.decision.time_s == now:
            return obj.decision
        time.sleep(0.01)
    raise AssertionError(f"{key}: no decision at {now}")


def test_the_server_and_the_simulator_give_keda_the_same_reads(
    server: tuple[RunningServer, ScriptedObserver, ManualClock],
) -> None:
    """Two ScaledObjects, the server's refresh cadence against the simulator's scaler
    model's (:attr:`ScalerModel.next_refresh_s`), KEDA polling right after each refresh
    and between two: the number KEDA reads (:func:`keda.keda_reads` of GetMetrics'
    float and integer) and IsActive are the same, errors alike."""
    running, observer, clock = server
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    stub = pb_grpc.ExternalScalerStub(channel)
    refs = {
        name: pb.ScaledObjectRef(name=name, namespace="cms", scalerMetadata=meta)
        for name, meta in OBJECTS.items()
    }
    models = {
        name: ScalerModel(parse_metadata(name, "cms", meta), Scenario())
        for name, meta in OBJECTS.items()
    }
    assert {m.refresh_interval_s for m in models.values()} == {REFRESH_S}
    seen: dict[str, list[object]] = {name: [] for name in OBJECTS}
    try:
        observer.observation = _obs(61.3, 2, 173.7, 3.0)
        for name, ref in refs.items():
            stub.GetMetricSpec(ref, timeout=5)
            first = _decided_at(running, f"cms/{name}", clock.now_s)
            models[name].decide(first.time_s, replace(observer.observation, time_s=first.time_s))
        for step in SCRIPT:
            if step is None:
                observer.error, obs = "Prometheus unreachable", None
            else:
                observer.error, observer.observation = None, _obs(*step)
            refresh = {m.next_refresh_s for m in models.values()}
            assert len(refresh) == 1
            clock.now_s = refresh.pop()
            for name, model in models.items():
                _decided_at(running, f"cms/{name}", clock.now_s)
                if observer.observation is not None and step is not None:
                    obs = replace(observer.observation, time_s=clock.now_s)
                model.decide(clock.now_s, obs)
            at = clock.now_s
            for offset in POLL_OFFSETS_S:
                clock.now_s = at + offset
                for name, model in models.items():
                    server_says = _server_reads(stub, refs[name])
                    sim_says = _sim_reads(model.view(clock.now_s))
                    assert server_says == sim_says, f"{name} at +{clock.now_s - at:g} s: {step}"
                    seen[name].append(sim_says)
            clock.now_s = at
    finally:
        channel.close()
    for name, reads in seen.items():
        values = [r[0] for r in reads if isinstance(r, tuple)]
        assert "UNAVAILABLE" in reads, f"{name}: the script should reach failAfterSeconds"
        assert any(v != round(v) for v in values), f"{name}: no value to round: {values}"
        assert any(isinstance(r, tuple) and r[1] for r in reads), f"{name}: never active"
    # The threshold object goes inactive without traffic (adaptive holds the dip).
    assert any(isinstance(r, tuple) and not r[1] for r in seen["triton-threshold"])
    for name, model in models.items():
        assert model.decisions == len(SCRIPT) + 1, name
