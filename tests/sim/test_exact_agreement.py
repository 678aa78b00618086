"""The fast fleet agrees with the per-request simulation (GPU-hours within 5 %, p99
within 20 %) on scenarios that exercise batching, a load step with scaling, and
frame-synchronous bursts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scaler.sim.engine import simulate
from scaler.sim.presets import scenario_for
from scaler.traces.model import Trace
from tests.sim._util import flat, scenario, step

CASES: dict[str, tuple[Trace, str, dict[str, Any]]] = {
    "steady batching, static fleet": (flat(800, 300, items=8), "static-peak", {}),
    "load step under supersonic": (
        step(300, 1500, 600, 200, items=8),
        "supersonic",
        {"startup": {"seconds": 30}},
    ),
    "frame-synchronous bursts": (
        Trace("burst", np.full(300, 1000.0), 1.0, np.ones(300), burst_fraction=np.ones(300)),
        "static-peak",
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_mode_agrees_with_exact_mode(case: str) -> None:
    trace, policy, overrides = CASES[case]
    sc = scenario_for(policy, scenario(**overrides), static_replicas=3)
    fast = simulate(trace, sc, initial_replicas=2)
    exact = simulate(trace, sc, initial_replicas=2, exact=True)
    assert fast.scores.gpu_hours == pytest.approx(exact.scores.gpu_hours, rel=0.05)
    assert fast.scores.p99_ms == pytest.approx(exact.scores.p99_ms, rel=0.20)
    assert fast.scores.slo_attainment == pytest.approx(exact.scores.slo_attainment, abs=0.02)


def test_exact_mode_is_deterministic() -> None:
    trace, policy, overrides = CASES["load step under supersonic"]
    sc = scenario_for(policy, scenario(**overrides))
    a = simulate(trace, sc, initial_replicas=2, exact=True)
    b = simulate(trace, sc, initial_replicas=2, exact=True)
    assert a.scores == b.scores
