"""Every RPC of KEDA's external-scaler protocol over a real socket, with a client
generated from proto/externalscaler.proto."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from policies import Observation
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.own_metrics import build_metrics
from scaler.server import RunningServer, start_server
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker
from tests.scripted_observer import ManualClock, ScriptedObserver

META = {
    "scalerAddress": "sonic-scaler.keda:9100",
    "policy": "threshold",
    "signal": "queue_time_per_request_ms",
    "targetMs": "50",
    "minReplicas": "0",
    "maxReplicas": "10",
    "scaleDownStabilizationSeconds": "60",
    "failAfterSeconds": "120",
}


def busy(ready: int, queue_ms: float, rps: float = 100.0) -> Observation:
    return Observation(
        time_s=0.0,
        ready_replicas=ready,
        request_rate_rps=rps,
        queue_time_per_request_ms=queue_ms,
        pending_requests=1.0,
    )


@dataclass
class Harness:
    server: RunningServer
    observer: ScriptedObserver
    clock: ManualClock
    stub: pb_grpc.ExternalScalerStub
    channel: grpc.Channel

    def ref(self, **meta: str) -> pb.ScaledObjectRef:
        return pb.ScaledObjectRef(name="triton", namespace="cms", scalerMetadata={**META, **meta})

    def refresh(self) -> None:
        self.server.tracker.refresh_all()


def _start(observer: ScriptedObserver, clock: ManualClock, **settings: object) -> RunningServer:
    metrics = build_metrics()
    tracker = ObjectTracker(observer, metrics, refresh_interval_s=3600, clock=clock)
    cfg = ServerSettings(grpc_listen="127.0.0.1:0", metrics_listen="127.0.0.1:0", **settings)
    return start_server(cfg, observer, metrics=metrics, tracker=tracker)


@pytest.fixture
def harness() -> Iterator[Harness]:
    observer = ScriptedObserver(busy(ready=2, queue_ms=100.0))
    clock = ManualClock()
    server = _start(observer, clock)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield Harness(server, observer, clock, pb_grpc.ExternalScalerStub(channel), channel)
    channel.close()
    server.stop(0)


def test_metric_spec_is_constant_target_one(harness: Harness) -> None:
    spec = harness.stub.GetMetricSpec(harness.ref(), timeout=5)
    assert len(spec.metricSpecs) == 1
    assert spec.metricSpecs[0].targetSizeFloat == 1.0
    assert spec.metricSpecs[0].targetSize == 1
    again = harness.stub.GetMetricSpec(harness.ref(), timeout=5)
    assert again == spec


def test_get_metrics_returns_desired_replicas_float_and_ceil(harness: Harness) -> None:
    harness.observer.observation = busy(ready=2, queue_ms=110.0)
    req = pb.GetMetricsRequest(scaledObjectRef=harness.ref(), metricName="sonic-desired-replicas")
    resp = harness.stub.GetMetrics(req, timeout=5)
    value = resp.metricValues[0]
    assert value.metricValueFloat == pytest.approx(4.4)
    assert value.metricValue == 5
    assert value.metricName == "sonic-desired-replicas"


def idle(ready: int, desired: int | None = None, activation_rps: float = 0.0) -> Observation:
    return Observation(
        time_s=0.0,
        ready_replicas=ready,
        desired_replicas=desired,
        request_rate_rps=0.0 if ready else None,
        queue_time_per_request_ms=0.0 if ready else None,
        pending_requests=0.0 if ready else None,
        activation_rps=activation_rps,
    )


def test_is_active_follows_load(harness: Harness) -> None:
    assert harness.stub.IsActive(harness.ref(), timeout=5).result is True
    harness.observer.observation = idle(ready=2)
    harness.clock.advance(120)
    harness.refresh()
    assert harness.stub.IsActive(harness.ref(), timeout=5).result is False


def test_replicas_vanishing_from_metrics_hold_instead_of_scaling_down(harness: Harness) -> None:
    req = pb.GetMetricsRequest(scaledObjectRef=harness.ref())
    before = harness.stub.GetMetrics(req, timeout=5).metricValues[0].metricValueFloat
    harness.observer.observation = idle(ready=0)
    harness.clock.advance(120)
    harness.refresh()
    assert harness.stub.GetMetrics(req, timeout=5).metricValues[0].metricValueFloat == before
    assert harness.stub.IsActive(harness.ref(), timeout=5).result is True


def test_is_active_wakes_from_zero_on_proxy_traffic(harness: Harness) -> None:
    harness.observer.observation = Observation(time_s=0, ready_replicas=0, activation_rps=3.0)
    meta = {"minReplicas": "0", "activationRps": "1"}
    assert harness.stub.IsActive(harness.ref(**meta), timeout=5).result is True
    req = pb.GetMetricsRequest(scaledObjectRef=harness.ref(**meta))
    assert harness.stub.GetMetrics(req, timeout=5).metricValues[0].metricValue == 1


def test_stream_is_active_sends_true_only_on_transitions(harness: Harness) -> None:
    harness.observer.observation = idle(ready=0, desired=0)
    harness.stub.IsActive(harness.ref(), timeout=5)
    stream = harness.stub.StreamIsActive(harness.ref(), timeout=30)
    got: list[bool] = []

    def read() -> None:
        try:
            for msg in stream:
                got.append(msg.result)
        except grpc.RpcError:
            pass

    reader = threading.Thread(target=read)
    reader.start()
    for observation in (
        idle(ready=0, desired=0),
        idle(ready=0, desired=0, activation_rps=5.0),
        busy(ready=1, queue_ms=10.0, rps=5.0),
        busy(ready=1, queue_ms=10.0, rps=5.0),
        idle(ready=1),
        idle(ready=0, desired=0),
        idle(ready=0, desired=0, activation_rps=5.0),
    ):
        harness.clock.advance(400)
        harness.observer.observation = observation
        harness.refresh()
        threading.Event().wait(0.05)
    threading.Event().wait(0.3)
    stream.cancel()
    reader.join(5)
    assert got == [True, True]


def test_stream_metric_spec_sends_spec_at_once(harness: Harness) -> None:
    stream = harness.stub.StreamMetricSpec(harness.ref(), timeout=10)
    first = next(stream)
    assert first == harness.stub.GetMetricSpec(harness.ref(), timeout=5)
    stream.cancel()


@pytest.mark.parametrize(
    ("meta", "key"),
    [
        ({"unknownKey": "1"}, "unknownKey"),
        ({"maxReplicas": "many"}, "maxReplicas"),
        ({"maxReplicas": "0"}, "maxReplicas"),
        ({"targetMs": "-5"}, "target"),
        ({"release": 'x"} or vector(1000) #'}, "release"),
        ({"model": "a{b}"}, "model"),
        ({"namespace": "cms\\"}, "namespace"),
        ({"policy": "nonexistent"}, "policy"),
    ],
)
def test_bad_metadata_is_invalid_argument_naming_the_key(
    harness: Harness, meta: dict[str, str], key: str
) -> None:
    calls = harness.observer.calls
    for call in (
        lambda: harness.stub.GetMetricSpec(harness.ref(**meta), timeout=5),
        lambda: harness.stub.IsActive(harness.ref(**meta), timeout=5),
        lambda: harness.stub.GetMetrics(
            pb.GetMetricsRequest(scaledObjectRef=harness.ref(**meta)), timeout=5
        ),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert key in (err.value.details() or "")
    assert harness.observer.calls == calls


def test_metrics_outage_holds_then_fails_for_keda_fallback(harness: Harness) -> None:
    req = pb.GetMetricsRequest(scaledObjectRef=harness.ref())
    before = harness.stub.GetMetrics(req, timeout=5).metricValues[0].metricValueFloat
    harness.observer.error = "connection refused"
    for _ in range(3):
        harness.clock.advance(30)
        harness.refresh()
        held = harness.stub.GetMetrics(req, timeout=5).metricValues[0].metricValueFloat
        assert held == before
    harness.clock.advance(60)
    harness.refresh()
    with pytest.raises(grpc.RpcError) as err:
        harness.stub.GetMetrics(req, timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "connection refused" in (err.value.details() or "")
    harness.observer.error = None
    harness.clock.advance(5)
    harness.refresh()
    assert harness.stub.GetMetrics(req, timeout=5).metricValues[0].metricValueFloat > 0


def test_health_service_reports_serving(harness: Harness) -> None:
    stub = health_pb2_grpc.HealthStub(harness.channel)
    for service in ("", "externalscaler.ExternalScaler"):
        resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_own_metrics_count_decisions(harness: Harness) -> None:
    harness.stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=harness.ref()), timeout=5)
    text = _scrape(harness.server)
    assert (
        'sonic_scaler_desired_replicas{policy="threshold",scaledobject="triton",scaledobject_namespace="cms"'
        in text
    )
    assert "sonic_scaler_decisions_total" in text
    assert 'sonic_scaler_rpc_seconds_count{method="GetMetrics"}' in text


def _scrape(server: RunningServer) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics") as r:
        return str(r.read().decode())


def test_restarted_scaler_does_not_dip(harness: Harness) -> None:
    """A second replica (or a restart) rebuilds the stabilisation window from history."""
    observer = ScriptedObserver(busy(ready=4, queue_ms=10.0))
    clock = ManualClock(harness.clock.now_s)
    observer.past = [
        Observation(
            time_s=clock.now_s - 50 + i * 5,
            ready_replicas=4,
            request_rate_rps=400,
            queue_time_per_request_ms=100.0,
        )
        for i in range(10)
    ]
    fresh = _start(observer, clock)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{fresh.port}") as ch:
            stub = pb_grpc.ExternalScalerStub(ch)
            resp = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=harness.ref()), timeout=5)
            assert resp.metricValues[0].metricValueFloat == pytest.approx(8.0)
    finally:
        fresh.stop(0)


def _make_certs(tmp: Path) -> dict[str, Path]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        (tmp / f"{name}.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-out", f"{name}.pem",
            "-extfile", f"{name}.ext")  # fmt: skip
    return {p.stem + p.suffix: p for p in tmp.iterdir()}


def test_tls_and_mtls(tmp_path: Path) -> None:
    certs = _make_certs(tmp_path)
    observer = ScriptedObserver(busy(ready=1, queue_ms=50.0))
    clock = ManualClock()
    ca = certs["ca.pem"].read_bytes()
    ref = pb.ScaledObjectRef(name="t", namespace="cms", scalerMetadata=META)

    tls = _start(
        observer,
        clock,
        tls_cert_file=certs["server.pem"],
        tls_key_file=certs["server.key"],
    )
    try:
        creds = grpc.ssl_channel_credentials(root_certificates=ca)
        with grpc.secure_channel(f"localhost:{tls.port}", creds) as ch:
            assert pb_grpc.ExternalScalerStub(ch).IsActive(ref, timeout=5).result is True
        with grpc.insecure_channel(f"127.0.0.1:{tls.port}") as ch, pytest.raises(grpc.RpcError):
            pb_grpc.ExternalScalerStub(ch).IsActive(ref, timeout=2)
    finally:
        tls.stop(0)

    mtls = _start(
        observer,
        clock,
        tls_cert_file=certs["server.pem"],
        tls_key_file=certs["server.key"],
        tls_client_ca_file=certs["ca.pem"],
    )
    try:
        client = grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=certs["client.key"].read_bytes(),
            certificate_chain=certs["client.pem"].read_bytes(),
        )
        with grpc.secure_channel(f"localhost:{mtls.port}", client) as ch:
            assert pb_grpc.ExternalScalerStub(ch).IsActive(ref, timeout=5).result is True
        anonymous = grpc.ssl_channel_credentials(root_certificates=ca)
        with (
            grpc.secure_channel(f"localhost:{mtls.port}", anonymous) as ch,
            pytest.raises(grpc.RpcError),
        ):
            pb_grpc.ExternalScalerStub(ch).IsActive(ref, timeout=2)
    finally:
        mtls.stop(0)


@pytest.mark.parametrize(
    "fault",
    ["error", "nan", "stale"],
)
def test_cold_start_during_an_outage_answers_unavailable_never_zero(fault: str) -> None:
    """A new or restarted scaler with no last good decision has nothing to hold: it
    answers UNAVAILABLE (the HPA keeps its count, KEDA's fallback applies), not 0."""
    observer = ScriptedObserver(busy(ready=0, queue_ms=0.0))
    if fault == "error":
        observer.error = "connection refused"
    elif fault == "nan":
        observer.observation = busy(ready=3, queue_ms=float("nan"))
    observer_clock = ManualClock()
    server = _start(observer, observer_clock)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            stub = pb_grpc.ExternalScalerStub(ch)
            ref = pb.ScaledObjectRef(name="t", namespace="cms", scalerMetadata=META)
            if fault == "stale":
                # An observation whose samples are far older than staleAfterSeconds.
                observer.observation = Observation(time_s=0.0, ready_replicas=0)
                ref = pb.ScaledObjectRef(
                    name="t", namespace="cms", scalerMetadata={**META, "staleAfterSeconds": "5"}
                )
                server.tracker._observer = _Stale(observer)  # type: ignore[attr-defined]
            if fault == "nan":
                resp = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=5)
                assert resp.metricValues[0].metricValueFloat == 3.0  # the count it sees
                return
            for call in (
                lambda: stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=5),
                lambda: stub.IsActive(ref, timeout=5),
            ):
                with pytest.raises(grpc.RpcError) as err:
                    call()
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "cold start" in (err.value.details() or "")
    finally:
        server.stop(0)


