"""What the dashboard shows about tracked ScaledObjects, computed from the tracker's
memory: summaries with health, the decision log as records (search, CSV), plot
series, and the metadata equivalent to a config (for "Export" and for validating
an override before it is applied)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from policies import Decision, Status
from scaler.indicator_metadata import describe_contribution
from scaler.limits import REDACTED, redact
from scaler.metadata import (
    ScalerConfig,
    config_metadata,
    from_env_base,
    parse_metadata,
    with_override,
)
from scaler.tracker import TrackedObject

STALE_AFTER_REFRESHES = 3
"""A decision older than this many refresh intervals is shown as stale."""


def base_metadata(obj: TrackedObject) -> dict[str, str]:
    """The ScaledObject's own metadata as KEDA sent it (the tracker keeps every
    object's, before any override; secret values already redacted)."""
    return {str(k): str(v) for k, v in obj.metadata.items()}


def merged_metadata(obj: TrackedObject, override: Mapping[str, str]) -> dict[str, str]:
    """The metadata the scaler will parse with ``override`` on the object's own (the
    override it replaces plays no part: the base is always the object's own).

    Raises MetadataError when the result is invalid."""
    cfg = obj.config
    merged = with_override(parseable_base(obj), override)
    parse_metadata(cfg.name, cfg.namespace, merged)
    return merged


def parseable_base(obj: TrackedObject) -> dict[str, str]:
    """:func:`base_metadata` with each ``<key>FromEnv`` (kept redacted: its value came
    from the environment) replaced by ``<key>`` at the value the scaler parsed from it,
    so a what-if or preview on an object that reads a parameter from the environment
    parses instead of reading ``<redacted>`` as the number. The credential keys stay
    as they are (they are not parsed as values)."""
    parsed = config_metadata(obj.config)
    out: dict[str, str] = {}
    for key, value in base_metadata(obj).items():
        base = from_env_base(key)
        if base is not None and value == REDACTED and base in parsed:
            out[base] = parsed[base]
        else:
            out[key] = value
    return out


def health(obj: TrackedObject, now_s: float, refresh_interval_s: float) -> str:
    """``erroring`` (metrics failing or decision failing), ``no-series`` (Prometheus
    has no series for the scope: a misconfigured label, never shown as fresh),
    ``stale`` (holding, or no decision for several refreshes), ``pending`` (no
    decision yet) or ``fresh``."""
    d = obj.decision
    if d is None:
        return "erroring" if obj.error else "pending"
    if d.status is Status.NO_SERIES or d.inputs.get("no_series"):
        return "no-series"
    if obj.error or d.status is Status.FAIL:
        return "erroring"
    if d.status is Status.HOLD or now_s - d.time_s > STALE_AFTER_REFRESHES * refresh_interval_s:
        return "stale"
    return "fresh"


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def signal_name(cfg: ScalerConfig) -> str | None:
    value = getattr(cfg.params, "signal", None)
    return str(value) if value is not None else None


def summary(
    obj: TrackedObject, now_s: float, refresh_interval_s: float, override: Mapping[str, str]
) -> dict[str, Any]:
    cfg = obj.config
    d = obj.decision
    inputs = d.inputs if d is not None else {}
    return {
        "key": cfg.key,
        "namespace": cfg.namespace,
        "name": cfg.name,
        "policy": cfg.policy.name,
        "ready_replicas": inputs.get("ready_replicas"),
        "desired_replicas": d.replicas if d is not None else None,
        "value": _finite(d.value) if d is not None else None,
        "signal_name": signal_name(cfg),
        "signal": _finite(d.signal) if d is not None else None,
        "target": _finite(d.target) if d is not None else None,
        "request_rate_rps": _finite(inputs.get("request_rate_rps")),
        "queue_time_per_request_ms": _finite(inputs.get("queue_time_per_request_ms")),
        "gpu_utilization": _finite(inputs.get("gpu_utilization")),
        "status": d.status.value if d is not None else None,
        "health": health(obj, now_s, refresh_interval_s),
        "reason": d.reason if d is not None else (obj.error or "no decision yet"),
        "decided_at_s": d.time_s if d is not None else None,
        "age_s": (now_s - d.time_s) if d is not None else None,
        "error": obj.error,
        "overridden": bool(override),
        "indicators": describe_contribution(cfg.indicators, inputs) if cfg.indicators else None,
        "indicator_replicas": _finite(inputs.get("indicator_replicas")) if cfg.indicators else None,
    }


