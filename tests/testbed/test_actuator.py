"""The actuator's KEDA and HPA behaviour against the real gRPC scaler in this process,
fed by a scripted observer, with stand-in replicas (no processes): the HPA follows
the reported count outside its tolerance, errors hold (or fall back), and a
``true`` on StreamIsActive wakes a fleet at zero."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from policies import Observation
from scaler.own_metrics import build_metrics
from scaler.server import RunningServer, start_server
from scaler.settings import ServerSettings
from scaler.sim.hpa import Autoscaler
from scaler.testbed.actuator import Actuator, ActuatorSettings, Deployment, Fallback
from tests.scripted_observer import ScriptedObserver

METADATA = {
    "policy": "threshold",
    "signal": "gpu_utilization",
    "target": "0.5",
    "activationRps": "0",
    "scaleDownStabilizationSeconds": "0",
}


@dataclass
class FakeReplica:
    name: str
    started: bool = False
    closed: bool = False

    @property
    def http_url(self) -> str:
        return f"http://{self.name}"

    @property
    def metrics_address(self) -> str:
        return f"{self.name}:8002"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.name}:8002/metrics"

    @property
    def running(self) -> bool:
        return self.started and not self.closed

    def start(self) -> None:
        self.started = True

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeFrontend:
    ready: set[str] = field(default_factory=set)

    def add(self, url: str) -> None:
        self.ready.add(url)

    def remove(self, url: str) -> None:
        self.ready.discard(url)

    def wait_drained(self, url: str, timeout_s: float) -> bool:
        return True


@pytest.fixture
def observer() -> ScriptedObserver:
    return ScriptedObserver(Observation(time_s=0, ready_replicas=1, gpu_utilization=0.5))


@pytest.fixture
def server(observer: ScriptedObserver) -> Iterator[RunningServer]:
    settings = ServerSettings(grpc_listen="127.0.0.1:0", metrics_listen="", refresh_interval_s=0.1)
    running = start_server(settings, observer, metrics=build_metrics())
    yield running
    running.stop(0)


def make_actuator(
    server: RunningServer,
    *,
    replicas: int,
    min_replicas: int = 1,
    trigger: str = "external",
    fallback: Fallback | None = None,
    period_s: float = 1.0,
) -> tuple[Actuator, FakeFrontend]:
    frontend = FakeFrontend()
    deployment = Deployment(FakeReplica, frontend, startup_s=0.0)
    for i in range(replicas):
        r = FakeReplica(f"init-{i}")
        r.start()
        deployment.adopt(r)
    settings = ActuatorSettings(
        name="so",
        namespace="ns",
        metadata=METADATA,
        trigger_type=trigger,  # type: ignore[arg-type]
        polling_interval_s=period_s,
        sync_period_s=period_s,
        fallback=fallback,
    )
    autoscaler = Autoscaler(min_replicas=min_replicas, max_replicas=10, replicas=replicas)
    return Actuator(settings, autoscaler, deployment, f"127.0.0.1:{server.port}"), frontend


def settle(server: RunningServer, actuator: Actuator, observer: ScriptedObserver) -> None:
    """Wait until the scaler has decided on the current scripted observation."""
    actuator.keda_poll()
    calls = observer.calls
    deadline = time.monotonic() + 5
    while observer.calls < calls + 2 and time.monotonic() < deadline:
        time.sleep(0.05)


def wait_ready(frontend: FakeFrontend, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(frontend.ready) != count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_hpa_sync_scales_to_the_count_the_scaler_reports(
    server: RunningServer, observer: ScriptedObserver
) -> None:
    observer.observation = Observation(time_s=0, ready_replicas=1, gpu_utilization=1.5)
    actuator, frontend = make_actuator(server, replicas=1)
    settle(server, actuator, observer)
    actuator.hpa_sync()
    assert actuator.autoscaler.replicas == 3
    wait_ready(frontend, 3)
    assert len(frontend.ready) == 3
    assert actuator.desired[-1][1] == 3


def test_a_count_within_the_hpa_tolerance_changes_nothing(
    server: RunningServer, observer: ScriptedObserver
) -> None:
    observer.observation = Observation(time_s=0, ready_replicas=4, gpu_utilization=0.52)
    actuator, _ = make_actuator(server, replicas=4)
    settle(server, actuator, observer)
    actuator.hpa_sync()
    assert actuator.status.last_metric == pytest.approx(4.16)
    assert actuator.autoscaler.replicas == 4


def test_scaler_errors_hold_the_size_and_never_scale_to_zero(
    server: RunningServer, observer: ScriptedObserver
) -> None:
    actuator, _ = make_actuator(server, replicas=2, min_replicas=0)
    settle(server, actuator, observer)
    server.stop(0)
    for _ in range(3):
        actuator.hpa_sync()
        actuator.keda_poll()
    assert actuator.autoscaler.replicas == 2
    assert actuator.status.failures >= 6
    assert actuator.status.last_error is not None


def test_with_fallback_errors_beyond_the_threshold_land_on_the_fallback_count(
    server: RunningServer, observer: ScriptedObserver
) -> None:
    actuator, _ = make_actuator(server, replicas=2, fallback=Fallback(2, 3))
    settle(server, actuator, observer)
    server.stop(0)
    actuator.hpa_sync()
    actuator.hpa_sync()
    assert actuator.autoscaler.replicas == 2
    actuator.hpa_sync()
    assert actuator.autoscaler.replicas == 3


def test_stream_is_active_true_wakes_a_fleet_at_zero_at_once(
    server: RunningServer, observer: ScriptedObserver
) -> None:
    observer.observation = Observation(time_s=0, ready_replicas=0, activation_rps=3.0)
    actuator, frontend = make_actuator(
        server, replicas=0, min_replicas=0, trigger="external-push", period_s=3600.0
    )
    actuator.start()
    try:
        wait_ready(frontend, 1)
        assert actuator.autoscaler.replicas == 1
        assert any(e.kind == "stream" for e in actuator.status.events)
    finally:
        actuator.stop()