class _Stale:
    """Observations stamped a day before the clock."""

    def __init__(self, inner: ScriptedObserver) -> None:
        self.inner = inner

    def observe(self, config: object, now_s: float) -> Observation:
        from dataclasses import replace

        return replace(self.inner.observe(config, now_s), time_s=now_s - 86_400)  # type: ignore[arg-type]

    def history(self, *args: object) -> list[Observation]:
        return []


def test_a_huge_value_is_invalid_argument_with_a_short_message(harness: Harness) -> None:
    """A 10 KB value used to trip gRPC's 8 KB metadata limit (RESOURCE_EXHAUSTED)."""
    for meta in ({"target": "x" * 10_000}, {"unknownKey": "v" * 10_000}):
        with pytest.raises(grpc.RpcError) as err:
            harness.stub.IsActive(harness.ref(**meta), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(err.value.details() or "") < 1024


def test_refused_metadata_is_not_kept_and_the_parse_cache_is_bounded(harness: Harness) -> None:
    big = {f"k{i}FromEnv": "c" * 15_000 for i in range(5)}
    with pytest.raises(grpc.RpcError) as err:
        harness.stub.IsActive(harness.ref(**big), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "SCALER_MAX_METADATA_BYTES" in (err.value.details() or "")
    tracker = harness.server.tracker
    assert all(
        sum(len(v) for v in raw.values()) < 10_000
        for raw in tracker._raw.values()  # type: ignore[attr-defined]
    )
    accepted = {"caCert": "c" * 15_000}
    harness.stub.IsActive(harness.ref(**accepted), timeout=5)
    kept = tracker.get("cms/triton")
    assert kept is not None and kept.metadata["caCert"] == "<redacted>"
    assert all(len(k) == 16 for k in tracker._parsed)  # type: ignore[attr-defined]


def test_credentials_in_the_prometheus_url_never_reach_the_client(harness: Harness) -> None:
    harness.observer.error = "cannot reach http://admin:s3cret@prom:9090: refused"
    harness.refresh()
    harness.clock.advance(600)
    harness.refresh()
    with pytest.raises(grpc.RpcError) as err:
        harness.stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=harness.ref()), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "s3cret" not in (err.value.details() or "")
    assert "http://prom:9090" in (err.value.details() or "")


def test_open_streams_never_starve_health_or_get_metrics() -> None:
    """KEDA's external-push holds one stream per ScaledObject; with hundreds open the
    health check and GetMetrics still answer at once (streams hold no thread)."""
    observer = ScriptedObserver(busy(ready=2, queue_ms=100.0))
    server = _start(observer, ManualClock(), max_streams=400, unary_workers=2)
    calls = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            stub = pb_grpc.ExternalScalerStub(ch)
            health = health_pb2_grpc.HealthStub(ch)
            for i in range(300):
                ref = pb.ScaledObjectRef(name=f"s{i % 20}", namespace="cms", scalerMetadata=META)
                method = stub.StreamIsActive if i % 2 else stub.StreamMetricSpec
                calls.append(method(ref, timeout=60))
            for call in calls[:4]:
                next(iter(call))  # streams are open and answering
            ref = pb.ScaledObjectRef(name="canary", namespace="cms", scalerMetadata=META)
            for _ in range(20):
                check = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                assert check.status == health_pb2.HealthCheckResponse.SERVING
                resp = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=3)
                assert resp.metricValues[0].metricValueFloat > 0
            deadline = time.monotonic() + 10
            while server.service.open_streams < 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.service.open_streams == 300
    finally:
        for call in calls:
            call.cancel()
        server.stop(0)


