"""Small traces and scenarios for the simulator tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from scaler.sim.scenario import Scenario, scenario_from_dict
from scaler.traces.model import Trace


def flat(rps: float, seconds: int, items: float = 1.0) -> Trace:
    return Trace("flat", np.full(seconds, float(rps)), 1.0, np.full(seconds, float(items)))


def step(low: float, high: float, seconds: int, at: int, items: float = 1.0) -> Trace:
    rps = np.where(np.arange(seconds) < at, low, high).astype(np.float64)
    return Trace("step", rps, 1.0, np.full(seconds, float(items)))


def scenario(**overrides: Any) -> Scenario:
    return scenario_from_dict(overrides, "test")
