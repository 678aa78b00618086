"""The import-linter contracts cover the whole of ``scaler/``: every top-level module or
package is in a layer, and every command module is in the independence contract, so a
new module cannot slip past the layering unseen (``lint-imports`` enforces the rest)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"
]


def _contract(kind: str) -> dict[str, list[str]]:
    return next(c for c in CONTRACTS if c["type"] == kind)


def _modules(package: Path, prefix: str) -> set[str]:
    return {
        f"{prefix}.{p.stem}"
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }


def test_every_scaler_module_is_in_a_layer() -> None:
    layered = {m.strip() for layer in _contract("layers")["layers"] for m in layer.split("|")}
    missing = sorted(_modules(ROOT / "scaler", "scaler") - layered)
    assert not missing, f"add {missing} to the layers contract in pyproject.toml"
    assert layered >= {"scaler.commands", "scaler.tracker", "scaler.sim", "policies"}


def test_every_command_is_independent_of_the_others() -> None:
    commands = _modules(ROOT / "scaler" / "commands", "scaler.commands")
    helpers = {"scaler.commands.trace_options"}
    assert set(_contract("independence")["modules"]) == commands - helpers
