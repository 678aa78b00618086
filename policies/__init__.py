"""Pure scaling decisions: observations in, a replica count and its reason out.

Nothing in this package does I/O or reads a clock; adapters in :mod:`scaler`
feed it observations and time.
"""

from policies.adaptive import AdaptiveParams, AdaptivePolicy
from policies.base import Policy, PolicyContext, PolicyParams
from policies.decision import Decision, Recommendation, Status, ceil_replicas
from policies.guardrails import Guardrails
from policies.observation import SIGNAL_FIELDS, Observation
from policies.pid import PidParams, PidPolicy
from policies.pipeline import PipelineState, decide
from policies.predictive import PredictiveParams, PredictivePolicy
from policies.static import StaticParams, StaticPolicy
from policies.threshold import ThresholdParams, ThresholdPolicy

__all__ = [
    "SIGNAL_FIELDS",
    "AdaptiveParams",
    "AdaptivePolicy",
    "Decision",
    "Guardrails",
    "Observation",
    "PidParams",
    "PidPolicy",
    "PipelineState",
    "Policy",
    "PolicyContext",
    "PolicyParams",
    "PredictiveParams",
    "PredictivePolicy",
    "Recommendation",
    "StaticParams",
    "StaticPolicy",
    "Status",
    "ThresholdParams",
    "ThresholdPolicy",
    "ceil_replicas",
    "decide",
]
