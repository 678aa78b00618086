"""The production :class:`scaler.observer.Observer`: Triton signals read from Prometheus.

One instant query per signal (see :mod:`scaler.promql` for the queries and how
each KEDA edge case comes out of them). What this module does with the answers:

============================  ===============================================
Prometheus answers            the observer
============================  ===============================================
empty result                  ``ready_replicas`` 0; any other signal ``None``
one series, finite value      the value
one series, NaN or ±Inf       ``ready_replicas``: :class:`ObserveError`;
                              a signal: kept as it came (the pipeline holds
                              on it if it is the policy's signal), counted as
                              ``non_finite`` in the query-error metric
several series                :class:`ObserveError` (``several_series``)
non-2xx                       :class:`ObserveError` (``http_status``)
body not the expected JSON    :class:`ObserveError` (``malformed``)
timeout / connection refused  :class:`ObserveError` (``timeout``/``connection``)
============================  ===============================================

Identical queries within ``dedup_window_s`` seconds are sent once: hundreds of
ScaledObjects sharing a scope, refreshed from a thread pool, cost one query per
signal per window. Concurrent identical queries wait for the one in flight, and
a failure is shared for the window too, so a Prometheus that is down is not hit
once per ScaledObject.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from policies import Observation
from scaler.limits import clean_message, strip_url_credentials
from scaler.metadata import ScalerConfig
from scaler.observer import ObserveError
from scaler.own_metrics import ScalerMetrics
from scaler.promql import PRESENCE_WINDOW_S, presence_for, queries_for
from scaler.settings import ServerSettings

MAX_RANGE_POINTS = 11_000
"""Prometheus refuses range queries of more points than this per series."""

_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Failure:
    reason: str
    problem: str


class _QueryFailed(Exception):
    def __init__(self, failure: _Failure) -> None:
        super().__init__(failure.problem)
        self.failure = failure


class QueryBudget:
    """At most ``rate_per_s`` queries per second (a token bucket of one second's
    burst): a caller over budget sleeps for its turn, in arrival order. The refresh
    loop hands out refreshes oldest first, so over budget every object slows alike."""

    def __init__(self, rate_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = rate_per_s
        self._last = clock()

    def wait_s(self) -> float:
        """Take one query's token; seconds the caller must wait before sending it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.rate_per_s, self._tokens + (now - self._last) * self.rate_per_s)
            self._last = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s

    def take(self) -> None:
        wait = self.wait_s()
        if wait > 0:
            time.sleep(wait)


@dataclass
class _Entry:
    issued_s: float
    future: Future[Any]
    ttl_s: float


Sample = tuple[float, float]
"""(timestamp in epoch seconds, value) as Prometheus answered it."""

MAX_SIGNAL = 1e12
"""A signal beyond ±1e12 (ms of queue, req/s, a GPU fraction) is not a measurement
but a broken exporter or a fault; it is treated as unusable (NaN), so the pipeline
holds rather than jumping to ``maxReplicas``."""

MAX_READY_REPLICAS = 100_000
"""A ready-replica count beyond this is broken data, not a fleet."""

LOOKBACK_S = 300
"""Prometheus's default lookback for an instant selector (``--query.lookback-delta``)."""

SCOPES_REMEMBERED = 20_000
"""Fleets (by their presence query) remembered as having series or not; least
recently used forgotten (then asked about again, one query more)."""


def _retry() -> Retry:
    """One immediate retry of a refused connection; no retry of reads or statuses, so a
    query never takes much more than the configured timeout."""
    return Retry(
        total=None,
        connect=1,
        read=False,
        redirect=0,
        status=0,
        other=0,
        backoff_factor=0,
        raise_on_status=False,
    )


def _auth_headers(settings: ServerSettings) -> dict[str, str]:
    if settings.prometheus_auth_header is not None:
        return {"Authorization": settings.prometheus_auth_header.get_secret_value()}
    if settings.prometheus_bearer_token is not None:
        return {"Authorization": f"Bearer {settings.prometheus_bearer_token.get_secret_value()}"}
    return {}


