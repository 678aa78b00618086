"""KEDA + HPA actuation as pure code: what happens to the number a trigger reports.

Time is an argument (``now_s``), never read from a clock, so the simulator and a
live testbed run the same rules. Sources: keda-and-hpa.md, Kubernetes
``pkg/controller/podautoscaler`` (replica calculator and
``normalizeDesiredReplicasWithBehaviors``) and KEDA's scale loop.

KEDA owns 0↔1: at each poll an active trigger wakes a fleet at 0 to
max(minReplicaCount, 1); an inactive one for ``cooldownPeriod`` seconds sends it
to 0 (only when minReplicaCount is 0). The HPA owns 1↔N at every sync and does
nothing while the target is at 0.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from scaler.sim.scenario import BehaviorSpec, HpaRulesSpec, Scenario

MetricType = Literal["AverageValue", "Value"]
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """At most ``value`` pods (or percent) of change per ``period_s`` seconds."""

    kind: Literal["Pods", "Percent"]
    value: int
    period_s: float


@dataclass(frozen=True, slots=True)
class ScalingRules:
    window_s: float
    policies: tuple[RatePolicy, ...]
    select: Literal["Max", "Min", "Disabled"] = "Max"


@dataclass(frozen=True, slots=True)
class Behavior:
    """Kubernetes' behavior defaults when a ScaledObject sets a block partly."""

    scale_up: ScalingRules = ScalingRules(
        0.0, (RatePolicy("Pods", 4, 15.0), RatePolicy("Percent", 100, 15.0))
    )
    scale_down: ScalingRules = ScalingRules(300.0, (RatePolicy("Percent", 100, 15.0),))

    @staticmethod
    def from_spec(spec: BehaviorSpec | None) -> Behavior | None:
        """None (no ``behavior``) keeps the HPA's legacy rules; see :class:`Autoscaler`."""
        if spec is None:
            return None
        default = Behavior()
        return Behavior(
            scale_up=_rules(spec.scaleUp, default.scale_up),
            scale_down=_rules(spec.scaleDown, default.scale_down),
        )


def _rules(spec: HpaRulesSpec | None, default: ScalingRules) -> ScalingRules:
    if spec is None:
        return default
    window = (
        float(spec.stabilizationWindowSeconds)
        if spec.stabilizationWindowSeconds is not None
        else default.window_s
    )
    policies = (
        tuple(RatePolicy(p.type, p.value, float(p.periodSeconds)) for p in spec.policies)
        if spec.policies is not None
        else default.policies
    )
    return ScalingRules(window, policies, spec.selectPolicy)


LEGACY_DOWN_WINDOW_S = 300.0
"""Without ``behavior``: scale down to the highest recommendation of this window."""


