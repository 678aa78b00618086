"""The standalone dashboard's assembly (``scaler dashboard``): the ScaledObjects of an
objects file are tracked and decided for, the dashboard serves them, and stopping ends
what it started."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from scaler.assembly import AssemblyError, assemble_dashboard, scaled_objects
from scaler.settings import ServerSettings
from tests.fake_prometheus import FakePrometheus

OBJECTS = """\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: triton, namespace: ligo}
spec:
  scaleTargetRef: {name: triton}
  triggers:
    - type: external
      metadata: {scalerAddress: "sonic-scaler:9100", policy: threshold, targetMs: "50"}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: other}
spec:
  scaleTargetRef: {name: other}
  triggers:
    - type: prometheus
      metadata: {threshold: "100"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-scaledobject}
"""


def test_only_external_triggers_of_scaledobjects_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text(OBJECTS)
    assert list(scaled_objects(path)) == [
        (
            "ligo",
            "triton",
            {"scalerAddress": "sonic-scaler:9100", "policy": "threshold", "targetMs": "50"},
        )
    ]


def test_the_standalone_dashboard_decides_for_the_listed_objects(tmp_path: Path) -> None:
    path = tmp_path / "objects.yaml"
    path.write_text(OBJECTS)
    with FakePrometheus() as prom:
        settings = ServerSettings(
            dashboard_listen="127.0.0.1:0",
            prometheus_url=prom.url,
            overrides_file=tmp_path / "overrides.json",
        )
        running = assemble_dashboard(settings, path)
        try:
            assert running.listed == 1
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                obj = running.tracker.get("ligo/triton")
                if obj is not None and obj.decision is not None:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("ligo/triton never decided")
            with urllib.request.urlopen(running.dashboard.url + "/api/objects", timeout=5) as r:
                listed = json.load(r)
            assert [f"{o['namespace']}/{o['name']}" for o in listed] == ["ligo/triton"]
        finally:
            running.stop()
    assert not running.dashboard.thread.is_alive()


def test_a_dashboard_that_cannot_listen_is_an_assembly_error(tmp_path: Path) -> None:
    with FakePrometheus() as prom:
        settings = ServerSettings(dashboard_listen="203.0.113.1:1", prometheus_url=prom.url)
        with pytest.raises(AssemblyError, match="cannot listen"):
            assemble_dashboard(settings, None)
