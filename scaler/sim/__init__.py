"""Replay a load trace through the whole scaling chain and score policies.

``compare`` runs the oracle and a set of policies; ``simulate`` runs one; the
scenario (fleet, SLO, observation, KEDA/HPA settings) comes from
:func:`load_scenario`. The KEDA + HPA rules in :mod:`scaler.sim.hpa` take time as
an argument so a live testbed can reuse them.
"""

from scaler.sim.compare import Comparison, compare
from scaler.sim.engine import RunResult, simulate
from scaler.sim.hpa import Autoscaler, Behavior
from scaler.sim.oracle import OracleResult, compute_oracle, need_series
from scaler.sim.presets import PRESETS
from scaler.sim.scenario import Scenario, ScenarioError, load_scenario
from scaler.sim.summary import summary

__all__ = [
    "PRESETS",
    "Autoscaler",
    "Behavior",
    "Comparison",
    "OracleResult",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "compare",
    "compute_oracle",
    "load_scenario",
    "need_series",
    "simulate",
    "summary",
]