def test_streams_beyond_the_limit_are_resource_exhausted() -> None:
    server = _start(ScriptedObserver(busy(ready=2, queue_ms=100.0)), ManualClock(), max_streams=3)
    calls = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            stub = pb_grpc.ExternalScalerStub(ch)
            ref = pb.ScaledObjectRef(name="t", namespace="cms", scalerMetadata=META)
            for _ in range(3):
                calls.append(stub.StreamMetricSpec(ref, timeout=30))
                next(iter(calls[-1]))
            with pytest.raises(grpc.RpcError) as err:
                next(iter(stub.StreamMetricSpec(ref, timeout=30)))
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "SCALER_MAX_STREAMS" in (err.value.details() or "")
            assert stub.IsActive(ref, timeout=5).result is True
    finally:
        for call in calls:
            call.cancel()
        server.stop(0)


def test_the_periodic_sweep_of_open_streams_lets_calls_in_between_batches() -> None:
    """Every 30 s each open stream takes a full look at its object; waking 1,000 at
    once held the event loop (and every call waiting on it) for 100 ms or more."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from scaler.grpc_service import SWEEP_BATCH, ExternalScalerService

    tracker = ObjectTracker(ScriptedObserver(busy(ready=2, queue_ms=100.0)), build_metrics())
    with ThreadPoolExecutor(1) as pool:
        service = ExternalScalerService(tracker, build_metrics(), parse_pool=pool)

        async def scenario() -> list[int]:
            streams = [service._watch(f"cms/s{i}") for i in range(4 * SWEEP_BATCH)]
            seen: list[int] = []

            async def another_call() -> None:
                for _ in range(8):
                    await asyncio.sleep(0)
                    seen.append(sum(ev.is_set() for ev in streams))

            call = asyncio.create_task(another_call())
            await service._wake_all_spread()
            await call
            assert all(ev.is_set() for ev in streams)
            return seen

        seen = asyncio.run(scenario())
    assert seen[0] <= SWEEP_BATCH
    tracker.stop()


class _Context:
    """What the service uses of a call's context, for calling a handler directly."""

    code: grpc.StatusCode | None = None

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        pass

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"


