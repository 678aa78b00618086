"""ScaledObject metadata: what is accepted, and clear errors for everything else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import Guardrails, ThresholdParams
from scaler.metadata import (
    COMMON_KEYS,
    KEDA_KEYS,
    LABEL_VALUE,
    MetadataError,
    as_written,
    config_metadata,
    fold_from_env,
    parse_metadata,
    resolve_env_references,
    with_override,
)


def test_threshold_works_with_defaults_alone() -> None:
    cfg = parse_metadata("triton", "cms", {"scalerAddress": "scaler:9100"})
    assert cfg.policy.name == "threshold"
    assert cfg.scope.namespace == "cms"
    assert cfg.guardrails.min_replicas == 0
    assert cfg.guardrails.max_replicas == 100


def test_keda_keys_are_ignored() -> None:
    cfg = parse_metadata("triton", "cms", {k: "x" for k in KEDA_KEYS})
    assert cfg.params == ThresholdParams()


def test_from_env_keys_are_read_as_their_base_key_and_never_echoed() -> None:
    """KEDA resolves ``<key>FromEnv`` from the target's environment and forwards the
    resolved value under the same name."""
    cfg = parse_metadata("triton", "cms", {"targetMsFromEnv": "35", "maxReplicasFromEnv": "7"})
    assert cfg.params.goal == 35.0  # type: ignore[attr-defined]
    assert cfg.guardrails.max_replicas == 7
    with pytest.raises(MetadataError) as err:
        parse_metadata("triton", "cms", {"maxReplicasFromEnv": "s3cret"})
    assert "maxReplicasFromEnv" in str(err.value) and "s3cret" not in str(err.value)
    with pytest.raises(MetadataError) as err:
        parse_metadata("triton", "cms", {"passwordFromEnv": "s3cret"})
    assert "passwordFromEnv" in str(err.value) and "s3cret" not in str(err.value)
    with pytest.raises(MetadataError, match="both set"):
        parse_metadata("triton", "cms", {"maxReplicas": "3", "maxReplicasFromEnv": "7"})


def test_deprecated_keys_still_work_with_a_warning() -> None:
    cfg = parse_metadata("triton", "cms", {"target": "20", "signal": "queue_time_per_exec_ms"})
    assert cfg.params.goal == 20.0  # type: ignore[attr-defined]
    assert cfg.deprecations == ("scalerMetadata key 'target' is deprecated: use 'targetMs'",)
    cfg = parse_metadata("triton", "cms", {"policy": "predictive", "leadTimeS": "90"})
    assert cfg.params.lead_time_s == 90.0  # type: ignore[attr-defined]
    assert "'leadTimeS' is deprecated: use 'leadTimeSeconds'" in cfg.deprecations[0]
    with pytest.raises(MetadataError, match="both set"):
        parse_metadata("triton", "cms", {"target": "20", "targetMs": "30"})


def test_a_non_latency_signal_keeps_target_and_refuses_target_ms() -> None:
    cfg = parse_metadata("triton", "cms", {"signal": "gpu_utilization", "target": "0.6"})
    assert cfg.params.goal == 0.6 and not cfg.deprecations  # type: ignore[attr-defined]
    with pytest.raises(MetadataError, match="targetMs is the target of a latency signal"):
        parse_metadata("triton", "cms", {"signal": "gpu_utilization", "targetMs": "60"})


def test_config_metadata_is_the_inverse_of_the_parser() -> None:
    meta = {
        "policy": "pid",
        "targetMs": "40",
        "intervalSeconds": "30",
        "maxReplicas": "12",
        "maxStepUp": "3",
        "release": "supersonic",
        "activationMetric": "envoy_cluster_upstream_rq_total",
    }
    cfg = parse_metadata("triton", "cms", meta)
    back = config_metadata(cfg)
    assert {k: back[k] for k in meta} == meta
    assert parse_metadata("triton", "cms", back) == cfg


def test_values_are_converted_from_strings() -> None:
    cfg = parse_metadata(
        "triton",
        "cms",
        {
            "minReplicas": "2",
            "maxReplicas": "11",
            "targetMs": "20",
            "signal": "queue_time_per_exec_ms",
            "scaleDownStabilizationSeconds": "45",
            "release": "supersonic",
            "model": "particlenet_AK4_PT",
        },
    )
    assert (cfg.guardrails.min_replicas, cfg.guardrails.max_replicas) == (2, 11)
    assert cfg.guardrails.scale_down_stabilization_s == 45.0
    assert cfg.params == ThresholdParams(signal="queue_time_per_exec_ms", target_ms=20.0)
    assert cfg.scope.labels() == {
        "namespace": "cms",
        "release": "supersonic",
        "model": "particlenet_AK4_PT",
    }


@pytest.mark.parametrize(
    ("meta", "must_say"),
    [
        ({"maxReplicas": "lots"}, ["'maxReplicas'", "'lots'", "integer"]),
        ({"maxReplicas": "0"}, ["'maxReplicas'", "greater than or equal to 1"]),
        ({"minReplicas": "5", "maxReplicas": "3"}, ["maxReplicas (3)", "minReplicas (5)"]),
        ({"tagret": "20"}, ["'tagret'", "allowed keys", "targetMs"]),
        ({"signal": "vibes"}, ["'signal'", "'vibes'", "queue_time_per_request_ms"]),
        ({"policy": "magic"}, ["'policy'", "'magic'", "threshold"]),
        ({"release": 'a"}'}, ["'release'", "pattern"]),
    ],
)
def test_invalid_metadata_names_key_value_and_what_is_allowed(
    meta: dict[str, str], must_say: list[str]
) -> None:
    with pytest.raises(MetadataError) as err:
        parse_metadata("triton", "cms", meta)
    for text in must_say:
        assert text in str(err.value)


@given(st.text(max_size=40))
def test_label_values_that_could_escape_a_matcher_are_rejected(value: str) -> None:
    """Any accepted label value is a plain name: no quote, brace, backslash or comma."""
    try:
        cfg = parse_metadata("triton", "cms", {"release": value})
    except MetadataError:
        return
    assert cfg.scope.release is None or LABEL_VALUE.match(cfg.scope.release)
    assert not re.search(r'["{}\\,=~\n]', cfg.scope.release or "")


@given(
    st.dictionaries(
        st.sampled_from(
            sorted(COMMON_KEYS | {"signal", "target", "targetMs", "activationRps", "junk"})
        ),
        st.text(max_size=12),
        max_size=6,
    )
)
def test_parser_never_raises_anything_but_metadata_error(meta: dict[str, str]) -> None:
    try:
        cfg = parse_metadata("triton", "cms", meta)
    except MetadataError as exc:
        assert str(exc)
        return
    assert 0 <= cfg.guardrails.min_replicas <= cfg.guardrails.max_replicas


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=10_000))
def test_replica_bounds_round_trip(lo: int, hi: int) -> None:
    meta = {"minReplicas": str(lo), "maxReplicas": str(hi)}
    if hi < lo:
        with pytest.raises(MetadataError):
            parse_metadata("t", "ns", meta)
    else:
        g = parse_metadata("t", "ns", meta).guardrails
        assert (g.min_replicas, g.max_replicas) == (lo, hi)


def test_an_override_replaces_a_deprecated_key_instead_of_clashing() -> None:
    merged = with_override({"target": "20", "maxReplicas": "5"}, {"targetMs": "40"})
    assert merged == {"targetMs": "40", "maxReplicas": "5"}
    assert parse_metadata("t", "cms", merged).params.goal == 40.0  # type: ignore[attr-defined]


def test_a_renamed_common_key_is_still_accepted_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Renaming a common or guardrail key is its field's edit plus one entry in
    ``RENAMED_COMMON_FIELDS``: the old key keeps working, with a warning, everywhere
    the metadata is read (parse, overrides, the README's table, policy switches)."""
    from scaler import metadata

    monkeypatch.setitem(metadata.RENAMED_COMMON_FIELDS, "minReplicaCount", "min_replicas")
    monkeypatch.setitem(metadata.RENAMED_COMMON_FIELDS, "rateWindow", "rate_window_s")
    cfg = parse_metadata("triton", "cms", {"minReplicaCount": "2", "rateWindow": "45"})
    assert cfg.guardrails.min_replicas == 2 and cfg.rate_window_s == 45
    assert cfg.deprecations == (
        "scalerMetadata key 'minReplicaCount' is deprecated: use 'minReplicas'",
        "scalerMetadata key 'rateWindow' is deprecated: use 'rateWindowSeconds'",
    )
    with pytest.raises(MetadataError, match="'minReplicaCount' = '-1'"):
        parse_metadata("triton", "cms", {"minReplicaCount": "-1"})
    with pytest.raises(MetadataError, match="both set"):
        parse_metadata("triton", "cms", {"minReplicaCount": "2", "minReplicas": "3"})
    assert with_override({"minReplicaCount": "2"}, {"minReplicas": "3"}) == {"minReplicas": "3"}
    assert metadata.deprecated_keys()["minReplicaCount"] == "minReplicas"
    assert metadata.is_common_key("minReplicaCount")


