"""Prometheus read in a child process gives what reading it in the server gives:
the same observations, the same errors, the same query metrics; a reader process
that dies costs a hold, not the scaler."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Iterator

import pytest

from policies import Observation
from scaler.metadata import MetadataError, ScalerConfig, parse_metadata
from scaler.observer import ObserveError
from scaler.own_metrics import ScalerMetrics, build_metrics
from scaler.prometheus_pool import PrometheusPool
from scaler.prometheus_process import PrometheusProcess, ReaderWatchdog, prometheus_observer
from scaler.settings import ServerSettings
from tests.fake_prometheus import FAULTS, FakePrometheus

META = {
    "policy": "threshold",
    "signal": "queue_time_per_request_ms",
    "target": "50",
    "release": "r",
    "scaleDownStabilizationSeconds": "60",
}


@pytest.fixture(scope="module")
def shared_prom() -> Iterator[FakePrometheus]:
    with FakePrometheus(hang_s=2.0) as fake:
        yield fake


@pytest.fixture
def prom(shared_prom: FakePrometheus) -> Iterator[FakePrometheus]:
    shared_prom.set_fault("ok")
    shared_prom.queries = 0
    yield shared_prom
    shared_prom.set_fault("ok")


@pytest.fixture(scope="module")
def shared_reader(
    shared_prom: FakePrometheus,
) -> Iterator[tuple[PrometheusProcess, ScalerMetrics]]:
    """One reader process for the tests that leave it running (starting one takes a
    second or two)."""
    metrics = build_metrics()
    process = PrometheusProcess(settings(shared_prom), metrics)
    yield process, metrics
    process.close()


@pytest.fixture
def reader(prom: FakePrometheus) -> Iterator[tuple[PrometheusProcess, ScalerMetrics]]:
    metrics = build_metrics()
    process = PrometheusProcess(settings(prom), metrics)
    yield process, metrics
    process.close()


def settings(prom: FakePrometheus, **extra: object) -> ServerSettings:
    return ServerSettings(prometheus_url=prom.url, prometheus_timeout_s=1.0, **extra)


def config(**meta: str) -> ScalerConfig:
    return parse_metadata("triton", "cms", {**META, **meta})


def outcome(read: object) -> object:
    """An observation as (its repr without the time, so NaN equals NaN; its time
    in seconds), or the error's type and message. The two reads are a second or
    two apart and a stale sample's time follows the fake's clock, so the times
    may differ by that much; :func:`same` allows it."""
    try:
        got = read() if callable(read) else read
    except Exception as exc:
        return (type(exc).__name__, str(exc))
    if isinstance(got, Observation):
        return (repr(dataclasses.replace(got, time_s=0.0)), got.time_s)
    return got


def same(there: object, here: object) -> bool:
    """Equal outcomes, observation times within 5 s of each other."""
    if isinstance(there, list) and isinstance(here, list):
        return len(there) == len(here) and all(same(a, b) for a, b in zip(there, here, strict=True))
    if (
        isinstance(there, tuple)
        and isinstance(here, tuple)
        and len(there) == len(here) == 2
        and isinstance(there[1], float)
        and isinstance(here[1], float)
    ):
        return there[0] == here[0] and abs(there[1] - here[1]) <= 5.0
    return there == here


@pytest.mark.parametrize("fault", FAULTS)
def test_every_fault_mode_reads_the_same_in_a_child_process(
    prom: FakePrometheus, shared_reader: tuple[PrometheusProcess, ScalerMetrics], fault: str
) -> None:
    process, _ = shared_reader
    local = PrometheusPool(settings(prom), build_metrics())
    cfg = config()
    prom.set_fault(fault)
    now = time.time()
    try:
        # Apart by more than the dedup window, so neither answer is the other's.
        here = outcome(lambda: local.observe(cfg, now))
        time.sleep(1.1)
        there = outcome(lambda: process.observe(cfg, now))
        assert same(there, here), (there, here)
        here_h = outcome(lambda: local.history(cfg, now - 60, now, 5))
        time.sleep(1.1)
        there_h = outcome(lambda: process.history(cfg, now - 60, now, 5))
        if isinstance(here_h, list) and isinstance(there_h, list):
            here_h = [outcome(o) for o in here_h]
            there_h = [outcome(o) for o in there_h]
        assert same(there_h, here_h), (there_h, here_h)
    finally:
        prom.set_fault("ok")
        local.close()


def test_query_times_and_errors_are_counted_in_the_servers_metrics(
    prom: FakePrometheus, reader: tuple[PrometheusProcess, ScalerMetrics]
) -> None:
    process, metrics = reader
    process.observe(config(), time.time())
    count = metrics.registry.get_sample_value("sonic_scaler_prometheus_query_seconds_count")
    assert count is not None and count >= 2  # ready replicas and at least one signal
    prom.set_fault("http_500")
    time.sleep(1.1)
    with pytest.raises(ObserveError, match="HTTP 500"):
        process.observe(config(), time.time())
    errors = metrics.registry.get_sample_value(
        "sonic_scaler_prometheus_query_errors_total", {"reason": "http_status"}
    )
    assert errors == 1


def test_a_reader_process_that_dies_fails_reads_then_is_started_again(
    prom: FakePrometheus, reader: tuple[PrometheusProcess, ScalerMetrics]
) -> None:
    process, _ = reader
    assert process.observe(config(), time.time()).ready_replicas == 3
    pid = process.pid
    assert pid is not None
    prom.set_fault("hang")  # a read in flight when the process is killed
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ObserveError, match="reader process"):
        process.observe(config(release="other"), time.time())
    prom.set_fault("ok")
    assert process.observe(config(release="again"), time.time()).ready_replicas == 3
    assert process.pid != pid
    assert process.restarts == 1


def test_a_server_address_not_allowed_is_refused_without_a_read(
    prom: FakePrometheus, shared_reader: tuple[PrometheusProcess, ScalerMetrics]
) -> None:
    process, _ = shared_reader
    with pytest.raises(MetadataError, match="serverAddress"):
        process.check(config(serverAddress="http://elsewhere:9090"))
    assert prom.queries == 0


def test_close_stops_the_reader_process(prom: FakePrometheus) -> None:
    process = PrometheusProcess(settings(prom), build_metrics())
    process.observe(config(), time.time())
    pid = process.pid
    process.close()
    with pytest.raises(ObserveError, match="stopped"):
        process.observe(config(), time.time())
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policy")
def test_the_reader_yields_the_cpu_to_the_serving_process(
    shared_reader: tuple[PrometheusProcess, ScalerMetrics],
) -> None:
    """Under CPU pressure an RPC's thread must get the CPU at once, not after the
    reader's time slice: the reader runs niced and under SCHED_IDLE."""
    process, _ = shared_reader
    process.observe(config(), time.time())
    assert process.pid is not None
    assert os.sched_getscheduler(process.pid) == os.SCHED_IDLE
    assert os.getpriority(os.PRIO_PROCESS, process.pid) > os.getpriority(os.PRIO_PROCESS, 0)


