"""The load generator against a local KServe-v2 stand-in whose answers it records:
least-request spread, a rate that changes at run time, and failures recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from scaler.testbed.loadgen import LoadGenerator
from tests.http_stub import LoopbackHTTP, QuietHandler


class Replica(LoopbackHTTP):
    """Answers ``POST /v2/models/<m>/infer`` after ``delay_s`` with ``status``."""

    def __init__(self, delay_s: float = 0.0, status: int = 200) -> None:
        replica = self
        self.delay_s, self.status = delay_s, status
        self.bodies: list[dict[str, object]] = []
        self.paths: list[str] = []

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                replica.bodies.append(body)
                replica.paths.append(self.path)
                time.sleep(replica.delay_s)
                self.reply(replica.status, b"{}")

        super().__init__(Handler)


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    made = [Replica(), Replica(delay_s=0.2)]
    yield made
    for r in made:
        r.close()


def wait_until_sent(gen: LoadGenerator, count: int) -> None:
    deadline = time.monotonic() + 20
    while gen.summary().sent < count:
        assert time.monotonic() < deadline, f"only {gen.summary()} after 20 s"
        time.sleep(0.02)


def test_requests_go_to_the_replica_with_fewest_in_flight(replicas: list[Replica]) -> None:
    fast, slow = replicas
    with LoadGenerator([fast.url, slow.url], "m", rate_rps=100.0, threads=4) as gen:
        wait_until_sent(gen, 60)
    records = gen.records()
    to_fast = sum(r.replica == fast.url for r in records)
    to_slow = sum(r.replica == slow.url for r in records)
    assert to_fast > 3 * to_slow > 0
    assert set(fast.paths) == {"/v2/models/m/infer"}
    assert fast.bodies[0] == {
        "inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [0.5]}]
    }
    assert all(r.ok and r.latency_s >= 0 and r.lag_s >= 0 for r in records)


def test_rate_zero_sends_nothing_until_the_rate_is_raised(replicas: list[Replica]) -> None:
    fast, _ = replicas
    with LoadGenerator([fast.url], "m", rate_rps=0.0) as gen:
        time.sleep(0.3)
        assert gen.summary().sent == 0
        gen.set_rate(50.0)
        wait_until_sent(gen, 10)
        gen.set_rate(0.0)
        time.sleep(0.2)
        settled = gen.summary().sent
        time.sleep(0.3)
        assert gen.summary().sent == settled
    assert gen.rate_rps == 0.0


def test_setting_the_same_rate_again_does_not_add_requests() -> None:
    """The testbed's runner sets the rate every trace second; each call used to release
    one request at once, so a 3 req/s trace sent about 4 req/s."""
    with LoadGenerator([], "m", rate_rps=10.0, threads=2) as gen:
        start = time.monotonic()
        while time.monotonic() < start + 2.0:
            gen.set_rate(10.0)
            time.sleep(0.05)
        gen.set_rate(0.0)
        sent = gen.summary().sent
    assert 18 <= sent <= 22


def test_a_rate_change_takes_effect_at_once_without_an_extra_request() -> None:
    with LoadGenerator([], "m", rate_rps=2.0, threads=2) as gen:
        time.sleep(0.2)
        gen.set_rate(20.0)
        time.sleep(1.0)
        gen.set_rate(0.0)
        sent = gen.summary().sent
    # one at the start (even spacing), then 20/s from the change: about 21, not 2 + 20
    assert 19 <= sent <= 23


def test_failed_and_unreachable_requests_are_recorded_with_their_status() -> None:
    broken = Replica(status=503)
    try:
        with LoadGenerator([broken.url], "m", rate_rps=50.0) as gen:
            wait_until_sent(gen, 3)
            gen.set_replicas(["http://127.0.0.1:9"])
            # Requests already at the broken replica may finish after the switch (on a
            # loaded machine, all of the next few): wait for the unreachable ones.
            deadline = time.monotonic() + 20
            while sum(r.status == 0 for r in gen.records()) < 3:
                assert time.monotonic() < deadline, f"only {gen.summary()} after 20 s"
                time.sleep(0.02)
    finally:
        broken.close()
    statuses = {r.status for r in gen.records()}
    assert statuses == {503, 0}
    summary = gen.summary()
    assert summary.ok == 0 and summary.failed == summary.sent


def test_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="rate_rps"):
        LoadGenerator([], "m", rate_rps=-1.0)


class WakingReplica(Replica):
    """Answers 503 until ``wake()``, like Envoy with no healthy endpoint."""

    def __init__(self) -> None:
        super().__init__(status=503)

    def wake(self) -> None:
        self.status = 200


def test_503s_are_retried_until_the_fleet_wakes_and_latency_runs_from_the_first_try() -> None:
    replica = WakingReplica()
    try:
        with LoadGenerator(
            [replica.url], "m", rate_rps=10, threads=8, retry_for_s=10, retry_backoff_s=0.05
        ) as gen:
            time.sleep(0.5)
            assert gen.retrying > 0
            replica.wake()
            time.sleep(0.5)
            gen.set_rate(0)
            time.sleep(0.3)
        records = gen.records()
        assert records and all(r.ok for r in records)
        first = [r for r in records if r.attempts > 1]
        assert first, "the requests sent before the wake were retried"
        assert max(r.latency_s for r in first) >= 0.3
    finally:
        replica.close()


def test_without_retry_a_503_is_recorded_as_failed() -> None:
    replica = WakingReplica()
    try:
        with LoadGenerator([replica.url], "m", rate_rps=20, threads=2) as gen:
            time.sleep(0.3)
        records = gen.records()
        assert records and all(r.status == 503 and r.attempts == 1 for r in records)
    finally:
        replica.close()


def test_retries_stop_after_retry_for_s() -> None:
    replica = WakingReplica()
    try:
        with LoadGenerator(
            [replica.url], "m", rate_rps=5, threads=4, retry_for_s=0.4, retry_backoff_s=0.05
        ) as gen:
            time.sleep(0.2)
            gen.set_rate(0)
            time.sleep(0.8)
        records = gen.records()
        assert records and all(r.status == 503 for r in records)
        assert all(r.attempts >= 3 and 0.35 <= r.latency_s < 1.5 for r in records)
    finally:
        replica.close()


def test_close_makes_retrying_clients_give_up_at_once() -> None:
    replica = WakingReplica()
    try:
        gen = LoadGenerator(
            [replica.url], "m", rate_rps=20, threads=4, retry_for_s=60, retry_backoff_s=0.05
        )
        gen.start()
        time.sleep(0.3)
        assert gen.retrying > 0
        started = time.monotonic()
        gen.close()
        assert time.monotonic() - started < 10, "close waited for the retry window"
        assert all(r.status == 503 for r in gen.records())
    finally:
        replica.close()
