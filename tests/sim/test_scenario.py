"""Scenario files: defaults, overrides and errors that name the field."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from policies import Guardrails
from scaler.metadata import CommonMetadata, ScalerConfig, parse_metadata
from scaler.promql import queries_for
from scaler.sim import engine
from scaler.sim.engine import simulate
from scaler.sim.hpa import Autoscaler
from scaler.sim.scenario import (
    ScaledObjectSpec,
    Scenario,
    ScenarioError,
    TriggerSpec,
    load_scaled_object,
    load_scenario,
)
from scaler.traces.model import Trace

ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_default_file_equals_the_built_in_defaults() -> None:
    assert load_scenario(ROOT / "simulations/scenarios/default.yaml") == load_scenario(None)


def test_a_bad_field_is_named_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("fleet:\n  max_batch_items: 0\n")
    with pytest.raises(ScenarioError, match=r"fleet\.max_batch_items = 0"):
        load_scenario(bad)


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scaledObject:\n  pollingIntervall: 10\n")
    with pytest.raises(ScenarioError, match="pollingIntervall"):
        load_scenario(bad)


def test_bad_trigger_metadata_is_reported_like_the_server_would(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "scaledObject:\n  triggers:\n    - metadata: {policy: threshold, target: '-1'}\n"
    )
    with pytest.raises(ScenarioError, match="target"):
        load_scenario(bad)


def test_startup_override_replaces_the_distribution() -> None:
    sc = load_scenario(None).with_overrides(startup_s=240, slo_ms=50)
    assert sc.startup.kind == "fixed" and sc.startup.nominal_s == 240
    assert sc.slo_ms == 50


@contextmanager
def schema_default(model: type[BaseModel], name: str, value: object) -> Iterator[None]:
    """The one edit a default change is: the field's default in the schema's model."""
    info = model.model_fields[name]
    old = info.default
    info.default = value
    model.model_rebuild(force=True)
    try:
        yield
    finally:
        info.default = old
        model.model_rebuild(force=True)


def test_a_key_default_is_one_edit_that_the_server_and_the_simulator_follow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Change the schema's default of ``rateWindowSeconds`` and of
    ``scaleDownStabilizationSeconds`` and nothing else: the server's parse of a
    ScaledObject that sets neither and the simulator running it both take the new
    values (the queries' window, the window of the simulated Prometheus, the
    guardrails of the simulated pipeline)."""
    meta = {"policy": "threshold", "signal": "rps_per_replica", "target": "70"}
    sc = Scenario(scaledObject=ScaledObjectSpec(triggers=[TriggerSpec(metadata=meta)]))
    seen: dict[str, object] = {}
    real_prometheus, real_scaler = engine.PrometheusModel, engine.ScalerModel

    def prometheus(*args: Any, **kwargs: Any) -> Any:
        seen["rate_window_s"] = kwargs["rate_window_s"]
        return real_prometheus(*args, **kwargs)

    def scaler(cfg: ScalerConfig, scenario: Scenario) -> Any:
        seen["guardrails"] = cfg.guardrails
        return real_scaler(cfg, scenario)

    monkeypatch.setattr(engine, "PrometheusModel", prometheus)
    monkeypatch.setattr(engine, "ScalerModel", scaler)
    trace = Trace("flat", np.full(120, 100.0))
    before = parse_metadata("so", "ns", meta)
    assert (before.rate_window_s, before.guardrails.scale_down_stabilization_s) == (30, 300)
    with (
        schema_default(CommonMetadata, "rate_window_s", 60),
        schema_default(Guardrails, "scale_down_stabilization_s", 600.0),
    ):
        server = parse_metadata("so", "ns", meta)
        assert server.rate_window_s == 60 and "[60s]" in queries_for(server).request_rate_rps
        assert server.guardrails.scale_down_stabilization_s == 600
        simulate(trace, sc)
        assert seen == {"rate_window_s": 60.0, "guardrails": server.guardrails}
    simulate(trace, sc)
    assert seen == {"rate_window_s": 30.0, "guardrails": before.guardrails}


def test_the_rate_window_is_the_scaled_objects_not_an_observation_setting(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.yaml"
    path.write_text("observation:\n  rate_window_s: 10\n")
    with pytest.raises(ScenarioError, match=r"rateWindowSeconds"):
        load_scenario(path)
    sc = Scenario(
        scaledObject=ScaledObjectSpec(
            triggers=[TriggerSpec(metadata={"policy": "static", "rateWindowSeconds": "12"})]
        )
    )
    assert sc.rate_window_s() == 12.0 == sc.scaler_config().rate_window_s


def test_from_env_keys_are_resolved_from_the_environment_as_keda_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KEDA forwards a ``<key>FromEnv`` key with the value of the variable it names (from
    the scale target's container); the simulator reads its own environment, and an
    unset variable is an error naming the key and the variable."""
    manifest = tmp_path / "so.yaml"
    manifest.write_text(
        "kind: ScaledObject\nmetadata: {name: triton}\nspec:\n  triggers:\n"
        "    - type: external\n      metadata: {policy: threshold,"
        " signal: queue_time_per_request_ms, targetMsFromEnv: TARGET_MS}\n"
    )
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "scaledObject:\n  triggers:\n    - metadata: {policy: threshold,"
        " signal: queue_time_per_request_ms, targetMsFromEnv: TARGET_MS}\n"
    )
    monkeypatch.delenv("TARGET_MS", raising=False)
    for load in (load_scaled_object, load_scenario):
        with pytest.raises(ScenarioError) as err:
            load(manifest if load is load_scaled_object else scenario)
        assert "'targetMsFromEnv'" in str(err.value) and "'TARGET_MS'" in str(err.value)
    monkeypatch.setenv("TARGET_MS", "35")
    so = load_scaled_object(manifest)
    assert so.trigger.metadata["targetMsFromEnv"] == "35"
    sc = load_scenario(scenario)
    assert sc.scaler_config().params.goal == 35.0  # type: ignore[attr-defined]
    assert Scenario(scaledObject=so).scaler_config().params == sc.scaler_config().params


def test_a_manifests_idle_count_and_initial_cooldown_are_simulated_not_dropped(
    tmp_path: Path,
) -> None:
    """A manifest's ``idleReplicaCount: 0`` lets an idle fleet above ``minReplicaCount``
    go to 0, and ``initialCooldownPeriod`` delays that; other idle counts are refused
    as KEDA documents (only 0 works with the HPA)."""
    manifest = tmp_path / "so.yaml"
    body = (
        "kind: ScaledObject\nmetadata: {{name: triton}}\nspec:\n  minReplicaCount: 2\n"
        "  cooldownPeriod: 60\n  initialCooldownPeriod: 600\n  idleReplicaCount: {idle}\n"
        "  triggers:\n    - type: external\n      metadata: {{policy: static, replicas: '2'}}\n"
    )
    manifest.write_text(body.format(idle=0))
    so = load_scaled_object(manifest)
    assert (so.idleReplicaCount, so.initialCooldownPeriod) == (0, 600)
    hpa = Autoscaler.for_scenario(Scenario(scaledObject=so), 2)
    assert hpa.keda_poll(300, False) == 2
    assert hpa.keda_poll(600, False) == 0
    assert hpa.keda_poll(630, True) == 2
    for idle, words in (("1", "supports only 0"), ("0\n  minReplicaCount: 0", "less than")):
        manifest.write_text(body.format(idle=idle).replace("  minReplicaCount: 2\n", "", 1))
        with pytest.raises(ScenarioError, match="idleReplicaCount") as err:
            load_scaled_object(manifest)
        assert words in str(err.value)
