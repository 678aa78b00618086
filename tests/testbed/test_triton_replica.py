"""Real Triton replicas under real HTTP load, scraped by a real Prometheus and read
back through the PrometheusObserver, as the scaler sees a fleet in production."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from policies import Observation
from scaler.metadata import ScalerConfig, parse_metadata
from scaler.own_metrics import build_metrics
from scaler.prometheus_observer import PrometheusObserver
from scaler.settings import ServerSettings
from scaler.testbed.gpu_exporter import GpuExporter
from scaler.testbed.procs import group_members
from scaler.testbed.prometheus_server import PrometheusServer, ScrapeTarget
from scaler.testbed.triton_replica import ServiceLaw, TritonReplica
from tests.realparts.fixtures import LoadgenFactory, TritonFactory

pytestmark = pytest.mark.realparts

LAW = ServiceLaw(base_ms=5.0, per_item_ms=0.5, max_batch=16, max_queue_delay_us=1000)


def config(namespace: str) -> ScalerConfig:
    meta = {"target": "50", "model": "m", "release": "r", "rateWindowSeconds": "4"}
    return parse_metadata("triton", namespace, meta)


def replica_target(replica: TritonReplica, namespace: str, pod: str) -> ScrapeTarget:
    return ScrapeTarget(
        replica.metrics_address, {"namespace": namespace, "release": "r", "pod": pod}
    )


def observe_until(
    observer: PrometheusObserver,
    cfg: ScalerConfig,
    done: Callable[[Observation], bool],
    timeout_s: float = 40.0,
) -> Observation:
    deadline = time.monotonic() + timeout_s
    obs = observer.observe(cfg, time.time())
    while not done(obs):
        if time.monotonic() > deadline:
            raise AssertionError(f"observation never satisfied the condition; last: {obs}")
        time.sleep(0.5)
        obs = observer.observe(cfg, time.time())
    return obs


def test_a_loaded_replica_is_seen_through_prometheus_and_leaves_nothing_behind(
    prometheus: PrometheusServer, triton_replica: TritonFactory, loadgen: LoadgenFactory
) -> None:
    replica = triton_replica(model="m", law=LAW)
    with GpuExporter({"pod-0": replica.metrics_url}, poll_interval_s=1.0) as gpu:
        prometheus.set_targets(
            [
                replica_target(replica, "one", "pod-0"),
                ScrapeTarget(gpu.address, {"namespace": "one", "release": "r", "job": "gpu"}),
            ]
        )
        gen = loadgen([replica.http_url], "m", rate_rps=80.0)
        observer = PrometheusObserver(
            ServerSettings(prometheus_url=prometheus.url), build_metrics(), dedup_window_s=0.0
        )
        obs = observe_until(
            observer,
            config("one"),
            lambda o: (o.request_rate_rps or 0) > 0 and (o.gpu_utilization or 0) > 0,
        )
        gen.stop()
    assert obs.ready_replicas == 1
    assert obs.request_rate_rps is not None and 0 < obs.request_rate_rps <= 120
    assert obs.queue_time_per_request_ms is not None and obs.queue_time_per_request_ms >= 0
    assert obs.queue_time_per_exec_ms is not None and obs.queue_time_per_exec_ms >= 0
    assert obs.pending_requests is not None and obs.pending_requests >= 0
    assert obs.gpu_utilization is not None and 0 < obs.gpu_utilization <= 1
    summary = gen.summary()
    assert summary.ok > 0 and summary.failed == 0

    pgid = replica.pid
    assert pgid is not None and len(group_members(pgid)) >= 2
    replica.stop()
    assert group_members(pgid) == []
    prometheus.set_targets([])


def test_load_spreads_over_replicas_and_a_removed_target_stops_counting(
    prometheus: PrometheusServer, triton_replica: TritonFactory, loadgen: LoadgenFactory
) -> None:
    with ThreadPoolExecutor(2) as pool:
        replicas = list(pool.map(lambda _: triton_replica(model="m", law=LAW), range(2)))
    prometheus.set_targets([replica_target(r, "two", f"pod-{i}") for i, r in enumerate(replicas)])
    gen = loadgen([r.http_url for r in replicas], "m", rate_rps=60.0, threads=4)
    observer = PrometheusObserver(
        ServerSettings(prometheus_url=prometheus.url), build_metrics(), dedup_window_s=0.0
    )
    both = observe_until(observer, config("two"), lambda o: o.ready_replicas == 2)
    assert both.ready_replicas == 2

    prometheus.set_targets([replica_target(replicas[0], "two", "pod-0")])
    one = observe_until(observer, config("two"), lambda o: o.ready_replicas == 1)
    assert one.ready_replicas == 1
    gen.stop()
    served = {r.replica for r in gen.records() if r.ok}
    assert served == {r.http_url for r in replicas}
    prometheus.set_targets([])
