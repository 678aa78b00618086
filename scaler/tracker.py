"""Keeps one decision per ScaledObject fresh in memory, so RPCs never wait on Prometheus.

KEDA asks about a ScaledObject every few seconds; this module refreshes each
object's decision in the background at ``refresh_interval_s`` and the gRPC
handlers only read the latest one. On first sight of an object (a new object,
or a restarted scaler) its pipeline state is rebuilt by replaying the metrics
history from Prometheus, so a restart never dips the replica count.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import math
import pickle
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from policies import Decision, Observation, PipelineState, Status, decide
from scaler.limits import (
    DEFAULT_MAX_METADATA_BYTES,
    clean_message,
    metadata_size_problem,
    redact,
)
from scaler.metadata import MetadataError, ScalerConfig, parse_metadata, with_override
from scaler.observer import ObserveError, Observer, ReplicaCount
from scaler.own_metrics import ScalerMetrics, remove_series

log = logging.getLogger("scaler.decisions")

MAX_REBUILD_POINTS = 720
"""Most history points replayed on rebuild (one range query per signal)."""

DECISION_LOG_SIZE = 4320
"""Most decisions kept per object for the dashboard: 6 h at the default 5 s refresh."""

DEFAULT_MAX_LOGGED_DECISIONS = 200_000
"""Decisions kept for the dashboard across all objects (setting
``SCALER_MAX_LOGGED_DECISIONS``; about 1 KB each). 46 objects keep 6 h each; with
more, each keeps an equal share, so memory is bounded by this, not by
objects × 6 h (5,000 objects × 4,320 decisions would be over 20 GB)."""

MIN_DECISION_LOG = 12
"""Decisions every object keeps whatever the share (a minute at 5 s)."""

DEFAULT_MAX_OBJECTS = 5000
"""ScaledObjects tracked at once (setting ``SCALER_MAX_OBJECTS``)."""

EVICT_IDLE_S = 120.0
"""At the object limit, the least recently asked object is forgotten to make room
only if KEDA has not asked about it for this long (more than KEDA's 30 s polling
and the HPA's 15 s sync), so a burst of new objects never evicts live ones: it is
refused instead."""

DISPATCH_TICK_S = 0.1
"""Seconds between looks for objects due a refresh."""

DISPATCH_MIN_GAP_S = 0.02
"""Least seconds between two looks (each scans every object)."""

QUEUE_SLACK = 1024
"""Entries of forgotten objects the refresh heap may hold beyond twice the live ones
before it is compacted."""

PARSE_CACHE_ENTRIES = 4096
"""Parsed configs kept (keyed by a digest of the metadata, so each costs one config)."""


class TrackingRefused(RuntimeError):
    """A new object cannot be tracked: the object limit is reached with no idle
    object to forget. The message says so; the gRPC layer answers RESOURCE_EXHAUSTED."""


Overrides = Callable[[str, str], Mapping[str, str]]
"""(namespace, name) → metadata keys that override the ScaledObject's own (the
dashboard's "apply"); read on every call so a change needs no restart."""


def no_overrides(namespace: str, name: str) -> Mapping[str, str]:
    return {}


ReplicaReader = Callable[[str, str], "ReplicaCount | None"]
"""(namespace, deployment) → its replica counts from the Kubernetes API, or None."""


@dataclass
class TrackedObject:
    """One ScaledObject's live state. ``decision`` is replaced, never mutated."""

    config: ScalerConfig
    metadata: Mapping[str, str] = field(default_factory=dict)
    """The metadata KEDA sent, before any dashboard override."""
    state: PipelineState = field(default_factory=PipelineState)
    decision: Decision | None = None
    last_asked_s: float = 0.0
    rebuilt: bool = False
    error: str | None = None
    tracked_s: float = 0.0
    """When this object was first asked about (tracker clock, epoch seconds)."""
    refreshed_s: float | None = None
    """When its last refresh started (tracker clock); None before the first."""
    in_flight: bool = False
    log: deque[Decision] = field(default_factory=lambda: deque(maxlen=DECISION_LOG_SIZE))
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: threading.Event = field(default_factory=threading.Event)


def _window_s(config: ScalerConfig) -> float:
    g = config.guardrails
    return max(g.scale_down_stabilization_s, config.policy.history_s(config.params))


class ObjectTracker:
    """The registry of ScaledObjects seen by this replica and their decisions.

    ``clock`` returns epoch seconds; tests pass their own to move time without sleeping.
    """

    def __init__(
        self,
        observer: Observer,
        metrics: ScalerMetrics,
        *,
        refresh_interval_s: float = 5.0,
        forget_after_s: float = 900.0,
        clock: Callable[[], float] = time.time,
        workers: int = 8,
        overrides: Overrides = no_overrides,
        replica_reader: ReplicaReader | None = None,
        max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES,
        validate: Callable[[ScalerConfig], None] | None = None,
        max_objects: int = DEFAULT_MAX_OBJECTS,
        max_logged_decisions: int = DEFAULT_MAX_LOGGED_DECISIONS,
    ) -> None:
        if max_objects < 1:
            raise ValueError(f"max_objects must be ≥ 1, got {max_objects}")
        self._observer = observer
        self._validate = validate
        self._metrics = metrics
        self.refresh_interval_s = refresh_interval_s
        self._forget_after_s = forget_after_s
        self._clock = clock
        self._overrides = overrides
        self._replica_reader = replica_reader
        self._objects: OrderedDict[str, TrackedObject] = OrderedDict()
        """Least recently asked first."""
        self._max_objects = max_objects
        self._max_logged = max_logged_decisions
        self._workers = workers
        self._in_flight = 0
        self._queue: list[tuple[float, int, weakref.ref[TrackedObject]]] = []
        """(when due, tie-break, the object): the refresh order, a heap (under ``_lock``).
        Entries of objects since forgotten or replaced are dropped when they come up;
        they hold the object weakly, so a forgotten object's memory (config, state,
        decision log) is freed at once, not when its turn comes (under churn the heap
        is a refresh cycle behind: a thousand evicted objects kept past the limit)."""
        self._seq = itertools.count()
        self._due = threading.Event()
        self._listeners: list[Callable[[str], None]] = []
        self._threads: list[threading.Thread] = []
        self._max_metadata_bytes = max_metadata_bytes
        self._parsed: OrderedDict[bytes, ScalerConfig] = OrderedDict()
        self._series: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
        """Object key → the (metric, label values) its decisions set, so forgetting it
        removes exactly those."""
        self._raw: dict[str, Mapping[str, str]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh")
        self._cleanup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forget")
        self._stop = threading.Event()
        self.changed = threading.Condition()
        """Notified after every refresh."""
        # Read when /metrics is scraped: what memory is bounded by, as it stands.
        metrics.tracked_objects.set_function(lambda: len(self._objects))
        metrics.logged_decisions.set_function(self.logged_decisions)

    def add_listener(self, fn: Callable[[str], None]) -> None:
        """Call ``fn(object key)`` (on a refresher thread) after each decision."""
        self._listeners.append(fn)

    def cached_config(
        self, name: str, namespace: str, metadata: Mapping[str, str], *, admit: bool = False
    ) -> ScalerConfig | None:
        """The config for this metadata if it was parsed before, else None; raises
        MetadataError if the metadata is too large, and with ``admit``
        :class:`TrackingRefused` if the object would be refused (:meth:`admit`, before
        the digest: at the object limit most calls under churn are refusals). Cheap: a
        digest and a lookup."""
        too_big = metadata_size_problem(metadata, self._max_metadata_bytes)
        if too_big is not None:
            raise MetadataError(too_big)
        if admit:
            self.admit(namespace, name)
        override = self._overrides(namespace, name)
        # As config_for merges, or an object with an override and a deprecated key
        # would never hit the cache (parsed on every call).
        merged = with_override(metadata, override) if override else metadata
        key = _digest(namespace, name, merged)
        with self._lock:
            cfg = self._parsed.get(key)
            if cfg is not None:
                self._parsed.move_to_end(key)
                self._raw[cfg.key] = self._raw.get(cfg.key) or redact(metadata)
        return cfg

    def config_for(self, name: str, namespace: str, metadata: Mapping[str, str]) -> ScalerConfig:
        """Validated config for this metadata plus any override (cached); raises
        MetadataError (also from ``validate``, e.g. a ``serverAddress`` the server
        does not allow).

        The size bound is checked before anything is kept; what is kept is redacted
        (no TLS keys or tokens); the parse cache is keyed by a digest and holds at
        most :data:`PARSE_CACHE_ENTRIES` configs, least recently used dropped."""
        cfg = self.cached_config(name, namespace, metadata)
        if cfg is None:
            override = self._overrides(namespace, name)
            merged = with_override(metadata, override) if override else metadata
            key = _digest(namespace, name, merged)
            cfg = parse_metadata(name, namespace, merged)
            for warning in cfg.deprecations:
                logging.getLogger(__name__).warning("%s/%s: %s", namespace, name, warning)
            if self._validate is not None:
                self._validate(cfg)
            with self._lock:
                self._parsed[key] = cfg
                while len(self._parsed) > PARSE_CACHE_ENTRIES:
                    self._parsed.popitem(last=False)
        with self._lock:
            self._raw[cfg.key] = redact(metadata)
        return cfg

    def admit(self, namespace: str, name: str) -> None:
        """Raise :class:`TrackingRefused` now if a new object of this name would be
        refused, so a flood of new objects costs no parsing once the table is full."""
        key = f"{namespace}/{name}"
        now = self._clock()
        with self._lock:
            if key in self._objects or len(self._objects) < self._max_objects:
                return
            idle = now - next(iter(self._objects.values())).last_asked_s
            count = len(self._objects)
        if idle <= EVICT_IDLE_S:
            raise TrackingRefused(
                f"{count} ScaledObjects tracked, the limit (SCALER_MAX_OBJECTS); the least "
                f"recently asked was asked {idle:.0f} s ago, and only one idle for over "
                f"{EVICT_IDLE_S:.0f} s is forgotten to make room: {key} refused"
            )

    def track(self, config: ScalerConfig) -> TrackedObject:
        """Start (or keep) refreshing this object; its first refresh is due at once.

        Raises :class:`TrackingRefused` at the object limit when the least recently
        asked object was asked within :data:`EVICT_IDLE_S` (else that one is forgotten)."""
        now = self._clock()
        evicted: TrackedObject | None = None
        with self._lock:
            obj = self._objects.get(config.key)
            if obj is None and len(self._objects) >= self._max_objects:
                lru = next(iter(self._objects.values()))
                idle = now - lru.last_asked_s
                if idle <= EVICT_IDLE_S:
                    # config_for kept its metadata for the object it expected to track:
                    # refused, nothing of it may stay (under churn thousands would).
                    self._raw.pop(config.key, None)
                    raise TrackingRefused(
                        f"{len(self._objects)} ScaledObjects tracked, the limit "
                        f"(SCALER_MAX_OBJECTS); the least recently asked was asked {idle:.0f} s "
                        f"ago, and only one idle for over {EVICT_IDLE_S:.0f} s is forgotten "
                        f"to make room: {config.key} refused"
                    )
                evicted = self._objects.pop(lru.config.key)
                self._raw.pop(lru.config.key, None)
            # ``is`` first: a config from the parse cache is the tracked one itself, and
            # comparing two pydantic models field by field costs every call.
            new = obj is None or (obj.config is not config and obj.config != config)
            if new:
                fresh = TrackedObject(config=config, tracked_s=now)
                if obj is not None:
                    fresh.tracked_s = obj.tracked_s
                    fresh.refreshed_s = obj.refreshed_s
                    if obj.decision is not None:
                        fresh.state = obj.state
                        fresh.decision = obj.decision
                        fresh.log = obj.log
                        fresh.rebuilt = True
                        fresh.ready.set()
                obj = fresh
                self._objects[config.key] = obj
            assert obj is not None
            if new:
                self._enqueue(obj)
            self._objects.move_to_end(config.key)
            obj.last_asked_s = now
            obj.metadata = self._raw.get(config.key, obj.metadata)
        if evicted is not None:  # its metric series go on another thread, not the RPC's
            self._cleanup.submit(self._forgotten, evicted, "evicted")
        if new:
            if self._threads:
                self._due.set()
            else:  # not started (tests, the dashboard alone): refresh at once
                self._pool.submit(self._refresh_logged, obj)
        return obj

    @property
    def observer(self) -> Observer:
        """Where decisions' observations come from (the dashboard reads an object's
        traffic history through it: one Prometheus client for both)."""
        return self._observer

    def decisions_kept_per_object(self) -> int:
        """Each object's share of ``max_logged_decisions`` now (between
        :data:`MIN_DECISION_LOG` and :data:`DECISION_LOG_SIZE`); a log longer than
        its share is trimmed, oldest first, at the object's next decision."""
        share = self._max_logged // max(1, len(self._objects))
        return max(MIN_DECISION_LOG, min(DECISION_LOG_SIZE, share))

    def logged_decisions(self) -> int:
        """Decisions kept in every object's log now (at most about
        ``max_logged_decisions``, never fewer than :data:`MIN_DECISION_LOG` each)."""
        return sum(len(o.log) for o in self.objects())

    def get(self, key: str) -> TrackedObject | None:
        with self._lock:
            return self._objects.get(key)

    def objects(self) -> list[TrackedObject]:
        with self._lock:
            return list(self._objects.values())

    def _rebuild(self, obj: TrackedObject, now: float) -> bool:
        """Replay the history window into the object's state; False (logged) if the
        history could not be read, so the next refresh tries again."""
        cfg = obj.config
        window = _window_s(cfg)
        if window <= 0:
            return True
        step = max(window / MAX_REBUILD_POINTS, min(self.refresh_interval_s, window / 10))
        # Aligned to the step, so objects of one scope rebuilding within a step send
        # identical range queries, which the observer sends once.
        # ceil: the newest point is within the last step and the oldest inside the window.
        end = math.ceil((now - step) / step) * step
        start = end - step * max(0, math.floor(window / step) - 1)
        try:
            past = self._observer.history(cfg, start, end, step)
        except ObserveError as exc:
            log.warning(
                json.dumps(
                    {"event": "rebuild_failed", "object": cfg.key, "error": clean_message(str(exc))}
                )
            )
            return False
        state = obj.state
        for o in past:
            _, state = decide(cfg.policy, cfg.params, cfg.guardrails, o, state, o.time_s)
        obj.state = state
        return True

    def _refresh_logged(self, obj: TrackedObject) -> None:
        """``refresh_one`` for the pool, where an exception would vanish in its future."""
        try:
            self.refresh_one(obj)
        except Exception:
            log.exception(json.dumps({"event": "refresh_crashed", "object": obj.config.key}))

    def refresh_one(self, obj: TrackedObject) -> Decision:
        """Observe, decide, record. Serialised per object; safe to call from any thread.

        The history rebuild is retried on every refresh until it succeeds or a good
        decision exists (replaying it later would overwrite live state). An error
        the observer did not expect is logged and treated as missing data (hold)."""
        with obj.lock:
            now = self._clock()
            obj.refreshed_s = now
            cfg = obj.config
            if not obj.rebuilt:
                obj.rebuilt = self._rebuild(obj, now) or obj.state.last_good is not None
            observation: Observation | None
            previous_error = obj.error
            try:
                observation = self._with_kube_replicas(cfg, self._observer.observe(cfg, now))
                obj.error = None
            except ObserveError as exc:
                observation = None
                obj.error = clean_message(str(exc))
            except Exception as exc:  # a bug must not stop this object's decisions
                log.exception(json.dumps({"event": "observe_crashed", "object": cfg.key}))
                observation = None
                obj.error = clean_message(f"{type(exc).__name__}: {exc}")
            if obj.error is not None and previous_error is None:
                log.warning(
                    json.dumps({"event": "refresh_failed", "object": cfg.key, "error": obj.error})
                )
            known = self._cold_start_replicas(obj, observation)
            try:
                decision, obj.state = decide(
                    cfg.policy,
                    cfg.params,
                    cfg.guardrails,
                    observation,
                    obj.state,
                    now,
                    known_replicas=known,
                )
            except Exception as exc:  # e.g. arithmetic overflow in a plug-in policy
                log.exception(json.dumps({"event": "decide_crashed", "object": cfg.key}))
                obj.error = clean_message(
                    f"policy {cfg.policy.name} failed: {type(exc).__name__}: {exc}"
                )
                decision, obj.state = decide(
                    cfg.policy,
                    cfg.params,
                    cfg.guardrails,
                    None,
                    obj.state,
                    now,
                    known_replicas=known,
                )
            if obj.error is not None:
                decision = _with_reason(decision, f"{decision.reason} ({obj.error})")
            obj.decision = decision
            keep = self.decisions_kept_per_object()
            while len(obj.log) >= keep:
                obj.log.popleft()
            obj.log.append(decision)
            obj.ready.set()
        self._record(cfg, decision)
        with self.changed:
            self.changed.notify_all()
        for fn in self._listeners:
            fn(cfg.key)
        return decision

    def _cold_start_replicas(self, obj: TrackedObject, obs: Observation | None) -> int | None:
        """On a cold start with no usable observation, the target's replica count from
        the Kubernetes API (when a target is named), so the hold has a real count."""
        if obj.state.last_good is not None or obs is not None:
            return None
        cfg = obj.config
        if self._replica_reader is None or cfg.target_deployment is None:
            return None
        try:
            counts = self._replica_reader(cfg.namespace, cfg.target_deployment)
        except Exception:
            log.exception(json.dumps({"event": "kube_read_failed", "object": cfg.key}))
            return None
        if counts is None:
            return None
        return max(counts.spec_replicas, counts.ready_replicas)

    def _with_kube_replicas(self, cfg: ScalerConfig, obs: Observation) -> Observation:
        """At zero replicas Prometheus cannot tell a fleet that is gone from one whose
        metrics are missing; the scale subresource can (when a target is named)."""
        if obs.ready_replicas > 0 or obs.desired_replicas is not None:
            return obs
        if self._replica_reader is None or cfg.target_deployment is None:
            return obs
        counts = self._replica_reader(cfg.namespace, cfg.target_deployment)
        if counts is None:
            return obs
        return replace(
            obs, ready_replicas=counts.ready_replicas, desired_replicas=counts.spec_replicas
        )

    def _record(self, cfg: ScalerConfig, d: Decision) -> None:
        m = self._metrics
        obj = (cfg.namespace, cfg.name)
        guardrail = d.guardrails[-1] if d.guardrails else "none"
        touched: list[tuple[str, tuple[str, ...]]] = [
            ("decisions", (*obj, d.policy, d.status.value, guardrail)),
            ("desired_replicas", (*obj, d.policy)),
            ("holding", obj),
            ("no_series", obj),
        ]
        m.decisions.labels(*touched[0][1]).inc()
        m.desired_replicas.labels(*touched[1][1]).set(d.value)
        m.holding.labels(*obj).set(1 if d.status in (Status.HOLD, Status.FAIL) else 0)
        m.no_series.labels(*obj).set(1 if d.inputs.get("no_series") else 0)
        ready = d.inputs.get("ready_replicas")
        if isinstance(ready, int):
            m.ready_replicas.labels(*obj).set(ready)
            touched.append(("ready_replicas", obj))
        if d.signal is not None:
            m.signal.labels(*obj, d.policy).set(d.signal)
            touched.append(("signal", (*obj, d.policy)))
        if d.target is not None:
            m.signal_target.labels(*obj, d.policy).set(d.target)
            touched.append(("signal_target", (*obj, d.policy)))
        with self._lock:
            if cfg.key in self._objects:
                self._series.setdefault(cfg.key, set()).update(touched)
                touched = []
        remove_series(m, touched)  # forgotten while this refresh ran: its series go too
        if log.isEnabledFor(logging.INFO):  # not built just to be dropped
            record = {"event": "decision", "object": cfg.key, **d.as_record()}
            log.info(json.dumps(record, default=str, allow_nan=True))

    def forget_idle(self) -> int:
        """Drop objects KEDA has not asked about for ``forget_after_s`` (and their
        metric series); returns how many."""
        now = self._clock()
        with self._lock:  # a copy under the lock, the scan outside it
            snapshot = list(self._objects.values())
        idle = [o for o in snapshot if now - o.last_asked_s > self._forget_after_s]
        gone = []
        with self._lock:
            for o in idle:
                current = self._objects.get(o.config.key)
                if current is o and now - o.last_asked_s > self._forget_after_s:
                    del self._objects[o.config.key]
                    self._raw.pop(o.config.key, None)
                    gone.append(o)
        for o in gone:
            self._forgotten(o, "idle")
        return len(gone)

    def _forgotten(self, obj: TrackedObject, why: str) -> None:
        """Remove the object's metric series: those its decisions set (a few dictionary
        deletions; scanning every series of every object for its labels took
        milliseconds of the interpreter lock per forgotten object, the event loop's
        answers waiting behind thousands of them under churn)."""
        cfg = obj.config
        with self._lock:
            if self._objects.get(cfg.key) is not None:  # asked again meanwhile
                series: set[tuple[str, tuple[str, ...]]] = set()
            else:
                series = self._series.pop(cfg.key, set())
        remove_series(self._metrics, series)
        self._metrics.objects_forgotten.labels(reason=why).inc()
        log.info(json.dumps({"event": "forgotten", "object": cfg.key, "reason": why}))

    def refresh_all(self) -> None:
        """Refresh every tracked object once (in parallel) and forget idle ones."""
        self.forget_idle()
        objs = self.objects()
        futures = [(o, self._pool.submit(self.refresh_one, o)) for o in objs]
        for o, f in futures:
            try:
                f.result()
            except Exception:
                # One object's failure must not end the wait for the others.
                log.exception(json.dumps({"event": "refresh_crashed", "object": o.config.key}))

    def _due_at(self, obj: TrackedObject) -> float:
        """When ``obj`` is due its next refresh: an interval after its last one, or at
        once for a new object (it has waited since it was first asked)."""
        if obj.refreshed_s is None:
            return obj.tracked_s
        return obj.refreshed_s + self.refresh_interval_s

    def _enqueue(self, obj: TrackedObject) -> None:
        """Put ``obj`` in the refresh order (caller holds ``_lock``); drop the entries
        of forgotten objects when they outnumber the live ones."""
        queue = self._queue
        heapq.heappush(queue, (self._due_at(obj), next(self._seq), weakref.ref(obj)))
        if len(queue) > 2 * len(self._objects) + QUEUE_SLACK:
            live = [e for e in queue if (o := e[2]()) is not None and self._is_current(o)]
            heapq.heapify(live)
            self._queue = live

    def _is_current(self, obj: TrackedObject) -> bool:
        return self._objects.get(obj.config.key) is obj

    def _due_objects(self, now: float, limit: int) -> list[TrackedObject]:
        """Objects due a refresh, the longest waiting first (a new object waits from
        when it was first asked), at most ``limit``: a few heap pops, not a scan of
        every object (at 5,000 objects a scan took 3 ms, up to 50 times a second)."""
        out: list[TrackedObject] = []
        with self._lock:
            queue = self._queue
            while queue and len(out) < limit and queue[0][0] <= now:
                _, _, ref = heapq.heappop(queue)
                obj = ref()
                if obj is None or not self._is_current(obj) or obj.in_flight:
                    continue  # forgotten or replaced (its successor has its own entry)
                due = self._due_at(obj)
                if due > now:  # refreshed meanwhile outside the loop (refresh_all)
                    heapq.heappush(queue, (due, next(self._seq), ref))
                    continue
                out.append(obj)
        return out

    def _run_scheduled(self, obj: TrackedObject) -> None:
        try:
            self._refresh_logged(obj)
        finally:
            with self._lock:
                obj.in_flight = False
                self._in_flight -= 1
                if self._objects.get(obj.config.key) is obj:
                    self._enqueue(obj)
            self._due.set()

    def _dispatch(self) -> None:
        """Keep ``workers`` refreshes running, oldest first: under overload (too many
        objects for the Prometheus query budget) every object's refresh is delayed
        alike instead of new objects starving the old ones."""
        while not self._stop.is_set():
            self._due.wait(DISPATCH_TICK_S)
            self._due.clear()
            try:
                free = self._workers - self._in_flight
                if free <= 0:
                    continue
                for o in self._due_objects(self._clock(), free):
                    with self._lock:
                        o.in_flight = True
                        self._in_flight += 1
                    self._pool.submit(self._run_scheduled, o)
            except Exception:
                log.exception(json.dumps({"event": "dispatch_error"}))
            # Wakes within this gap are coalesced into the next scan.
            self._stop.wait(DISPATCH_MIN_GAP_S)

    def _forget_loop(self) -> None:
        """Forgetting runs on its own clock, never behind a refresh that is slow."""
        period = max(0.2, min(30.0, self._forget_after_s / 10))
        while not self._stop.wait(period):
            try:
                self.forget_idle()
            except Exception:
                log.exception(json.dumps({"event": "forget_error"}))

    def start(self) -> None:
        """Refresh every object every ``refresh_interval_s`` (oldest first, ``workers``
        at a time) and forget idle ones, in background threads, until :meth:`stop`."""
        for target, name in ((self._dispatch, "tracker"), (self._forget_loop, "forget")):
            t = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(t)
            t.start()
        self._due.set()

    def stop(self) -> None:
        self._stop.set()
        self._due.set()
        with self.changed:
            self.changed.notify_all()
        for t in self._threads:
            t.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._cleanup.shutdown(wait=False)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def now(self) -> float:
        return self._clock()


def _digest(namespace: str, name: str, metadata: Mapping[str, str]) -> bytes:
    """A 16-byte key for (namespace, name, metadata): pickled (an unambiguous encoding
    of any strings, in C) and hashed, so the parse cache keeps no client input."""
    raw = pickle.dumps((namespace, name, sorted(metadata.items())), protocol=5)
    return hashlib.blake2b(raw, digest_size=16).digest()


def _with_reason(d: Decision, reason: str) -> Decision:
    return replace(d, reason=reason)
