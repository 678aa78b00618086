"""KEDA + the HPA on one machine: ask the scaler over gRPC as KEDA does, apply the
HPA's rules with the simulator's own code (:class:`scaler.sim.hpa.Autoscaler`), and
start or stop real replicas as a Deployment would.

Calls, as KEDA makes them (keda-and-hpa.md):

- KEDA's loop every ``pollingInterval``: ``GetMetricSpec``, ``GetMetrics``, ``IsActive``;
  ``IsActive`` drives 0↔1 (:meth:`Autoscaler.keda_poll`).
- The HPA every ``sync_period_s``: ``GetMetricSpec`` + ``GetMetrics`` + ``IsActive`` under a
  ``hpa_deadline_s`` deadline; the metric goes to :meth:`Autoscaler.hpa_sync`.
- ``external-push`` triggers also hold a ``StreamIsActive`` stream: a ``true`` wakes the
  fleet from 0 at once; a broken stream is retried after 2 s, doubling to 60 s.
- On an RPC error KEDA rebuilds its connection and retries once. If that fails too,
  without ``fallback`` the HPA holds and KEDA never scales to zero; with
  :class:`Fallback`, after more than ``failure_threshold`` failures in a row the HPA
  is fed the fallback count.

Pods (:class:`Deployment`): a pod holds its GPU from the moment it is created; it is
ready (added to the proxy and to Prometheus's targets) once its server answers *and*
``startup_s`` has passed since creation. Scaling down removes booting pods first,
then the newest ready ones; a ready pod is taken out of the proxy, its requests in
flight finish, then its server stops. A pod whose server dies is noticed, taken out,
and replaced, as a ReplicaSet replaces a failed pod.

Times are seconds since the actuator's start (``clock() - t0``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import grpc

from scaler.keda_adapter import keda_reads
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.sim.hpa import Autoscaler
from scaler.sim.scenario import Scenario

log = logging.getLogger(__name__)

FallbackBehavior = Literal[
    "static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"
]


class Replica(Protocol):
    """What the Deployment needs of one server (a :class:`TritonReplica` fits)."""

    name: str

    @property
    def http_url(self) -> str: ...

    @property
    def metrics_address(self) -> str: ...

    @property
    def metrics_url(self) -> str: ...

    @property
    def running(self) -> bool: ...

    def start(self) -> None: ...

    def close(self) -> None: ...


class Frontend(Protocol):
    """The proxy in front of the pods (:class:`scaler.testbed.proxy.Proxy` fits)."""

    def add(self, url: str) -> None: ...

    def remove(self, url: str) -> None: ...

    def wait_drained(self, url: str, timeout_s: float) -> bool: ...


ReplicaFactory = Callable[[str], Replica]
"""Pod name → a not-yet-started replica."""

TargetsChanged = Callable[[Sequence["Pod"]], None]
"""Called with the ready pods whenever that set changes (rewrite Prometheus targets)."""


@dataclass(frozen=True, slots=True)
class Fallback:
    """KEDA's ``fallback``: after more than ``failure_threshold`` failed GetMetrics in a
    row the HPA gets ``replicas`` (or the current count, per ``behavior``)."""

    failure_threshold: int
    replicas: int
    behavior: FallbackBehavior = "static"

    def count(self, current: int) -> int:
        if self.behavior == "currentReplicas":
            return current
        if self.behavior == "currentReplicasIfHigher":
            return max(current, self.replicas)
        if self.behavior == "currentReplicasIfLower":
            return min(current, self.replicas)
        return self.replicas


@dataclass(frozen=True, slots=True)
class ActuatorSettings:
    """The ScaledObject and controller timers the actuator runs (seconds)."""

    name: str
    namespace: str
    metadata: dict[str, str]
    trigger_type: Literal["external", "external-push"] = "external"
    polling_interval_s: float = 30.0
    sync_period_s: float = 15.0
    hpa_deadline_s: float = 3.0
    startup_s: float = 0.0
    drain_timeout_s: float = 30.0
    fallback: Fallback | None = None

    @staticmethod
    def from_scenario(
        scenario: Scenario, *, name: str = "testbed", namespace: str = "testbed"
    ) -> ActuatorSettings:
        so = scenario.scaledObject
        trig = so.trigger
        if trig.metricType != "AverageValue":
            raise ValueError(
                "the testbed asks the scaler over gRPC, whose metric is a replica count: "
                f"triggers[0].metricType must be AverageValue, got {trig.metricType!r}"
            )
        return ActuatorSettings(
            name=name,
            namespace=namespace,
            metadata=dict(trig.metadata),
            trigger_type=trig.type,
            polling_interval_s=float(so.pollingInterval),
            sync_period_s=scenario.hpa.sync_period_s,
            startup_s=scenario.startup.nominal_s,
        )


@dataclass
class Pod:
    """One replica's life (run seconds). ``stopping_s``: its server was told to stop
    (after draining); ``released_s``: the server has exited."""

    name: str
    replica: Replica
    created_s: float
    started_s: float | None = None
    ready_s: float | None = None
    deleting_s: float | None = None
    stopping_s: float | None = None
    released_s: float | None = None
    crashed: bool = False
    booted: threading.Event = field(default_factory=threading.Event)

    @property
    def phase(self) -> str:
        if self.released_s is not None:
            return "gone"
        if self.deleting_s is not None:
            return "draining"
        return "ready" if self.ready_s is not None else "booting"


@dataclass(frozen=True, slots=True)
class Event:
    """Something the actuator did or saw, for logs and the live view."""

    t_s: float
    kind: str
    detail: str
    replicas: int


class Deployment:
    """Pods reconciled to a replica count, with start-up delay, draining and
    replacement of dead pods. Thread-safe."""

    def __init__(
        self,
        factory: ReplicaFactory,
        frontend: Frontend,
        *,
        startup_s: float,
        drain_timeout_s: float = 30.0,
        on_targets: TargetsChanged | None = None,
        clock: Callable[[], float] = time.monotonic,
        t0: float | None = None,
        record: Callable[[str, str], None] | None = None,
    ) -> None:
        self._factory = factory
        self._frontend = frontend
        self.startup_s = startup_s
        self.drain_timeout_s = drain_timeout_s
        self._on_targets = on_targets
        self._clock = clock
        self.t0 = clock() if t0 is None else t0
        self._record = record
        self._lock = threading.RLock()
        self._pods: list[Pod] = []
        self._seq = 0
        self._target = 0
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="pod")
        self._closed = False
        self.errors: list[str] = []

    def now(self) -> float:
        return self._clock() - self.t0

    @property
    def pods(self) -> list[Pod]:
        with self._lock:
            return list(self._pods)

    def alive(self) -> list[Pod]:
        with self._lock:
            return [p for p in self._pods if p.deleting_s is None and p.released_s is None]

    def ready_pods(self) -> list[Pod]:
        return [p for p in self.alive() if p.ready_s is not None]

    def holding(self) -> int:
        """Pods holding a GPU now (booting, ready or draining)."""
        with self._lock:
            return sum(1 for p in self._pods if p.released_s is None)

    def adopt(self, replica: Replica) -> Pod:
        """Take an already running replica as a ready pod (the run's initial fleet)."""
        with self._lock:
            now = self.now()
            pod = Pod(replica.name, replica, now, started_s=now, ready_s=now)
            pod.booted.set()
            self._pods.append(pod)
            self._target += 1
        self._frontend.add(replica.http_url)
        self._targets_changed()
        return pod

    def scale(self, target: int) -> None:
        """Create or delete pods until ``target`` are alive."""
        with self._lock:
            if self._closed:
                return
            self._target = target
            alive = self.alive()
            for _ in range(target - len(alive)):
                self._create()
            surplus = len(alive) - target
            if surplus <= 0:
                return
            booting = sorted(
                (p for p in alive if p.ready_s is None), key=lambda p: p.created_s, reverse=True
            )
            ready = sorted(
                (p for p in alive if p.ready_s is not None),
                key=lambda p: p.ready_s or 0.0,
                reverse=True,
            )
            victims = (booting + ready)[:surplus]
            now = self.now()
            for pod in victims:
                pod.deleting_s = now
        for pod in victims:
            if pod.ready_s is not None:
                self._frontend.remove(pod.replica.http_url)
        if any(p.ready_s is not None for p in victims):
            self._targets_changed()
        for pod in victims:
            self._pool.submit(self._delete, pod)

    def _create(self) -> None:
        self._seq += 1
        name = f"triton-{self._seq}"
        pod = Pod(name, self._factory(name), self.now())
        self._pods.append(pod)
        self._note("create", f"pod {name} created (start-up {self.startup_s:g} s)")
        self._pool.submit(self._boot, pod)

    def _boot(self, pod: Pod) -> None:
        try:
            pod.replica.start()
        except Exception as exc:
            pod.booted.set()
            if pod.deleting_s is None:
                self.errors.append(f"{pod.name}: {exc}")
                log.warning("pod %s failed to start: %s", pod.name, exc)
                self._release(pod, crashed=True)
            return
        with self._lock:
            pod.started_s = self.now()
        pod.booted.set()
        while pod.deleting_s is None and not self._closed:
            wait = pod.created_s + self.startup_s - self.now()
            if wait <= 0:
                break
            time.sleep(min(wait, 0.1))
        with self._lock:
            if pod.deleting_s is not None or self._closed:
                return
            pod.ready_s = self.now()
        self._frontend.add(pod.replica.http_url)
        self._note("ready", f"pod {pod.name} ready after {pod.ready_s - pod.created_s:.1f} s")
        self._targets_changed()

    def _delete(self, pod: Pod) -> None:
        pod.booted.wait()
        if pod.ready_s is not None:
            drained = self._frontend.wait_drained(pod.replica.http_url, self.drain_timeout_s)
            if not drained:
                self._note("drain", f"pod {pod.name}: requests still in flight after drain")
        self._release(pod)

    def _release(self, pod: Pod, *, crashed: bool = False) -> None:
        if pod.released_s is not None:
            return
        with self._lock:
            if pod.stopping_s is None:
                pod.stopping_s = self.now()
        try:
            pod.replica.close()
        except Exception as exc:
            self.errors.append(f"{pod.name}: stop failed: {exc}")
        with self._lock:
            pod.crashed = pod.crashed or crashed
            if pod.deleting_s is None:
                pod.deleting_s = self.now()
            pod.released_s = self.now()
        self._note("stopped", f"pod {pod.name} stopped" + (" (crashed)" if crashed else ""))

    def _delete_now(self, pod: Pod) -> None:
        pod.booted.wait()
        self._release(pod)

    def check(self) -> list[Pod]:
        """Notice pods whose server died: take them out and replace them. Returns them."""
        dead = []
        with self._lock:
            for pod in self.alive():
                if pod.started_s is not None and not pod.replica.running:
                    pod.crashed = True
                    pod.deleting_s = self.now()
                    dead.append(pod)
        for pod in dead:
            if pod.ready_s is not None:
                self._frontend.remove(pod.replica.http_url)
            self._note("crash", f"pod {pod.name} died; replacing it")
            self._pool.submit(self._release, pod, crashed=True)
        if dead:
            self._targets_changed()
            with self._lock:
                self.scale(self._target)
        return dead

    def _targets_changed(self) -> None:
        if self._on_targets is not None:
            try:
                self._on_targets(self.ready_pods())
            except Exception as exc:
                self.errors.append(f"targets: {exc}")

    def _note(self, kind: str, detail: str) -> None:
        log.info(detail)
        if self._record is not None:
            self._record(kind, detail)

    def close(self) -> None:
        """Stop every pod (no draining) and wait for them."""
        with self._lock:
            self._closed = True
            pods = [p for p in self._pods if p.released_s is None]
            for p in pods:
                if p.deleting_s is None:
                    p.deleting_s = self.now()
        for p in pods:
            self._frontend.remove(p.replica.http_url)
        for f in [self._pool.submit(self._delete_now, p) for p in pods]:
            f.result()
        self._pool.shutdown(wait=True)


class ScalerClient:
    """KEDA's side of the gRPC protocol for one ScaledObject, with KEDA's
    rebuild-and-retry-once on error."""

    def __init__(self, address: str, ref: pb.ScaledObjectRef) -> None:
        self.address = address
        self.ref = ref
        self._lock = threading.Lock()
        self._channel, self._stub = self._connect()

    def _connect(self) -> tuple[grpc.Channel, pb_grpc.ExternalScalerStub]:
        channel = grpc.insecure_channel(
            self.address,
            options=[
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.min_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 1000),
            ],
        )
        return channel, pb_grpc.ExternalScalerStub(channel)  # type: ignore[no-untyped-call]

    def rebuild(self) -> None:
        with self._lock:
            self._channel.close()
            self._channel, self._stub = self._connect()

    @property
    def stub(self) -> pb_grpc.ExternalScalerStub:
        with self._lock:
            return self._stub

    def query(self, deadline_s: float) -> tuple[float, float, bool]:
        """GetMetricSpec, GetMetrics, IsActive → (metric, target, active); one retry
        on a fresh channel, as KEDA rebuilds a failing scaler."""
        try:
            return self._query_once(deadline_s)
        except grpc.RpcError:
            self.rebuild()
            return self._query_once(deadline_s)

    def _query_once(self, deadline_s: float) -> tuple[float, float, bool]:
        stub = self.stub
        spec = stub.GetMetricSpec(self.ref, timeout=deadline_s)
        if not spec.metricSpecs:
            raise ValueError("GetMetricSpec returned no metric specs")
        ms = spec.metricSpecs[0]
        target = ms.targetSizeFloat if ms.targetSizeFloat > 0 else float(ms.targetSize)
        got = stub.GetMetrics(
            pb.GetMetricsRequest(scaledObjectRef=self.ref, metricName=ms.metricName),
            timeout=deadline_s,
        )
        metric = 0.0
        for v in got.metricValues:
            x = keda_reads(v.metricValueFloat, v.metricValue)
            metric += x if math.isfinite(x) and x > 0 else 0.0
        active = stub.IsActive(self.ref, timeout=deadline_s).result
        return metric, target, bool(active)

    def close(self) -> None:
        with self._lock:
            self._channel.close()


