"""Churn costs Prometheus little: objects of one scope rebuilding their history share
each range query, and the query budget holds whatever the number of objects."""

from __future__ import annotations

import time
from collections.abc import Iterator

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
    fake = FakePrometheus().start()
    yield fake
    fake.stop()


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
