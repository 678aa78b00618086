"""An object's own recent traffic, read from Prometheus as a :class:`Trace`: the
"replay my last day" trace source of the tuning page.

One range query of the fleet's request rate (the same PromQL the scaler decides
on, from :mod:`scaler.promql`) and one of its item rate (batch items per request,
which is what loads the GPUs). Gaps where Prometheus has no sample are read as
zero load and counted in ``Trace.skipped``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import requests

from scaler.limits import clean_message, strip_url_credentials
from scaler.metadata import ScalerConfig
from scaler.prometheus_observer import endpoint
from scaler.prometheus_urls import PrometheusTarget
from scaler.promql import build_queries, selector
from scaler.settings import ServerSettings
from scaler.traces.model import Trace

MAX_POINTS = 10_000
"""Prometheus refuses range queries of more than 11,000 points per series."""

MIN_STEP_S = 15.0
MAX_HOURS = 168.0


class HistoryError(RuntimeError):
    """Prometheus could not give the history; the message names the query and why."""


def _range(
    settings: ServerSettings,
    target: PrometheusTarget,
    query: str,
    start_s: float,
    end_s: float,
    step_s: float,
) -> dict[float, float]:
    verify: bool | str = settings.prometheus_verify_tls
    if verify and settings.prometheus_ca_file is not None:
        verify = str(settings.prometheus_ca_file)
    base, headers = endpoint(settings, target.url, target.authorization)
    url = base + "/api/v1/query_range"
    params = {
        "query": query,
        "start": f"{start_s:.3f}",
        "end": f"{end_s:.3f}",
        "step": f"{step_s:g}",
    }
    try:
        resp = requests.get(
            url,
            params=params,
            headers=headers,
            timeout=max(settings.prometheus_timeout_s, 10.0),
            verify=verify,
        )
    except requests.RequestException as exc:
        raise HistoryError(clean_message(f"Prometheus at {base}: {exc}")) from None
    try:
        body: dict[str, Any] = resp.json()
    except ValueError:
        raise HistoryError(
            f"Prometheus answered {resp.status_code} without JSON to {query!r}"
        ) from None
    if resp.status_code != 200 or body.get("status") != "success":
        raise HistoryError(
            f"Prometheus answered {resp.status_code} to {query!r}: {body.get('error', body)}"
        )
    result = body.get("data", {}).get("result", [])
    points: dict[float, float] = {}
    for series in result:
        for t, v in series.get("values", []):
            value = float(v)
            if math.isfinite(value):
                points[round(float(t), 3)] = points.get(round(float(t), 3), 0.0) + value
    return points


def prometheus_trace(
    settings: ServerSettings, cfg: ScalerConfig, hours: float, *, now_s: float
) -> Trace:
    """The last ``hours`` (≤ 168) of ``cfg``'s request rate as a rate series, with a
    step of at least 15 s (more for long spans, to stay under Prometheus's limit)."""
    if not (math.isfinite(hours) and 0 < hours <= MAX_HOURS):
        raise ValueError(f"hours must be > 0 and ≤ {MAX_HOURS:g}, got {hours}")
    span_s = hours * 3600.0
    step_s = max(MIN_STEP_S, math.ceil(span_s / MAX_POINTS))
    end_s = math.floor(now_s / step_s) * step_s
    start_s = end_s - span_s + step_s
    window = max(cfg.rate_window_s, int(2 * step_s))
    rate_query = build_queries(
        cfg.scope, window, cfg.gpu_metric, cfg.activation_metric
    ).request_rate_rps
    items_query = f"sum(rate({selector('nv_inference_count', cfg.scope.labels())}[{window}s]))"
    rates = _range(settings, cfg.prometheus, rate_query, start_s, end_s, step_s)
    if not rates:
        raise HistoryError(
            f"Prometheus has no request rate for {cfg.key} in the last {hours:g} h ({rate_query})"
        )
    items = _range(settings, cfg.prometheus, items_query, start_s, end_s, step_s)
    n = round(span_s / step_s)
    times = start_s + np.arange(n) * step_s
    rps = np.zeros(n)
    per_request = np.ones(n)
    missing = 0
    for i, t in enumerate(times):
        r = rates.get(round(float(t), 3))
        if r is None:
            missing += 1
            continue
        rps[i] = max(r, 0.0)
        it = items.get(round(float(t), 3))
        if it is not None and r > 0:
            per_request[i] = max(it / r, 1.0)
    first = next(i for i, t in enumerate(times) if round(float(t), 3) in rates)
    skipped = {}
    if missing > first:
        skipped["no sample in Prometheus (read as 0 req/s)"] = missing - first
    return Trace(
        name=f"prometheus:{cfg.key}:{hours:g}h",
        rps=rps[first:],
        step_s=float(step_s),
        items_per_request=per_request[first:] if items else None,
        skipped=skipped,
        notes=(
            f"last {hours:g} h of {cfg.key} from {strip_url_credentials(settings.prometheus_url)}",
            f"request rate: {rate_query} at {step_s:g} s steps",
            f"items per request: {items_query} ÷ request rate" if items else "1 item per request",
        ),
    )