@dataclass
class ActuatorStatus:
    """What the live view shows."""

    replicas: int = 0
    last_metric: float | None = None
    last_active: bool | None = None
    last_error: str | None = None
    failures: int = 0
    events: list[Event] = field(default_factory=list)


class Actuator:
    """KEDA's polling loop, the HPA's sync loop and (``external-push``) the activity
    stream, acting on a :class:`Deployment`."""

    def __init__(
        self,
        settings: ActuatorSettings,
        autoscaler: Autoscaler,
        deployment: Deployment,
        scaler_address: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        check_interval_s: float = 0.25,
    ) -> None:
        self.settings = settings
        self.autoscaler = autoscaler
        self.deployment = deployment
        self._clock = clock
        self.check_interval_s = check_interval_s
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        ref = pb.ScaledObjectRef(
            name=settings.name, namespace=settings.namespace, scalerMetadata=settings.metadata
        )
        self.client = ScalerClient(scaler_address, ref)
        self.status = ActuatorStatus(replicas=autoscaler.replicas)
        self.desired: list[tuple[float, int]] = [(0.0, autoscaler.replicas)]
        self._stream_call: Any = None
        self._target = 1.0

    def now(self) -> float:
        return self.deployment.now()

    def _event(self, kind: str, detail: str) -> None:
        with self._lock:
            self.status.events.append(Event(self.now(), kind, detail, self.autoscaler.replicas))
            del self.status.events[:-200]

    def _apply(self, before: int, why: str) -> None:
        after = self.autoscaler.replicas
        self.status.replicas = after
        if after != before:
            self.desired.append((self.now(), after))
            self._event("scale", f"{before} → {after}: {why}")
        self.deployment.scale(after)

    def keda_poll(self) -> None:
        """One pass of KEDA's loop (also what the test drives directly)."""
        try:
            metric, _, active = self.client.query(self.settings.hpa_deadline_s)
        except (grpc.RpcError, ValueError) as exc:
            self._failed("KEDA poll", exc)
            return
        with self._lock:
            self.status.last_metric, self.status.last_active = metric, active
            self.status.last_error = None
            before = self.autoscaler.replicas
            self.autoscaler.keda_poll(self.now(), active)
            self._apply(before, f"KEDA poll: IsActive={active}")

    def hpa_sync(self) -> None:
        """One HPA sync (also what the test drives directly)."""
        now = self.now()
        try:
            metric, target, active = self.client.query(self.settings.hpa_deadline_s)
        except (grpc.RpcError, ValueError) as exc:
            self._failed("HPA sync", exc)
            with self._lock:
                fb = self.settings.fallback
                before = self.autoscaler.replicas
                if fb is not None and self.status.failures > fb.failure_threshold:
                    count = fb.count(before)
                    ready = len(self.deployment.ready_pods())
                    self.autoscaler.hpa_sync(now, count * self._target, self._target, ready)
                    self._apply(before, f"fallback to {count} after {self.status.failures} errors")
                else:
                    self.autoscaler.hpa_sync(now, None, self._target, 0)
            return
        with self._lock:
            self.status.failures = 0
            self.status.last_metric, self.status.last_active = metric, active
            self.status.last_error = None
            self._target = target
            before = self.autoscaler.replicas
            ready = len(self.deployment.ready_pods())
            self.autoscaler.hpa_sync(now, metric, target, ready)
            self._apply(before, f"HPA: metric {metric:.3g} / target {target:g}")

    def _failed(self, where: str, exc: BaseException) -> None:
        detail = str(exc.details()) if isinstance(exc, grpc.RpcError) else str(exc)
        with self._lock:
            self.status.failures += 1
            self.status.last_error = f"{where}: {detail}"
        self._event("error", f"{where}: {detail}")

    def wake(self) -> None:
        """A ``true`` from StreamIsActive: scale 0 → max(min, 1) at once."""
        with self._lock:
            before = self.autoscaler.replicas
            self.autoscaler.keda_poll(self.now(), True)
            self._apply(before, "StreamIsActive: true")

    def _loop(self, period_s: float, fn: Callable[[], None], first_s: float) -> None:
        next_t = self._clock() + first_s
        while not self._stop.wait(max(0.0, next_t - self._clock())):
            try:
                fn()
            except Exception:
                log.exception("actuator loop error")
            next_t += period_s
            if next_t < self._clock():
                next_t = self._clock() + period_s

    def _watch(self) -> None:
        while not self._stop.wait(self.check_interval_s):
            dead = self.deployment.check()
            for pod in dead:
                self._event("crash", f"pod {pod.name} died; the Deployment replaces it")

    def _stream(self) -> None:
        backoff = 2.0
        while not self._stop.is_set():
            try:
                call = self.client.stub.StreamIsActive(self.client.ref)
                with self._lock:
                    self._stream_call = call
                for msg in call:
                    backoff = 2.0
                    if msg.result:
                        self._event("stream", "StreamIsActive: true")
                        self.wake()
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    return
                code = exc.code().name
                self._event("error", f"StreamIsActive: {code}; retry in {backoff:g} s")
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 60.0)

    def start(self) -> None:
        s = self.settings
        loops: list[tuple[str, Callable[[], None]]] = [
            (
                "keda",
                lambda: self._loop(s.polling_interval_s, self.keda_poll, s.polling_interval_s),
            ),
            ("hpa", lambda: self._loop(s.sync_period_s, self.hpa_sync, s.sync_period_s)),
            ("watch", self._watch),
        ]
        if s.trigger_type == "external-push":
            loops.append(("stream", self._stream))
        for name, target in loops:
            t = threading.Thread(target=target, name=f"actuator-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            call = self._stream_call
        if call is not None:
            call.cancel()
        for t in self._threads:
            t.join(10.0)
        self._threads = []
        self.client.close()
