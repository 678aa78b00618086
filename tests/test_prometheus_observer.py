"""PrometheusObserver against a real Prometheus scraping exporters with known values.

A local fake HTTP server stands in for Prometheus only for the protocol failures
a real one cannot be made to produce (non-2xx, garbage, a hang)."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from policies import Observation
from scaler.metadata import LabelScope, ScalerConfig, parse_metadata
from scaler.observer import ObserveError
from scaler.own_metrics import ScalerMetrics, build_metrics
from scaler.prometheus_observer import PrometheusObserver
from scaler.promql import presence_for
from scaler.settings import ServerSettings
from scaler.testbed.procs import free_port
from scaler.testbed.prometheus_server import PrometheusServer, ScrapeTarget
from tests.http_stub import LoopbackHTTP, QuietHandler
from tests.realparts.exporter import KnownExporter, triton_series
from tests.scripted_observer import ManualClock

pytestmark = pytest.mark.realparts

WINDOW_S = 5


def config(namespace: str, **meta: str) -> ScalerConfig:
    base = {"target": "50", "model": "m", "release": "r", "rateWindowSeconds": str(WINDOW_S)}
    return parse_metadata("so", namespace, {**base, **meta})


@dataclass
class Fleet:
    """Exporters scraped by the module's Prometheus, one namespace per scenario."""

    prometheus: PrometheusServer
    started_s: float
    exporters: list[KnownExporter]

    def wait_for_samples(self, namespace: str, samples: int) -> None:
        window = samples + 1
        self.prometheus.wait_for(
            f'count_over_time(nv_inference_request_success{{namespace="{namespace}"}}[{window}s])'
            f" >= {samples}",
            timeout_s=40,
        )

    def wait_for_scrape_after(self, namespace: str, time_s: float) -> None:
        """Wait until every target of ``namespace`` (each has an ``up`` series) was
        scraped after ``time_s``.

        Why: ``rate()`` extrapolates to the end of its window only from a last sample
        less than 1.1 scrape intervals old, else half an interval: on a loaded machine
        whose scrapes land late, a 5 s window read 12 % low (35.3 for 40 req/s). A rate
        evaluated within an interval of a landed scrape of every target is exact.
        """
        self.prometheus.wait_for(
            f'min(timestamp(up{{namespace="{namespace}"}})) > {time_s:.3f}',
            timeout_s=40,
        )


@pytest.fixture(scope="module")
def fleet(prometheus: PrometheusServer) -> Iterator[Fleet]:
    """Every scenario's exporters, scraped from the start so their data builds up together.

    - ``exact``: replicas a and b serving model m (a also serves model "other"), and
      a non-Triton target with GPU gauges and a proxy counter.
    - ``idle``: one replica whose counters do not move.
    - ``several``: two targets, for a query that returns two series.
    - ``nan``: one replica whose GPU gauge is NaN.
    """
    a, b, gpu, idle, s1, s2, nan = (KnownExporter() for _ in range(7))
    triton_series(
        a,
        model="m",
        rps=10,
        queue_ms_per_request=2,
        batch=2,
        pending=3,
        items_per_request=3,
        compute_ms_per_request=4,
    )
    triton_series(a, model="other", rps=100, queue_ms_per_request=50, batch=1, pending=9)
    triton_series(
        b,
        model="m",
        rps=30,
        queue_ms_per_request=6,
        batch=5,
        pending=4,
        items_per_request=8,
        compute_ms_per_request=10,
    )
    gpu.gauge("nv_gpu_utilization", 0.2, pod="a")
    gpu.gauge("nv_gpu_utilization", 0.6, pod="b")
    gpu.gauge("DCGM_FI_DEV_GPU_UTIL", 10, pod="a")
    gpu.gauge("DCGM_FI_DEV_GPU_UTIL", 50, pod="b")
    gpu.counter("proxy_requests_total", 55)
    gpu.gauge("slurm_account_jobs_pending", 12, account="ligo")
    gpu.gauge("slurm_account_jobs_pending", 5, account="other")
    triton_series(idle, model="m", rps=0, queue_ms_per_request=0, batch=1, pending=0)
    for e in (s1, s2):
        triton_series(e, model="m", rps=1, queue_ms_per_request=1, batch=1, pending=0)
    triton_series(nan, model="m", rps=5, queue_ms_per_request=1, batch=1, pending=0)
    nan.gauge("nv_gpu_utilization", math.nan, pod="n")

    def target(e: KnownExporter, namespace: str, **labels: str) -> ScrapeTarget:
        return ScrapeTarget(e.address, {"namespace": namespace, "release": "r", **labels})

    prometheus.set_targets(
        [
            target(a, "exact", pod="a"),
            target(b, "exact", pod="b"),
            target(gpu, "exact", job="gpu-exporter"),
            target(idle, "idle", pod="i"),
            target(s1, "several", pod="s1"),
            target(s2, "several", pod="s2"),
            target(nan, "nan", pod="n"),
        ]
    )
    try:
        yield Fleet(prometheus, time.time(), [a, b, gpu, idle, s1, s2, nan])
    finally:
        prometheus.set_targets([])
        for e in (a, b, gpu, idle, s1, s2, nan):
            e.close()