def endpoint(
    settings: ServerSettings, url: str | None = None, authorization: str | None = None
) -> tuple[str, dict[str, str]]:
    """Base URL and headers for one Prometheus: ``url`` (None: the server's
    ``SCALER_PROMETHEUS_URL``) and ``authorization`` (None: the server's credentials,
    but only for the server's own URL; another URL gets none)."""
    base = (url or settings.prometheus_url).rstrip("/")
    if authorization is not None:
        return base, {"Authorization": authorization}
    return base, (_auth_headers(settings) if url is None else {})


def _read_environment_once(session: requests.Session, url: str) -> None:
    """Fix the session's proxies, CA bundle and netrc credentials from the environment
    now, as requests would on each request, and stop it re-reading them.

    With ``trust_env`` requests scans the environment (proxy variables, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``, ``~/.netrc``) on every request: a third of a query's CPU
    time in the scaler, and CPU the gRPC event loop waits for (one GIL). Every query
    of this session goes to one base URL, so the answer cannot change between them."""
    if not session.trust_env:
        return
    session.proxies = {**requests.utils.get_environ_proxies(url), **session.proxies}
    if session.verify is True:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        session.verify = bundle or True
    if session.auth is None:
        session.auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False


def _number(raw: Any) -> float:
    """A sample value as Prometheus writes it: a string such as ``"1.5"``, ``"NaN"``, ``"+Inf"``."""
    if not isinstance(raw, str):
        raise ValueError(f"sample value {raw!r} is not a string")
    return float(raw)


def _single(result: Any) -> dict[str, Any] | None:
    """The one series of a vector or matrix result, None if empty; raises on several."""
    if not isinstance(result, list):
        raise _QueryFailed(_Failure("malformed", f"result is {type(result).__name__}, not a list"))
    if not result:
        return None
    if len(result) > 1:
        labels = [s.get("metric") if isinstance(s, dict) else s for s in result[:3]]
        raise _QueryFailed(
            _Failure(
                "several_series",
                f"{len(result)} series where one was expected (first: {labels}); "
                "aggregate the query or narrow the scope",
            )
        )
    series = result[0]
    if not isinstance(series, dict):
        raise _QueryFailed(_Failure("malformed", f"series {series!r} is not an object"))
    return series


