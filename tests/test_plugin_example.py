"""The example plug-in in examples/custom_policy, installed with pip, is found through
its entry point and selectable by name in ScaledObject metadata."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from policies import Guardrails, PipelineState, decide
from scaler.metadata import MetadataError, parse_metadata
from scaler.registry import available_policies
from tests.policies import obs

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_policy"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pip-install a copy of the example into a temporary target on sys.path."""
    root = tmp_path_factory.mktemp("plugin")
    src = root / "src"
    shutil.copytree(EXAMPLE, src)
    target = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(src),
        ],
        check=True,
        timeout=240,
    )
    sys.path.insert(0, str(target))
    available_policies.cache_clear()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m.startswith("sonic_scaler_example")]:
            del sys.modules[name]
        available_policies.cache_clear()


def test_installed_plugin_is_registered_by_its_entry_point(installed: Path) -> None:
    policies = available_policies()
    assert "ongoing-requests" in policies
    assert type(policies["ongoing-requests"]).__module__ == "sonic_scaler_example.policy"


def test_plugin_is_selectable_in_scaledobject_metadata(installed: Path) -> None:
    cfg = parse_metadata(
        "so",
        "ns",
        {
            "policy": "ongoing-requests",
            "targetOngoing": "2",
            "serviceTimeMs": "50",
            "maxReplicas": "8",
        },
    )
    assert cfg.policy.name == "ongoing-requests"
    assert cfg.params.model_dump() == {"target_ongoing": 2.0, "service_time_ms": 50.0}


def test_plugin_metadata_errors_name_the_key(installed: Path) -> None:
    with pytest.raises(MetadataError, match="'targetOngoing'"):
        parse_metadata("so", "ns", {"policy": "ongoing-requests", "targetOngoing": "-1"})


def test_guardrails_apply_to_the_plugin(installed: Path) -> None:
    cfg = parse_metadata(
        "so", "ns", {"policy": "ongoing-requests", "targetOngoing": "1", "maxReplicas": "8"}
    )
    busy = obs(0.0, 2, pending_requests=30.0, request_rate_rps=100.0)
    d, _ = decide(cfg.policy, cfg.params, cfg.guardrails, busy, PipelineState(), 0.0)
    assert d.value == 8 and "max_replicas" in d.guardrails
    g = Guardrails(max_replicas=8)
    held, _ = decide(
        cfg.policy, cfg.params, g, obs(5.0, 2, request_rate_rps=1.0), PipelineState(), 5.0
    )
    assert held.status.value == "hold"


def test_unknown_policy_lists_the_plugin_among_the_choices(installed: Path) -> None:
    with pytest.raises(MetadataError, match="ongoing-requests"):
        parse_metadata("so", "ns", {"policy": "nope"})
