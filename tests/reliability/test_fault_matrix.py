"""Fault matrix: every Prometheus fault mode, on a warm scaler and on a scaler
(re)started during the fault, over real gRPC against a fake Prometheus.

Asserts what KEDA depends on: no UNKNOWN status and no traceback in any mode; a
warm scaler never reports less than its last good decision; a cold one never
reports 0 (it answers UNAVAILABLE, or the replica count it can actually see);
and it recovers once Prometheus does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from prometheus_client import generate_latest

from policies import Status
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.own_metrics import build_metrics
from scaler.prometheus_observer import PrometheusObserver
from scaler.server import RunningServer
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker
from tests.fake_prometheus import FAULTS, FakePrometheus
from tests.scaler_server import start_prometheus_scaler

META = {
    "policy": "threshold",
    "signal": "queue_time_per_request_ms",
    "target": "50",
    "maxReplicas": "10",
    "scaleDownStabilizationSeconds": "60",
    "staleAfterSeconds": "5",
    "failAfterSeconds": "300",
}
GOOD = 6.0  # 3 ready × 100 ms / 50 ms
HEALTHY = ("ok", "slow")
"""Modes whose answers are good (``slow``: within the timeout): decided, not held."""
CAUSES = {
    "empty": "metrics missing",
    "nan": "value nan is not a count",
    "inf": "value inf is not a count",
    "absurd": "not finite",
    "absurd_ready": "is not a count",
    "negative_ready": "value -2.0 is not a count",
    "stale": "stale",
    "several": "2 series where one was expected",
    "http_500": "HTTP 500",
    "http_503_html": "HTTP 503",
    "status_error": "HTTP 400",
    "malformed_json": "not Prometheus JSON",
    "wrong_shape": "not a list",
    "bad_sample": "bad sample",
    "hang": "no answer within 1 s",
    "refused": "cannot reach http://127.0.0.1",
    "http_401": "HTTP 401",
    "http_403": "HTTP 403",
    "http_429": "HTTP 429",
    "partial": "query queue_time_per_request_ms `",
}
"""What the held decision's reason says for each fault: its cause, named."""


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    with FakePrometheus(hang_s=3.0) as fake:
        yield fake


@contextmanager
def serving(prom: FakePrometheus) -> Iterator[RunningServer]:
    """A scaler reading ``prom``; on the way out Prometheus is healed and the server stopped."""
    server = start_prometheus_scaler(
        prom.url, dedup_window_s=0, prometheus_timeout_s=1.0, refresh_interval_s=300
    )
    try:
        yield server
    finally:
        prom.set_fault("ok")
        server.stop(0)


Answer = float | grpc.StatusCode