def test_renamed_common_fields_name_fields_of_the_schema() -> None:
    from scaler.metadata import RENAMED_COMMON_FIELDS, CommonMetadata

    for old, name in RENAMED_COMMON_FIELDS.items():
        assert name in CommonMetadata.model_fields or name in Guardrails.model_fields, old
        assert old not in COMMON_KEYS


def test_from_env_references_resolve_from_the_environment_as_keda_does() -> None:
    """A ScaledObject as written names environment variables; KEDA forwards their
    values under the same keys, an empty one dropped. Credentials stay as written."""
    env = {"TARGET_MS": "35", "EMPTY": ""}
    written = {
        "targetMsFromEnv": "TARGET_MS",
        "maxReplicasFromEnv": "EMPTY",
        "bearerTokenFromEnv": "TOKEN",
        "release": "r",
    }
    forwarded = resolve_env_references(written, env)
    assert forwarded == {"targetMsFromEnv": "35", "bearerTokenFromEnv": "TOKEN", "release": "r"}
    assert parse_metadata("so", "ns", forwarded).params.goal == 35.0  # type: ignore[attr-defined]
    with pytest.raises(MetadataError) as err:
        resolve_env_references({"targetMsFromEnv": "TARGET_MS"}, {})
    assert "'targetMsFromEnv'" in str(err.value) and "'TARGET_MS'" in str(err.value)
    assert "not set" in str(err.value)