@dataclass(slots=True)
class Autoscaler:
    """The replica count (``replicas``, the Deployment's spec) as KEDA and the HPA set it.

    Worked example (AverageValue, target 1, 20 replicas): a metric of 21 gives a
    ratio 21/20 = 1.05, inside the 10 % tolerance, so nothing changes; 23 gives
    1.15 and the HPA asks for 23 (scale-up limits permitting).
    """

    min_replicas: int
    max_replicas: int
    replicas: int
    polling_interval_s: float = 30.0
    cooldown_s: float = 300.0
    initial_cooldown_s: float = 0.0
    """No scale to zero before this many seconds from the start (the ScaledObject's
    creation), whatever the triggers say, as KEDA's ScaledObject reference describes
    ``initialCooldownPeriod``. A run starts with its fleet already running and its
    trigger active at t = 0, so ``cooldown_s`` counts from then too. (KEDA's scale
    executor applies the initial cooldown only while the ScaledObject has never been
    active; read that way, it would not apply to a run that starts active at all.)"""
    idle_to_zero: bool = False
    """``idleReplicaCount: 0``: inactive for ``cooldown_s``, the fleet goes to 0 even
    with ``minReplicaCount`` above 0, and wakes straight to ``minReplicaCount``."""
    behavior: Behavior | None = None
    metric_type: MetricType = "AverageValue"
    tolerance: float = 0.1
    last_active_s: float = 0.0
    _recommendations: deque[tuple[float, int]] = field(default_factory=deque)
    _up_events: deque[tuple[float, int]] = field(default_factory=deque)
    _down_events: deque[tuple[float, int]] = field(default_factory=deque)

    @staticmethod
    def for_scenario(scenario: Scenario, replicas: int) -> Autoscaler:
        """The KEDA + HPA pair of ``scenario``'s ScaledObject at ``replicas``: the one
        place it is built (simulator and testbed actuator)."""
        so = scenario.scaledObject
        return Autoscaler(
            min_replicas=so.minReplicaCount,
            max_replicas=so.maxReplicaCount,
            replicas=replicas,
            polling_interval_s=so.pollingInterval,
            cooldown_s=so.cooldownPeriod,
            initial_cooldown_s=so.initialCooldownPeriod,
            idle_to_zero=so.idleReplicaCount == 0,
            behavior=Behavior.from_spec(so.behavior),
            metric_type=so.trigger.metricType,
            tolerance=scenario.hpa.tolerance,
        )

    @property
    def hpa_min(self) -> int:
        """The HPA's own minimum: KEDA gives it max(minReplicaCount, 1)."""
        return max(self.min_replicas, 1)

    def keda_poll(self, now_s: float, active: bool) -> int:
        """KEDA's scale loop at ``now_s`` given ``IsActive``: 0→1 and N→0."""
        if active:
            self.last_active_s = now_s
            if self.replicas == 0:
                self._set(now_s, self.hpa_min)
        elif (
            self.replicas > 0
            and (self.min_replicas == 0 or self.idle_to_zero)
            and now_s >= self.initial_cooldown_s
            and now_s - self.last_active_s >= self.cooldown_s
        ):
            self._set(now_s, 0)
        if 0 < self.replicas < self.min_replicas:
            self._set(now_s, self.min_replicas)
        return self.replicas

    def hpa_sync(
        self, now_s: float, metric: float | None, target: float, ready_replicas: int
    ) -> int:
        """One HPA sync: the metric rule, tolerance, stabilisation, rate limits, bounds.

        ``metric`` None means the metric could not be read: the HPA keeps its size.
        """
        current = self.replicas
        if current == 0:
            return 0
        if metric is None or not math.isfinite(metric) or target <= 0:
            return current
        proposal = self._metric_rule(current, max(metric, 0.0), target, ready_replicas)
        desired = self._normalize(now_s, current, proposal)
        if desired != current:
            self._set(now_s, desired)
        return self.replicas

    def _metric_rule(self, current: int, metric: float, target: float, ready: int) -> int:
        if self.metric_type == "AverageValue":
            ratio = metric / (target * current)
            if abs(ratio - 1.0) <= self.tolerance + _EPS:
                return current
            return math.ceil(metric / target - _EPS)
        ratio = metric / target
        if abs(ratio - 1.0) <= self.tolerance + _EPS:
            return current
        return math.ceil(ratio * ready - _EPS)

    def _normalize(self, now_s: float, current: int, proposal: int) -> int:
        if self.behavior is None:
            return self._normalize_legacy(now_s, current, proposal)
        b = self.behavior
        up = down = proposal
        for t, rec in self._recommendations:
            if t > now_s - b.scale_up.window_s:
                up = min(up, rec)
            if t > now_s - b.scale_down.window_s:
                down = max(down, rec)
        self._remember(now_s, proposal, max(b.scale_up.window_s, b.scale_down.window_s))
        stabilised = min(max(current, up), down)
        if stabilised > current:
            limit = max(self._up_limit(now_s, current, b.scale_up), current)
            return max(min(stabilised, self.max_replicas, limit), self.hpa_min)
        if stabilised < current:
            floor = min(self._down_limit(now_s, current, b.scale_down), current)
            return min(max(stabilised, self.hpa_min, floor), self.max_replicas)
        return min(max(stabilised, self.hpa_min), self.max_replicas)

    def _normalize_legacy(self, now_s: float, current: int, proposal: int) -> int:
        stabilised = proposal
        for t, rec in self._recommendations:
            if t > now_s - LEGACY_DOWN_WINDOW_S:
                stabilised = max(stabilised, rec)
        self._remember(now_s, proposal, LEGACY_DOWN_WINDOW_S)
        up_cap = max(2 * current, 4)
        return max(min(stabilised, up_cap, self.max_replicas), self.hpa_min)

    def _remember(self, now_s: float, proposal: int, keep_s: float) -> None:
        recs = self._recommendations
        recs.append((now_s, proposal))
        while recs and recs[0][0] <= now_s - keep_s:
            recs.popleft()

    def _up_limit(self, now_s: float, current: int, rules: ScalingRules) -> int:
        if rules.select == "Disabled" or not rules.policies:
            return current
        limits = []
        for p in rules.policies:
            added = sum(c for t, c in self._up_events if t > now_s - p.period_s)
            start = current - added
            if p.kind == "Pods":
                limits.append(start + p.value)
            else:
                limits.append(math.ceil(start * (1 + p.value / 100) - _EPS))
        return max(limits) if rules.select == "Max" else min(limits)

    def _down_limit(self, now_s: float, current: int, rules: ScalingRules) -> int:
        if rules.select == "Disabled" or not rules.policies:
            return current
        limits = []
        for p in rules.policies:
            removed = sum(c for t, c in self._down_events if t > now_s - p.period_s)
            start = current + removed
            if p.kind == "Pods":
                limits.append(start - p.value)
            else:
                limits.append(int(start * (1 - p.value / 100)))
        return min(limits) if rules.select == "Max" else max(limits)

    def _set(self, now_s: float, replicas: int) -> None:
        change = replicas - self.replicas
        if change > 0:
            self._up_events.append((now_s, change))
        elif change < 0:
            self._down_events.append((now_s, -change))
        for events in (self._up_events, self._down_events):
            while events and events[0][0] <= now_s - 1800.0:
                events.popleft()
        self.replicas = replicas
