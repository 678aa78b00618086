"""The scaler server as the simulator runs it: the same pipeline on the server's cadence,
read by KEDA through the same adapter as the gRPC service.

The server decides every ``refresh_interval_s`` in the background
(:class:`scaler.tracker.ObjectTracker`); KEDA's polls and the HPA's syncs read the
latest decision through :mod:`scaler.keda_adapter` (rounding, activity, FAIL and stale
decisions as errors). This model does exactly that, with time as an argument.

A ``metricType: Value`` trigger is KEDA's own Prometheus scaler (SuperSONIC's), not this
server: KEDA queries at its poll and the HPA at its sync, so that form decides at the
reader's time instead (:attr:`ScalerModel.on_read`).
"""

from __future__ import annotations

import math

from policies import Decision, Observation, PipelineState, decide
from scaler import keda_adapter as keda
from scaler.metadata import ScalerConfig
from scaler.sim.scenario import Scenario


class ScalerModel:
    """Decisions of one ScaledObject and what KEDA reads from them."""

    def __init__(self, cfg: ScalerConfig, scenario: Scenario) -> None:
        self.cfg = cfg
        spec = scenario.scaler
        self.refresh_interval_s = spec.refresh_interval_s
        self.metric_type = scenario.scaledObject.trigger.metricType
        self.on_read = self.metric_type == "Value"
        """True for KEDA's Prometheus trigger: decide when KEDA or the HPA reads."""
        self.next_refresh_s = math.inf if self.on_read else spec.refresh_offset_s
        self.state = PipelineState()
        self.latest: Decision | None = None
        self.decisions = 0

    def decide(self, now_s: float, obs: Observation | None) -> Decision:
        """One pass of the pipeline at ``now_s`` (a refresh, or a read when
        :attr:`on_read`); schedules the next refresh."""
        c = self.cfg
        decision, self.state = decide(c.policy, c.params, c.guardrails, obs, self.state, now_s)
        self.latest = decision
        self.decisions += 1
        if not self.on_read:
            self.next_refresh_s = now_s + self.refresh_interval_s
        return decision

    def view(self, now_s: float) -> keda.KedaView:
        """What KEDA reads at ``now_s`` (GetMetrics value, IsActive, error)."""
        return keda.keda_view(
            self.latest,
            now_s=now_s,
            fail_after_s=self.cfg.guardrails.fail_after_s,
            refresh_interval_s=self.refresh_interval_s,
        )

    def hpa_input(self, now_s: float) -> tuple[float | None, float]:
        """The HPA's (metric, target) at ``now_s``; metric None on a scaler error."""
        return keda.hpa_input(self.view(now_s), self.latest, self.metric_type)
