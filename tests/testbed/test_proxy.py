"""The Envoy-like proxy against local KServe-v2 stand-ins: least-request spread,
503 "no healthy upstream" at once while no replica is ready (as SuperSONIC's Envoy
answers), Envoy's counters under Envoy's names, and draining."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from scaler.selector import parse_selector
from scaler.testbed.proxy import ACTIVATION_METRIC, NO_HEALTHY_UPSTREAM, Proxy
from tests.http_stub import LoopbackHTTP, QuietHandler

BODY = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [0.5]}]}


class Backend(LoopbackHTTP):
    """Answers every POST after ``delay_s`` and counts what it served."""

    def __init__(self, delay_s: float = 0.0) -> None:
        backend = self
        self.delay_s = delay_s
        self.served = 0
        self._lock = threading.Lock()

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(backend.delay_s)
                with backend._lock:
                    backend.served += 1
                self.reply(200, b'{"outputs": []}')

        super().__init__(Handler)


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    with Proxy() as p:
        yield p


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    made = [Backend(delay_s=0.05), Backend(delay_s=0.05)]
    yield made
    for b in made:
        b.close()


def infer(url: str) -> int:
    return requests.post(f"{url}/v2/models/model/infer", json=BODY, timeout=30).status_code


def scrape(proxy: Proxy) -> dict[str, float]:
    """``name{labels}`` → value from the proxy's /metrics (text format)."""
    resp = requests.get(f"{proxy.url}/metrics", timeout=5)
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out: dict[str, float] = {}
    for line in resp.text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


NONE_HEALTHY = 'envoy_cluster_upstream_cx_none_healthy{envoy_cluster_name="triton_grpc_service"}'
UPSTREAM = 'envoy_cluster_upstream_rq_total{envoy_cluster_name="triton_grpc_service"}'
DOWNSTREAM = 'envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress_grpc"}'


def test_requests_spread_over_ready_replicas_by_least_request(
    proxy: Proxy, backends: list[Backend]
) -> None:
    for b in backends:
        proxy.add(b.url)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: infer(proxy.url), range(40)))
    assert statuses == [200] * 40
    assert all(b.served >= 10 for b in backends)


def test_with_no_ready_replica_it_answers_503_no_healthy_upstream_at_once(
    proxy: Proxy, backends: list[Backend]
) -> None:
    started = time.monotonic()
    resp = requests.post(f"{proxy.url}/v2/models/model/infer", json=BODY, timeout=30)
    assert resp.status_code == 503
    assert resp.content == NO_HEALTHY_UPSTREAM
    assert time.monotonic() - started < 2.0, "Envoy does not hold requests at zero endpoints"
    proxy.add(backends[0].url)
    assert infer(proxy.url) == 200


def test_envoys_counters_under_envoys_names_from_zero(
    proxy: Proxy, backends: list[Backend]
) -> None:
    assert scrape(proxy) == {
        DOWNSTREAM: 0,
        UPSTREAM: 0,
        NONE_HEALTHY: 0,
        'envoy_cluster_upstream_rq_active{envoy_cluster_name="triton_grpc_service"}': 0,
    }
    assert infer(proxy.url) == 503
    assert infer(proxy.url) == 503
    metrics = scrape(proxy)
    assert (metrics[DOWNSTREAM], metrics[UPSTREAM], metrics[NONE_HEALTHY]) == (2, 0, 2)
    proxy.add(backends[0].url)
    assert infer(proxy.url) == 200
    metrics = scrape(proxy)
    assert (metrics[DOWNSTREAM], metrics[UPSTREAM], metrics[NONE_HEALTHY]) == (3, 1, 2)


def test_the_activation_metric_selects_the_none_healthy_counter() -> None:
    sel = parse_selector(ACTIVATION_METRIC)
    assert sel.text() == NONE_HEALTHY


def test_a_removed_replica_gets_no_new_requests_and_drains_those_in_flight(
    proxy: Proxy,
) -> None:
    slow = Backend(delay_s=0.5)
    fast = Backend()
    try:
        proxy.add(slow.url)
        with ThreadPoolExecutor(2) as pool:
            in_flight = pool.submit(infer, proxy.url)
            time.sleep(0.2)
            assert proxy.in_flight(slow.url) == 1
            proxy.remove(slow.url)
            proxy.add(fast.url)
            assert infer(proxy.url) == 200
            assert proxy.wait_drained(slow.url, timeout_s=5)
            assert in_flight.result() == 200
        assert slow.served == 1
        assert fast.served == 1
    finally:
        slow.close()
        fast.close()
