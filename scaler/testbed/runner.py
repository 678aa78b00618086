"""``scaler testbed``: the whole scaling loop for real, on loopback.

One :class:`Testbed` starts, on free ports: a real Prometheus scraping through a
``file_sd`` file; the Envoy-like :class:`Proxy`; the GPU-utilisation exporter; the
scaler's gRPC server (in this process, restartable on the same port); the
KEDA + HPA :class:`Actuator` with its :class:`Deployment` of real Triton replicas;
and the load generator sending real KServe-v2 requests to the proxy. :meth:`run`
replays a trace (1 s bins, optionally time-compressed beforehand) and returns the
same :class:`Comparison` that ``scaler simulate`` summarises, built from measured
requests and the pods' real lifetimes.

Everything is supervised: a child that dies unexpectedly (Prometheus, a pod that
cannot be replaced) fails the run, and :meth:`close` — also on Ctrl-C — stops every
process group and deletes the work dir.

Trace time 0 is the start of the replay. The pods present at the start are
charged ``startup_s`` before it, as the simulator charges its initial pods. A
pod's GPU counts as freed when its server is told to stop after draining, as the
simulator frees it: pytriton's own few seconds of shutdown are not charged.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from policies import Decision, Guardrails
from policies.threshold import ThresholdParams
from scaler.metadata import CommonMetadata, ScalerConfig, metadata_of
from scaler.own_metrics import build_metrics
from scaler.prometheus_observer import PrometheusObserver
from scaler.server import RunningServer, start_server
from scaler.settings import ServerSettings
from scaler.sim.compare import Comparison
from scaler.sim.engine import RunResult
from scaler.sim.hpa import Autoscaler
from scaler.sim.oracle import compute_oracle
from scaler.sim.scenario import Scenario, scenario_from_dict
from scaler.sim.scores import Pod as ScorePod
from scaler.sim.scores import Scores, gpu_seconds, held_series
from scaler.testbed.actuator import (
    Actuator,
    ActuatorSettings,
    Deployment,
    Fallback,
    Pod,
)
from scaler.testbed.gpu_exporter import GpuExporter
from scaler.testbed.indicator_exporter import IndicatorExporter
from scaler.testbed.loadgen import LoadGenerator, RequestRecord
from scaler.testbed.procs import Managed
from scaler.testbed.prometheus_server import PrometheusServer, ScrapeTarget
from scaler.testbed.proxy import ACTIVATION_METRIC, Proxy
from scaler.testbed.triton_replica import ServiceLaw, TritonReplica
from scaler.traces.model import FloatArray, Trace

log = logging.getLogger(__name__)

_PHASE_STREAM = 1
"""Sub-stream of the options' seed the start delay is drawn from (the load generator
uses the seed's own stream)."""

TESTBED_SCENARIO: dict[str, Any] = {
    "slo_ms": 250,
    "fleet": {
        "base_ms": 5.0,
        "per_item_ms": 20.0,
        "max_batch_items": 8,
        "max_queue_delay_ms": 2.0,
        "timeout_ms": 30_000,
    },
    "observation": {"scrape_interval_s": 1},
    "scaler": {"refresh_interval_s": 1, "refresh_offset_s": 0.5},
    "startup": {"kind": "fixed", "seconds": 8},
    "hpa": {"sync_period_s": 5, "tolerance": 0.1},
    "scaledObject": {
        "pollingInterval": 5,
        "cooldownPeriod": 30,
        "minReplicaCount": 1,
        "maxReplicaCount": 6,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    "scaleUp": {
                        "stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 5}],
                    },
                    "scaleDown": {
                        "stabilizationWindowSeconds": 20,
                        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 5}],
                    },
                }
            }
        },
        "triggers": [
            {
                "type": "external",
                "metricType": "AverageValue",
                "metadata": metadata_of(
                    CommonMetadata(policy="threshold"),
                    ThresholdParams(signal="gpu_utilization", target=0.6),
                    Guardrails(scale_down_stabilization_s=20, stale_after_s=15),
                    CommonMetadata(rate_window_s=10),
                ),
            }
        ],
    },
}
"""A fleet this 2-core, GPU-less machine can run: a replica's "GPU" is a sleep of
5 ms + 20 ms per item (about 45 one-item requests/s per replica), with timers
shortened so a run of a few minutes shows several decisions."""


