"""One policy over one trace, through the whole chain:

fleet → Prometheus (scrapes, rate windows, discovery of new replicas) →
``policies.pipeline.decide`` on the server's refresh cadence
(:mod:`scaler.sim.scaler_model`) → what KEDA reads (:mod:`scaler.keda_adapter`) →
KEDA (IsActive every ``pollingInterval``) and the HPA (GetMetrics every sync) →
pods (start-up delay holding a GPU, draining on scale-down) → fleet.

The Python loop runs only at control events (scaler refreshes, HPA syncs, KEDA polls, pods becoming
ready); the fleet advances in vectorised chunks between them, which is what makes
a week of 1 s steps take seconds.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scaler.sim.exact import ExactFleet, with_timer_phases
from scaler.sim.fleet import FastFleet, FleetModel
from scaler.sim.hpa import Autoscaler
from scaler.sim.observe import PrometheusModel, indicator_series
from scaler.sim.scaler_model import ScalerModel
from scaler.sim.scenario import Scenario, StartupSampler
from scaler.sim.scores import Pod, Scores, score
from scaler.sim.totals import Accumulator, held_steps, piecewise_bucket_max, run_totals
from scaler.traces.model import FloatArray, Trace

Progress = Callable[[float], None]
"""Called with the simulated time done so far (seconds)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """A run's scores and its per-step series (for the report), and what ran: the
    ScaledObject's name and its trigger metadata exactly as given."""

    name: str
    scaled_object: str
    metadata: dict[str, str]
    scores: Scores
    ready: FloatArray
    desired: FloatArray
    held: FloatArray
    latency_p99_ms: FloatArray
    decisions: int
    min_replicas: int = 0
    max_replicas: int = 0
    """The ScaledObject's ``minReplicaCount``/``maxReplicaCount`` (0: not known)."""
    series_step_s: float = 0.0
    """Seconds per point of the series (the max of each bucket of steps; long traces
    are kept at :data:`scaler.sim.totals.SERIES_POINTS` points); 0: the trace's step."""
    max_overshoot_replicas: float | None = None
    """Ready replicas above the oracle's need of the last 5 minutes, at worst (None:
    the run was not given the oracle's need)."""
    from_env: dict[str, str] = field(default_factory=dict)
    """``{<key>FromEnv: variable}`` of the trigger as written (``metadata`` holds the
    resolved values): what a recommendation pastes (:func:`scaler.metadata.as_written`)."""


@dataclass(slots=True)
class _PodState:
    created_s: float
    ready_s: float
    is_ready: bool = False
    released_s: float | None = None


class _Cluster:
    """Pods of the Deployment, reconciled to the autoscaler's replica count."""

    def __init__(self, fleet: FleetModel, sampler: StartupSampler, step_s: float) -> None:
        self.fleet = fleet
        self.sampler = sampler
        self.step_s = step_s
        self.pods: list[_PodState] = []
        self.live: list[_PodState] = []
        """Pods not released, oldest first (what :meth:`alive` returns)."""
        self.ready_events: list[tuple[float, int, int]] = []
        self._seq = 0

    def start_ready(self, count: int, boot_s: float) -> None:
        for _ in range(count):
            self.pods.append(_PodState(-boot_s, 0.0, is_ready=True))
            self.live.append(self.pods[-1])
        self.fleet.add_ready(0, count)

    def alive(self) -> list[_PodState]:
        return list(self.live)

    def reconcile(self, now_s: float, step: int, target: int) -> None:
        alive = self.live
        if len(alive) == target:
            return
        if len(alive) < target:
            for _ in range(target - len(alive)):
                pod = _PodState(now_s, now_s + self.sampler.draw())
                self.pods.append(pod)
                alive.append(pod)
                self._seq += 1
                heapq.heappush(self.ready_events, (pod.ready_s, self._seq, len(self.pods) - 1))
            return
        surplus = len(alive) - target
        booting = [p for p in alive if not p.is_ready]
        for pod in sorted(booting, key=lambda p: p.created_s, reverse=True)[:surplus]:
            pod.released_s = now_s
            surplus -= 1
        if surplus > 0:
            ready = sorted((p for p in alive if p.is_ready), key=lambda p: p.ready_s)
            drains = self.fleet.remove(step, surplus)
            for pod, drain_s in zip(reversed(ready[-surplus:]), drains, strict=False):
                pod.released_s = now_s + drain_s
        self.live = [p for p in alive if p.released_s is None]

    def make_ready(self, index: int, step: int) -> None:
        pod = self.pods[index]
        if pod.released_s is not None:
            return
        pod.is_ready = True
        self.fleet.add_ready(step, 1)

    def final_pods(self, end_s: float) -> list[Pod]:
        return [
            Pod(
                p.created_s,
                p.ready_s if p.is_ready else None,
                min(p.released_s if p.released_s is not None else end_s, end_s),
            )
            for p in self.pods
        ]


