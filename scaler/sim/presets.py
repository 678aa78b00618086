"""The built-in comparison set: each preset is a ScaledObject (trigger metadata,
timers, behavior) applied to the scenario's fleet, SLO and start-up.

Preset names are never policy names, so ``--policy threshold`` (the registered
policy on the scenario's own ScaledObject) cannot be mistaken for a preset:

* ``threshold-gpu70`` — our threshold policy holding mean GPU busy fraction at 0.7, woken
  from zero by the proxy's request rate; polling 15 s; scale up at most doubling
  per 15 s, scale down after a 120 s window, at most half per minute.
* ``supersonic`` — SuperSONIC's trigger and Purdue production timers (threshold 20
  ms of queue time per execution, ``metricType: Value``, polling 30 s, cooldown
  120 s, scaleUp 30 s window / 1 pod per 15 s, scaleDown 45 s window / 1 pod per
  45 s), with ``maxReplicaCount`` 100 so its ceiling does not decide the
  comparison: this is the fair form of the baseline.
* ``supersonic-purdue`` — the same with Purdue's real ``maxReplicaCount: 11``.
* ``supersonic-default`` — the Helm chart's defaults exactly: threshold 100, min 1,
  max 2, scaleUp 60 s window / 1 pod per 60 s, scaleDown 600 s window / 1 pod per
  120 s. On a fleet that needs more than 2 GPUs this misses the SLO by design.
* ``static-peak`` — the static policy at the oracle's peak need, all day.
* ``adaptive-defaults`` — the recommended default with its default parameters on
  :func:`recommended_scaled_object`.

Retired from the comparison set (docs/policies.md says why), still registered policies:
``pid``, and ``predictive`` (its preset ``predictive-defaults`` still runs when named:
:data:`RETIRED_PRESETS`).

SuperSONIC's Prometheus query is KEDA's trigger, not a policy; it is modelled by
the threshold policy on ``queue_time_per_exec_ms`` whose signal and target the
``Value`` trigger hands to the HPA (desired = ceil(ready × metric / threshold)).
Helm turns ``minReplicaCount: 0`` into 1, so every SuperSONIC preset has min 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policies import Guardrails
from scaler.metadata import (
    DEFAULT_POLICY,
    POLICY_KEY,
    CommonMetadata,
    is_common_key,
    metadata_of,
)
from scaler.registry import get_policy
from scaler.sim.scenario import ScaledObjectSpec, Scenario

PRESETS: tuple[str, ...] = (
    "adaptive-defaults",
    "threshold-gpu70",
    "supersonic",
    "supersonic-purdue",
    "supersonic-default",
    "static-peak",
)
"""The comparison set: what ``--policy presets`` and ``make run`` run."""

RETIRED_PRESETS: tuple[str, ...] = ("predictive-defaults",)
"""Presets that still run when named but are not in the comparison set any more (issue
10 item 3: a policy that cannot be fixed is retired, not offered beside the default)."""

PRESET_NAMES: tuple[str, ...] = PRESETS + RETIRED_PRESETS
"""Every name :func:`scenario_for` resolves to a preset ScaledObject."""

ALL_PRESETS = "presets"
"""What ``--policy presets`` stands for: every name of :data:`PRESETS`."""


def _behavior(up: tuple[int, str, int, int], down: tuple[int, str, int, int]) -> dict[str, Any]:
    def rules(r: tuple[int, str, int, int]) -> dict[str, Any]:
        window, kind, value, period = r
        return {
            "stabilizationWindowSeconds": window,
            "policies": [{"type": kind, "value": value, "periodSeconds": period}],
        }

    return {
        "horizontalPodAutoscalerConfig": {
            "behavior": {"scaleUp": rules(up), "scaleDown": rules(down)}
        }
    }


def _trigger_metadata(policy: str, guardrails: Guardrails, **params: Any) -> dict[str, str]:
    """Trigger metadata for ``policy`` with ``params`` (by Python name) and the
    guardrails set on ``guardrails``: the keys are the schema's, none spelled here."""
    model = get_policy(policy).params_model
    return metadata_of(CommonMetadata(policy=policy), model(**params), guardrails)


def _supersonic(threshold: float, max_replicas: int, behavior: dict[str, Any]) -> dict[str, Any]:
    return {
        "pollingInterval": 30,
        "cooldownPeriod": 120,
        "minReplicaCount": 1,
        "maxReplicaCount": max_replicas,
        "advanced": behavior,
        "triggers": [
            {
                "type": "external",
                "metricType": "Value",
                "metadata": _trigger_metadata(
                    "threshold",
                    Guardrails(
                        min_replicas=1, max_replicas=max_replicas, scale_down_stabilization_s=0
                    ),
                    signal="queue_time_per_exec_ms",
                    target_ms=threshold,
                ),
            }
        ],
    }