def test_config_metadata_round_trips_every_common_field() -> None:
    """The config → metadata inverse is derived from the models: every common field set
    in the metadata comes back, and the config's copies are the common ones."""
    meta = {
        "policy": "threshold",
        "namespace": "ns2",
        "release": "r",
        "job": "j",
        "model": "m",
        "targetDeployment": "r-triton",
        "rateWindowSeconds": "45",
        "gpuMetric": "DCGM_FI_DEV_GPU_UTIL",
        "activationMetric": "proxy_requests_total",
    }
    cfg = parse_metadata("so", "ns", meta)
    assert (cfg.rate_window_s, cfg.gpu_metric, cfg.target_deployment) == (
        45,
        "DCGM_FI_DEV_GPU_UTIL",
        "r-triton",
    )
    assert cfg.activation_metric == cfg.common.activation_metric
    back = config_metadata(cfg)
    assert {k: back[k] for k in meta} == meta
    assert parse_metadata("so", "ns", back) == cfg


RENAME_ONE_KEY = """
from policies import Guardrails

field = Guardrails.model_fields["min_replicas"]  # the one edit: the field's key
field.alias = field.validation_alias = field.serialization_alias = "minReplicaCount"
Guardrails.model_rebuild(force=True)

from scaler import metadata
from scaler.sim.paste import complete_metadata
from scaler.sim.presets import preset_scaled_object, scenario_for
from scaler.sim.scenario import Scenario, ScaledObjectSpec, TriggerSpec

metadata.RENAMED_COMMON_FIELDS["minReplicas"] = "min_replicas"  # plus one entry
new = metadata.parse_metadata("so", "ns", {"minReplicaCount": "2"})
assert new.guardrails.min_replicas == 2 and not new.deprecations
old = metadata.parse_metadata("so", "ns", {"minReplicas": "3"})
assert old.guardrails.min_replicas == 3
assert old.deprecations[0].endswith("'minReplicas' is deprecated: use 'minReplicaCount'")
assert "minReplicaCount" in metadata.config_metadata(old)
assert "minReplicaCount" in preset_scaled_object("static-peak", static_replicas=4).trigger.metadata
assert "minReplicaCount" in complete_metadata({"policy": "static"}, 1, 5)[0]
written = {"policy": "threshold", "minReplicas": "2"}
sc = Scenario(scaledObject=ScaledObjectSpec(triggers=[TriggerSpec(metadata=written)]))
assert scenario_for("static", sc).scaler_config().guardrails.min_replicas == 2
print("ok")
"""


