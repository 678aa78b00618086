"""The clairvoyant oracle equals brute force on small cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scaler.sim.oracle import compute_oracle, level_cost_s, need_series
from scaler.sim.scenario import FleetSpec
from tests.sim._util import flat, step


def _brute_force(need: list[int], d: int) -> float:
    """Cheapest set of per-replica hold schedules (seconds −d … T−1) such that at every
    second at least need[t] replicas have been held for the d seconds before it."""
    horizon = len(need)
    slots = horizon + d
    peak = max(need)
    best = float("inf")
    schedules = list(itertools.product((0, 1), repeat=slots))

    def ready(s: tuple[int, ...]) -> list[int]:
        return [int(all(s[t : t + d + 1])) for t in range(horizon)]

    readies = [ready(s) for s in schedules]
    costs = [sum(s) for s in schedules]
    for combo in itertools.combinations_with_replacement(range(len(schedules)), peak):
        cost = sum(costs[i] for i in combo)
        if cost >= best:
            continue
        if all(sum(readies[i][t] for i in combo) >= need[t] for t in range(horizon)):
            best = cost
    return float(best)


@pytest.mark.parametrize(
    ("need", "d"),
    [
        ([1, 1, 0, 0, 1], 3),
        ([1, 0, 1, 0, 0, 1], 1),
        ([2, 1, 0, 1, 2], 2),
        ([0, 2, 1, 1, 0, 2], 1),
        ([1, 2, 0, 2, 1], 0),
    ],
)
def test_level_decomposition_matches_brute_force(need: list[int], d: int) -> None:
    expected = _brute_force(need, d)
    assert level_cost_s(np.array(need, dtype=np.int64), 1.0, float(d)) == expected


def test_instant_oracle_is_the_sum_of_need() -> None:
    trace = step(200, 2000, 100, 50, items=16)
    oracle = compute_oracle(trace, FleetSpec(), 100.0, 30.0)
    assert oracle.instant_gpu_s == float(oracle.need.sum())
    assert oracle.gpu_s >= oracle.instant_gpu_s


def test_need_grows_with_load_and_is_zero_without_load() -> None:
    spec = FleetSpec()
    assert need_series(flat(0, 5), spec, 100.0).tolist() == [0] * 5
    low = need_series(flat(500, 5, items=64), spec, 100.0)[0]
    high = need_series(flat(5000, 5, items=64), spec, 100.0)[0]
    assert 1 <= low < high
    assert high >= 5000 * 64 / (128 / 12.276e-3)
