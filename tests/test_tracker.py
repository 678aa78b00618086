"""The tracker: background decisions per ScaledObject, overrides, and replica counts
from the Kubernetes API when Prometheus sees no replica."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping

import pytest
from prometheus_client import generate_latest

from policies import Observation, Status
from scaler.kube import ReplicaCount
from scaler.metadata import ScalerConfig, parse_metadata
from scaler.own_metrics import build_metrics
from scaler.tracker import ObjectTracker
from tests.scripted_observer import ManualClock, ScriptedObserver

META = {"targetMs": "50", "minReplicas": "0", "scaleDownStabilizationSeconds": "0"}


def tracker_with(
    observer: ScriptedObserver, counts: ReplicaCount | None, calls: list[str]
) -> ObjectTracker:
    def reader(namespace: str, name: str) -> ReplicaCount | None:
        calls.append(f"{namespace}/{name}")
        return counts

    return ObjectTracker(
        observer, build_metrics(), refresh_interval_s=5, clock=ManualClock(), replica_reader=reader
    )


def busy() -> Observation:
    return Observation(
        time_s=0, ready_replicas=3, request_rate_rps=300, queue_time_per_request_ms=100
    )


def invisible() -> Observation:
    return Observation(time_s=0, ready_replicas=0)


def test_kube_replicas_stop_a_scale_down_when_prometheus_sees_none() -> None:
    observer = ScriptedObserver(busy())
    calls: list[str] = []
    tracker = tracker_with(observer, ReplicaCount(6, 6, 6), calls)
    obj = tracker.track(parse_metadata("t", "cms", {**META, "targetDeployment": "sup-triton"}))
    first = tracker.refresh_one(obj)
    assert first.value == 6.0
    observer.observation = invisible()
    held = tracker.refresh_one(obj)
    assert calls == ["cms/sup-triton"]
    assert held.status is Status.HOLD
    assert held.value == 6.0


def test_kube_saying_zero_lets_the_fleet_rest_at_zero() -> None:
    observer = ScriptedObserver(busy())
    calls: list[str] = []
    tracker = tracker_with(observer, ReplicaCount(0, 0, 0), calls)
    obj = tracker.track(parse_metadata("t", "cms", {**META, "targetDeployment": "sup-triton"}))
    tracker.refresh_one(obj)
    observer.observation = invisible()
    rest = tracker.refresh_one(obj)
    assert rest.status is Status.OK
    assert rest.value == 0.0
    assert rest.active is False


def test_kube_is_not_asked_without_a_target_or_when_replicas_are_seen() -> None:
    observer = ScriptedObserver(busy())
    calls: list[str] = []
    tracker = tracker_with(observer, ReplicaCount(1, 1, 1), calls)
    named = tracker.track(parse_metadata("t", "cms", {**META, "targetDeployment": "x"}))
    unnamed = tracker.track(parse_metadata("u", "cms", META))
    tracker.refresh_one(named)
    observer.observation = invisible()
    tracker.refresh_one(unnamed)
    assert calls == []


def test_an_override_changes_the_next_decision_without_restart() -> None:
    observer = ScriptedObserver(busy())
    override: dict[str, str] = {}
    tracker = ObjectTracker(
        observer,
        build_metrics(),
        clock=ManualClock(),
        overrides=lambda ns, name: override,
    )
    cfg = tracker.config_for("t", "cms", META)
    assert tracker.refresh_one(tracker.track(cfg)).value == 6.0
    override["targetMs"] = "100"
    cfg = tracker.config_for("t", "cms", META)
    obj = tracker.track(cfg)
    assert obj.metadata == META
    assert tracker.refresh_one(obj).value == 3.0


def test_an_overridden_object_with_a_deprecated_key_is_parsed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KEDA asks about every object each polling interval; an object whose
    ScaledObject still uses a deprecated key and that has a dashboard override was
    parsed anew on every call (the cache lookup merged the override differently)."""
    import scaler.tracker as tracker_module

    parsed: list[str] = []
    parse = tracker_module.parse_metadata

    def counting(name: str, namespace: str, metadata: Mapping[str, str]) -> ScalerConfig:
        parsed.append(name)
        return parse(name, namespace, metadata)

    monkeypatch.setattr(tracker_module, "parse_metadata", counting)
    old_style = {"target": "50", "minReplicas": "0", "scaleDownStabilizationSeconds": "0"}
    tracker = ObjectTracker(
        ScriptedObserver(busy()),
        build_metrics(),
        clock=ManualClock(),
        overrides=lambda ns, name: {"maxReplicas": "8"},
    )
    first = tracker.config_for("t", "cms", old_style)
    again = tracker.config_for("t", "cms", old_style)
    assert again is first and first.guardrails.max_replicas == 8
    assert parsed == ["t"]


