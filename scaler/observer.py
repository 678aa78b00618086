"""Where observations come from. The gRPC server reads Prometheus; the simulator
reads its modelled fleet. Both hand :class:`policies.Observation` to the same
pipeline. :class:`ReplicaCount` is what the Kubernetes API adds (:mod:`scaler.kube`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from policies import Observation
from scaler.metadata import ScalerConfig


@dataclass(frozen=True, slots=True)
class ReplicaCount:
    """A scale target's replica counts (pods).

    ``spec_replicas`` is what the Deployment is asked for (the HPA's last decision),
    ``current_replicas`` the pods that exist, ``ready_replicas`` those passing
    readiness (Triton serving).
    """

    spec_replicas: int
    current_replicas: int
    ready_replicas: int


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
