"""The whole loop with real parts: Triton replicas, Prometheus, the scaler's gRPC
server, the KEDA + HPA actuator and the proxy, replaying short traces. Timers are
shortened (scrape 1 s, polling and sync 2 s, start-up 3 s, windows of seconds) so
each run takes about a minute on two cores."""

from __future__ import annotations

import copy
import os
import signal
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from policies import Decision, Status
from scaler.sim.scenario import Scenario, scenario_from_dict
from scaler.testbed.procs import group_members
from scaler.testbed.proxy import ACTIVATION_METRIC
from scaler.testbed.runner import TESTBED_SCENARIO, Testbed, TestbedError, TestbedOptions
from scaler.traces.model import Trace

pytestmark = pytest.mark.realparts


def scenario(**so: Any) -> Scenario:
    data = copy.deepcopy(TESTBED_SCENARIO)
    data["startup"] = {"kind": "fixed", "seconds": 3}
    data["observation"] = {"scrape_interval_s": 1}
    data["hpa"] = {"sync_period_s": 2, "tolerance": 0.1}
    s = data["scaledObject"]
    s.update({"pollingInterval": 2, "cooldownPeriod": 20})
    s["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"] = {
        "stabilizationWindowSeconds": 6,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 2}],
    }
    s["triggers"][0]["metadata"]["scaleDownStabilizationSeconds"] = "4"
    s["triggers"][0]["metadata"]["rateWindowSeconds"] = "5"
    trigger = so.pop("trigger", None)
    if trigger is not None:
        s["triggers"][0]["type"] = trigger
    s.update(so)
    return scenario_from_dict(data, "test scenario")


def trace(*segments: tuple[float, int]) -> Trace:
    return Trace("test", np.concatenate([np.full(n, rate) for rate, n in segments]))


class Children:
    """Process groups and ports the testbed used, to check none is left behind."""

    def __init__(self) -> None:
        self.groups: set[int] = set()
        self.ports: set[int] = set()

    def record(self, tb: Testbed) -> None:
        me = os.getpid()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[1]) == me:
                self.groups.add(int(fields[2]))
        self.groups.discard(os.getpgid(0))
        assert tb.prometheus is not None and tb.proxy is not None and tb.exporter is not None
        assert tb.deployment is not None
        self.ports |= {tb.prometheus.port, tb.proxy.port, tb.exporter.port, tb.grpc_port}
        for pod in tb.deployment.pods:
            r = pod.replica
            self.ports |= {r.http_port, r.metrics_port, r.grpc_port}  # type: ignore[attr-defined]

    def assert_gone(self) -> None:
        assert self.groups, "no child process groups were recorded"
        for pgid in self.groups:
            assert group_members(pgid) == [], f"process group {pgid} survived"
        for port in self.ports:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))


def test_a_load_step_scales_up_then_back_down_after_the_stabilisation_window() -> None:
    children = Children()
    history: list[tuple[float, int]] = []

    def watch(tb: Testbed, t: float) -> None:
        assert tb.actuator is not None
        history.append((t, tb.actuator.autoscaler.replicas))
        if t == 20:
            children.record(tb)

    with Testbed(scenario(), TestbedOptions(initial_replicas=1)) as tb:
        result = tb.run(trace((10, 8), (70, 30), (0, 36)), during=watch)
    children.assert_gone()
    run = result.runs[0]
    assert run.metadata == tb.settings.metadata  # the row says what the scaler ran
    assert run.metadata["activationMetric"] == ACTIVATION_METRIC
    during_step = [n for t, n in history if 8 <= t < 38]
    after = [n for t, n in history if t >= 68]
    assert max(during_step) >= 2
    assert after and after[-1] == 1
    assert run.scores.failed_requests == 0
    assert run.held.max() >= 2


def test_scale_from_zero_wakes_on_envoys_none_healthy_counter() -> None:
    """At zero replicas the proxy answers 503 "no healthy upstream" at once, as Envoy
    does, and counts envoy_cluster_upstream_cx_none_healthy; that counter (the
    examples' activationMetric) is what wakes the fleet, and the clients' retries
    are what get the first requests served."""
    sc = scenario(
        trigger="external-push", minReplicaCount=0, pollingInterval=600, cooldownPeriod=600
    )
    with Testbed(sc, TestbedOptions(initial_replicas=0)) as tb:
        assert tb.deployment is not None and tb.actuator is not None and tb.proxy is not None
        assert tb.deployment.holding() == 0
        result = tb.run(trace((0, 2), (4, 20), (0, 8)))
        events = [e.kind for e in tb.actuator.status.events]
        woke = [p.ready_s for p in tb.deployment.pods if p.ready_s is not None]
        config = tb.scaler_config()
        refused, upstream = tb.proxy.none_healthy, tb.proxy.upstream_requests
        assert tb.loadgen is not None
        records = tb.loadgen.records()
    run = result.runs[0]
    assert config is not None and config.activation_metric == ACTIVATION_METRIC
    assert "stream" in events
    assert refused > 0, "requests reached the proxy before any replica was ready"
    assert any(r.attempts > 1 for r in records), "the refused requests were retried"
    assert upstream == sum(1 for r in records if r.ok)
    assert run.scores.requests > 40  # 80 at the nominal rate; fewer on a starved machine
    assert run.scores.failed_requests == 0
    assert woke, "a replica became ready"
    assert run.scores.p99_ms > sc.startup.nominal_s * 1000


