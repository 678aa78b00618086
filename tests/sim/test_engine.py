"""The simulator's scaler observes what the server's would: no more."""

from __future__ import annotations

from typing import Any

import pytest

from policies import Observation
from scaler.sim.engine import simulate
from scaler.sim.scaler_model import ScalerModel
from tests.sim._util import scenario, step


def test_the_desired_count_is_seen_only_at_zero_ready_replicas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server learns the Deployment's desired count only from the Kubernetes API,
    and only when Prometheus sees no ready replica (scaler.tracker); a simulated policy
    that saw it at every step would be scored on data the deployed one lacks."""
    seen: list[Observation] = []
    decide = ScalerModel.decide

    def recording(self: ScalerModel, now_s: float, obs: Observation | None) -> Any:
        if obs is not None:
            seen.append(obs)
        return decide(self, now_s, obs)

    monkeypatch.setattr(ScalerModel, "decide", recording)
    simulate(step(20, 30_000, 900, 300), scenario(), initial_replicas=1)
    with_ready = [o for o in seen if o.ready_replicas > 0]
    assert with_ready, "the run never observed a ready replica"
    assert all(o.desired_replicas is None for o in with_ready)
    assert max(o.ready_replicas for o in with_ready) > 1, "the step did not scale the fleet"
