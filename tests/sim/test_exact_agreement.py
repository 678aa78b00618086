"""The fast fleet agrees with the per-request simulation (GPU-hours within 5 %, p99
within 20 %) on scenarios that exercise batching, a load step with scaling, and
frame-synchronous bursts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scaler.sim.engine import simulate
from scaler.sim.exact import draw_arrivals, with_timer_phases
from scaler.sim.presets import scenario_for
from scaler.sim.scenario import ExactSpec, Scenario
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


def _phases(sc: Scenario) -> tuple[float, float]:
    return sc.observation.scrape_offset_s, sc.scaler.refresh_offset_s


def test_exact_mode_draws_the_scrape_and_refresh_phases_from_its_seed() -> None:
    """Prometheus and the scaler server run long before a trace starts, so a real run
    meets their timers at arbitrary offsets: each exact seed draws both, uniform over
    their intervals, from a stream of its own (the seed's arrivals do not change)."""
    sc = scenario(
        observation={"scrape_interval_s": 1},
        scaler={"refresh_interval_s": 1, "refresh_offset_s": 0.5},
    )
    drawn = [
        _phases(with_timer_phases(sc.model_copy(update={"exact": ExactSpec(seed=s)})))
        for s in range(40)
    ]
    assert len(set(drawn)) == 40
    for scrape, refresh in drawn:
        assert 0.0 <= scrape < 1.0 and 0.0 <= refresh < 1.0
    assert min(s for s, _ in drawn) < 0.2 and max(s for s, _ in drawn) > 0.8
    assert _phases(with_timer_phases(sc)) == _phases(with_timer_phases(sc))
    fixed = sc.model_copy(update={"exact": ExactSpec(random_phases=False)})
    assert _phases(with_timer_phases(fixed)) == (0.0, 0.5)
    trace = flat(20, 30)
    a = draw_arrivals(trace, ExactSpec(seed=3))
    b = draw_arrivals(trace, ExactSpec(seed=3, random_phases=False))
    assert np.array_equal(a[0], b[0])


def test_the_phases_decide_which_hpa_sync_a_rising_load_is_first_seen_on() -> None:
    """A ramp whose metric crosses the HPA's tolerance close to a sync: the same
    arrivals with the phases drawn or fixed scale on different syncs (for some seed),
    as the data a sync reads is older or newer; fast mode runs the scenario's phases
    whatever ``exact`` says."""
    rps = np.concatenate((np.full(20, 3.0), np.linspace(3, 50, 100, endpoint=False)))
    trace = Trace("ramp", rps, 1.0, np.ones(len(rps)))
    sc = scenario(
        fleet={"base_ms": 5, "per_item_ms": 40, "max_batch_items": 8},
        observation={"scrape_interval_s": 1},
        scaler={"refresh_interval_s": 1, "refresh_offset_s": 0.5},
        startup={"seconds": 20},
        hpa={"sync_period_s": 5},
        scaledObject={
            "pollingInterval": 5,
            "minReplicaCount": 1,
            "maxReplicaCount": 6,
            "triggers": [
                {
                    "type": "external",
                    "metadata": {
                        "policy": "threshold",
                        "signal": "rps_per_replica",
                        "target": "9",
                        "rateWindowSeconds": "10",
                    },
                }
            ],
        },
    )
    changed = 0
    for seed in range(4):
        drawn = sc.model_copy(update={"exact": ExactSpec(seed=seed)})
        kept = sc.model_copy(update={"exact": ExactSpec(seed=seed, random_phases=False)})
        a = simulate(trace, drawn, initial_replicas=1, exact=True)
        b = simulate(trace, kept, initial_replicas=1, exact=True)
        changed += not np.array_equal(a.desired, b.desired)
    assert changed >= 1
    fixed = sc.model_copy(update={"exact": ExactSpec(random_phases=False)})
    assert simulate(trace, sc, initial_replicas=1).scores == (
        simulate(trace, fixed, initial_replicas=1).scores
    )
