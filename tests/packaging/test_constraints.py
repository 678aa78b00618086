"""constraints.txt pins every dependency the package declares, grpc packages at one
version (the committed stubs' grpcio-tools version)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _name(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def test_every_declared_dependency_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    pins = _pins()
    missing = sorted({_name(r) for r in declared} - set(pins))
    assert missing == [], f"run `make constraints`: {missing} not in constraints.txt"
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!]*", v) for v in pins.values())


def test_grpc_packages_share_the_stub_generators_version() -> None:
    pins = _pins()
    stubs = (ROOT / "scaler" / "keda_proto" / "externalscaler_pb2_grpc.py").read_text()
    generated = re.search(r"GRPC_GENERATED_VERSION = '([0-9.]+)'", stubs)
    assert generated is not None
    for name in ("grpcio", "grpcio-health-checking", "grpcio-tools"):
        assert pins[name] == generated.group(1), name