def testbed_scenario() -> Scenario:
    """:data:`TESTBED_SCENARIO` validated."""
    return scenario_from_dict(TESTBED_SCENARIO, "built-in testbed scenario")


def service_law(scenario: Scenario) -> ServiceLaw:
    """The real replicas' service law from the scenario's fleet (the simulator's law)."""
    f = scenario.fleet
    return ServiceLaw(
        base_ms=f.base_ms,
        per_item_ms=f.per_item_ms,
        max_batch=f.max_batch_items,
        max_queue_delay_us=round(f.max_queue_delay_ms * 1000),
    )


def one_item_requests(trace: Trace) -> Trace:
    """A trace whose requests carry several items, as one-item requests at its item rate
    (the same GPU work; the testbed's requests are one item each)."""
    if trace.items_per_request is None or np.allclose(trace.items_per_request, 1.0):
        return trace
    return replace(
        trace,
        rps=trace.items_per_s,
        items_per_request=None,
        arrivals_s=None,
        arrival_items=None,
        notes=(*trace.notes, "replayed as one-item requests at the item rate"),
    )


@dataclass(frozen=True, slots=True)
class TestbedOptions:
    """How the testbed runs (seconds; the scenario holds the ScaledObject and fleet)."""

    __test__ = False

    namespace: str = "testbed"
    release: str = "testbed"
    model: str = "model"
    initial_replicas: int | None = None
    refresh_interval_s: float = 1.0
    loadgen_threads: int = 48
    client_retry_s: float = 60.0
    """Seconds a client keeps retrying 503 "no healthy upstream" (the fleet waking)."""
    request_timeout_s: float = 60.0
    drain_timeout_s: float = 30.0
    poisson: bool = True
    seed: int = 0
    fallback: Fallback | None = None
    workdir: Path | None = None
    random_phase: bool = True
    """Start the replay after a delay drawn from ``seed``, uniform over one scrape
    interval, so a run meets Prometheus's scrapes at an arbitrary phase, as a trace does
    in a real cluster. Without it the replay started a fixed ~0.4 s after Prometheus's
    first sample of the first replica (the start waits for it), so every run met the
    scrapes at nearly the same phase (0.56-0.73 s into each second in five runs)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The live state, once per trace second (for the demo's view)."""

    t_s: float
    duration_s: float
    target_rps: float
    served_rps: float
    ready: int
    holding: int
    desired: int
    held_requests: int
    """Requests whose clients are retrying a 503 now (none ready behind the proxy)."""
    p50_ms: float | None
    p99_ms: float | None
    decision: Decision | None
    last_event: str | None
    error: str | None


class TestbedError(RuntimeError):
    """A part of the testbed failed; everything has been stopped."""

    __test__ = False