def test_each_decision_is_one_json_log_line_with_inputs_and_outputs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = ObjectTracker(ScriptedObserver(busy()), build_metrics(), clock=ManualClock())
    obj = tracker.track(parse_metadata("t", "cms", META))
    with caplog.at_level(logging.INFO, logger="scaler.decisions"):
        decision = tracker.refresh_one(obj)
    lines = [r.getMessage() for r in caplog.records if r.name == "scaler.decisions"]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["object"] == "cms/t"
    assert record["value"] == decision.value
    assert record["status"] == "ok"
    assert record["reason"] == decision.reason
    assert record["inputs"]["queue_time_per_request_ms"] == 100
    assert record["inputs"]["ready_replicas"] == 3


def test_cold_start_outage_holds_the_kubernetes_count_not_zero() -> None:
    observer = ScriptedObserver(busy())
    observer.error = "connection refused"
    calls: list[str] = []
    tracker = tracker_with(observer, ReplicaCount(5, 5, 4), calls)
    obj = tracker.track(parse_metadata("t", "cms", {**META, "targetDeployment": "sup-triton"}))
    d = tracker.refresh_one(obj)
    assert d.status is Status.HOLD
    assert d.value == 5.0


def test_cold_start_outage_without_a_known_count_fails_at_once() -> None:
    observer = ScriptedObserver(busy())
    observer.error = "connection refused"
    tracker = tracker_with(observer, None, [])
    d = tracker.refresh_one(tracker.track(parse_metadata("t", "cms", META)))
    assert d.status is Status.FAIL
    assert "cold start" in d.reason