class CountingSession(requests.Session):
    """Records every HTTP request the observer makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []
        self._calls_lock = threading.Lock()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        with self._calls_lock:
            self.calls.append({"url": url, **kwargs})
        return super().request(method, url, *args, **kwargs)


def make_observer(
    url: str,
    metrics: ScalerMetrics | None = None,
    *,
    dedup_window_s: float = 0.0,
    **settings: Any,
) -> PrometheusObserver:
    return PrometheusObserver(
        ServerSettings(prometheus_url=url, **settings),
        metrics if metrics is not None else build_metrics(),
        dedup_window_s=dedup_window_s,
    )


def errors(metrics: ScalerMetrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "sonic_scaler_prometheus_query_errors_total", {"reason": reason}
    )
    return value or 0.0


def test_reads_exact_signals_of_a_fleet_from_scraped_counters(fleet: Fleet) -> None:
    fleet.wait_for_samples("exact", WINDOW_S + 2)
    fleet.wait_for_scrape_after("exact", time.time() - 0.3)
    metrics = build_metrics()
    observer = make_observer(fleet.prometheus.url, metrics)
    obs = observer.observe(config("exact", activationMetric="proxy_requests_total"), 123.0)
    assert obs.time_s == 123.0
    assert obs.ready_replicas == 2
    assert obs.request_rate_rps == pytest.approx(40, rel=0.03)
    assert obs.queue_time_per_request_ms == pytest.approx((10 * 2 + 30 * 6) / 40, rel=0.03)
    assert obs.queue_time_per_exec_ms == pytest.approx((10 * 2 + 30 * 6) / (5 + 6), rel=0.03)
    assert obs.pending_requests == 7
    assert obs.gpu_utilization == pytest.approx(0.4)
    assert obs.activation_rps == pytest.approx(55, rel=0.03)
    assert obs.items_per_s == pytest.approx(10 * 3 + 30 * 8, rel=0.03)
    assert obs.execs_per_s == pytest.approx(10 / 2 + 30 / 5, rel=0.03)
    assert obs.compute_time_per_request_ms == pytest.approx((10 * 4 + 30 * 10) / 40, rel=0.03)
    assert obs.desired_replicas is None
    timed = metrics.registry.get_sample_value("sonic_scaler_prometheus_query_seconds_count")
    assert timed == 10


def test_leading_indicators_are_read_summed_over_their_selector(fleet: Fleet) -> None:
    fleet.prometheus.wait_for('slurm_account_jobs_pending{namespace="exact"}', min_series=2)
    meta = {
        "policy": "leading-predictive",
        "release": "r",
        "model": "m",
        "indicator1Metric": 'slurm_account_jobs_pending{account="ligo"}',
        "indicator2Metric": "slurm_account_jobs_pending",
        "indicator3Metric": "condor_jobs_idle",
    }
    cfg = parse_metadata("so", "exact", meta)
    observer = make_observer(fleet.prometheus.url)
    obs = observer.observe(cfg, 0.0)
    assert obs.indicators == (12.0, 17.0, None)
    past = observer.history(cfg, time.time() - 3.0, time.time() - 1.0, 1.0)
    assert past[-1].indicators == (12.0, 17.0, None)


def test_dcgm_gpu_utilisation_is_read_as_a_fraction(fleet: Fleet) -> None:
    fleet.prometheus.wait_for('DCGM_FI_DEV_GPU_UTIL{namespace="exact"}', min_series=2)
    obs = make_observer(fleet.prometheus.url).observe(
        config("exact", gpuMetric="DCGM_FI_DEV_GPU_UTIL"), 0.0
    )
    assert obs.gpu_utilization == pytest.approx(0.3)


def test_idle_fleet_reads_zero_load_and_zero_queue_time_not_missing(fleet: Fleet) -> None:
    fleet.wait_for_samples("idle", 3)
    obs = make_observer(fleet.prometheus.url).observe(config("idle"), 0.0)
    assert obs.ready_replicas == 1
    assert obs.request_rate_rps == 0.0
    assert obs.queue_time_per_request_ms == 0.0
    assert obs.queue_time_per_exec_ms == 0.0
    assert obs.pending_requests == 0.0
    assert obs.gpu_utilization is None
    assert obs.activation_rps is None


def test_fleet_with_no_replica_has_zero_ready_and_absent_signals(fleet: Fleet) -> None:
    obs = make_observer(fleet.prometheus.url).observe(
        config("gone", activationMetric="proxy_requests_total"), 5.0
    )
    assert obs.ready_replicas == 0
    assert all(obs.value(name) is None for name in obs.as_dict() if name.endswith(("rps", "ms")))
    assert obs.pending_requests is None
    assert obs.gpu_utilization is None


def test_presence_query_finds_a_fleet_with_series_and_nothing_for_one_without(
    fleet: Fleet,
) -> None:
    fleet.wait_for_samples("exact", 2)
    observer = make_observer(fleet.prometheus.url)
    wake = {"activationMetric": "proxy_requests_total"}
    found = observer.instant(presence_for(config("exact", **wake)), name="presence")
    assert found is not None and found > 0
    assert observer.instant(presence_for(config("gone", **wake)), name="presence") is None


def test_a_fleet_without_series_costs_one_query_a_refresh_and_reads_the_same(
    fleet: Fleet,
) -> None:
    """Issue 13: thousands of objects whose labels match nothing (a wrong ``release``)
    took ten queries each per refresh, so the query budget starved the live ones."""
    session = CountingSession()
    observer = PrometheusObserver(
        ServerSettings(prometheus_url=fleet.prometheus.url),
        build_metrics(),
        dedup_window_s=0.0,
        session=session,
    )
    gone = config("gone", activationMetric="proxy_requests_total")
    # What its ten queries, all empty, would give (test_fleet_with_no_replica_...).
    every_query = Observation(time_s=5.0, ready_replicas=0, no_series=True)
    assert observer.observe(gone, 5.0) == every_query  # first sight: its ten queries
    assert len(session.calls) == 10
    for _ in range(3):
        assert observer.observe(gone, 5.0) == every_query
    assert len(session.calls) == 13
    session.calls.clear()
    start = time.time() - 60
    past = observer.history(config("never"), start, start + 55, 5.0)
    assert len(session.calls) == 1  # a new object's rebuild asks once, not ten times
    assert past == [
        Observation(time_s=start + 5 * k, ready_replicas=0, no_series=True) for k in range(12)
    ]


def test_non_triton_targets_in_the_namespace_are_not_counted_as_replicas(fleet: Fleet) -> None:
    fleet.prometheus.wait_for('up{namespace="exact"} == 1', min_series=3)
    obs = make_observer(fleet.prometheus.url).observe(config("exact"), 0.0)
    assert obs.ready_replicas == 2


def test_several_series_where_one_was_expected_is_an_error(fleet: Fleet) -> None:
    fleet.prometheus.wait_for('up{namespace="several"}', min_series=2)
    metrics = build_metrics()
    observer = make_observer(fleet.prometheus.url, metrics)
    with pytest.raises(ObserveError, match=r'gpu `up\{namespace="several"\}`: 2 series'):
        observer.instant('up{namespace="several"}', name="gpu")
    assert errors(metrics, "several_series") == 1


def test_nan_signal_is_passed_on_for_the_pipeline_to_hold_on(fleet: Fleet) -> None:
    fleet.wait_for_samples("nan", 3)
    fleet.wait_for_scrape_after("nan", time.time() - 0.3)
    metrics = build_metrics()
    obs = make_observer(fleet.prometheus.url, metrics).observe(config("nan"), 0.0)
    assert obs.gpu_utilization is not None and math.isnan(obs.gpu_utilization)
    assert not obs.is_usable("gpu_utilization")
    assert obs.request_rate_rps == pytest.approx(5, rel=0.05)
    assert errors(metrics, "non_finite") == 1


def test_label_values_cannot_inject_promql(fleet: Fleet) -> None:
    fleet.prometheus.wait_for('up{namespace="exact"} == 1', min_series=3)
    hostile = LabelScope(namespace='exact"} or vector(5) #', release="r\\", model='m"\n')
    obs = make_observer(fleet.prometheus.url).observe(
        dataclasses.replace(config("exact"), scope=hostile), 0.0
    )
    assert obs.ready_replicas == 0
    assert obs.request_rate_rps is None


def test_history_is_aligned_on_the_step_with_none_before_the_fleet_existed(fleet: Fleet) -> None:
    fleet.wait_for_samples("exact", WINDOW_S + 2)
    start = fleet.started_s - 4.5
    end = time.time() - 1.0
    fleet.wait_for_scrape_after("exact", end)
    past = make_observer(fleet.prometheus.url).history(config("exact"), start, end, 1.0)
    assert [o.time_s for o in past] == [start + k for k in range(len(past))]
    assert past[-1].time_s <= end < past[-1].time_s + 1.0
    first, last = past[0], past[-1]
    assert (first.ready_replicas, first.request_rate_rps, first.pending_requests) == (0, None, None)
    assert last.ready_replicas == 2
    assert last.request_rate_rps == pytest.approx(40, rel=0.03)
    assert last.pending_requests == 7


def test_history_too_long_for_prometheus_is_an_error(fleet: Fleet) -> None:
    observer = make_observer(fleet.prometheus.url)
    with pytest.raises(ObserveError, match="larger step"):
        observer.history(config("exact"), 0.0, 20_000.0, 1.0)


def test_configs_sharing_a_scope_query_prometheus_once_per_signal_per_window(
    fleet: Fleet,
) -> None:
    clock = ManualClock(100.0)
    session = CountingSession()
    observer = PrometheusObserver(
        ServerSettings(prometheus_url=fleet.prometheus.url),
        build_metrics(),
        dedup_window_s=1.0,
        clock=clock,
        session=session,
    )
    configs = [
        dataclasses.replace(config("exact", activationMetric="proxy_requests_total"), name=f"so{i}")
        for i in range(50)
    ]

    def observe_all() -> None:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda c: observer.observe(c, clock()), configs))
        assert len({o.ready_replicas for o in results}) == 1

    observe_all()
    assert len(session.calls) == 10
    clock.advance(0.5)
    observe_all()
    assert len(session.calls) == 10
    clock.advance(0.5)
    observe_all()
    assert len(session.calls) == 20


def test_bearer_token_or_auth_header_is_sent(fleet: Fleet) -> None:
    for settings, want in [
        ({"prometheus_bearer_token": "s3cret"}, "Bearer s3cret"),
        ({"prometheus_auth_header": "Basic dTpw", "prometheus_bearer_token": "x"}, "Basic dTpw"),
    ]:
        session = CountingSession()
        observer = PrometheusObserver(
            ServerSettings(prometheus_url=fleet.prometheus.url, **settings),
            build_metrics(),
            session=session,
        )
        observer.observe(config("exact"), 0.0)
        assert {c["headers"]["Authorization"] for c in session.calls} == {want}


def test_prometheus_not_listening_is_an_error_naming_the_query() -> None:
    metrics = build_metrics()
    observer = make_observer(f"http://127.0.0.1:{free_port()}", metrics, prometheus_timeout_s=2)
    with pytest.raises(ObserveError, match=r"ready_replicas `count\(.*cannot reach"):
        observer.observe(config("exact"), 0.0)
    assert errors(metrics, "connection") == 1


def test_a_failure_is_shared_within_the_dedup_window() -> None:
    session = CountingSession()
    clock = ManualClock(0.0)
    observer = PrometheusObserver(
        ServerSettings(prometheus_url=f"http://127.0.0.1:{free_port()}"),
        build_metrics(),
        dedup_window_s=1.0,
        clock=clock,
        session=session,
    )
    for _ in range(5):
        with pytest.raises(ObserveError):
            observer.observe(config("exact"), 0.0)
    assert len(session.calls) == 1


class FakePrometheus(LoopbackHTTP):
    """Answers every request the same way: for protocol failures only."""

    def __init__(self, status: int, body: bytes, delay_s: float = 0.0) -> None:
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if fake.delay_s:
                    fake.release.wait(fake.delay_s)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.reply(fake.status, fake.body, "application/json")

        self.status, self.body, self.delay_s = status, body, delay_s
        self.release = threading.Event()
        super().__init__(Handler)

    def close(self) -> None:
        self.release.set()
        super().close()


@pytest.mark.parametrize(
    ("status", "body", "reason", "message"),
    [
        (503, b'{"status":"error","error":"overloaded"}', "http_status", "HTTP 503: .*overloaded"),
        (400, b'{"status":"error","errorType":"bad_data"}', "http_status", "HTTP 400"),
        (200, b"<html>not json</html>", "malformed", "not Prometheus JSON"),
        (200, b'{"status":"success","data":{}}', "malformed", "not Prometheus JSON"),
        (200, b'{"status":"success","data":{"result":{"a":1}}}', "malformed", "not a list"),
        (
            200,
            b'{"status":"success","data":{"result":[{"metric":{},"value":[1,2]}]}}',
            "malformed",
            "bad sample",
        ),
    ],
)
def test_protocol_failures_are_errors_naming_the_query(
    status: int, body: bytes, reason: str, message: str
) -> None:
    fake = FakePrometheus(status, body)
    try:
        metrics = build_metrics()
        with pytest.raises(ObserveError, match=f"ready_replicas `count.*{message}"):
            make_observer(fake.url, metrics).observe(config("exact"), 0.0)
        assert errors(metrics, reason) == 1
    finally:
        fake.close()


def test_a_prometheus_that_does_not_answer_in_time_is_a_timeout_error() -> None:
    fake = FakePrometheus(200, b'{"status":"success","data":{"result":[]}}', delay_s=30)
    try:
        metrics = build_metrics()
        observer = make_observer(fake.url, metrics, prometheus_timeout_s=0.3)
        with pytest.raises(ObserveError, match=r"no answer within 0\.3 s"):
            observer.observe(config("exact"), 0.0)
        assert errors(metrics, "timeout") == 1
    finally:
        fake.close()


@pytest.mark.parametrize(
    ("verify_tls", "ca_file", "env_bundle", "want"),
    [
        (True, None, None, True),
        (True, None, "/etc/env-ca.pem", "/etc/env-ca.pem"),  # REQUESTS_CA_BUNDLE, as requests
        (True, "/etc/ca.pem", "/etc/env-ca.pem", "/etc/ca.pem"),
        (False, "/etc/ca.pem", "/etc/env-ca.pem", False),
    ],
)
def test_tls_settings_decide_how_the_certificate_is_checked(
    verify_tls: bool,
    ca_file: str | None,
    env_bundle: str | None,
    want: bool | str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    if env_bundle is None:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    else:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", env_bundle)
    session = requests.Session()
    PrometheusObserver(
        ServerSettings(
            prometheus_url="https://prometheus.monitoring:9090",
            prometheus_verify_tls=verify_tls,
            prometheus_ca_file=ca_file,
        ),
        build_metrics(),
        session=session,
    )
    assert session.verify == want


def test_proxy_from_the_environment_is_used_though_it_is_read_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The environment is read when the observer is made, not on every query (CPU),
    but a proxy set there is still the way to Prometheus."""
    from tests.fake_prometheus import FakePrometheus

    proxy = FakePrometheus().start()  # answers any absolute URL it is sent, as a proxy
    try:
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        observer = make_observer("http://prometheus.invalid:9090")
        monkeypatch.delenv("HTTP_PROXY")
        assert observer.instant("sum(up)") == 0.5
        assert proxy.queries == 1
    finally:
        proxy.stop()