def test_faults_prometheus_restart_replica_kill_and_scaler_restart_keep_decisions_sane() -> None:
    desired: dict[float, int] = {}
    statuses: dict[float, Status | None] = {}
    values: dict[float, float] = {}
    killed: list[str] = []
    before: list[Decision] = []
    after: list[Decision] = []

    window_s = 4  # the scenario's scaleDownStabilizationSeconds

    def faults(tb: Testbed, t: float) -> None:
        assert tb.actuator is not None and tb.deployment is not None
        desired[t] = tb.actuator.autoscaler.replicas
        d = tb.decision()
        statuses[t] = d.status if d is not None else None
        if d is not None:
            values[t] = d.value
        if t == 20:
            tb.kill_prometheus()
        elif t == 34:
            tb.restart_prometheus()
        elif t == 50:
            pod = tb.deployment.ready_pods()[0]
            pid = pod.replica.pid  # type: ignore[attr-defined]
            os.killpg(pid, signal.SIGKILL)
            killed.append(pod.name)
        elif t == 64:
            before.extend(tb.decision_log())
            tb.restart_scaler()
        elif t == 64 + window_s + 2:
            after.extend(tb.decision_log())

    with Testbed(scenario(), TestbedOptions(initial_replicas=2)) as tb:
        result = tb.run(trace((50, 80)), during=faults)
        pods = {p.name: p for p in tb.deployment.pods} if tb.deployment else {}
        ready_at_end = len(tb.deployment.ready_pods()) if tb.deployment else 0
    run = result.runs[0]
    last_good = values[max(t for t in values if t <= 20 and statuses[t] is Status.OK)]
    held = [values[t] for t in values if 20 < t <= 34 and statuses[t] is not Status.OK]
    assert held, "the scaler never noticed Prometheus was gone"
    assert min(held) >= last_good, "the scaler lowered its decision while Prometheus was away"
    # Not asserted: the HPA's count during the outage. It may still be climbing toward
    # an earlier decision (start-up, its own sync period), which is not the scaler's
    # doing; that comparison made this test flaky (issue 13, finding 13).
    assert statuses[79] is Status.OK, "no fresh decision after Prometheus came back"
    assert killed and pods[killed[0]].crashed
    assert ready_at_end >= 1
    # A replica that never restarted would hold, at each time, the highest recommendation
    # of the last window_s seconds; the restarted one must hold those made before the
    # restart (within the HPA's 10 % tolerance: the rebuild replays Prometheus's samples
    # at its own step, not the live refresh times). Comparing with the last value before
    # the restart instead failed when that value's peak had aged out of the window.
    restarted = [d for d in after if d.status is Status.OK]
    assert before and restarted, "no decision from the old or the restarted scaler"
    checked = 0
    for d in restarted:
        owed = [
            b.recommended
            for b in before
            if b.recommended is not None and d.time_s - window_s < b.time_s <= d.time_s
        ]
        checked += bool(owed)
        assert not owed or d.value * 1.1 >= max(owed), (
            f"the restarted scaler decided {d.value:.2f} at {d.time_s:.1f} where the old one "
            f"recommended {max(owed):.2f} within the stabilisation window: its state was "
            "not rebuilt"
        )
    assert checked, "no decision of the restarted scaler fell within the old one's window"
    assert run.scores.requests > 3000


def test_a_failing_part_stops_everything_and_leaves_nothing_behind() -> None:
    children = Children()

    def break_prometheus(tb: Testbed, t: float) -> None:
        if t == 2:
            children.record(tb)
            assert tb.prometheus is not None
            tb.prometheus.stop()

    with (
        pytest.raises(TestbedError, match="Prometheus"),
        Testbed(scenario(), TestbedOptions(initial_replicas=1)) as tb,
    ):
        tb.run(trace((5, 30)), during=break_prometheus)
    children.assert_gone()


def test_a_traces_job_counts_are_replayed_through_an_exporter_the_real_prometheus_scrapes() -> None:
    """The testbed shows a trace's indicator column bin by bin on an exporter endpoint
    that its Prometheus scrapes, so a scaler reads job counts as it would in a cluster:
    both the eight bins of 0 jobs and the eight of 16 reach Prometheus."""
    jobs = np.concatenate([np.zeros(8), np.full(8, 16.0)])
    replay = Trace("test", np.full(16, 5.0), indicators={"campaign_jobs": jobs})
    with Testbed(scenario(), TestbedOptions(initial_replicas=1)) as tb:
        tb.run(replay)
        assert tb.prometheus is not None
        tb.prometheus.wait_for('campaign_jobs{source="trace"} == 16', timeout_s=30)
        tb.prometheus.wait_for("min_over_time(campaign_jobs[5m]) == 0", timeout_s=30)
        assert tb.prometheus.query("max_over_time(campaign_jobs[5m]) > 16") == []