def _instant_value(result: Any) -> Sample | None:
    series = _single(result)
    if series is None:
        return None
    try:
        ts, raw = series["value"]
        return float(ts), _number(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise _QueryFailed(_Failure("malformed", f"bad sample {series!r}: {exc}")) from None


def _range_values(result: Any) -> list[tuple[float, float]]:
    series = _single(result)
    if series is None:
        return []
    try:
        return [(float(ts), _number(raw)) for ts, raw in series["values"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise _QueryFailed(
            _Failure("malformed", f"bad samples in {series!r:.200}: {exc}")
        ) from None


class PrometheusObserver:
    """Reads one :class:`policies.Observation` per ScaledObject from Prometheus.

    ``dedup_window_s``: seconds an instant query's answer (or failure) is reused
    for identical queries. ``clock``: monotonic seconds for that cache (tests
    pass their own). ``session``: the HTTP session to use (tests wrap one to
    count requests); its ``verify`` is set from the settings. ``url`` and
    ``authorization``: read another Prometheus than ``SCALER_PROMETHEUS_URL`` and/or
    send this ``Authorization`` header instead of the server's credentials (which
    are sent only to the server's own URL); see :mod:`scaler.prometheus_pool`.
    """

    def __init__(
        self,
        settings: ServerSettings,
        metrics: ScalerMetrics,
        *,
        dedup_window_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
        url: str | None = None,
        authorization: str | None = None,
    ) -> None:
        if dedup_window_s < 0:
            raise ValueError(f"dedup_window_s must be ≥ 0, got {dedup_window_s}")
        self._metrics = metrics
        self._dedup_window_s = dedup_window_s
        self._clock = clock
        self._timeout_s = settings.prometheus_timeout_s
        self.url, headers = endpoint(settings, url, authorization)
        self.shown_url = strip_url_credentials(self.url)
        """The URL as messages show it: without any ``user:password@``."""
        self._session = session if session is not None else requests.Session()
        if not settings.prometheus_verify_tls:
            self._session.verify = False
        elif settings.prometheus_ca_file is not None:
            self._session.verify = str(settings.prometheus_ca_file)
        else:
            self._session.verify = True
        _read_environment_once(self._session, self.url)
        self._client = PrometheusConnect(
            url=self.url,
            headers=headers,
            session=self._session,
            retry=_retry(),
            timeout=settings.prometheus_timeout_s,
        )
        self.budget = QueryBudget(settings.max_prometheus_queries_per_s)
        self._lock = threading.Lock()
        self._cache: dict[str, _Entry] = {}
        self._last_sweep_s = clock()
        self._has_series: OrderedDict[str, bool] = OrderedDict()
        """Presence query → whether the fleet's last look found any series."""

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.close()

    def observe(self, config: ScalerConfig, now_s: float) -> Observation:
        """The fleet's signals as Prometheus evaluates them when asked (its latest
        samples), stamped with the oldest sample's timestamp (never after ``now_s``),
        so the pipeline judges staleness on when the data was true; raises
        :class:`ObserveError`. ``no_series`` is set when not one query matched a
        series (a wrong label, or no data at all)."""
        queries = queries_for(config)
        presence = presence_for(config)
        ready: Sample | None = None
        signals: dict[str, Sample | None] = {name: None for name, _ in queries.signals()}
        found = self._may_have_series(presence, ask_if_unknown=False)
        if found:
            ready = self.instant_sample(queries.ready_replicas, name="ready_replicas")
            signals = {name: self.instant_sample(q, name=name) for name, q in queries.signals()}
            found = ready is not None or any(v is not None for v in signals.values())
            self._remember(presence, found)
        indicators = tuple(
            self.instant_sample(q.promql, name=f"indicator{q.number}") for q in config.indicators
        )
        present = [x for x in (ready, *signals.values(), *indicators) if x is not None]
        time_s = min([now_s, *(ts for ts, _ in present)])
        obs = _observation(
            time_s,
            _count(ready[1] if ready else None, queries.ready_replicas),
            {k: v[1] if v else None for k, v in signals.items()},
            tuple(v[1] if v else None for v in indicators),
        )
        return replace(obs, no_series=True) if not present else obs

    def history(
        self, config: ScalerConfig, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        """Observations at ``start_s + k*step_s`` up to ``end_s`` (epoch seconds), oldest first."""
        if not step_s > 0:
            raise ValueError(f"step_s must be > 0, got {step_s}")
        if end_s < start_s:
            return []
        points = math.floor((end_s - start_s) / step_s + 1e-9) + 1
        if points > MAX_RANGE_POINTS:
            raise ObserveError(
                f"history of {points} points over [{start_s}, {end_s}] step {step_s} s is more "
                f"than Prometheus's {MAX_RANGE_POINTS}; use a larger step"
            )
        queries = queries_for(config)
        end_aligned = start_s + (points - 1) * step_s
        ready: dict[int, float] = {}
        signals: dict[str, dict[int, float]] = {name: {} for name, _ in queries.signals()}
        # Once per object (its rebuild), so asked even for a fleet not seen before: a
        # thousand new objects with no series then cost a query each, not ten.
        presence = presence_for(config)
        covered = time.time() - start_s + config.rate_window_s + LOOKBACK_S <= PRESENCE_WINDOW_S
        if not covered or self._may_have_series(presence, ask_if_unknown=True):
            ready = self._range(
                queries.ready_replicas, "ready_replicas", start_s, end_aligned, step_s
            )
            signals = {
                name: self._range(q, name, start_s, end_aligned, step_s)
                for name, q in queries.signals()
            }
            if covered:
                self._remember(presence, bool(ready) or any(signals.values()))
        gauges = [
            self._range(q.promql, f"indicator{q.number}", start_s, end_aligned, step_s)
            for q in config.indicators
        ]
        out = []
        for k in range(points):
            count = ready.get(k)
            values = {name: series.get(k) for name, series in signals.items()}
            levels = tuple(series.get(k) for series in gauges)
            obs = _observation(
                start_s + k * step_s, _count(count, queries.ready_replicas), values, levels
            )
            absent = count is None and all(v is None for v in (*values.values(), *levels))
            out.append(replace(obs, no_series=True) if absent else obs)
        return out

    def _may_have_series(self, presence: str, *, ask_if_unknown: bool) -> bool:
        """False only if the fleet's presence query (:func:`scaler.promql.presence_query`)
        finds no series, asked when the fleet had none at its last look (or, with
        ``ask_if_unknown``, was not seen before): then every query of the fleet would
        come back empty, and one query stands for ten. Any failure of the presence
        query: True (the fleet's own queries then report it, naming themselves)."""
        with self._lock:
            known = self._has_series.get(presence)
            if known is not None:
                self._has_series.move_to_end(presence)
        if known or (known is None and not ask_if_unknown):
            return True
        try:
            found = self.instant_sample(presence, name="presence") is not None
        except ObserveError:
            return True
        if not found:
            self._remember(presence, False)
        return found

    def _remember(self, presence: str, found: bool) -> None:
        with self._lock:
            self._has_series[presence] = found
            self._has_series.move_to_end(presence)
            while len(self._has_series) > SCOPES_REMEMBERED:
                self._has_series.popitem(last=False)

    def instant(self, query: str, *, name: str = "query") -> float | None:
        """The value of ``query`` now: None if the result is empty.

        Raises :class:`ObserveError` naming ``name`` and the query on any failure,
        including a result of several series. Shared within the dedup window.
        """
        sample = self.instant_sample(query, name=name)
        return None if sample is None else sample[1]

    def instant_sample(self, query: str, *, name: str = "query") -> Sample | None:
        """:meth:`instant` with the sample's timestamp."""
        try:
            sample: Sample | None = self._shared(
                query, self._dedup_window_s, lambda: self._fetch_instant(query)
            )
        except _QueryFailed as exc:
            raise ObserveError(
                f"Prometheus query {name} `{query}`: {exc.failure.problem}"
            ) from None
        return sample

    def _shared(self, key: str, ttl_s: float, fetch: Callable[[], Any]) -> Any:
        """``fetch()``'s answer (or failure), shared by identical calls for ``ttl_s``;
        concurrent identical calls wait for the one in flight."""
        owner = False
        with self._lock:
            now = self._clock()
            self._sweep(now)
            entry = self._cache.get(key)
            if entry is None or (entry.future.done() and now - entry.issued_s >= entry.ttl_s):
                entry = _Entry(issued_s=now, future=Future(), ttl_s=ttl_s)
                self._cache[key] = entry
                owner = True
        if owner:
            try:
                entry.future.set_result(fetch())
            except BaseException as exc:
                entry.future.set_exception(exc)
        return entry.future.result()

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep_s < max(self._dedup_window_s, 1.0):
            return
        self._last_sweep_s = now
        stale = [
            q for q, e in self._cache.items() if e.future.done() and now - e.issued_s >= e.ttl_s
        ]
        for q in stale:
            del self._cache[q]

    def _fetch_instant(self, query: str) -> Sample | None:
        result = self._call(lambda: self._client.custom_query(query))
        sample: Sample | None = self._parsed(lambda: _instant_value(result))
        if sample is None:
            return None
        return sample[0], self._checked(sample[1])

    def _checked(self, value: float) -> float:
        """NaN/Inf counted as ``non_finite``; an absurd magnitude counted as ``absurd``
        and made NaN, so the pipeline treats it as the bad data it is."""
        if not math.isfinite(value):
            self._metrics.query_errors.labels(reason="non_finite").inc()
        elif abs(value) > MAX_SIGNAL:
            self._metrics.query_errors.labels(reason="absurd").inc()
            return math.nan
        return value

    def _range(
        self, query: str, name: str, start_s: float, end_s: float, step_s: float
    ) -> dict[int, float]:
        """Range query → {step index: value}."""

        def call() -> Any:
            return self._client.custom_query_range(
                query,
                start_time=datetime.fromtimestamp(start_s, UTC),
                end_time=datetime.fromtimestamp(end_s, UTC),
                step=f"{step_s:g}",
                params={"start": f"{start_s:.3f}", "end": f"{end_s:.3f}"},
            )

        def fetch() -> dict[int, float]:
            result = self._call(call)
            samples = self._parsed(lambda: _range_values(result))
            return {round((ts - start_s) / step_s): self._checked(v) for ts, v in samples}

        key = f"range {start_s:.3f} {end_s:.3f} {step_s:g} {query}"
        try:
            out: dict[int, float] = self._shared(key, max(step_s, self._dedup_window_s), fetch)
        except _QueryFailed as exc:
            raise ObserveError(
                f"Prometheus range query {name} `{query}`: {exc.failure.problem}"
            ) from None
        return out

    def _call(self, fn: Callable[[], Any]) -> Any:
        """One HTTP query within the budget, timed; transport and status failures
        become :class:`_QueryFailed`."""
        self.budget.take()
        started = time.perf_counter()
        try:
            return fn()
        except requests.Timeout as exc:
            raise self._failed(
                "timeout", f"no answer within {self._timeout_s:g} s ({_brief(exc)})"
            ) from None
        except requests.ConnectionError as exc:
            raise self._failed(
                "connection", f"cannot reach {self.shown_url}: {_brief(exc)}"
            ) from None
        except PrometheusApiClientException as exc:
            m = _STATUS.search(str(exc))
            problem = f"HTTP {m.group(1)}: {m.group(2)[:300]}" if m else str(exc)[:300]
            raise self._failed("http_status", problem) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise self._failed("malformed", f"answer is not Prometheus JSON: {exc}") from None
        except requests.RequestException as exc:
            raise self._failed("request", f"{type(exc).__name__}: {_brief(exc)}") from None
        finally:
            self._metrics.query_seconds.observe(time.perf_counter() - started)

    def _parsed(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except _QueryFailed as exc:
            self._metrics.query_errors.labels(reason=exc.failure.reason).inc()
            raise

    def _failed(self, reason: str, problem: str) -> _QueryFailed:
        self._metrics.query_errors.labels(reason=reason).inc()
        return _QueryFailed(_Failure(reason, problem))


_WITH_URL = re.compile(r"(with url: |url: )\S+")


def _brief(exc: BaseException) -> str:
    """A transport error without the request's URL (credentials, the long encoded
    query) and at most 300 characters."""
    return clean_message(_WITH_URL.sub(r"\1…", str(exc)), 300)


def _observation(
    time_s: float,
    ready: int,
    values: Mapping[str, float | None],
    indicators: tuple[float | None, ...] = (),
) -> Observation:
    return Observation(
        time_s=time_s,
        ready_replicas=ready,
        request_rate_rps=values.get("request_rate_rps"),
        queue_time_per_request_ms=values.get("queue_time_per_request_ms"),
        queue_time_per_exec_ms=values.get("queue_time_per_exec_ms"),
        pending_requests=values.get("pending_requests"),
        gpu_utilization=values.get("gpu_utilization"),
        activation_rps=values.get("activation_rps"),
        items_per_s=values.get("items_per_s"),
        execs_per_s=values.get("execs_per_s"),
        compute_time_per_request_ms=values.get("compute_time_per_request_ms"),
        indicators=indicators,
    )


def _count(value: float | None, query: str) -> int:
    if value is None:
        return 0
    if not math.isfinite(value) or value < 0 or value > MAX_READY_REPLICAS:
        raise ObserveError(
            f"Prometheus query ready_replicas `{query}`: value {value} is not a count"
        )
    return round(value)
