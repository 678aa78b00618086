"""An Observer that returns observations a test sets, for tests of the gRPC layer
and tracker where the metrics source is not what is under test (the Prometheus
observer has its own tests against a real Prometheus)."""

from __future__ import annotations

from dataclasses import replace

from policies import Observation
from scaler.metadata import ScalerConfig
from scaler.observer import ObserveError


class ScriptedObserver:
    def __init__(self, observation: Observation | None = None) -> None:
        self.observation = observation
        self.error: str | None = None
        self.past: list[Observation] = []
        self.calls = 0

    def observe(self, config: ScalerConfig, now_s: float) -> Observation:
        self.calls += 1
        if self.error is not None:
            raise ObserveError(self.error)
        if self.observation is None:
            raise ObserveError("no observation scripted")
        return replace(self.observation, time_s=now_s)

    def history(
        self, config: ScalerConfig, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        return [o for o in self.past if start_s <= o.time_s <= end_s]


class ManualClock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, start_s: float = 1_800_000_000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds
