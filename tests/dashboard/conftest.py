"""A dashboard over a real tracker fed by a scripted observer, with a file store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from policies import Observation
from scaler.dashboard.app import create_app
from scaler.observer import Observer
from scaler.overrides.store import FileBackend, OverrideStore
from scaler.own_metrics import build_metrics
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker, TrackedObject
from tests.scripted_observer import ScriptedObserver

TOKEN = "s3cret-token"
METADATA = {
    "policy": "threshold",
    "targetMs": "50",
    "maxReplicas": "20",
    "scaleDownStabilizationSeconds": "0",
}
BUSY = Observation(
    time_s=0.0,
    ready_replicas=2,
    request_rate_rps=120.0,
    queue_time_per_request_ms=80.0,
    queue_time_per_exec_ms=90.0,
    pending_requests=3.0,
    gpu_utilization=0.6,
)


def write_small_trace(path: Path, seconds: int = 1800) -> None:
    """A half-hour trace: 200 req/s with a 600 req/s hump in the middle."""
    t = np.arange(seconds)
    rps = np.where((t > seconds // 3) & (t < 2 * seconds // 3), 600.0, 200.0)
    lines = ["time_s,rps"] + [f"{a},{b:g}" for a, b in zip(t, rps, strict=True)]
    path.write_text("\n".join(lines) + "\n")


@dataclass
class Env:
    client: TestClient
    tracker: ObjectTracker
    observer: ScriptedObserver
    store: OverrideStore
    obj: TrackedObject

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def refresh(self) -> None:
        obj = self.tracker.track(
            self.tracker.config_for(self.obj.config.name, self.obj.config.namespace, METADATA)
        )
        self.tracker.refresh_one(obj)
        self.obj = obj


def make_env(
    tmp_path: Path,
    *,
    token: str | None = TOKEN,
    max_upload: int | None = 1 << 20,
    prometheus_url: str = "http://127.0.0.1:9",
    observer: Observer | None = None,
) -> Env:
    """``observer``: what the tracker (and so the dashboard's history) reads; default
    a :class:`ScriptedObserver` of :data:`BUSY`. ``max_upload`` None: the dashboard's
    bounds all come from the environment (``SCALER_DASHBOARD_MAX_*``)."""
    traces = tmp_path / "traces"
    traces.mkdir()
    write_small_trace(traces / "small.csv")
    scripted = ScriptedObserver(BUSY)
    metrics = build_metrics()
    store = OverrideStore(FileBackend(tmp_path / "overrides.json"), cache_s=0.0)
    tracker = ObjectTracker(
        scripted if observer is None else observer, metrics, overrides=store.overrides_for
    )
    obj = tracker.track(tracker.config_for("triton", "ligo", METADATA))
    assert obj.ready.wait(10)
    settings = ServerSettings(
        dashboard_token=SecretStr(token) if token else None,
        prometheus_url=prometheus_url,
        prometheus_timeout_s=1.0,
        dashboard_allowed_hosts="testserver",
        **({} if max_upload is None else {"dashboard_max_upload_bytes": max_upload}),
    )
    app = create_app(tracker, settings, store, traces_dir=traces)
    return Env(TestClient(app), tracker, scripted, store, obj)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path)
    with e.client:
        yield e
    e.tracker.stop()
