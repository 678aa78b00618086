"""What is simulated: the fleet, the SLO, what Prometheus shows and how KEDA and
the HPA act. Loaded from YAML and validated once, here, at the edge.

The ``scaledObject`` block uses the field names of a real ScaledObject
(``pollingInterval``, ``cooldownPeriod``, ``minReplicaCount``, ``maxReplicaCount``,
``advanced.horizontalPodAutoscalerConfig.behavior``, ``triggers[0].metricType`` and
``metadata``) so a site can paste its own. Everything else carries its unit in its
name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from policies import ThresholdParams, ThresholdPolicy
from scaler.metadata import (
    FROM_ENV,
    CommonMetadata,
    MetadataError,
    ScalerConfig,
    key_of,
    metadata_of,
    parse_metadata,
    resolve_env_references,
)


class ScenarioError(ValueError):
    """An invalid scenario; the message names the file, the field and what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FleetSpec(_Strict):
    """One Triton replica (one GPU) with dynamic batching.

    A batch of ``b`` items takes ``base_ms + per_item_ms × b`` ms. The defaults fit
    LIGO: a batch-128 offline request costs 0.5 + 128 × 0.092 ≈ 12.3 ms, so one GPU
    serves ≈ 81 such requests per second (the 70–100 req/s per GPU of
    ligo-workload.md), and the bundled LIGO day needs about 10 GPUs at its peak.
    """

    base_ms: float = Field(default=0.5, ge=0, description="Fixed cost of one batch execution.")
    per_item_ms: float = Field(
        default=0.092, gt=0, description="Cost of each batch item (1 / (128 × 85) s)."
    )
    max_batch_items: int = Field(
        default=128, ge=1, description="Triton max_batch_size: most items in one execution."
    )
    max_queue_delay_ms: float = Field(
        default=2.0, ge=0, description="Dynamic batcher's max_queue_delay: wait to fill a batch."
    )
    instances_per_replica: int = Field(
        default=1, ge=1, le=64, description="Model instances per GPU, each running batches."
    )
    envoy_policy: Literal["least_request", "round_robin"] = Field(
        default="least_request", description="How Envoy spreads requests over ready replicas."
    )
    timeout_ms: float = Field(
        default=10_000.0,
        gt=0,
        description="Queue timeout: a request queued longer is rejected and counted as failed.",
    )


