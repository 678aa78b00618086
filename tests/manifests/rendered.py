"""Render the kustomize overlays and load the examples and references the manifest
tests check, once per test session."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
OVERLAYS = tuple(sorted(p.name for p in (MANIFESTS / "overlays").iterdir() if p.is_dir()))
EXAMPLES = tuple(
    sorted(p.parent.name for p in (MANIFESTS / "examples").glob("*/scaledobject.yaml"))
)
"""One ScaledObject per directory (a policy's example)."""
EXAMPLE_SETS = tuple(
    sorted(
        p.name
        for p in (MANIFESTS / "examples").iterdir()
        if p.is_dir() and not (p / "scaledobject.yaml").exists()
    )
)
"""Directories of several ScaledObjects (e.g. two-releases)."""
BUILTIN_POLICIES = ("pid", "predictive", "static", "threshold")
KEDA_CRD = ROOT / "tests" / "reference" / "keda-scaledobject-crd.yaml"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"

Obj = dict[str, Any]


@cache
def render(overlay: str) -> tuple[Obj, ...]:
    """``kubectl kustomize manifests/overlays/<overlay>`` as a tuple of objects."""
    if not Path(KUBECTL).exists():
        pytest.fail("kubectl is needed to render the overlays: apt-get install -y kubectl")
    done = subprocess.run(
        [KUBECTL, "kustomize", str(MANIFESTS / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize overlays/{overlay} failed:\n{done.stderr}")
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def example(policy: str) -> Obj:
    path = MANIFESTS / "examples" / policy / "scaledobject.yaml"
    obj: Obj = yaml.safe_load(path.read_text())
    return obj


def all_scaled_objects() -> Iterator[tuple[str, Obj]]:
    """(where, ScaledObject) from every overlay and every example."""
    for overlay in OVERLAYS:
        for obj in render(overlay):
            if obj["kind"] == "ScaledObject":
                yield f"overlays/{overlay}", obj
    for policy in EXAMPLES:
        yield f"examples/{policy}", example(policy)
    for name in EXAMPLE_SETS:
        for path in sorted((MANIFESTS / "examples" / name).glob("*.yaml")):
            for obj in yaml.safe_load_all(path.read_text()):
                if obj and obj.get("kind") == "ScaledObject":
                    yield f"examples/{name}/{obj['metadata']['name']}", obj


def one(objs: tuple[Obj, ...], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def by_kind(objs: tuple[Obj, ...], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


@cache
def keda_scaledobject_schema() -> Obj:
    """The openAPIV3Schema of KEDA's ScaledObject CRD (served version)."""
    if not KEDA_CRD.is_file():
        pytest.fail(
            f"these tests need KEDA's ScaledObject CRD at {KEDA_CRD} "
            "(kedacore/keda config/crd/bases/keda.sh_scaledobjects.yaml, see tests/reference)"
        )
    crd = yaml.safe_load(KEDA_CRD.read_text())
    versions = [v for v in crd["spec"]["versions"] if v.get("served")]
    assert versions, f"{KEDA_CRD}: no served version"
    schema: Obj = versions[0]["schema"]["openAPIV3Schema"]
    return schema


def container(deployment: Obj) -> Obj:
    c: Obj = deployment["spec"]["template"]["spec"]["containers"][0]
    return c


def port_of(listen: str) -> int:
    return int(listen.rpartition(":")[2])