def test_a_fleet_whose_series_appear_is_read_in_full_at_its_next_refresh() -> None:
    from tests.fake_prometheus import FakePrometheus

    prom = FakePrometheus().start()
    try:
        observer = make_observer(prom.url)
        prom.set_fault("empty")
        assert observer.observe(config("late"), 5.0).no_series  # all its queries
        before = prom.queries
        assert observer.observe(config("late"), 5.0).no_series
        assert prom.queries == before + 1
        prom.set_fault("ok")
        obs = observer.observe(config("late"), 5.0)
        assert (obs.no_series, obs.ready_replicas, obs.request_rate_rps) == (False, 3, 60)
        assert prom.queries == before + 2 + 9  # once whether it has series, then its 9
    finally:
        prom.stop()


def test_query_budget_lets_a_second_of_burst_through_then_spaces_queries() -> None:
    from scaler.prometheus_observer import QueryBudget

    now = [100.0]
    budget = QueryBudget(10.0, clock=lambda: now[0])
    assert [budget.wait_s() for _ in range(10)] == [0.0] * 10
    assert budget.wait_s() == pytest.approx(0.1)
    assert budget.wait_s() == pytest.approx(0.2)
    now[0] += 1.0
    assert budget.wait_s() == 0.0  # a second later the debt of 2 is repaid, 7 tokens left