class ObservationSpec(_Strict):
    """What Prometheus does: scrape Triton every ``scrape_interval_s``. The ``rate()``
    window of the queries is the ScaledObject's (trigger metadata
    ``rateWindowSeconds``, else the scaler's default), as the server reads it."""

    scrape_interval_s: float = Field(default=5.0, gt=0, le=300)
    discovery_delay_s: float = Field(
        default=2.5,
        ge=0,
        le=300,
        description="Seconds from a pod becoming ready to Prometheus scraping it (service "
        "discovery refresh): a new replica is counted this late; a removed one at once.",
    )
    scrape_offset_s: float = Field(
        default=0.0,
        ge=0,
        le=300,
        description="Seconds into the run of the first scrape: scrapes fall at this offset "
        "plus multiples of scrape_interval_s (less than it). Prometheus sets a target's phase "
        "from a hash of its labels, so relative to a trace's start it is arbitrary; exact "
        "mode draws it per seed unless exact.random_phases is false.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_rate_window(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "rate_window_s" in data:
            raise ValueError(
                "rate_window_s is no longer an observation setting: the rate() window is "
                "the ScaledObject's, set scaledObject.triggers[0].metadata."
                f"{key_of(CommonMetadata, 'rate_window_s')} (a string, in seconds)"
            )
        return data

    @model_validator(mode="after")
    def _offset_within_interval(self) -> ObservationSpec:
        if self.scrape_offset_s >= self.scrape_interval_s:
            raise ValueError(
                f"scrape_offset_s ({self.scrape_offset_s:g}) must be less than "
                f"scrape_interval_s ({self.scrape_interval_s:g})"
            )
        return self


class ScalerSpec(_Strict):
    """The scaler server: it decides every ``refresh_interval_s`` (the server's
    ``SCALER_REFRESH_INTERVAL_S``), the first time ``refresh_offset_s`` into the run,
    and KEDA's polls and HPA syncs read its latest decision (so a poll sees a decision
    up to one interval old; the default offset puts it half an interval old)."""

    refresh_interval_s: float = Field(default=5.0, gt=0, le=300)
    refresh_offset_s: float = Field(default=2.5, ge=0, le=300)


class StartupSpec(_Strict):
    """Pod start-up: seconds from creation (the GPU is held) to ready.

    ``fixed``: always ``seconds``. ``uniform``: between ``low_s`` and ``high_s``.
    ``lognormal``: median ``seconds``, log-space spread ``sigma``. Draws are seeded.
    """

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    seconds: float = Field(default=60.0, ge=0, le=86_400)
    low_s: float = Field(default=30.0, ge=0)
    high_s: float = Field(default=90.0, ge=0)
    sigma: float = Field(default=0.3, ge=0, le=3)
    seed: int = 0

    @model_validator(mode="after")
    def _range(self) -> StartupSpec:
        if self.kind == "uniform" and self.high_s < self.low_s:
            raise ValueError(f"high_s ({self.high_s}) must be ≥ low_s ({self.low_s})")
        return self

    @property
    def nominal_s(self) -> float:
        """The delay the oracle assumes: the fixed value, the mean (uniform) or median."""
        if self.kind == "uniform":
            return (self.low_s + self.high_s) / 2
        return self.seconds


class HpaSpec(_Strict):
    """The Kubernetes controller's own settings (not in a ScaledObject)."""

    sync_period_s: float = Field(default=15.0, gt=0, le=600)
    tolerance: float = Field(default=0.1, ge=0, lt=1)


class HpaPolicySpec(_Strict):
    type: Literal["Pods", "Percent"]
    value: int = Field(gt=0)
    periodSeconds: int = Field(gt=0, le=1800)


class HpaRulesSpec(_Strict):
    stabilizationWindowSeconds: int | None = Field(default=None, ge=0, le=3600)
    selectPolicy: Literal["Max", "Min", "Disabled"] = "Max"
    policies: list[HpaPolicySpec] | None = None


class BehaviorSpec(_Strict):
    scaleUp: HpaRulesSpec | None = None
    scaleDown: HpaRulesSpec | None = None


class HpaConfigSpec(_Strict):
    behavior: BehaviorSpec | None = None


class AdvancedSpec(_Strict):
    horizontalPodAutoscalerConfig: HpaConfigSpec | None = None


def _default_trigger_metadata() -> dict[str, str]:
    """A scenario without a trigger: the threshold policy holding GPU utilisation at
    0.7 (the stock KEDA shape), keys from the schema."""
    return metadata_of(
        CommonMetadata(policy=ThresholdPolicy.name),
        ThresholdParams(signal="gpu_utilization", target=0.7),
    )


class TriggerSpec(_Strict):
    """The one trigger: ``metadata`` is exactly what KEDA forwards to the scaler.

    ``AverageValue`` (our scaler's usual form): the HPA receives the decision's value
    with target 1. ``Value`` (SuperSONIC's Prometheus trigger): the HPA receives the
    policy's signal and its target and computes ceil(ready × signal / target).
    """

    type: Literal["external", "external-push"] = "external"
    metricType: Literal["AverageValue", "Value"] = "AverageValue"
    metadata: dict[str, str] = Field(default_factory=_default_trigger_metadata)
    fromEnv: dict[str, str] = Field(
        default_factory=dict,
        exclude=True,
        description="``{<key>FromEnv: the environment variable it names}`` as the "
        "ScaledObject was written (filled when it is loaded; ``metadata`` holds the "
        "resolved values): what a result shows and pastes instead of the values.",
    )


class ScaledObjectSpec(_Strict):
    """The ScaledObject fields the simulation uses, with KEDA's defaults. ``name`` is
    the ScaledObject's ``metadata.name`` (a preset's name for presets), shown in every
    result row beside the trigger metadata so a row says what it ran."""

    name: str = Field(default="scenario", min_length=1, max_length=253)
    pollingInterval: int = Field(default=30, ge=1, le=3600)
    cooldownPeriod: int = Field(default=300, ge=0, le=86_400)
    initialCooldownPeriod: int = Field(
        default=0,
        ge=0,
        le=86_400,
        description="Seconds after the ScaledObject's creation (the run's start) before "
        "KEDA may scale to zero.",
    )
    idleReplicaCount: int | None = Field(
        default=None,
        description="Replicas while no trigger is active (KEDA supports only 0): the "
        "fleet idles at 0 after ``cooldownPeriod`` even with ``minReplicaCount`` above "
        "it, and wakes straight to ``minReplicaCount``.",
    )
    minReplicaCount: int = Field(default=0, ge=0, le=10_000)
    maxReplicaCount: int = Field(default=100, ge=1, le=10_000)
    advanced: AdvancedSpec | None = None
    triggers: list[TriggerSpec] = Field(default_factory=lambda: [TriggerSpec()])

    @model_validator(mode="after")
    def _check(self) -> ScaledObjectSpec:
        if self.maxReplicaCount < self.minReplicaCount:
            raise ValueError(
                f"maxReplicaCount ({self.maxReplicaCount}) must be ≥ minReplicaCount "
                f"({self.minReplicaCount})"
            )
        if len(self.triggers) != 1:
            raise ValueError(f"exactly one trigger is simulated, got {len(self.triggers)}")
        idle = self.idleReplicaCount
        if idle is not None and idle != 0:
            raise ValueError(
                f"idleReplicaCount is {idle}: KEDA supports only 0 (the HPA cannot hold "
                "another idle count)"
            )
        if idle is not None and self.minReplicaCount <= idle:
            raise ValueError(
                f"idleReplicaCount ({idle}) must be less than minReplicaCount "
                f"({self.minReplicaCount})"
            )
        return self

    @property
    def trigger(self) -> TriggerSpec:
        return self.triggers[0]

    @property
    def behavior(self) -> BehaviorSpec | None:
        a = self.advanced
        if a is None or a.horizontalPodAutoscalerConfig is None:
            return None
        return a.horizontalPodAutoscalerConfig.behavior


MANIFEST_IGNORED_SPEC = frozenset({"scaleTargetRef", "fallback"})
"""ScaledObject ``spec`` fields a manifest may carry that the simulation does not use:
the target (the simulated fleet is the target) and ``fallback`` (the simulator's scaler
never errors on RPCs)."""

MANIFEST_IGNORED_TRIGGER = frozenset({"name", "authenticationRef", "useCachedMetrics"})


def scaled_object_from_manifest(data: Any, source: str = "ScaledObject") -> ScaledObjectSpec:
    """A KEDA ``ScaledObject`` manifest (``apiVersion``, ``kind``, ``metadata``,
    ``spec``) as the simulator's :class:`ScaledObjectSpec`, named by its
    ``metadata.name``; errors name ``source`` and the field."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a ScaledObject mapping")
    if data.get("kind", "ScaledObject") != "ScaledObject":
        raise ScenarioError(f"{source}: kind is {data.get('kind')!r}, expected ScaledObject")
    spec = data.get("spec")
    if not isinstance(spec, dict):
        raise ScenarioError(f"{source}: spec: expected a mapping")
    kept = {k: v for k, v in spec.items() if k not in MANIFEST_IGNORED_SPEC}
    triggers = kept.get("triggers")
    if isinstance(triggers, list):
        kept["triggers"] = [
            {k: v for k, v in t.items() if k not in MANIFEST_IGNORED_TRIGGER}
            if isinstance(t, dict)
            else t
            for t in triggers
        ]
    advanced = kept.get("advanced")
    if isinstance(advanced, dict):
        kept["advanced"] = {
            k: v for k, v in advanced.items() if k != "restoreToOriginalReplicaCount"
        }
    meta = data.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, dict) else None
    if name:
        kept["name"] = str(name)
    kept = _with_env(kept, source, "spec.")
    try:
        so = ScaledObjectSpec.model_validate(kept)
    except ValidationError as exc:
        msgs = [
            f"spec.{_field_path(tuple(e['loc']))} = {e.get('input')!r}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
        raise ScenarioError(f"{source}: " + "; ".join(msgs)) from None
    try:
        parse_metadata(so.name, "default", so.trigger.metadata)
    except MetadataError as exc:
        raise ScenarioError(f"{source}: spec.triggers[0].metadata: {exc}") from None
    return so


def _with_env(spec: Any, source: str, where: str) -> Any:
    """A ScaledObject ``spec`` mapping as written, with each trigger's
    ``<key>FromEnv`` values resolved from this process's environment as KEDA resolves
    them from the scale target's container (:func:`scaler.metadata.resolve_env_references`);
    errors name ``source`` and the trigger."""
    triggers = spec.get("triggers") if isinstance(spec, dict) else None
    if not isinstance(triggers, list):
        return spec
    out = []
    for i, trigger in enumerate(triggers):
        meta = trigger.get("metadata") if isinstance(trigger, dict) else None
        if isinstance(meta, dict):
            try:
                trigger = {
                    **trigger,
                    "metadata": resolve_env_references(meta, os.environ),
                    "fromEnv": {
                        k: v for k, v in meta.items() if k.endswith(FROM_ENV) and isinstance(v, str)
                    },
                }
            except MetadataError as exc:
                raise ScenarioError(f"{source}: {where}triggers[{i}].metadata: {exc}") from None
        out.append(trigger)
    return {**spec, "triggers": out}


def load_scaled_object(path: Path | str) -> ScaledObjectSpec:
    """The ScaledObject manifest in ``path`` (YAML, one document)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{p}: not valid YAML: {exc}") from None
    return scaled_object_from_manifest(data, str(p))


class ExactSpec(_Strict):
    """Only for ``--exact``: how single arrivals are drawn from a rate-series trace
    (a trace of single requests is replayed as it is)."""

    arrival_process: Literal["poisson", "uniform"] = "poisson"
    seed: int = 0
    random_phases: bool = True
    """Draw, from ``seed``, the scrape phase (``observation.scrape_offset_s``) and the
    scaler's first refresh (``scaler.refresh_offset_s``), each uniform over its
    interval. Prometheus and the scaler server run long before a trace starts, so a
    real run meets them at arbitrary offsets, and which HPA sync a rising metric first
    crosses its tolerance on depends on how old the data is at that sync. KEDA's poll
    and the HPA's sync keep their phase (0, as in the testbed, whose actuator starts
    with the replay). False: the scenario's offsets, as fast mode runs them."""


class Scenario(_Strict):
    """Everything but the trace and the policy choice."""

    slo_ms: float = Field(default=100.0, gt=0, description="Latency objective per request.")
    fleet: FleetSpec = Field(default_factory=FleetSpec)
    observation: ObservationSpec = Field(default_factory=ObservationSpec)
    startup: StartupSpec = Field(default_factory=StartupSpec)
    hpa: HpaSpec = Field(default_factory=HpaSpec)
    scaler: ScalerSpec = Field(default_factory=ScalerSpec)
    scaledObject: ScaledObjectSpec = Field(default_factory=ScaledObjectSpec)
    exact: ExactSpec = Field(default_factory=ExactSpec)

    def scaler_config(self) -> ScalerConfig:
        """The trigger metadata as the gRPC server would parse it."""
        meta = self.scaledObject.trigger.metadata
        try:
            return parse_metadata("simulated", "default", meta)
        except MetadataError as exc:
            raise ScenarioError(f"scaledObject.triggers[0].metadata: {exc}") from None

    def rate_window_s(self) -> float:
        """Seconds: the ``rate()`` window of the queries, the ScaledObject's as the
        server parses it (its ``rateWindowSeconds``, else the scaler's default)."""
        return float(self.scaler_config().rate_window_s)

    def with_overrides(
        self, *, startup_s: float | None = None, slo_ms: float | None = None
    ) -> Scenario:
        """A copy with the CLI's ``--startup-s`` / ``--slo-ms`` applied."""
        out = self
        if startup_s is not None:
            out = out.model_copy(update={"startup": StartupSpec(kind="fixed", seconds=startup_s)})
        if slo_ms is not None:
            out = out.model_copy(update={"slo_ms": slo_ms})
        return out


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def scenario_from_dict(data: Any, source: str = "scenario") -> Scenario:
    """Validate a parsed mapping; errors name ``source``, the field path and the value."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping at the top level")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors(include_url=False):
            msgs.append(f"{_field_path(tuple(e['loc']))} = {e.get('input')!r}: {e['msg']}")
        raise ScenarioError(f"{source}: " + "; ".join(msgs)) from None
    scenario.scaler_config()
    return scenario


def load_scenario(path: Path | str | None) -> Scenario:
    """The scenario in ``path`` (YAML), or the defaults when ``path`` is None. Its
    ScaledObject is as written in a cluster: ``<key>FromEnv`` values are resolved
    from the environment (:func:`scaled_object_from_manifest` does the same);
    :func:`scenario_from_dict` takes metadata as KEDA forwards it."""
    if path is None:
        return Scenario()
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{p}: not valid YAML: {exc}") from None
    if isinstance(data, dict) and "scaledObject" in data:
        data = {**data, "scaledObject": _with_env(data["scaledObject"], str(p), "scaledObject.")}
    return scenario_from_dict(data, str(p))


class StartupSampler:
    """Seeded start-up delays in seconds, one per created pod, in creation order."""

    def __init__(self, spec: StartupSpec) -> None:
        self._spec = spec
        self._rng = np.random.default_rng(spec.seed)

    def draw(self) -> float:
        spec = self._spec
        if spec.kind == "fixed":
            return spec.seconds
        if spec.kind == "uniform":
            return float(self._rng.uniform(spec.low_s, spec.high_s))
        return float(self._rng.lognormal(math.log(max(spec.seconds, 1e-9)), spec.sigma))