class _FlakyHistory(ScriptedObserver):
    def __init__(self) -> None:
        super().__init__(busy())
        self.history_calls = 0

    def history(
        self, config: object, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:  # type: ignore[override]
        from scaler.observer import ObserveError

        self.history_calls += 1
        raise ObserveError("history: connection refused")


def test_a_failed_history_rebuild_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    observer = _FlakyHistory()
    observer.error = "connection refused"
    tracker = ObjectTracker(observer, build_metrics(), clock=ManualClock())

    def logged(event: str) -> int:
        return sum(f'"event": "{event}"' in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.WARNING, logger="scaler.decisions"):
        obj = tracker.track(
            parse_metadata("t", "cms", {**META, "scaleDownStabilizationSeconds": "60"})
        )
        assert obj.ready.wait(10)  # the first refresh (track runs it at once) failed
        # Logged by the first failure itself, not by a later one.
        assert observer.history_calls == 1
        assert logged("rebuild_failed") == 1
        assert logged("refresh_failed") == 1
        tracker.refresh_one(obj)
    assert observer.history_calls == 2  # retried on every refresh until it succeeds
    assert logged("rebuild_failed") == 2
    assert logged("refresh_failed") == 1  # an error that goes on is not logged again
    tracker.stop()


class _Broken(ScriptedObserver):
    def observe(self, config: object, now_s: float) -> Observation:  # type: ignore[override]
        if getattr(config, "name", "") == "bad":
            raise OverflowError("int too large to convert to float")
        return super().observe(config, now_s)  # type: ignore[arg-type]


def test_one_crashing_object_does_not_end_the_cycle_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = ObjectTracker(_Broken(busy()), build_metrics(), clock=ManualClock())
    bad = tracker.track(parse_metadata("bad", "cms", META))
    good = tracker.track(parse_metadata("good", "cms", META))
    with caplog.at_level(logging.WARNING, logger="scaler.decisions"):
        tracker.refresh_all()
    assert good.decision is not None and good.decision.status is Status.OK
    assert bad.decision is not None and bad.decision.status is Status.FAIL
    assert "OverflowError" in bad.decision.reason
    assert any("observe_crashed" in r.getMessage() for r in caplog.records)


def test_one_crashing_object_does_not_stop_the_refresh_loop_for_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Through the background loop's dispatch (not ``refresh_all``): an object whose
    observation crashes and whose decision's listener crashes keeps its turn, and the
    other object is refreshed every interval."""
    tracker = ObjectTracker(_Broken(busy()), build_metrics(), refresh_interval_s=0.1)

    def listener(key: str) -> None:
        if key == "cms/bad":
            raise RuntimeError("listener bug")

    tracker.add_listener(listener)
    with caplog.at_level(logging.WARNING, logger="scaler.decisions"):
        tracker.start()
        try:
            bad = tracker.track(parse_metadata("bad", "cms", META))
            good = tracker.track(parse_metadata("good", "cms", META))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (len(good.log) < 5 or len(bad.log) < 5):
                time.sleep(0.05)
        finally:
            tracker.stop()
    assert len(good.log) >= 5 and len(bad.log) >= 5, (len(good.log), len(bad.log))
    assert all(d.status is Status.OK for d in good.log)
    assert bad.decision is not None and "OverflowError" in bad.decision.reason
    messages = [r.getMessage() for r in caplog.records]
    assert any("refresh_crashed" in m and "cms/bad" in m for m in messages)
    assert not any("dispatch_error" in m for m in messages)


def test_object_limit_refuses_new_objects_while_all_are_live_then_evicts_an_idle_one() -> None:
    from scaler.tracker import EVICT_IDLE_S, TrackingRefused

    clock = ManualClock()
    metrics = build_metrics()
    tracker = ObjectTracker(ScriptedObserver(busy()), metrics, clock=clock, max_objects=2)
    for name in ("a", "b"):
        tracker.refresh_one(tracker.track(parse_metadata(name, "cms", META)))
    with pytest.raises(TrackingRefused, match="SCALER_MAX_OBJECTS"):
        tracker.track(parse_metadata("c", "cms", META))
    clock.advance(EVICT_IDLE_S + 1)
    tracker.track(parse_metadata("b", "cms", META))  # b is asked again, a stays idle
    tracker.track(parse_metadata("c", "cms", META))
    assert sorted(o.config.name for o in tracker.objects()) == ["b", "c"]
    deadline = time.monotonic() + 5  # the series go on the cleanup thread
    while 'scaledobject="a"' in generate_latest(metrics.registry).decode():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    text = generate_latest(metrics.registry).decode()
    assert 'scaledobject="a"' not in text
    assert 'scaledobject="b"' in text
    assert 'sonic_scaler_objects_forgotten_total{reason="evicted"} 1.0' in text


class _Stuck(ScriptedObserver):
    """Prometheus that never answers: every refresh hangs."""

    def __init__(self) -> None:
        super().__init__(busy())
        self.release = threading.Event()

    def observe(self, config: object, now_s: float) -> Observation:  # type: ignore[override]
        self.release.wait(30)
        return super().observe(config, now_s)  # type: ignore[arg-type]


def test_forgetting_runs_even_while_every_refresh_hangs() -> None:
    clock = ManualClock()
    observer = _Stuck()
    metrics = build_metrics()
    tracker = ObjectTracker(observer, metrics, clock=clock, forget_after_s=2.0, workers=2)
    tracker.start()
    try:
        for i in range(5):
            tracker.track(parse_metadata(f"o{i}", "cms", META))
        clock.advance(10)
        deadline = time.monotonic() + 5
        while tracker.objects() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tracker.objects() == []
    finally:
        observer.release.set()
        tracker.stop()


def test_a_full_table_refuses_new_names_before_parsing_them() -> None:
    from scaler.tracker import TrackingRefused

    tracker = ObjectTracker(ScriptedObserver(busy()), build_metrics(), max_objects=1)
    tracker.track(parse_metadata("a", "cms", META))
    tracker.admit("cms", "a")  # known: fine
    with pytest.raises(TrackingRefused, match="SCALER_MAX_OBJECTS"):
        tracker.admit("cms", "b")


def test_decision_history_is_shared_out_of_a_total_not_kept_per_object() -> None:
    """Memory is bounded by the total, not objects × 6 h: with 10 objects sharing 100
    decisions each keeps its newest 12 (the floor), and alone one keeps 100."""
    clock = ManualClock()
    tracker = ObjectTracker(
        ScriptedObserver(busy()), build_metrics(), clock=clock, max_logged_decisions=100
    )
    alone = tracker.track(parse_metadata("alone", "cms", META))
    for _ in range(150):
        clock.advance(5)
        tracker.refresh_one(alone)
    assert len(alone.log) == 100
    assert alone.log[-1] is alone.decision
    others = [tracker.track(parse_metadata(f"o{i}", "cms", META)) for i in range(9)]
    for _ in range(20):
        clock.advance(5)
        for obj in [alone, *others]:
            tracker.refresh_one(obj)
    assert [len(o.log) for o in [alone, *others]] == [12] * 10
    assert alone.log[-1] is alone.decision
    assert [d.time_s for d in alone.log] == sorted(d.time_s for d in alone.log)


def test_an_object_forgotten_while_its_refresh_runs_leaves_no_metric_series() -> None:
    """Issue 13: per-object series must not outlive the object, even when its last
    refresh ends after it was forgotten (churn would grow /metrics without bound)."""
    clock = ManualClock()
    observer = _Stuck()
    metrics = build_metrics()
    tracker = ObjectTracker(observer, metrics, clock=clock, forget_after_s=2.0)
    kept = tracker.track(parse_metadata("kept", "cms", META))
    gone = tracker.track(parse_metadata("gone", "cms", META))
    observer.release.set()
    tracker.refresh_one(kept)
    tracker.refresh_one(gone)
    observer.release.clear()
    late = threading.Thread(target=tracker.refresh_one, args=(gone,))
    late.start()
    clock.advance(10)
    tracker.track(kept.config)  # asked again: stays
    assert tracker.forget_idle() == 1
    observer.release.set()
    late.join(10)
    text = generate_latest(metrics.registry).decode()
    assert 'scaledobject="gone"' not in text
    assert 'scaledobject="kept"' in text


def test_objects_tracked_and_decisions_kept_are_exported_as_they_stand() -> None:
    """What the scaler's memory is bounded by (SCALER_MAX_OBJECTS and
    SCALER_MAX_LOGGED_DECISIONS), as gauges: the soak checks its RSS against them."""
    metrics = build_metrics()
    tracker = ObjectTracker(ScriptedObserver(busy()), metrics, clock=ManualClock())
    objs = [tracker.track(parse_metadata(f"o{i}", "cms", META)) for i in range(3)]
    for o in objs:
        assert o.ready.wait(5)
    tracker.refresh_one(objs[0])
    sample = metrics.registry.get_sample_value
    assert sample("sonic_scaler_tracked_objects") == 3
    assert sample("sonic_scaler_logged_decisions") == 4
    tracker.stop()


def test_an_evicted_object_is_freed_at_once_not_when_its_refresh_turn_comes() -> None:
    """Under churn the refresh order runs a cycle behind; it held every evicted object
    (config, state, decision log) until the object's turn came, so the scaler kept
    objects beyond SCALER_MAX_OBJECTS (issue 13's soak: RSS growing in the second half
    with the table full)."""
    import gc
    import weakref

    clock = ManualClock()
    tracker = ObjectTracker(ScriptedObserver(busy()), build_metrics(), clock=clock, max_objects=2)
    first = tracker.track(parse_metadata("first", "cms", META))
    assert first.ready.wait(5)
    gone = weakref.ref(first)
    del first
    for i in range(50):  # each new object evicts the least recently asked, idle 121 s
        clock.advance(121)
        assert tracker.track(parse_metadata(f"o{i}", "cms", META)).ready.wait(5)
    gc.collect()
    assert gone() is None, "an evicted object is still held"
    assert len(tracker.objects()) == 2
    tracker.stop()


def test_an_object_refused_at_the_limit_leaves_nothing_behind() -> None:
    """Under churn many new objects pass the early limit check together, are parsed,
    and all but one are refused when they are tracked; each refused one left its
    (redacted) metadata behind, memory growing with churn, not with the object limit."""
    from scaler.tracker import TrackingRefused

    clock = ManualClock()
    tracker = ObjectTracker(ScriptedObserver(busy()), build_metrics(), clock=clock, max_objects=1)
    tracker.track(tracker.config_for("live", "cms", META))
    for i in range(100):
        cfg = tracker.config_for(f"new{i}", "cms", {**META, "release": f"r{i}"})
        with pytest.raises(TrackingRefused):
            tracker.track(cfg)
    assert len(tracker._raw) == 1, "metadata of refused objects kept"
    tracker.stop()
