"""Churn costs Prometheus little: objects of one scope rebuilding their history share
each range query, and the query budget holds whatever the number of objects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import pairwise

import pytest

from scaler.metadata import parse_metadata
from scaler.own_metrics import build_metrics
from scaler.prometheus_observer import PrometheusObserver
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker
from tests.fake_prometheus import FakePrometheus

META = {"target": "50", "scaleDownStabilizationSeconds": "60"}


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    with FakePrometheus() as fake:
        yield fake


def test_objects_of_one_scope_rebuild_from_one_set_of_range_queries(
    prom: FakePrometheus,
) -> None:
    settings = ServerSettings(prometheus_url=prom.url)
    metrics = build_metrics()
    tracker = ObjectTracker(PrometheusObserver(settings, metrics), metrics)
    objs = [tracker.track(parse_metadata(f"o{i}", "cms", META)) for i in range(20)]
    for o in objs:
        assert o.ready.wait(10)
    one_object = prom.range_queries
    assert one_object <= 12, f"{one_object} range queries for 20 objects of one scope"
    tracker.stop()


def test_the_query_budget_holds_under_many_objects(prom: FakePrometheus) -> None:
    settings = ServerSettings(prometheus_url=prom.url, max_prometheus_queries_per_s=50)
    metrics = build_metrics()
    tracker = ObjectTracker(
        PrometheusObserver(settings, metrics, dedup_window_s=0), metrics, refresh_interval_s=1
    )
    tracker.start()
    try:
        for i in range(40):  # distinct scopes: nothing is shared
            tracker.track(parse_metadata(f"o{i}", "cms", {**META, "release": f"r{i}"}))
        time.sleep(1.0)  # the bucket's one-second burst
        start, t0 = prom.queries, time.monotonic()
        time.sleep(3.0)
        rate = (prom.queries - start) / (time.monotonic() - t0)
    finally:
        tracker.stop()
    assert rate <= 50 * 1.2, f"{rate:.0f} queries/s against a budget of 50"


def test_one_tenant_with_many_objects_cannot_starve_another_tenants_object() -> None:
    """Tenant A's 200 objects (distinct scopes: nothing shared) need far more queries
    than the budget allows; tenant B's one object, registered after all of them, is
    still refreshed within about one round of every object (oldest first), and again
    every round after, never left behind A's objects."""
    from tests.fake_prometheus import InProcessSession

    budget, objects = 600.0, 200
    meta = {
        "policy": "threshold",
        "signal": "queue_time_per_request_ms",
        "target": "50",
        "scaleDownStabilizationSeconds": "0",  # no history rebuild: every refresh alike
    }
    session = InProcessSession(FakePrometheus())
    settings = ServerSettings(prometheus_url="http://prom", max_prometheus_queries_per_s=budget)
    metrics = build_metrics()
    observer = PrometheusObserver(settings, metrics, dedup_window_s=0, session=session)
    tracker = ObjectTracker(observer, metrics, refresh_interval_s=0.5)
    probe = tracker.config_for("probe", "a", {**meta, "release": "probe"})
    first = tracker.track(probe)  # refreshed at once (the loop is not started yet)
    assert first.ready.wait(10)
    before = len(session.queries)
    tracker.refresh_one(first)
    per_refresh = len(session.queries) - before  # queries of one refresh
    tracker.start()
    started, sent_before = time.monotonic(), len(session.queries)
    try:
        for i in range(objects):
            tracker.track(tracker.config_for(f"o{i}", "a", {**meta, "release": f"r{i}"}))
        b = tracker.track(tracker.config_for("solo", "b", meta))
        registered = time.time()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(b.log) < 2:
            time.sleep(0.05)
        sent = len(session.queries) - sent_before
        rate = sent / (time.monotonic() - started)
    finally:
        tracker.stop()
    # Every object once at the rate queries went out: the budget (3 s), or what a busy
    # machine managed below it, so the bound is about the order, not about CPU.
    round_s = (objects + 2) * per_refresh / min(budget, rate)
    times = [d.time_s for d in b.log]
    assert len(times) >= 2, f"B refreshed {len(times)} times in 30 s"
    waits = [times[0] - registered] + [t1 - t0 for t0, t1 in pairwise(times)]
    assert max(waits) <= 1.5 * round_s + 1.0, f"B waited {waits} s; a round is {round_s:.1f} s"
    # A's objects kept the budget saturated all along: B was not served by an idle loop.
    assert sent >= objects * per_refresh, sent
