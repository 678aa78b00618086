"""Every overlay renders, every rendered object is valid for Kubernetes, and every
ScaledObject is valid for KEDA's CRD, without a typo'd field slipping through."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.manifests.rendered import (
    BUILTIN_POLICIES,
    EXAMPLES,
    OVERLAYS,
    Obj,
    all_scaled_objects,
    keda_scaledobject_schema,
    render,
)

KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
"""Oldest Kubernetes the manifests support (native gRPC probes, policy/v1 PDBs) and
the newest this kubernetes-validate ships."""

KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
OPERATOR_KINDS = {"PodMonitor", "PrometheusRule"}
"""Prometheus Operator kinds, validated against its CRDs in tests/manifests/data."""
DATA = Path(__file__).parent / "data"
OPERATOR_CRDS = {
    "PodMonitor": DATA / "prometheus-operator-podmonitors-crd.yaml",
    "PrometheusRule": DATA / "prometheus-operator-prometheusrules-crd.yaml",
}


def _name(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}"


def unknown_fields(value: Any, schema: Obj, path: str = "") -> list[str]:
    """Paths in ``value`` that the structural schema does not declare: the API
    server would silently prune them, so a typo would be lost without a trace."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if props is not None and key in props:
                found += unknown_fields(item, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                found += unknown_fields(item, extra, f"{path}.{key}")
            elif props is not None or extra is False:
                found.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


def test_there_is_an_overlay_for_plain_mtls_and_a_supersonic_release() -> None:
    assert {
        "default",
        "mtls",
        "supersonic-example",
        "two-releases",
        "prometheus-operator",
    } <= set(OVERLAYS)


def test_there_is_an_example_for_every_builtin_policy() -> None:
    assert set(BUILTIN_POLICIES) <= set(EXAMPLES)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_is_valid_kubernetes(overlay: str, version: str) -> None:
    objs = render(overlay)
    assert {"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"} <= {
        o["kind"] for o in objs
    }
    problems = []
    for obj in objs:
        if obj["kind"] in KEDA_KINDS | OPERATOR_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{_name(obj)}: {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)


def test_every_scaledobject_is_valid_for_kedas_crd() -> None:
    schema = keda_scaledobject_schema()
    validator = jsonschema.Draft7Validator(schema)
    checked = []
    problems = []
    for where, obj in all_scaled_objects():
        for err in validator.iter_errors(obj):
            problems.append(f"{where}: {err.message} at {list(err.absolute_path)}")
        problems += [
            f"{where}: unknown field {p}"
            for p in unknown_fields(obj["spec"], schema["properties"]["spec"])
        ]
        checked.append(where)
    assert not problems, "\n".join(problems)
    assert len(checked) >= len(EXAMPLES) + 1


def test_the_typo_check_catches_a_misspelt_field() -> None:
    schema = keda_scaledobject_schema()["properties"]["spec"]
    spec = {
        "scaleTargetRef": {"name": "x"},
        "fallbak": {},
        "triggers": [{"type": "external", "metdata": {}}],
    }
    assert unknown_fields(spec, schema) == [".fallbak", ".triggers[0].metdata"]


def test_trigger_authentication_passes_the_three_tls_parameters_keda_knows() -> None:
    from scaler.metadata import KEDA_KEYS

    auths = [o for o in render("mtls") if o["kind"] == "TriggerAuthentication"]
    assert len(auths) == 1
    auth = auths[0]
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    params = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert set(params) == {"caCert", "tlsClientCert", "tlsClientKey"}
    assert set(params) <= KEDA_KEYS
    assert {ref["key"] for ref in params.values()} == {"ca.crt", "tls.crt", "tls.key"}
    assert all(set(ref) == {"parameter", "name", "key"} for ref in params.values())


@cache
def operator_schema(kind: str) -> Obj:
    """openAPIV3Schema of the Prometheus Operator's CRD for ``kind`` (v1 or v1beta1 layout)."""
    crd = yaml.safe_load(OPERATOR_CRDS[kind].read_text())
    spec = crd["spec"]
    if "versions" in spec:
        schema: Obj = next(v for v in spec["versions"] if v.get("served"))["schema"][
            "openAPIV3Schema"
        ]
    else:
        schema = spec["validation"]["openAPIV3Schema"]
    assert crd["spec"]["names"]["kind"] == kind
    return schema


def test_the_operator_overlay_has_a_podmonitor_and_a_prometheusrule() -> None:
    kinds = [o["kind"] for o in render("prometheus-operator")]
    assert kinds.count("PodMonitor") == 1 and kinds.count("PrometheusRule") == 1
    for overlay in OVERLAYS:
        if overlay != "prometheus-operator":
            assert not OPERATOR_KINDS & {o["kind"] for o in render(overlay)}, overlay


@pytest.mark.parametrize("kind", sorted(OPERATOR_KINDS))
def test_operator_objects_are_valid_for_the_operators_crds(kind: str) -> None:
    schema = operator_schema(kind)
    validator = jsonschema.Draft7Validator(schema)
    objs = [o for o in render("prometheus-operator") if o["kind"] == kind]
    assert objs
    for obj in objs:
        assert obj["apiVersion"] == "monitoring.coreos.com/v1"
        errors = [f"{e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(obj)]
        assert not errors, errors
        assert unknown_fields(obj["spec"], schema["properties"]["spec"]) == []


def test_the_podmonitor_scrapes_the_scalers_metrics_port() -> None:
    from tests.manifests.rendered import container, one

    objs = render("prometheus-operator")
    pm = one(objs, "PodMonitor")
    pod = one(objs, "Deployment", "sonic-scaler")["spec"]["template"]
    assert pm["metadata"]["namespace"] == one(objs, "Deployment")["metadata"]["namespace"]
    labels = pod["metadata"]["labels"]
    assert pm["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {p["name"] for p in container(one(objs, "Deployment"))["ports"]}
    assert [e["port"] for e in pm["spec"]["podMetricsEndpoints"]] == ["metrics"]
    assert "metrics" in ports


def test_the_operator_typo_check_catches_a_misspelt_field() -> None:
    schema = operator_schema("PodMonitor")["properties"]["spec"]
    spec = {"selector": {}, "podMetricsEndpoints": [{"prot": "metrics"}]}
    assert unknown_fields(spec, schema) == [".podMetricsEndpoints[0].prot"]