def test_rejected_calls_leave_no_cyclic_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13's churn answers a hundred calls a second with an error status; each
    left a cycle (the caught exception's traceback holding the handler's frame holding
    the exception), so the collector ran ever more often, pausing every call."""
    import asyncio
    import gc
    from concurrent.futures import ThreadPoolExecutor

    from scaler.grpc_service import ExternalScalerService
    from scaler.metadata import parse_metadata

    tracker = ObjectTracker(
        ScriptedObserver(busy(ready=2, queue_ms=100.0)), build_metrics(), max_objects=1
    )
    tracker.track(parse_metadata("live", "cms", META))  # the table is full of live objects

    def request(name: str, **meta: str) -> pb.GetMetricsRequest:
        ref = pb.ScaledObjectRef(name=name, namespace="cms", scalerMetadata={**META, **meta})
        return pb.GetMetricsRequest(scaledObjectRef=ref)

    monkeypatch.setattr("scaler.grpc_service.REFUSAL_DELAY_S", 0.0)  # 110 refusals in a row
    too_big = request("big", policy="x" * 100_000)  # INVALID_ARGUMENT
    refused = request("new")  # RESOURCE_EXHAUSTED
    with ThreadPoolExecutor(1) as pool:
        service = ExternalScalerService(tracker, build_metrics(), parse_pool=pool)
        context: Any = _Context()

        async def calls(n: int) -> None:
            for _ in range(n):
                await service.GetMetrics(too_big, context)
                await service.GetMetrics(refused, context)

        async def garbage() -> int:
            await calls(10)
            gc.collect()
            gc.disable()
            try:
                await calls(100)
                return gc.collect()
            finally:
                gc.enable()

        found = asyncio.run(garbage())
    tracker.stop()
    assert context.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert found < 50  # was 6 or more objects per call: 1,200


def test_a_client_looping_on_refusals_at_the_object_limit_is_slowed_down() -> None:
    """Issue 13's churn: once the table is full, clients registering objects in a loop
    were refused at once, hundreds of times a second, and the tracked objects' answers
    queued behind them. Beyond a second's worth of prompt refusals, a refusal at the
    object limit waits before it is answered; the first ones (the KEDA operator
    reconciling an over-limit object) are answered at once."""
    from scaler.grpc_service import PROMPT_REFUSALS_PER_S, REFUSAL_DELAY_S

    observer = ScriptedObserver(busy(ready=2, queue_ms=100.0))
    metrics = build_metrics()
    tracker = ObjectTracker(observer, metrics, clock=ManualClock(), max_objects=1)
    cfg = ServerSettings(grpc_listen="127.0.0.1:0", metrics_listen="")
    server = start_server(cfg, observer, metrics=metrics, tracker=tracker)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            stub = pb_grpc.ExternalScalerStub(ch)
            live = pb.ScaledObjectRef(name="live", namespace="cms", scalerMetadata=META)
            stub.GetMetricSpec(live, timeout=5)
            new = pb.ScaledObjectRef(name="new", namespace="cms", scalerMetadata=META)
            waits = []
            for _ in range(int(PROMPT_REFUSALS_PER_S) + 3):
                started = time.monotonic()
                with pytest.raises(grpc.RpcError) as refused:
                    stub.GetMetricSpec(new, timeout=5)
                waits.append(time.monotonic() - started)
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "SCALER_MAX_OBJECTS" in (refused.value.details() or "")
            assert max(waits) >= REFUSAL_DELAY_S, "a client looping on refusals is not slowed"
            assert sum(w >= REFUSAL_DELAY_S for w in waits) < len(waits) / 2, (
                "refusals outside a storm wait too"
            )
    finally:
        server.stop(0)
    # The deliberate wait is counted apart, not as time to answer: rpc_seconds read
    # several slow seconds in a storm where every refusal was answered in microseconds.
    sample = metrics.registry.get_sample_value
    answering = sample("sonic_scaler_rpc_seconds_sum", {"method": "GetMetricSpec"})
    assert answering is not None and answering < REFUSAL_DELAY_S, (
        f"{answering:.2f} s of rpc_seconds for {len(waits) + 1} calls: the refusal wait counted"
    )
    delayed = sum(w >= REFUSAL_DELAY_S for w in waits)
    assert sample("sonic_scaler_rpc_refusals_delayed_total", {"method": "GetMetricSpec"}) == (
        delayed
    )