def ask(server: RunningServer) -> tuple[Answer, Answer]:
    """(GetMetrics value or error code, IsActive result or error code)."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        stub = pb_grpc.ExternalScalerStub(ch)
        ref = pb.ScaledObjectRef(name="triton", namespace="cms", scalerMetadata=META)
        out: list[Answer] = []
        for call in (
            lambda: (
                stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=10)
                .metricValues[0]
                .metricValueFloat
            ),
            lambda: float(stub.IsActive(ref, timeout=10).result),
        ):
            try:
                out.append(call())
            except grpc.RpcError as exc:
                out.append(exc.code())
        return out[0], out[1]


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    crashed = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not crashed, f"tracebacks logged: {crashed}"


@pytest.mark.parametrize("fault", FAULTS)
def test_warm_scaler_holds_its_last_good_decision_through_the_fault(
    fault: str, prom: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(prom) as server:
        assert ask(server) == (GOOD, 1.0)
        prom.set_fault(fault)
        started = time.monotonic()
        server.tracker.refresh_all()
        # A 429's Retry-After (30 s) is not slept on inside a refresh.
        assert time.monotonic() - started < prom.retry_after_s
        value, active = ask(server)
        for answer in (value, active):
            assert answer != grpc.StatusCode.UNKNOWN
        if fault in HEALTHY:
            assert (value, active) == (GOOD, 1.0)
            obj = server.tracker.get("cms/triton")
            assert obj is not None and obj.decision is not None
            assert obj.decision.status is Status.OK, obj.decision.reason
        else:
            assert value == GOOD, f"{fault}: held value {value}, last good {GOOD}"
            assert active == 1.0
            obj = server.tracker.get("cms/triton")
            assert obj is not None and obj.decision is not None
            assert obj.decision.status is Status.HOLD, obj.decision.reason
            assert CAUSES[fault] in obj.decision.reason, (fault, obj.decision.reason)
        prom.set_fault("ok")
        server.tracker.refresh_all()
        assert ask(server) == (GOOD, 1.0)
    no_tracebacks(caplog)


@pytest.mark.parametrize("fault", FAULTS)
def test_scaler_restarted_during_the_fault_never_reports_zero(
    fault: str, prom: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    prom.set_fault(fault)
    with serving(prom) as server:
        value, active = ask(server)
        for answer in (value, active):
            assert answer != grpc.StatusCode.UNKNOWN
            assert answer != 0.0, f"{fault}: a cold start reported 0"
        if fault not in HEALTHY:
            assert value == grpc.StatusCode.UNAVAILABLE or value == 3.0, (fault, value)
            obj = server.tracker.get("cms/triton")
            assert obj is not None and obj.decision is not None
            cause = "no series" if fault == "empty" else CAUSES[fault]
            assert cause in obj.decision.reason, (fault, obj.decision.reason)
        prom.set_fault("ok")
        server.tracker.refresh_all()
        assert ask(server) == (GOOD, 1.0)
    no_tracebacks(caplog)


def test_samples_are_dated_by_prometheus_not_by_the_scaler(prom: FakePrometheus) -> None:
    settings = ServerSettings(prometheus_url=prom.url, prometheus_timeout_s=1.0)
    observer = PrometheusObserver(settings, build_metrics(), dedup_window_s=0)
    from scaler.metadata import parse_metadata

    cfg = parse_metadata("triton", "cms", META)
    now = time.time()
    prom.set_fault("stale")
    assert observer.observe(cfg, now).time_s == pytest.approx(now - 86_400, abs=5)
    prom.set_fault("ok")
    assert observer.observe(cfg, now).time_s == pytest.approx(now, abs=5)


def test_no_series_is_a_distinct_status_a_metric_and_never_fresh(
    prom: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    from scaler.dashboard.views import health

    prom.set_fault("empty")
    with serving(prom) as server:
        value, _ = ask(server)
        assert value == grpc.StatusCode.UNAVAILABLE  # cold: an idle fleet or a wrong label?
        obj = server.tracker.get("cms/triton")
        assert obj is not None and obj.decision is not None
        assert "no series" in obj.decision.reason
        text = generate_latest(server.metrics.registry).decode()
        line = next(x for x in text.splitlines() if x.startswith("sonic_scaler_no_series{"))
        assert 'scaledobject="triton"' in line and line.endswith(" 1.0")
        assert health(obj, time.time(), 5.0) == "no-series"
    no_tracebacks(caplog)


def test_no_series_after_resting_at_zero_reads_no_series_not_ok(prom: FakePrometheus) -> None:
    from scaler.metadata import parse_metadata

    settings = ServerSettings(prometheus_url=prom.url, prometheus_timeout_s=1.0)
    metrics = build_metrics()
    observer = PrometheusObserver(settings, metrics, dedup_window_s=0)
    tracker = ObjectTracker(observer, metrics)
    obj = tracker.track(parse_metadata("triton", "cms", META))
    obj.ready.wait(10)
    prom.set_fault("empty")
    # An idle fleet at zero: the last good decision is 0, then every series vanishes.
    from dataclasses import replace

    assert obj.state.last_good is not None
    obj.state = replace(obj.state, last_good=replace(obj.state.last_good, value=0.0), window=())
    d = tracker.refresh_one(obj)
    assert d.status is Status.NO_SERIES
    assert d.value == 0.0
    assert "no series" in d.reason
    tracker.stop()


def test_the_readme_states_how_many_fault_modes_the_matrix_runs() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"fault matrix ({len(FAULTS) - 1} Prometheus fault modes" in readme
    assert set(CAUSES) == set(FAULTS) - set(HEALTHY)