def simulate(
    trace: Trace,
    scenario: Scenario,
    *,
    name: str | None = None,
    exact: bool = False,
    initial_replicas: int | None = None,
    progress: Progress | None = None,
    oracle_need: npt.NDArray[np.integer[Any]] | None = None,
) -> RunResult:
    """Run the scenario's ScaledObject (trigger metadata, timers, behavior) on ``trace``.

    ``initial_replicas`` ready pods exist at t = 0, already booted (their start-up is
    charged, as the oracle charges it); default: ``minReplicaCount``. With
    ``oracle_need`` the run measures its overshoot above it. Memory stays bounded in
    the trace's length: results are gathered as the run goes (:mod:`scaler.sim.totals`).
    """
    if exact:
        scenario = with_timer_phases(scenario)
    cfg = scenario.scaler_config()
    so = scenario.scaledObject
    trig = so.trigger
    dt = trace.step_s
    steps = len(trace.rps)
    end_s = steps * dt
    sink = Accumulator(steps, dt, scenario.slo_ms, scenario.fleet.timeout_ms, oracle_need)
    fleet: FleetModel
    if exact:
        fleet = ExactFleet(trace, scenario.fleet, scenario.exact)
    else:
        lookback_s = scenario.rate_window_s() + 2 * scenario.observation.scrape_interval_s
        fleet = FastFleet(trace, scenario.fleet, lookback_s=max(lookback_s, 900.0))
        fleet.sink = sink
    initial = so.minReplicaCount if initial_replicas is None else initial_replicas
    initial = min(max(initial, so.minReplicaCount), so.maxReplicaCount)
    cluster = _Cluster(fleet, StartupSampler(scenario.startup), dt)
    cluster.start_ready(initial, scenario.startup.nominal_s)
    autoscaler = Autoscaler.for_scenario(scenario, initial)
    prom = PrometheusModel(
        fleet.outputs,
        step_s=dt,
        scrape_interval_s=scenario.observation.scrape_interval_s,
        rate_window_s=scenario.rate_window_s(),
        discovery_delay_s=scenario.observation.discovery_delay_s,
        indicators=indicator_series(trace, cfg.indicators),
        scrape_offset_s=scenario.observation.scrape_offset_s,
    )
    scaler = ScalerModel(cfg, scenario)
    sync_s = scenario.hpa.sync_period_s
    poll_s = float(so.pollingInterval)
    next_sync, next_poll = sync_s, poll_s
    desired_changes: list[tuple[int, int]] = [(0, initial)]
    scale_events = 0
    next_report = 0.0
    while True:
        t_ready = cluster.ready_events[0][0] if cluster.ready_events else math.inf
        t = min(next_sync, next_poll, t_ready, scaler.next_refresh_s)
        if t >= end_s:
            break
        step = min(math.ceil(t / dt - 1e-9), steps)
        if t_ready <= t:
            _, _, index = heapq.heappop(cluster.ready_events)
            cluster.make_ready(index, step)
            continue
        fleet.advance_to(step)
        if scaler.on_read or scaler.next_refresh_s <= t:
            # The server reads the desired count only at zero ready replicas (scaler.tracker).
            desired = autoscaler.replicas if fleet.ready_count() == 0 else None
            scaler.decide(t, prom.observe(t, desired))
        before = autoscaler.replicas
        if next_poll <= t:
            view = scaler.view(t)
            if view.error is None:
                autoscaler.keda_poll(t, view.active)
            next_poll += poll_s
        if next_sync <= t:
            metric, target = scaler.hpa_input(t)
            autoscaler.hpa_sync(t, metric, target, fleet.ready_count())
            next_sync += sync_s
        if autoscaler.replicas != before:
            scale_events += 1
            desired_changes.append((step, autoscaler.replicas))
        cluster.reconcile(t, step, autoscaler.replicas)
        if progress is not None and t >= next_report:
            progress(t)
            next_report = t + end_s / 100
    fleet.advance_to(steps)
    if progress is not None:
        progress(end_s)
    totals = run_totals(fleet, sink)
    pods = cluster.final_pods(end_s)
    return RunResult(
        name=name or cfg.policy.name,
        scaled_object=so.name,
        metadata=dict(trig.metadata),
        from_env=dict(trig.fromEnv),
        scores=score(totals, pods, scale_events, dt),
        ready=totals.ready,
        desired=piecewise_bucket_max(
            np.asarray([s for s, _ in desired_changes]),
            np.asarray([v for _, v in desired_changes]),
            steps,
            totals.bucket,
        ),
        held=held_steps(pods, steps, dt, totals.bucket),
        latency_p99_ms=totals.latency.per_step_p99_ms,
        decisions=scaler.decisions,
        min_replicas=so.minReplicaCount,
        max_replicas=so.maxReplicaCount,
        series_step_s=dt * totals.bucket,
        max_overshoot_replicas=totals.overshoot,
    )
