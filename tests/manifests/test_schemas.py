"""Every overlay renders, every rendered object is valid for Kubernetes, and every
ScaledObject is valid for KEDA's CRD, without a typo'd field slipping through."""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
import pytest

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
    assert {"default", "mtls", "supersonic-example"} <= set(OVERLAYS)


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
        if obj["kind"] in KEDA_KINDS:
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
