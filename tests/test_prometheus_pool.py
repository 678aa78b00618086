"""Per-trigger Prometheus: each trigger reads the Prometheus it names, with its own
credentials, only among the URLs the server allows; clients are pooled and bounded."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest

from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.metadata import MetadataError, parse_metadata
from scaler.own_metrics import build_metrics
from scaler.prometheus_pool import MAX_CLIENTS, PrometheusPool
from scaler.prometheus_urls import PrometheusTarget
from scaler.server import start_server
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker
from tests.http_stub import LoopbackHTTP, QuietHandler


class CountingPrometheus(LoopbackHTTP):
    """Answers every instant query with one sample ``value``; records the Authorization
    header of each request."""

    def __init__(self, value: float) -> None:
        fake = self
        self.auth: list[str | None] = []
        body = json.dumps(
            {
                "status": "success",
                "data": {
                    "resultType": "vector",
                    "result": [{"metric": {}, "value": [0, str(value)]}],
                },
            }
        ).encode()

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                fake.auth.append(self.headers.get("Authorization"))
                self.reply(200, body, "application/json")

        super().__init__(Handler)


@pytest.fixture
def two() -> Iterator[tuple[CountingPrometheus, CountingPrometheus]]:
    a, b = CountingPrometheus(2), CountingPrometheus(5)
    yield a, b
    a.close()
    b.close()


def settings(default: str, *allowed: str) -> ServerSettings:
    return ServerSettings(
        prometheus_url=default,
        prometheus_allowed_urls=",".join(allowed),
        prometheus_bearer_token="server-token",  # type: ignore[arg-type]
    )


def test_each_trigger_reads_its_own_prometheus_with_its_own_credentials(
    two: tuple[CountingPrometheus, CountingPrometheus],
) -> None:
    a, b = two
    pool = PrometheusPool(settings(a.url, b.url), build_metrics())
    on_a = parse_metadata("so", "r1", {"target": "50"})
    on_b = parse_metadata(
        "so", "r2", {"target": "50", "serverAddress": b.url + "/", "bearerTokenFromEnv": "r2-token"}
    )
    for cfg in (on_a, on_b):
        pool.check(cfg)
    assert pool.observe(on_a, 0.0).ready_replicas == 2
    assert pool.observe(on_b, 0.0).ready_replicas == 5
    assert set(a.auth) == {"Bearer server-token"}
    assert set(b.auth) == {"Bearer r2-token"}
    pool.close()


def test_the_servers_credentials_never_go_to_another_url(
    two: tuple[CountingPrometheus, CountingPrometheus],
) -> None:
    a, b = two
    pool = PrometheusPool(settings(a.url, b.url), build_metrics())
    pool.observe(parse_metadata("so", "r2", {"target": "50", "serverAddress": b.url}), 0.0)
    assert b.auth and set(b.auth) == {None}
    pool.close()


def test_a_url_the_server_does_not_allow_is_invalid_argument_naming_server_address(
    two: tuple[CountingPrometheus, CountingPrometheus],
) -> None:
    a, b = two
    pool = PrometheusPool(settings(a.url), build_metrics())
    with pytest.raises(MetadataError, match=r"'serverAddress'.*SCALER_PROMETHEUS_ALLOWED_URLS"):
        pool.check(parse_metadata("so", "x", {"serverAddress": b.url}))
    metrics = build_metrics()
    tracker = ObjectTracker(pool, metrics, refresh_interval_s=3600, validate=pool.check)
    server = start_server(
        ServerSettings(grpc_listen="127.0.0.1:0", metrics_listen=""),
        pool,
        metrics=metrics,
        tracker=tracker,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.ExternalScalerStub(channel)
            ref = pb.ScaledObjectRef(
                name="so", namespace="x", scalerMetadata={"target": "50", "serverAddress": b.url}
            )
            with pytest.raises(grpc.RpcError) as err:
                stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "serverAddress" in (err.value.details() or "")
    finally:
        server.stop(0)
    assert b.auth == []


def test_the_pool_is_bounded_and_keeps_one_client_per_url_and_credentials() -> None:
    made: list[tuple[str | None, str | None]] = []

    def factory(s: ServerSettings, m: object, url: str | None, auth: str | None) -> object:
        made.append((url, auth))
        return object()

    pool = PrometheusPool(
        settings("http://a:9090", "http://b:9090"),
        build_metrics(),
        max_clients=3,
        factory=factory,  # type: ignore[arg-type]
    )
    first = pool.client(PrometheusTarget())
    assert pool.client(PrometheusTarget(url="http://a:9090")) is first
    for i in range(10):
        pool.client(PrometheusTarget(url="http://b:9090", authorization=f"Bearer {i}"))
    assert len(pool) == 3
    assert len(made) == 11
    with pytest.raises(ValueError, match="max_clients"):
        PrometheusPool(settings("http://a:9090"), build_metrics(), max_clients=MAX_CLIENTS + 1)


def test_a_malformed_allow_list_stops_the_server_with_the_setting_named() -> None:
    with pytest.raises(ValueError, match="SCALER_PROMETHEUS_ALLOWED_URLS"):
        PrometheusPool(settings("http://a:9090", "ftp://b"), build_metrics())
