"""The Envoy-like proxy against local KServe-v2 stand-ins: least-request spread,
requests held (not lost) while no replica is ready, the activation counter
Prometheus scrapes, and draining."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from scaler.testbed.proxy import Proxy

BODY = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [0.5]}]}


class Backend:
    """Answers every POST after ``delay_s`` and counts what it served."""

    def __init__(self, delay_s: float = 0.0) -> None:
        backend = self
        self.delay_s = delay_s
        self.served = 0
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(backend.delay_s)
                with backend._lock:
                    backend.served += 1
                out = b'{"outputs": []}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    with Proxy(hold_timeout_s=10.0) as p:
        yield p


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    made = [Backend(delay_s=0.05), Backend(delay_s=0.05)]
    yield made
    for b in made:
        b.close()


def infer(url: str) -> int:
    return requests.post(f"{url}/v2/models/model/infer", json=BODY, timeout=30).status_code


def activation_count(proxy: Proxy) -> float:
    text = requests.get(f"{proxy.url}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("envoy_cluster_upstream_rq_total "):
            return float(line.split()[1])
    raise AssertionError("envoy_cluster_upstream_rq_total missing from /metrics")


def test_requests_spread_over_ready_replicas_by_least_request(
    proxy: Proxy, backends: list[Backend]
) -> None:
    for b in backends:
        proxy.add(b.url)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: infer(proxy.url), range(40)))
    assert statuses == [200] * 40
    assert all(b.served >= 10 for b in backends)


def test_requests_are_held_while_no_replica_is_ready_then_served(
    proxy: Proxy, backends: list[Backend]
) -> None:
    with ThreadPoolExecutor(4) as pool:
        pending = [pool.submit(infer, proxy.url) for _ in range(4)]
        deadline = time.monotonic() + 5
        while proxy.held < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.held == 4
        assert not any(f.done() for f in pending)
        proxy.add(backends[0].url)
        assert [f.result() for f in pending] == [200] * 4
    assert backends[0].served == 4


def test_activation_counter_counts_requests_that_arrive_at_zero_replicas(
    backends: list[Backend],
) -> None:
    with Proxy(hold_timeout_s=0.2) as proxy:
        assert activation_count(proxy) == 0
        assert infer(proxy.url) == 503
        assert infer(proxy.url) == 503
        assert activation_count(proxy) == 2
        proxy.add(backends[0].url)
        assert infer(proxy.url) == 200
        assert activation_count(proxy) == 3


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
