"""Where observations come from. The gRPC server reads Prometheus; the simulator
reads its modelled fleet. Both hand :class:`policies.Observation` to the same
pipeline."""

from __future__ import annotations

from typing import Protocol

from policies import Observation
from scaler.metadata import ScalerConfig


class ObserveError(RuntimeError):
    """The metrics source could not give a trustworthy observation; the message
    says which query failed and why. The pipeline then holds."""


class Observer(Protocol):
    def observe(self, config: ScalerConfig, now_s: float) -> Observation:
        """Current signals for one ScaledObject; raises :class:`ObserveError`."""
        ...

    def history(
        self, config: ScalerConfig, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        """Observations at ``step_s`` intervals over [start_s, end_s] (epoch seconds),
        oldest first, used to rebuild decision state after a restart. Points where
        the signals were absent are returned with ``None`` values, not dropped."""
        ...