class Testbed(Managed):
    """The live loop for one scenario. Use as a context manager: ``with Testbed(sc) as tb``."""

    __test__ = False

    def __init__(self, scenario: Scenario, options: TestbedOptions | None = None) -> None:
        self.scenario = scenario
        self.options = options or TestbedOptions()
        self.settings = ActuatorSettings.from_scenario(
            scenario, name="testbed", namespace=self.options.namespace
        )
        o = self.options
        meta = dict(self.settings.metadata)
        scope = CommonMetadata(
            namespace=o.namespace,
            release=o.release,
            model=o.model,
            activation_metric=ACTIVATION_METRIC,
        )
        for key, value in metadata_of(scope).items():
            meta.setdefault(key, value)
        self.settings = replace(self.settings, metadata=meta, fallback=o.fallback)
        self._own_workdir = o.workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="testbed-")) if o.workdir is None else o.workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.law = service_law(scenario)
        self.prometheus: PrometheusServer | None = None
        self.proxy: Proxy | None = None
        self.exporter: GpuExporter | None = None
        self.indicators: IndicatorExporter | None = None
        """The batch system's exporter replaying the trace's leading indicators."""
        self.server: RunningServer | None = None
        self.deployment: Deployment | None = None
        self.actuator: Actuator | None = None
        self.loadgen: LoadGenerator | None = None
        self._grpc_port = 0
        self._supervise = threading.Event()
        self._failure: str | None = None
        self._closed = False
        self._replay_t0: float | None = None

    @property
    def grpc_port(self) -> int:
        """The scaler's gRPC port (kept across restarts)."""
        return self._grpc_port

    # -- parts -----------------------------------------------------------------

    def _replica(self, name: str) -> TritonReplica:
        return TritonReplica(
            model=self.options.model, law=self.law, name=name, workdir=self.workdir / name
        )

    def _targets(self, pods: list[Pod] | Any) -> None:
        o = self.options
        assert self.prometheus is not None and self.proxy is not None
        assert self.exporter is not None
        front = {"namespace": o.namespace, "release": o.release}
        targets = [ScrapeTarget(p.replica.metrics_address, {**front, "pod": p.name}) for p in pods]
        targets.append(ScrapeTarget(self.exporter.address, {**front, "job": "dcgm"}))
        targets.append(ScrapeTarget(self.proxy.address, {**front, "job": "envoy"}))
        if self.indicators is not None:
            targets.append(ScrapeTarget(self.indicators.address, {"job": "batch-exporter"}))
        self.prometheus.set_targets(targets)
        self.exporter.set_replicas({p.name: p.replica.metrics_url for p in pods})

    def start_scaler(self) -> None:
        """Start the scaler's gRPC server (on the same port as before, after a restart)."""
        assert self.prometheus is not None
        settings = ServerSettings(
            grpc_listen=f"127.0.0.1:{self._grpc_port}",
            metrics_listen="",
            prometheus_url=self.prometheus.url,
            refresh_interval_s=self.options.refresh_interval_s,
            prometheus_timeout_s=2.0,
            grace_period_s=0.5,
        )
        metrics = build_metrics()
        self.server = start_server(settings, PrometheusObserver(settings, metrics), metrics=metrics)
        self._grpc_port = self.server.port

    def stop_scaler(self) -> None:
        if self.server is not None:
            self.server.stop(0.5)
            self.server = None

    def restart_scaler(self) -> None:
        """Stop the scaler and start a fresh one (no memory) on the same port."""
        self.stop_scaler()
        self.start_scaler()

    def kill_prometheus(self) -> None:
        """Stop Prometheus (a fault, not a failure: supervision tolerates it)."""
        assert self.prometheus is not None
        self._supervise.clear()
        self.prometheus.stop()

    def restart_prometheus(self) -> None:
        """Start Prometheus again on its port with its data, and supervise it again."""
        assert self.prometheus is not None
        self.prometheus.start()
        self._supervise.set()

    def start(self) -> None:
        """Start every part; on any failure stop what was started and raise."""
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        sc, o = self.scenario, self.options
        self.prometheus = PrometheusServer(
            workdir=self.workdir / "prometheus",
            scrape_interval_s=sc.observation.scrape_interval_s,
            evaluation_interval_s=sc.observation.scrape_interval_s,
        )
        self.proxy = Proxy(upstream_timeout_s=o.request_timeout_s)
        self.proxy.start()
        self.exporter = GpuExporter(poll_interval_s=sc.observation.scrape_interval_s)
        self.exporter.start()
        self._targets([])
        self.prometheus.start()
        self.start_scaler()
        so = sc.scaledObject
        initial = so.minReplicaCount if o.initial_replicas is None else o.initial_replicas
        initial = min(max(initial, so.minReplicaCount), so.maxReplicaCount)
        self.deployment = Deployment(
            self._replica,
            self.proxy,
            startup_s=sc.startup.nominal_s,
            drain_timeout_s=o.drain_timeout_s,
            on_targets=self._targets,
        )
        replicas = [self._replica(f"triton-0{i}") for i in range(initial)]
        with ThreadPoolExecutor(max(1, initial)) as pool:
            list(pool.map(lambda r: r.start(), replicas))
        for r in replicas:
            self.deployment.adopt(r)
        if self.deployment.ready_pods():
            self.prometheus.wait_for(
                f'nv_inference_request_success{{namespace="{o.namespace}"}}',
                min_series=len(replicas),
                timeout_s=30,
            )
        self.loadgen = LoadGenerator(
            [self.proxy.url],
            o.model,
            threads=o.loadgen_threads,
            timeout_s=o.request_timeout_s,
            retry_for_s=o.client_retry_s,
            poisson=o.poisson,
            seed=o.seed,
            max_backlog=100_000,
        )
        self.loadgen.start()
        self.actuator = Actuator(
            self.settings,
            Autoscaler.for_scenario(sc, initial),
            self.deployment,
            f"127.0.0.1:{self._grpc_port}",
        )
        self._supervise.set()
        threading.Thread(target=self._supervisor, name="testbed-supervisor", daemon=True).start()

    def _supervisor(self) -> None:
        while not self._closed:
            time.sleep(0.5)
            if self._closed:
                return
            p = self.prometheus
            if self._supervise.is_set() and p is not None and not p.running:
                self._failure = "Prometheus exited unexpectedly"
            d = self.deployment
            if d is not None and len(d.errors) > 3:
                self._failure = "replicas keep failing to start: " + "; ".join(d.errors[-3:])

    def check(self) -> None:
        """Raise :class:`TestbedError` if a part failed."""
        if self._failure is not None:
            raise TestbedError(self._failure)

    # -- the run ---------------------------------------------------------------

    def now(self) -> float:
        """Trace seconds since the replay started (deployment seconds before it)."""
        assert self.deployment is not None
        return self.deployment.now() - (self._replay_t0 or 0.0)

    def run(
        self,
        trace: Trace,
        *,
        on_second: Callable[[Snapshot], None] | None = None,
        during: Callable[[Testbed, float], None] | None = None,
    ) -> Comparison:
        """Replay ``trace`` (one-item requests, rate per bin) and score the run.

        ``during(testbed, t_s)`` is called every trace second (fault injection in tests).
        """
        assert self.deployment is not None and self.actuator is not None
        assert self.loadgen is not None
        trace = one_item_requests(trace)
        if trace.indicators and self.indicators is None:
            self.indicators = IndicatorExporter(trace.indicators)
            self.indicators.start()
            self._targets(self.deployment.ready_pods())
        if self.options.random_phase:
            rng = np.random.default_rng([self.options.seed, _PHASE_STREAM])
            self._sleep_until(
                time.monotonic() + rng.uniform(0.0, self.scenario.observation.scrape_interval_s)
            )
        self._replay_t0 = self.deployment.now()
        self.actuator.start()
        start = time.monotonic()
        steps = len(trace.rps)
        step_s = trace.step_s
        second = 0
        for i, rate in enumerate(trace.rps):
            self._sleep_until(start + i * step_s)
            self.loadgen.set_rate(float(rate))
            if self.indicators is not None:
                self.indicators.show(i)
            while (i + 1) * step_s > second:
                self._sleep_until(start + second)
                if during is not None:
                    during(self, float(second))
                if on_second is not None:
                    on_second(self.snapshot(trace))
                second += 1
        self._sleep_until(start + steps * step_s)
        end_s = self.now()
        self.loadgen.set_rate(0.0)
        self.loadgen.stop(timeout_s=self.options.client_retry_s + self.options.request_timeout_s)
        self.actuator.stop()
        self.check()
        return self._result(trace, end_s)

    def _sleep_until(self, t: float) -> None:
        while True:
            self.check()
            left = t - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.2))

    def decision(self) -> Decision | None:
        """The scaler's latest decision for the testbed's ScaledObject."""
        if self.server is None:
            return None
        obj = self.server.tracker.get(f"{self.options.namespace}/testbed")
        return obj.decision if obj is not None else None

    def decision_log(self) -> list[Decision]:
        """The current scaler's kept decisions for the testbed's ScaledObject, oldest first
        (a restarted scaler starts a new log)."""
        if self.server is None:
            return []
        obj = self.server.tracker.get(f"{self.options.namespace}/testbed")
        return list(obj.log) if obj is not None else []

    def scaler_config(self) -> ScalerConfig | None:
        if self.server is None:
            return None
        obj = self.server.tracker.get(f"{self.options.namespace}/testbed")
        return obj.config if obj is not None else None

    def snapshot(self, trace: Trace) -> Snapshot:
        assert self.deployment is not None and self.actuator is not None
        assert self.loadgen is not None and self.proxy is not None
        now = self.now()
        t0 = self._replay_t0 or 0.0
        origin = self.deployment.t0 + t0
        recent = [r for r in self.loadgen.records()[-4000:] if r.sent_s - origin >= now - 5.0]
        ok = sorted(_latency_s(r) * 1000 for r in recent if r.ok)
        step = min(int(now / trace.step_s), len(trace.rps) - 1)
        events = self.actuator.status.events
        return Snapshot(
            t_s=now,
            duration_s=trace.duration_s,
            target_rps=float(trace.rps[max(step, 0)]) if len(trace.rps) else 0.0,
            served_rps=len(ok) / 5.0,
            ready=len(self.deployment.ready_pods()),
            holding=self.deployment.holding(),
            desired=self.actuator.autoscaler.replicas,
            held_requests=self.loadgen.retrying,
            p50_ms=_pct(ok, 0.5),
            p99_ms=_pct(ok, 0.99),
            decision=self.decision(),
            last_event=events[-1].detail if events else None,
            error=self.actuator.status.last_error,
        )

    # -- scoring ---------------------------------------------------------------

    def _result(self, trace: Trace, end_s: float) -> Comparison:
        assert self.deployment is not None and self.actuator is not None
        assert self.loadgen is not None
        sc = self.scenario
        t0 = self._replay_t0 or 0.0
        origin = self.deployment.t0 + t0
        steps, dt = len(trace.rps), trace.step_s
        pods = [_score_pod(p, t0, sc.startup.nominal_s, end_s) for p in self.deployment.pods]
        records = self.loadgen.records()
        dropped = self.loadgen.summary().dropped
        lat_ms = np.array([_latency_s(r) * 1000 for r in records if r.ok])
        slo_ok = float(np.sum(lat_ms <= sc.slo_ms)) if lat_ms.size else 0.0
        total = len(records) + dropped
        failed = sum(1 for r in records if not r.ok) + dropped
        desired = [(t - t0, n) for t, n in self.actuator.desired]
        ready = _interval_series(
            [
                (p.ready_s - t0, (p.deleting_s if p.deleting_s is not None else end_s + t0) - t0)
                for p in self.deployment.pods
                if p.ready_s is not None
            ],
            steps,
            dt,
        )
        ready_s = float(ready.sum()) * dt
        busy = self._busy_seconds(end_s)
        scores = Scores(
            gpu_hours=gpu_seconds(pods) / 3600.0,
            slo_attainment=slo_ok / total if total else 1.0,
            p50_ms=_pct_arr(lat_ms, 50),
            p95_ms=_pct_arr(lat_ms, 95),
            p99_ms=_pct_arr(lat_ms, 99),
            failed_requests=float(failed),
            requests=float(total),
            scale_events=max(len(desired) - 1, 0),
            mean_gpu_utilization=min(busy / ready_s, 1.0) if ready_s > 0 else 0.0,
        )
        per_step = _per_step_p99(records, origin, steps, dt)
        cfg = self.scaler_config()
        obj = (
            self.server.tracker.get(f"{self.options.namespace}/testbed")
            if self.server is not None
            else None
        )
        run = RunResult(
            name=cfg.policy.name if cfg is not None else "testbed",
            scaled_object=sc.scaledObject.name,
            metadata=dict(self.settings.metadata),
            scores=scores,
            ready=ready,
            desired=_step_series(desired, steps, dt),
            held=held_series(pods, steps, dt),
            latency_p99_ms=per_step,
            decisions=len(obj.log) if obj is not None else 0,
        )
        oracle = compute_oracle(trace, sc.fleet, sc.slo_ms, sc.startup.nominal_s)
        return Comparison(trace, sc, oracle, (run,), exact=False)

    def _busy_seconds(self, end_s: float) -> float:
        """GPU-busy replica-seconds over the run, from the exporter's gauge in Prometheus."""
        if self.prometheus is None or not self.prometheus.running:
            return 0.0
        o = self.options
        span = max(1, math.ceil(end_s))
        q = (
            f'sum_over_time(sum(nv_gpu_utilization{{namespace="{o.namespace}",'
            f'release="{o.release}"}})[{span}s:1s])'
        )
        try:
            result = self.prometheus.query(q)
        except Exception as exc:
            log.warning("GPU utilisation query failed: %s", exc)
            return 0.0
        return float(result[0]["value"][1]) if result else 0.0

    # -- teardown --------------------------------------------------------------

    def close(self) -> None:
        """Stop everything (idempotent): load, actuator, pods, scaler, Prometheus, files."""
        if self._closed:
            return
        self._closed = True
        steps: list[Callable[[], None]] = []
        if self.loadgen is not None:
            steps.append(lambda: self.loadgen.stop(timeout_s=5.0) if self.loadgen else None)
        if self.actuator is not None:
            steps.append(self.actuator.stop)
        if self.deployment is not None:
            steps.append(self.deployment.close)
        steps.append(self.stop_scaler)
        if self.proxy is not None:
            steps.append(self.proxy.stop)
        if self.exporter is not None:
            steps.append(self.exporter.stop)
        if self.indicators is not None:
            steps.append(self.indicators.close)
        if self.prometheus is not None:
            steps.append(self.prometheus.close)
        for step in steps:
            try:
                step()
            except Exception:
                log.exception("testbed shutdown step failed")
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _latency_s(r: RequestRecord) -> float:
    """From release by the pacer to the answer: includes any wait for a client thread."""
    return r.lag_s + r.latency_s


