"""PromQL for the signals of one Triton fleet, built from its :class:`LabelScope`.

Pure string building, no I/O. Every query returns at most one series (each is an
aggregation without ``by``), so the observer can treat a second series as an error.

How each KEDA edge case comes out of these queries (the observer maps them):

- **No series matched** (no replica runs, or the counters have fewer than two
  samples in the rate window): the result is empty. ``ready_replicas`` then
  counts 0; every other signal is absent (``None``), never a made-up 0.
- **Idle fleet** (replicas up, counters flat): the rate is a real ``0``.
- **0/0**: the queue-time ratios divide by a rate that is 0 when no request
  completed in the window. That is "no queueing", so they come out as ``0``, not
  NaN: ``A / (B > 0)`` drops the 0/0 point and ``or ((A * 0) and (B == 0))`` puts
  back a 0, only when both counters exist.
- NaN or Inf from a gauge is passed through as it came; the pipeline holds on it.

Label values are validated names (see :data:`scaler.metadata.LABEL_VALUE`), but
they are still escaped here (backslash, double quote, newline) so that no value
can ever leave its matcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scaler.metadata import ACTIVATION_SCOPE_LABELS, LabelScope, ScalerConfig
from scaler.selector import LABEL_NAME, METRIC_NAME, parse_selector

REQUEST_SUCCESS = "nv_inference_request_success"
QUEUE_DURATION_US = "nv_inference_queue_duration_us"
EXEC_COUNT = "nv_inference_exec_count"
INFERENCE_COUNT = "nv_inference_count"
COMPUTE_INFER_US = "nv_inference_compute_infer_duration_us"
PENDING = "nv_inference_pending_request_count"

GPU_METRIC_SCALE: Mapping[str, float] = {"nv_gpu_utilization": 1.0, "DCGM_FI_DEV_GPU_UTIL": 100.0}
"""Divisor that turns each supported GPU gauge into a busy fraction 0–1."""


def escape_label_value(value: str) -> str:
    """``value`` as the inside of a PromQL double-quoted string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def matchers(labels: Mapping[str, str]) -> str:
    """``{a="x",b="y"}`` (equality matchers, sorted by name), or ``""`` when empty."""
    for name in labels:
        if not LABEL_NAME.match(name):
            raise ValueError(f"invalid label name {name!r}")
    if not labels:
        return ""
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def selector(metric: str, labels: Mapping[str, str]) -> str:
    """An instant-vector selector ``metric{...}``; ``metric`` must be a valid metric name."""
    if not METRIC_NAME.match(metric):
        raise ValueError(f"invalid metric name {metric!r}")
    return metric + matchers(labels)


def _rate_sum(metric: str, labels: Mapping[str, str], window_s: int) -> str:
    return f"sum(rate({selector(metric, labels)}[{window_s}s]))"


def _ratio_ms(numerator_us: str, denominator: str) -> str:
    """``numerator_us / denominator / 1000`` with 0/0 → 0 (see the module docstring)."""
    exact = f"({numerator_us} / ({denominator} > 0) / 1000)"
    idle = f"(({numerator_us} * 0) and ({denominator} == 0))"
    return f"{exact} or {idle}"


@dataclass(frozen=True, slots=True)
class Queries:
    """One query per :class:`policies.Observation` field read from Prometheus."""

    ready_replicas: str
    request_rate_rps: str
    queue_time_per_request_ms: str
    queue_time_per_exec_ms: str
    pending_requests: str
    gpu_utilization: str
    activation_rps: str | None
    items_per_s: str
    execs_per_s: str
    compute_time_per_request_ms: str

    def signals(self) -> tuple[tuple[str, str], ...]:
        """(Observation field, query) for every optional signal that has a query."""
        pairs = (
            ("request_rate_rps", self.request_rate_rps),
            ("queue_time_per_request_ms", self.queue_time_per_request_ms),
            ("queue_time_per_exec_ms", self.queue_time_per_exec_ms),
            ("pending_requests", self.pending_requests),
            ("gpu_utilization", self.gpu_utilization),
            ("activation_rps", self.activation_rps),
            ("items_per_s", self.items_per_s),
            ("execs_per_s", self.execs_per_s),
            ("compute_time_per_request_ms", self.compute_time_per_request_ms),
        )
        return tuple((name, q) for name, q in pairs if q is not None)


