"""Secrets never shown (issue 13 finding 9), through the real error paths: the
production observer failing against a fake Prometheus whose URL carries credentials,
and trigger metadata carrying KEDA's TLS material and ``*FromEnv`` values, refused or
accepted while Prometheus fails. Every log record (any logger, DEBUG up, with its
traceback), every gRPC error's details, the tracked object and the dashboard API's
view of it are searched for the secret values."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import grpc
import pytest

from scaler.dashboard.views import record, summary
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.limits import MAX_MESSAGE_CHARS
from scaler.own_metrics import build_metrics
from scaler.prometheus_pool import PrometheusPool
from scaler.server import RunningServer
from scaler.tracker import ObjectTracker
from tests.fake_prometheus import FakePrometheus
from tests.scaler_server import scaler_settings, start_prometheus_scaler, start_scaler

META = {
    "policy": "threshold",
    "signal": "queue_time_per_request_ms",
    "target": "50",
    "maxReplicas": "10",
    "scaleDownStabilizationSeconds": "60",
}
PASSWORD = "pa55w0rdXYZ"
USER = "scaleruser"
SECRET_META = {
    "tlsClientKey": "-----BEGIN PRIVATE KEY-----KEYSECRET1",
    "tlsClientCert": "-----BEGIN CERTIFICATE-----CERTSECRET2",
    "caCert": "-----BEGIN CERTIFICATE-----CASECRET3",
    "bearerTokenFromEnv": "TOKENSECRET4",
}
SECRETS = ("KEYSECRET1", "CERTSECRET2", "CASECRET3", "TOKENSECRET4")


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    with FakePrometheus(hang_s=1.0) as fake:
        yield fake


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as it would be written: message, arguments and traceback."""
    out = []
    for r in caplog.records:
        out.append(r.getMessage())
        if r.exc_info:
            out.append(logging.Formatter().formatException(r.exc_info))
    return "\n".join(out)


def details(server: RunningServer, meta: dict[str, str]) -> list[tuple[grpc.StatusCode, str]]:
    """(code, details) of each failing RPC for ``meta``."""
    out = []
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        stub = pb_grpc.ExternalScalerStub(ch)
        ref = pb.ScaledObjectRef(name="triton", namespace="cms", scalerMetadata=meta)
        for call in (
            lambda: stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=10),
            lambda: stub.IsActive(ref, timeout=10),
            lambda: stub.GetMetricSpec(ref, timeout=10),
        ):
            try:
                call()
            except grpc.RpcError as exc:
                out.append((exc.code(), exc.details() or ""))
    return out


def api_view(server: RunningServer) -> str:
    obj = server.tracker.get("cms/triton")
    assert obj is not None
    view = summary(obj, time.time(), server.tracker.refresh_interval_s, {})
    return json.dumps([view, obj.error, [record(d) for d in obj.log], dict(obj.metadata)])


@pytest.mark.parametrize("fault", ["http_500", "refused", "hang"])
def test_prometheus_url_credentials_never_reach_a_log_an_error_or_the_api(
    fault: str, prom: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{prom.port}"
    prom.set_fault(fault)
    server = start_prometheus_scaler(
        url, dedup_window_s=0, prometheus_timeout_s=0.3, refresh_interval_s=300
    )
    try:
        failed = details(server, META)  # a cold start: the first decision fails
        server.tracker.refresh_all()  # and a refresh after it
        failed += details(server, META)
        shown = api_view(server)
    finally:
        prom.set_fault("ok")
        server.stop(0)
    codes = {code for code, _ in failed}
    assert codes == {grpc.StatusCode.UNAVAILABLE}, failed
    texts = [text for _, text in failed]
    assert any("Prometheus" in t for t in texts), texts  # the cause is named
    for text in (*texts, shown, logged(caplog)):
        assert PASSWORD not in text and f"{USER}:" not in text
    for text in texts:
        # clean_message's guarantee (PromQL used to make these 325-543 characters).
        assert len(text) <= MAX_MESSAGE_CHARS, text
    assert "refresh_failed" in logged(caplog)  # the failure was logged, without them


@pytest.mark.parametrize(
    "bad",
    [
        {"target": "-5"},
        {"unknownKey": "1"},
        {"maxReplicas": "x"},
        {"targetFromEnv": "FROMENVSECRET5"},  # the offending value itself came from a secret
        {"maxReplicasFromEnv": "9" * 100},  # quoted cut, the redaction once missed it
        {"somethingFromEnv": "FROMENVSECRET5"},
    ],
)
def test_refused_metadata_never_logs_or_echoes_tls_material_or_from_env_values(
    bad: dict[str, str], prom: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = scaler_settings(prometheus_url=prom.url, prometheus_timeout_s=0.3)
    metrics = build_metrics()
    server = start_scaler(PrometheusPool(settings, metrics), settings, metrics=metrics)
    try:
        meta = {k: v for k, v in META.items() if f"{k}FromEnv" not in bad}
        failed = details(server, {**meta, **SECRET_META, **bad})
    finally:
        server.stop(0)
    assert failed and {code for code, _ in failed} == {grpc.StatusCode.INVALID_ARGUMENT}
    assert "rpc_rejected" in logged(caplog)
    for text in (*[t for _, t in failed], logged(caplog)):
        for secret in (*SECRETS, *(v[:20] for k, v in bad.items() if k.endswith("FromEnv"))):
            assert secret not in text


@pytest.mark.parametrize("fault", ["http_500", "refused", "hang"])
def test_a_failing_refresh_never_logs_tls_material_or_from_env_values(
    fault: str, prom: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = scaler_settings(prometheus_url=prom.url, prometheus_timeout_s=0.3)
    metrics = build_metrics()
    pool = PrometheusPool(settings, metrics)
    tracker = ObjectTracker(pool, metrics, refresh_interval_s=300)
    try:
        prom.set_fault(fault)  # a cold start: the pool's 1 s dedup would reuse a warm answer
        obj = tracker.track(tracker.config_for("triton", "cms", {**META, **SECRET_META}))
        assert obj.ready.wait(10)
        assert obj.error is not None
        shown = json.dumps([summary(obj, time.time(), 300, {}), dict(obj.metadata)])
    finally:
        prom.set_fault("ok")
        tracker.stop()
        pool.close()
    assert "refresh_failed" in logged(caplog)
    for text in (shown, obj.error, logged(caplog)):
        for secret in SECRETS:
            assert secret not in text
