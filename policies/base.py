"""The plug-in contract every policy implements.

A policy is a pure function of what it is shown: the latest observation, a
bounded history of earlier ones, the current replica count and its parameters.
It keeps no state of its own between calls, so a restarted scaler (which rebuilds
the history from Prometheus) decides exactly as the one it replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from policies.decision import Recommendation
from policies.history import HistoryColumns
from policies.naming import legacy_keys, metadata_alias
from policies.observation import Observation


class PolicyParams(BaseModel):
    """Base for a policy's parameters: read from ScaledObject metadata under the keys of
    :func:`policies.naming.metadata_alias` (``targetMs``, ``leadTimeSeconds``), or by
    field name in Python and scenario files."""

    model_config = ConfigDict(
        alias_generator=metadata_alias,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    @classmethod
    def renamed_keys(cls, metadata: Mapping[str, str]) -> dict[str, str]:
        """``{old key: current key}`` of deprecated metadata keys this model still
        accepts, given the ``metadata`` being read (a rename may depend on another key,
        as threshold's ``target`` for a latency signal). Default: the keys before the
        naming rule (``leadTimeS`` → ``leadTimeSeconds``)."""
        return legacy_keys(cls)

    @classmethod
    def unused_keys(cls, metadata: Mapping[str, str]) -> frozenset[str]:
        """Keys that do not apply given the rest of ``metadata`` (tuning leaves them out)."""
        return frozenset()


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """Everything a policy may look at for one decision.

    ``history`` holds earlier observations, oldest first, covering at least the
    policy's ``history_s``; ``current_replicas`` is the replica count the decision
    is relative to (ready replicas, as the HPA's ``Value`` rule uses).
    """

    now_s: float
    observation: Observation
    history: tuple[Observation, ...]
    current_replicas: int
    min_replicas: int
    max_replicas: int
    columns: HistoryColumns | None = None
    """``history`` as arrays when the pipeline has them (read them through
    :func:`policies.history.history_columns`, which checks they are ``history``'s)."""


@runtime_checkable
class Policy(Protocol):
    """What the pipeline needs from a policy. Implement it with a class whose
    ``params_model`` is a :class:`PolicyParams` subclass and register it in the
    ``sonic_scaler.policies`` entry-point group."""

    name: ClassVar[str]
    params_model: ClassVar[type[PolicyParams]]

    def required_signals(self, params: Any) -> tuple[str, ...]:
        """Observation fields that must be present and finite when replicas > 0;
        if any is missing the pipeline holds instead of calling ``recommend``."""
        ...

    def history_s(self, params: Any) -> float:
        """How many seconds of past observations this policy needs (0 for none)."""
        ...

    def recommend(self, ctx: PolicyContext, params: Any) -> Recommendation:
        """The raw desired replica count (may be fractional) with its reason."""
        ...