def build_queries(
    scope: LabelScope, rate_window_s: int, gpu_metric: str, activation_metric: str | None
) -> Queries:
    """The queries of one fleet.

    ``scope`` with its ``model`` selects Triton's per-model series; without it
    selects target-level series (``up``, GPU gauges), which carry no ``model``
    label. The activation counter lives in front of the fleet (a proxy), so only
    ``namespace`` and ``release`` scope it.

    Ready replicas are the targets that are up *and* expose the model's Triton
    counters, so exporters or proxies sharing the namespace do not count.
    """
    if rate_window_s <= 0:
        raise ValueError(f"rate_window_s must be > 0, got {rate_window_s}")
    if gpu_metric not in GPU_METRIC_SCALE:
        raise ValueError(f"gpu_metric {gpu_metric!r} is not one of {sorted(GPU_METRIC_SCALE)}")
    model = scope.labels(with_model=True)
    target = scope.labels(with_model=False)
    w = rate_window_s
    success = _rate_sum(REQUEST_SUCCESS, model, w)
    queue = _rate_sum(QUEUE_DURATION_US, model, w)
    execs = _rate_sum(EXEC_COUNT, model, w)
    gpu = f"avg({selector(gpu_metric, target)})"
    scale = GPU_METRIC_SCALE[gpu_metric]
    activation = None
    if activation_metric is not None:
        wake = parse_selector(activation_metric, reserved=ACTIVATION_SCOPE_LABELS)
        front = {k: v for k, v in target.items() if k in ACTIVATION_SCOPE_LABELS}
        activation = _rate_sum(wake.metric, {**wake.label_dict(), **front}, w)
    return Queries(
        ready_replicas=(
            f"count(({selector('up', target)} == 1) "
            f"and on (instance) {selector(REQUEST_SUCCESS, model)})"
        ),
        request_rate_rps=success,
        queue_time_per_request_ms=_ratio_ms(queue, success),
        queue_time_per_exec_ms=_ratio_ms(queue, execs),
        pending_requests=f"sum({selector(PENDING, model)})",
        gpu_utilization=gpu if scale == 1.0 else f"{gpu} / {scale:g}",
        activation_rps=activation,
        items_per_s=_rate_sum(INFERENCE_COUNT, model, w),
        execs_per_s=execs,
        compute_time_per_request_ms=_ratio_ms(_rate_sum(COMPUTE_INFER_US, model, w), success),
    )


PRESENCE_WINDOW_S = 3600
"""Seconds back :func:`presence_query` looks for any sample: more than any rate window
and than Prometheus's lookback for instant selectors (5 minutes unless changed), so
"nothing in this window" means every query of :func:`build_queries` is empty now."""


def presence_query(
    scope: LabelScope, rate_window_s: int, gpu_metric: str, activation_metric: str | None
) -> str:
    """One query that is empty only when every query :func:`build_queries` makes for
    this fleet is: none of the series they select has a sample within
    :data:`PRESENCE_WINDOW_S` (or ``rate_window_s`` if longer). The reverse does not
    hold (a series with one sample in the window still gives an empty rate), so it is
    only ever used to skip queries that would all have come back empty: a fleet with
    no series (a wrong ``release``) then costs one query per refresh instead of ten."""
    model = scope.labels(with_model=True)
    target = scope.labels(with_model=False)
    selectors = [
        selector("up", target),
        *(
            selector(metric, model)
            for metric in (
                REQUEST_SUCCESS,
                QUEUE_DURATION_US,
                EXEC_COUNT,
                INFERENCE_COUNT,
                COMPUTE_INFER_US,
                PENDING,
            )
        ),
        selector(gpu_metric, target),
    ]
    if activation_metric is not None:
        wake = parse_selector(activation_metric, reserved=ACTIVATION_SCOPE_LABELS)
        front = {k: v for k, v in target.items() if k in ACTIVATION_SCOPE_LABELS}
        selectors.append(selector(wake.metric, {**wake.label_dict(), **front}))
    w = max(rate_window_s, PRESENCE_WINDOW_S)
    return "count(" + " or ".join(f"present_over_time({s}[{w}s])" for s in selectors) + ")"


def queries_for(config: ScalerConfig) -> Queries:
    """The queries of one ScaledObject."""
    return build_queries(
        config.scope, config.rate_window_s, config.gpu_metric, config.activation_metric
    )


def presence_for(config: ScalerConfig) -> str:
    """:func:`presence_query` of one ScaledObject."""
    return presence_query(
        config.scope, config.rate_window_s, config.gpu_metric, config.activation_metric
    )