def _pct(sorted_ms: list[float], q: float) -> float | None:
    if not sorted_ms:
        return None
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def _pct_arr(values: FloatArray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else 0.0


def _score_pod(p: Pod, t0: float, startup_s: float, end_s: float) -> ScorePod:
    created = p.created_s - t0
    if created <= 0 and p.ready_s is not None and p.ready_s - t0 <= 0:
        created = min(created, -startup_s)
    freed = p.stopping_s if p.stopping_s is not None else p.released_s
    released = freed - t0 if freed is not None else end_s
    return ScorePod(
        created, p.ready_s - t0 if p.ready_s is not None else None, min(released, end_s)
    )


def _interval_series(intervals: list[tuple[float, float]], steps: int, dt: float) -> FloatArray:
    pods = [ScorePod(a, a, b) for a, b in intervals]
    return held_series(pods, steps, dt)


def _step_series(changes: list[tuple[float, int]], steps: int, dt: float) -> FloatArray:
    out = np.zeros(steps)
    for t, n in changes:
        out[min(max(math.ceil(t / dt - 1e-9), 0), steps) :] = n
    return out


def _per_step_p99(records: list[RequestRecord], origin: float, steps: int, dt: float) -> FloatArray:
    buckets: list[list[float]] = [[] for _ in range(steps)]
    for r in records:
        if r.ok:
            i = int((r.released_s - origin) / dt)
            if 0 <= i < steps:
                buckets[i].append(_latency_s(r) * 1000)
    return np.array([float(np.percentile(b, 99)) if b else 0.0 for b in buckets])