def test_renaming_a_common_key_is_one_edit_plus_one_entry() -> None:
    """Rename ``minReplicas`` in the schema alone (in a fresh interpreter, as a code
    edit would): the server parses the new key, still takes the old one with a
    warning, and the inverse, the presets, tune's paste block and the simulator's
    policy switch all follow."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", RENAME_ONE_KEY],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_an_override_replaces_a_key_read_from_the_environment() -> None:
    """``<key>`` and ``<key>FromEnv`` are one key to the parser: overriding
    ``leadTimeSeconds`` on an object that reads it from the environment (the dashboard's
    what-if and preview) replaces it instead of failing with both set."""
    meta = {"policy": "adaptive", "leadTimeSecondsFromEnv": "90", "releaseFromEnv": "cms"}
    merged = with_override(meta, {"leadTimeSeconds": "30"})
    assert merged == {"policy": "adaptive", "releaseFromEnv": "cms", "leadTimeSeconds": "30"}
    assert parse_metadata("t", "ns", merged).params.lead_time_seconds == 30  # type: ignore[attr-defined]
    assert with_override({"maxReplicas": "4"}, {"maxReplicasFromEnv": "9"}) == {
        "maxReplicasFromEnv": "9"
    }
    assert with_override({"policy": "threshold", "targetMs": "30"}, {"maxReplicas": "5"}) == {
        "policy": "threshold",
        "targetMs": "30",
        "maxReplicas": "5",
    }


def test_metadata_is_shown_as_written_never_with_values_from_the_environment() -> None:
    written = {"targetMsFromEnv": "TARGET_MS", "bearerTokenFromEnv": "TOKEN"}
    forwarded = {"policy": "threshold", "targetMsFromEnv": "35", "bearerTokenFromEnv": "TOKEN"}
    assert as_written(forwarded, written) == {"policy": "threshold", **written}
    folded = fold_from_env(forwarded)
    assert folded == {"policy": "threshold", "targetMs": "35", "bearerTokenFromEnv": "TOKEN"}
    assert as_written(folded, written, forwarded) == {"policy": "threshold", **written}
    tuned = {**folded, "targetMs": "40"}
    assert as_written(tuned, written, forwarded)["targetMs"] == "40"
    assert as_written({"targetMsFromEnv": "35"}, {}) == {"targetMsFromEnv": "<redacted>"}
