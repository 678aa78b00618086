"""Pure scaling decisions: observations in, a replica count and its reason out.

Nothing in this package does I/O or reads a clock; adapters in :mod:`scaler`
feed it observations and time.
"""

from policies.base import Policy, PolicyContext, PolicyParams
from policies.decision import Decision, Recommendation, Status, ceil_replicas
from policies.guardrails import Guardrails
from policies.observation import SIGNAL_FIELDS, Observation
from policies.pipeline import PipelineState, decide
from policies.threshold import ThresholdParams, ThresholdPolicy

__all__ = [
    "SIGNAL_FIELDS",
    "Decision",
    "Guardrails",
    "Observation",
    "PipelineState",
    "Policy",
    "PolicyContext",
    "PolicyParams",
    "Recommendation",
    "Status",
    "ThresholdParams",
    "ThresholdPolicy",
    "ceil_replicas",
    "decide",
]