def test_the_setting_chooses_where_prometheus_is_read(prom: FakePrometheus) -> None:
    child = prometheus_observer(settings(prom), build_metrics())
    here = prometheus_observer(settings(prom, prometheus_reader_process=False), build_metrics())
    try:
        assert isinstance(child, PrometheusProcess)
        assert isinstance(here, PrometheusPool)
    finally:
        child.close()
        here.close()


def test_a_stalled_reader_is_logged_and_reported_until_it_answers_again(
    prom: FakePrometheus,
    reader: tuple[PrometheusProcess, ScalerMetrics],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The reader runs under SCHED_IDLE: on a busy node it may get no CPU at all, and
    then every decision silently ages. A stopped process stands for a starved one: the
    watchdog logs an error, sets the gauge and reports it (the server fails its health
    check), and reports the recovery once the reader answers again."""
    process, metrics = reader
    process.observe(config(), time.time())
    pid = process.pid
    assert pid is not None
    changes: list[bool] = []
    dog = ReaderWatchdog(process, metrics, changes.append, stall_after_s=0.5, interval_s=0.1)
    gauge = "sonic_scaler_prometheus_reader_stalled"
    assert dog.check() and changes == []
    assert metrics.registry.get_sample_value(gauge) == 0
    dog.start()
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 10
        while changes != [False] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert changes == [False], "a reader that gets no CPU goes unnoticed"
        assert metrics.registry.get_sample_value(gauge) == 1
        assert "prometheus_reader_stalled" in caplog.text
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while changes != [False, True] and time.monotonic() < deadline:
        time.sleep(0.05)
    dog.stop()
    assert changes == [False, True]
    assert metrics.registry.get_sample_value(gauge) == 0
    assert "prometheus_reader_recovered" in caplog.text
    assert process.observe(config(release="after"), time.time()).ready_replicas == 3
