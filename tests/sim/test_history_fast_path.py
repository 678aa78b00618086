"""The simulator's adaptive and predictive runs decide the same with the pipeline's
history columns (and what is computed from them once per observation) as a scaler
that rebuilds every array from the bare observation history at every decision."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from policies import Decision, PipelineState, decide
from scaler.sim import scaler_model
from scaler.sim.engine import simulate
from scaler.sim.presets import scenario_for
from scaler.traces.model import Trace
from tests.sim._util import scenario


def _trace() -> Trace:
    """40 minutes with a campaign of large batches and a lull with nothing completing."""
    rng = np.random.default_rng(11)
    t = np.arange(2_400)
    rps = 300 + 150 * np.sin(t / 900) + rng.poisson(30, t.size)
    rps[700:1_400] += 900
    rps[1_800:2_000] = 0.0
    items = np.where((t >= 700) & (t < 1_400), 32.0, 2.0)
    return Trace("fast-path", rps.astype(np.float64), 1.0, items)


def _decisions(
    name: str, monkeypatch: pytest.MonkeyPatch, *, rebuild: bool
) -> list[tuple[float, float, float | None, str]]:
    seen: list[tuple[float, float, float | None, str]] = []

    def recording(*args: Any) -> tuple[Decision, PipelineState]:
        state: PipelineState = args[4]
        if rebuild:
            args = (*args[:4], replace(state, columns=None), *args[5:])
        d, new = decide(*args)
        seen.append((d.time_s, d.value, d.recommended, d.reason))
        return d, new

    monkeypatch.setattr(scaler_model, "decide", recording)
    sc = scenario_for(name, scenario(), static_replicas=10)
    simulate(_trace(), sc, name=name, initial_replicas=2)
    return seen


@pytest.mark.parametrize("name", ["adaptive-defaults", "predictive-defaults"])
def test_fast_path_decides_as_the_rebuilt_reference(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _decisions(name, monkeypatch, rebuild=False)
    reference = _decisions(name, monkeypatch, rebuild=True)
    assert len(fast) > 400
    assert fast == reference
