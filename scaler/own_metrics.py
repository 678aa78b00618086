"""The scaler's own Prometheus metrics (served on /metrics).

Each server builds them on its own :class:`CollectorRegistry` so tests never
share the global one. Names here are a contract with the Grafana dashboard in
``manifests/grafana/`` and the alerts in
``manifests/overlays/prometheus-operator/prometheusrule.yaml``: change them together.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OBJECT_LABELS = ("scaledobject_namespace", "scaledobject")
"""Labels naming the ScaledObject. Not ``namespace``: a Prometheus scraping the scaler
(a PodMonitor under the Prometheus Operator, or any kubernetes_sd job) sets the target's
own ``namespace`` (the scaler's), which would rename ours to ``exported_namespace``."""


@dataclass(frozen=True)
class ScalerMetrics:
    registry: CollectorRegistry
    decisions: Counter
    """sonic_scaler_decisions_total{scaledobject_namespace,scaledobject,policy,status,guardrail}"""
    desired_replicas: Gauge
    """sonic_scaler_desired_replicas{scaledobject_namespace,scaledobject,policy}: sent to KEDA."""
    ready_replicas: Gauge
    """sonic_scaler_ready_replicas{scaledobject_namespace,scaledobject}: ready, per Prometheus."""
    signal: Gauge
    """sonic_scaler_signal{scaledobject_namespace,scaledobject,policy}: the policy's main signal."""
    signal_target: Gauge
    """sonic_scaler_signal_target{scaledobject_namespace,scaledobject,policy}: its target."""
    holding: Gauge
    """sonic_scaler_holding{scaledobject_namespace,scaledobject}: 1 while holding or failing."""
    query_seconds: Histogram
    """sonic_scaler_prometheus_query_seconds: latency of each Prometheus query."""
    query_errors: Counter
    """sonic_scaler_prometheus_query_errors_total{reason}: failed or unusable queries."""
    rpc_seconds: Histogram
    """sonic_scaler_rpc_seconds{method}: gRPC handling time (without the deliberate wait
    of a delayed refusal, counted in ``refusals_delayed``)."""
    rpc_errors: Counter
    """sonic_scaler_rpc_errors_total{method,code}: gRPC calls answered with an error."""
    no_series: Gauge
    """sonic_scaler_no_series{scaledobject_namespace,scaledobject}: 1 while Prometheus has no series
    at all for the object's scope (wrong namespace/release labels?)."""
    objects_forgotten: Counter
    """sonic_scaler_objects_forgotten_total{reason}: objects dropped (idle, evicted)."""
    tracked_objects: Gauge
    """sonic_scaler_tracked_objects: ScaledObjects tracked now (bounded by SCALER_MAX_OBJECTS)."""
    logged_decisions: Gauge
    """sonic_scaler_logged_decisions: decisions kept for the dashboard now (bounded by
    SCALER_MAX_LOGGED_DECISIONS)."""
    event_loop_lag: Histogram
    """sonic_scaler_event_loop_lag_seconds: how late the gRPC event loop runs a timer
    (waiting for the interpreter lock or a core): every answer waits this long too."""
    reader_stalled: Gauge
    """sonic_scaler_prometheus_reader_stalled: 1 while the Prometheus reader process
    answers no ping (health fails meanwhile)."""
    refusals_delayed: Counter
    """sonic_scaler_rpc_refusals_delayed_total{method}: calls refused at the object limit
    whose answer was held back (a client looping on refusals)."""


def build_metrics(registry: CollectorRegistry | None = None) -> ScalerMetrics:
    reg = registry if registry is not None else CollectorRegistry()
    return ScalerMetrics(
        registry=reg,
        decisions=Counter(
            "sonic_scaler_decisions",
            "Decisions made, by status (ok, hold, fail) and the guardrail that shaped them.",
            [*OBJECT_LABELS, "policy", "status", "guardrail"],
            registry=reg,
        ),
        desired_replicas=Gauge(
            "sonic_scaler_desired_replicas",
            "Replica count reported to KEDA (metricValueFloat).",
            [*OBJECT_LABELS, "policy"],
            registry=reg,
        ),
        ready_replicas=Gauge(
            "sonic_scaler_ready_replicas",
            "Ready Triton replicas as seen in Prometheus.",
            list(OBJECT_LABELS),
            registry=reg,
        ),
        signal=Gauge(
            "sonic_scaler_signal",
            "The policy's main signal at the last decision (unit of the signal).",
            [*OBJECT_LABELS, "policy"],
            registry=reg,
        ),
        signal_target=Gauge(
            "sonic_scaler_signal_target",
            "The target of the policy's main signal.",
            [*OBJECT_LABELS, "policy"],
            registry=reg,
        ),
        holding=Gauge(
            "sonic_scaler_holding",
            "1 while the decision is held or failing on missing data.",
            list(OBJECT_LABELS),
            registry=reg,
        ),
        query_seconds=Histogram(
            "sonic_scaler_prometheus_query_seconds",
            "Seconds per Prometheus query.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=reg,
        ),
        query_errors=Counter(
            "sonic_scaler_prometheus_query_errors",
            "Prometheus queries that failed or returned unusable data, by reason.",
            ["reason"],
            registry=reg,
        ),
        rpc_seconds=Histogram(
            "sonic_scaler_rpc_seconds",
            "Seconds to answer a KEDA gRPC call.",
            ["method"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1),
            registry=reg,
        ),
        no_series=Gauge(
            "sonic_scaler_no_series",
            "1 while Prometheus has no series for the object's scope: a misconfiguration "
            "(wrong namespace or release label) or no data yet.",
            list(OBJECT_LABELS),
            registry=reg,
        ),
        objects_forgotten=Counter(
            "sonic_scaler_objects_forgotten",
            "ScaledObjects dropped: idle (not asked for forgetAfter) or evicted (object limit).",
            ["reason"],
            registry=reg,
        ),
        rpc_errors=Counter(
            "sonic_scaler_rpc_errors",
            "gRPC calls answered with an error, by method and status code.",
            ["method", "code"],
            registry=reg,
        ),
        tracked_objects=Gauge(
            "sonic_scaler_tracked_objects",
            "ScaledObjects tracked now; at SCALER_MAX_OBJECTS new ones are refused.",
            registry=reg,
        ),
        logged_decisions=Gauge(
            "sonic_scaler_logged_decisions",
            "Decisions kept for the dashboard now (each object its share of "
            "SCALER_MAX_LOGGED_DECISIONS).",
            registry=reg,
        ),
        event_loop_lag=Histogram(
            "sonic_scaler_event_loop_lag_seconds",
            "How late the gRPC event loop ran a 50 ms timer: waiting for the interpreter "
            "lock, a CPU core or other work on the loop; every answer waits as long.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
            registry=reg,
        ),
        reader_stalled=Gauge(
            "sonic_scaler_prometheus_reader_stalled",
            "1 while the Prometheus reader process answers no ping (starved of CPU, "
            "stopped or wedged): decisions are not refreshed and health fails.",
            registry=reg,
        ),
        refusals_delayed=Counter(
            "sonic_scaler_rpc_refusals_delayed",
            "Calls refused at the object limit (RESOURCE_EXHAUSTED) answered after a "
            "deliberate wait, not counted in sonic_scaler_rpc_seconds.",
            ["method"],
            registry=reg,
        ),
    )


def remove_series(metrics: ScalerMetrics, series: Iterable[tuple[str, tuple[str, ...]]]) -> None:
    """Remove each (metric attribute of ``metrics``, label values) series, if present."""
    for attr, labels in series:
        metric = getattr(metrics, attr)
        with contextlib.suppress(KeyError):
            metric.remove(*labels)