_PURDUE_BEHAVIOR = _behavior((30, "Pods", 1, 15), (45, "Pods", 1, 45))
_CHART_BEHAVIOR = _behavior((60, "Pods", 1, 60), (600, "Pods", 1, 120))


def preset_scaled_object(name: str, *, static_replicas: int = 1) -> ScaledObjectSpec:
    """The ScaledObject of preset ``name`` (named after it); ``static_replicas`` sizes
    ``static-peak``."""
    return _preset(name, static_replicas).model_copy(update={"name": name})


def _preset(name: str, static_replicas: int) -> ScaledObjectSpec:
    if name == "threshold-gpu70":
        spec: dict[str, Any] = {
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "minReplicaCount": 0,
            "maxReplicaCount": 100,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleUp": {
                            "stabilizationWindowSeconds": 0,
                            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                        },
                        "scaleDown": {
                            "stabilizationWindowSeconds": 120,
                            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
                        },
                    }
                }
            },
            "triggers": [
                {
                    "type": "external",
                    "metricType": "AverageValue",
                    "metadata": _trigger_metadata(
                        "threshold",
                        Guardrails(scale_down_stabilization_s=120),
                        signal="gpu_utilization",
                        target=0.7,
                    ),
                }
            ],
        }
    elif name == "supersonic":
        spec = _supersonic(20, 100, _PURDUE_BEHAVIOR)
    elif name == "supersonic-purdue":
        spec = _supersonic(20, 11, _PURDUE_BEHAVIOR)
    elif name == "supersonic-default":
        spec = _supersonic(100, 2, _CHART_BEHAVIOR)
    elif name in ("adaptive-defaults", "predictive-defaults"):
        return recommended_scaled_object({POLICY_KEY: name.removesuffix("-defaults")})
    elif name == "static-peak":
        n = max(static_replicas, 1)
        spec = {
            "pollingInterval": 30,
            "cooldownPeriod": 300,
            "minReplicaCount": n,
            "maxReplicaCount": n,
            "triggers": [
                {
                    "type": "external",
                    "metricType": "AverageValue",
                    "metadata": _trigger_metadata(
                        "static", Guardrails(min_replicas=n, max_replicas=n), replicas=n
                    ),
                }
            ],
        }
    else:
        raise KeyError(name)
    return ScaledObjectSpec.model_validate(spec)


def expand_names(names: Sequence[str]) -> list[str]:
    """``names`` with ``presets`` replaced by every preset, in order."""
    out: list[str] = []
    for n in names:
        out.extend(PRESETS if n == ALL_PRESETS else (n,))
    return out


def scenario_for(name: str, base: Scenario, *, static_replicas: int = 1) -> Scenario:
    """``base`` running preset ``name``; any other name is a registered policy run on
    the scenario's own ScaledObject: its trigger metadata as given (guardrails, scope,
    the policy's own parameters), with ``policy: <name>``. When the scenario names a
    different policy, that policy's parameter keys are dropped (they mean nothing to
    ``name``) and every common key is kept."""
    if name in PRESET_NAMES:
        so = preset_scaled_object(name, static_replicas=static_replicas)
        return base.model_copy(update={"scaledObject": so})
    trig = base.scaledObject.trigger
    meta = dict(trig.metadata)
    if meta.get(POLICY_KEY, DEFAULT_POLICY) != name:
        meta = {k: v for k, v in meta.items() if is_common_key(k)}
        meta[POLICY_KEY] = name
    so = base.scaledObject.model_copy(
        update={"triggers": [trig.model_copy(update={"metadata": meta})]}
    )
    out = base.model_copy(update={"scaledObject": so})
    out.scaler_config()
    return out


def recommended_scaled_object(
    metadata: dict[str, str], *, min_replicas: int = 1, max_replicas: int = 100
) -> ScaledObjectSpec:
    """The ScaledObject our scaler is deployed with (as in ``manifests/examples``),
    for ``scaler tune`` and the policy benchmark: KEDA polls every 15 s; the HPA adds
    pods at once (the larger of doubling and 4 pods per 15 s, no up-window) and
    removes them without a window of its own, because the scaler's
    ``scaleDownStabilizationSeconds`` already holds the highest recommendation and
    two windows would only add up. ``minReplicaCount`` 1 as SuperSONIC (its Helm
    chart turns 0 into 1), so neither side pays a cold start the other does not."""
    return ScaledObjectSpec.model_validate(
        {
            "name": "recommended",
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "minReplicaCount": min_replicas,
            "maxReplicaCount": max_replicas,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleUp": {
                            "stabilizationWindowSeconds": 0,
                            "selectPolicy": "Max",
                            "policies": [
                                {"type": "Percent", "value": 100, "periodSeconds": 15},
                                {"type": "Pods", "value": 4, "periodSeconds": 15},
                            ],
                        },
                        "scaleDown": {
                            "stabilizationWindowSeconds": 0,
                            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                        },
                    }
                }
            },
            "triggers": [{"type": "external", "metricType": "AverageValue", "metadata": metadata}],
        }
    )