def record(d: Decision) -> dict[str, Any]:
    rec = d.as_record()
    clean: dict[str, Any] = json.loads(
        json.dumps(rec, default=str, allow_nan=True), parse_constant=lambda _: None
    )
    return clean


def search(decisions: Iterable[Decision], query: str, limit: int) -> list[dict[str, Any]]:
    """Newest first; ``query`` is matched (case-insensitive, every word) against the
    whole record, so "hold stale" finds held decisions on stale data."""
    words = [w.lower() for w in query.split()]
    out: list[dict[str, Any]] = []
    for d in reversed(list(decisions)):
        rec = record(d)
        if words:
            text = json.dumps(rec, default=str).lower()
            if not all(w in text for w in words):
                continue
        out.append(rec)
        if len(out) >= limit:
            break
    return out


CSV_COLUMNS = (
    "time_s",
    "policy",
    "status",
    "value",
    "replicas",
    "active",
    "recommended",
    "signal",
    "target",
    "guardrails",
    "reason",
)


def to_csv(records: list[dict[str, Any]]) -> str:
    """One row per decision: outputs first, then every input as ``input.<name>``."""
    input_names: list[str] = []
    for rec in records:
        for k in rec.get("inputs", {}):
            if k not in input_names:
                input_names.append(k)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*CSV_COLUMNS, *(f"input.{k}" for k in input_names)])
    for rec in records:
        row = [
            ";".join(rec[c]) if c == "guardrails" else ("" if rec[c] is None else rec[c])
            for c in CSV_COLUMNS
        ]
        inputs = rec.get("inputs", {})
        row += ["" if inputs.get(k) is None else inputs[k] for k in input_names]
        w.writerow(row)
    return buf.getvalue()


def series(obj: TrackedObject, limit: int = 2000) -> dict[str, list[Any]]:
    """Columns for the object page's plots, oldest first; ``marker`` is true where the
    replica count changed or the decision was not ok."""
    log = list(obj.log)[-limit:]
    out: dict[str, list[Any]] = {
        k: []
        for k in (
            "time_s",
            "request_rate_rps",
            "queue_time_per_request_ms",
            "gpu_utilization",
            "ready_replicas",
            "desired_replicas",
            "value",
            "signal",
            "target",
            "status",
            "marker",
            "reason",
        )
    }
    previous: int | None = None
    for d in log:
        inputs = d.inputs
        out["time_s"].append(d.time_s)
        for k in ("request_rate_rps", "queue_time_per_request_ms", "gpu_utilization"):
            out[k].append(_finite(inputs.get(k)))
        out["ready_replicas"].append(inputs.get("ready_replicas"))
        out["desired_replicas"].append(d.replicas)
        out["value"].append(_finite(d.value))
        out["signal"].append(_finite(d.signal))
        out["target"].append(_finite(d.target))
        out["status"].append(d.status.value)
        out["marker"].append(d.replicas != previous or d.status is not Status.OK)
        out["reason"].append(d.reason)
        previous = d.replicas
    if out["marker"]:
        out["marker"][0] = False
    if obj.config.indicators:
        out["indicator_names"] = [q.selector.text() for q in obj.config.indicators]
        for q in obj.config.indicators:
            out[f"indicator{q.number}"] = [
                _finite(d.inputs.get(f"indicator{q.number}")) for d in log
            ]
        out["indicator_replicas"] = [_finite(d.inputs.get("indicator_replicas")) for d in log]
    return out


def scaled_object_yaml(cfg: ScalerConfig, metadata: Mapping[str, str]) -> str:
    """A ScaledObject trigger block with this metadata, for GitOps users to paste
    (secrets such as ``tlsClientKey`` shown as ``<redacted>``)."""
    doc = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": cfg.name, "namespace": cfg.namespace},
        "spec": {
            "triggers": [
                {
                    "type": "external",
                    "metricType": "AverageValue",
                    "metadata": dict(sorted(redact(metadata).items())),
                }
            ],
        },
    }
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
