"""The ScaledObject trigger ``metadata`` the scaler reads, validated once at the edge.

KEDA forwards every key of the trigger's ``metadata`` as strings. Keys are split
three ways: KEDA's own (ignored), the scaler's common keys (:class:`CommonMetadata`),
and the chosen policy's parameters (its pydantic model). Anything else is an error
that names the key, the value and what is allowed, returned as gRPC
``INVALID_ARGUMENT``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from policies import Guardrails, Policy, PolicyParams
from policies.leading import INDICATORS_FIELD
from scaler.indicator_metadata import (
    IndicatorMetadataError,
    IndicatorQuery,
    is_indicator_key,
    parse_indicators,
)
from scaler.limits import (
    HARD_MAX_METADATA_BYTES,
    metadata_size_problem,
    number_problem,
    short,
    strip_url_credentials,
)
from scaler.prometheus_urls import (
    PrometheusTarget,
    UrlError,
    check_credential,
    normalise_url,
)
from scaler.registry import UnknownPolicyError, get_policy
from scaler.selector import SelectorError, parse_selector

LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")
"""Kubernetes-style names: letters, digits, ``.``, ``_``, ``-``. Nothing that could
close a PromQL string or matcher (quotes, braces, backslashes, commas)."""

ACTIVATION_SCOPE_LABELS = frozenset({"namespace", "release"})
"""Labels the scaler adds to the activation selector itself, from the trigger's keys."""

KEDA_KEYS = frozenset(
    {"scalerAddress", "enableTLS", "unsafeSsl", "caCert", "tlsClientCert", "tlsClientKey"}
)
"""Keys KEDA itself uses or forwards; accepted and ignored (as is any other ``*FromEnv``)."""

CREDENTIAL_KEYS = ("authHeaderFromEnv", "bearerTokenFromEnv")
"""Per-trigger Prometheus credentials. KEDA resolves a ``*FromEnv`` key from the scale
target's container environment and forwards the *value* under the same key; it does
not forward TriggerAuthentication secrets to an external scaler. Never echoed."""


DEFAULT_POLICY = "threshold"
"""The policy of a ScaledObject whose metadata names none."""


class MetadataError(ValueError):
    """Invalid ScaledObject metadata; the message names key, value and what is allowed."""


LabelValue = Field(pattern=LABEL_VALUE.pattern, max_length=253)


class CommonMetadata(BaseModel):
    """Keys every ScaledObject may set, whatever its policy (camelCase in metadata)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    policy: str = Field(default=DEFAULT_POLICY, description="Registered policy name.")
    min_replicas: int = Field(default=0, ge=0, le=10_000, description="Lowest replica count.")
    max_replicas: int = Field(default=100, ge=1, le=10_000, description="Highest replica count.")
    max_step_up: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Most replicas added per decision (unset: no limit).",
    )
    max_step_down: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="Most replicas removed per decision (unset: no limit).",
    )
    scale_down_stabilization_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="Seconds: never report less than the highest recommendation of this window.",
    )
    stale_after_seconds: float = Field(
        default=90.0, gt=0, le=3_600, description="Seconds: older metrics count as missing."
    )
    fail_after_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="Seconds of missing data after which GetMetrics errors (KEDA fallback).",
    )
    namespace: str | None = Field(
        default=None,
        pattern=LABEL_VALUE.pattern,
        description="Value of the `namespace` label (default: the ScaledObject's namespace).",
    )
    release: str | None = Field(
        default=None,
        pattern=LABEL_VALUE.pattern,
        description="Value of the `release` label (SuperSONIC's Helm release).",
    )
    job: str | None = Field(
        default=None, pattern=LABEL_VALUE.pattern, description="Value of the `job` label."
    )
    model: str | None = Field(
        default=None, pattern=LABEL_VALUE.pattern, description="Triton model name (`model`)."
    )
    target_deployment: str | None = Field(
        default=None,
        pattern=LABEL_VALUE.pattern,
        description="The scale target's Deployment (e.g. `<release>-triton`): its replica "
        "counts are read from the Kubernetes API when Prometheus sees no replica.",
    )
    rate_window_seconds: int = Field(
        default=30, ge=2, le=3_600, description="Seconds: the `rate()` window of every query."
    )
    gpu_metric: Literal["nv_gpu_utilization", "DCGM_FI_DEV_GPU_UTIL"] = Field(
        default="nv_gpu_utilization",
        description="GPU busy gauge: Triton's (fraction 0–1) or DCGM's (percent).",
    )
    server_address: str | None = Field(
        default=None,
        max_length=2048,
        description="Base URL of this trigger's Prometheus (KEDA's key name), e.g. "
        "http://<release>-prometheus-server.<namespace>.svc:9090; must be one the server "
        "allows (SCALER_PROMETHEUS_URL, SCALER_PROMETHEUS_ALLOWED_URLS). Unset: the "
        "server's SCALER_PROMETHEUS_URL.",
    )
    activation_metric: str | None = Field(
        default=None,
        max_length=1000,
        description="Counter in front of the fleet whose rate wakes it from zero: a metric "
        'name with optional equality matchers, metric{label="value",...} (no other PromQL), '
        "scoped by namespace and release; for SuperSONIC's Envoy "
        'envoy_cluster_upstream_cx_none_healthy{envoy_cluster_name="triton_grpc_service"}.',
    )

    @field_validator("server_address")
    @classmethod
    def _server_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalise_url(value)
        except UrlError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("activation_metric")
    @classmethod
    def _activation_selector(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_selector(value, reserved=ACTIVATION_SCOPE_LABELS).text()
        except SelectorError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _bounds(self) -> CommonMetadata:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"maxReplicas ({self.max_replicas}) must be ≥ minReplicas ({self.min_replicas})"
            )
        return self


COMMON_KEYS: frozenset[str] = frozenset(
    (f.alias or n) for n, f in CommonMetadata.model_fields.items()
)


def is_common_key(key: str) -> bool:
    """Whether ``key`` means the same to every policy: a common key or one of KEDA's."""
    return key in COMMON_KEYS or key in KEDA_KEYS or key.endswith("FromEnv")


@dataclass(frozen=True, slots=True)
class LabelScope:
    """Label matchers that select one fleet's series. Values are validated names."""

    namespace: str | None
    release: str | None = None
    job: str | None = None
    model: str | None = None

    def labels(self, *, with_model: bool = True) -> dict[str, str]:
        out = {
            k: v
            for k, v in (
                ("namespace", self.namespace),
                ("release", self.release),
                ("job", self.job),
            )
            if v
        }
        if with_model and self.model:
            out["model"] = self.model
        return out


@dataclass(frozen=True, slots=True)
class ScalerConfig:
    """One ScaledObject's validated configuration."""

    name: str
    namespace: str
    policy: Policy
    params: PolicyParams
    guardrails: Guardrails
    scope: LabelScope
    rate_window_s: int
    gpu_metric: str
    activation_metric: str | None
    target_deployment: str | None = None
    indicators: tuple[IndicatorQuery, ...] = ()
    """Leading indicators (``indicator<N>…`` keys), in order: Observation.indicators[i]."""
    prometheus: PrometheusTarget = field(default_factory=PrometheusTarget)
    """Which Prometheus to read and with which credentials (default: the server's)."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _describe(err: dict[str, Any], model: type[BaseModel]) -> str:
    loc = err.get("loc", ())
    key = str(loc[0]) if loc else "(metadata)"
    field = None
    for name, f in model.model_fields.items():
        if key in (name, f.alias):
            key = f.alias or name
            field = f
    allowed = ""
    if field is not None:
        bits = []
        if field.description:
            bits.append(field.description)
        if field.default is not None and not callable(field.default):
            bits.append(f"default {field.default!r}")
        allowed = f" (allowed: {'; '.join(bits)})" if bits else ""
    if not loc:
        return f"scalerMetadata: {err.get('msg')}"
    shown = err.get("input")
    if isinstance(shown, str):
        shown = strip_url_credentials(shown)
    return f"scalerMetadata key {key!r} = {short(shown)}: {err.get('msg')}{allowed}"


def _numeric_problems(model: type[BaseModel], values: Mapping[str, str]) -> str | None:
    """NaN, ±Inf or absurd magnitudes in numeric fields, named (pydantic would take
    ``inf`` for a float and a 400-digit int that overflows later)."""
    for name, f in model.model_fields.items():
        key = f.alias or name
        raw = values.get(key, values.get(name))
        if isinstance(raw, str) and re.search(r"\b(int|float)\b", str(f.annotation)):
            problem = number_problem(key, raw)
            if problem is not None:
                return problem
    return None


def _validate(model: type[BaseModel], values: Mapping[str, str]) -> Any:
    problem = _numeric_problems(model, values)
    if problem is not None:
        raise MetadataError(problem)
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise MetadataError(
            "; ".join(_describe(dict(e), model) for e in exc.errors(include_url=False))
        ) from None


def _prometheus_target(url: str | None, metadata: Mapping[str, str]) -> PrometheusTarget:
    """``serverAddress`` plus at most one credential key; errors never show the value."""
    given = [k for k in CREDENTIAL_KEYS if metadata.get(k)]
    if len(given) > 1:
        raise MetadataError(
            "scalerMetadata keys 'authHeaderFromEnv' and 'bearerTokenFromEnv' are both set; "
            "give one (authHeaderFromEnv is the whole Authorization header value)"
        )
    authorization = None
    if given:
        try:
            value = check_credential(given[0], metadata[given[0]])
        except UrlError as exc:
            raise MetadataError(f"scalerMetadata key {exc}") from None
        authorization = value if given[0] == "authHeaderFromEnv" else f"Bearer {value}"
    return PrometheusTarget(url=url, authorization=authorization)


def parse_metadata(name: str, namespace: str, metadata: Mapping[str, str]) -> ScalerConfig:
    """Validate ``scalerMetadata`` for the ScaledObject ``namespace/name``.

    Raises :class:`MetadataError` naming the first problems found.
    """
    too_big = metadata_size_problem(metadata, HARD_MAX_METADATA_BYTES)
    if too_big is not None:
        raise MetadataError(too_big)
    if namespace and not LABEL_VALUE.match(namespace):
        raise MetadataError(f"ScaledObject namespace {short(namespace)} is not a valid name")
    kept = {k: v for k, v in metadata.items() if k not in KEDA_KEYS and not k.endswith("FromEnv")}
    try:
        indicators = parse_indicators(kept)
    except IndicatorMetadataError as exc:
        raise MetadataError(str(exc)) from None
    kept = {k: v for k, v in kept.items() if not is_indicator_key(k)}
    common_values = {k: v for k, v in kept.items() if k in COMMON_KEYS}
    common: CommonMetadata = _validate(CommonMetadata, common_values)
    try:
        policy = get_policy(common.policy)
    except UnknownPolicyError as exc:
        raise MetadataError(f"scalerMetadata key 'policy' = {common.policy!r}: {exc}") from None
    params_model = policy.params_model
    policy_keys = {
        (f.alias or n) for n, f in params_model.model_fields.items() if n != INDICATORS_FIELD
    }
    takes_indicators = INDICATORS_FIELD in params_model.model_fields
    if indicators and not takes_indicators:
        raise MetadataError(
            f"scalerMetadata key 'indicator1Metric': policy {policy.name!r} does not use "
            f"leading indicators; use policy 'leading-{policy.name}' if it exists, or a "
            "leading-* policy"
        )
    unknown = sorted(set(kept) - COMMON_KEYS - policy_keys)
    if unknown:
        allowed = ", ".join(sorted(COMMON_KEYS | policy_keys))
        raise MetadataError(
            f"scalerMetadata key {short(unknown[0])} = {short(kept[unknown[0]])} is not known "
            f"to the scaler or policy {policy.name!r}; allowed keys: {allowed}"
        )
    params: PolicyParams = _validate(params_model, {k: kept[k] for k in kept if k in policy_keys})
    if takes_indicators:
        settings = tuple(q.settings for q in indicators)
        params = params.model_copy(update={INDICATORS_FIELD: settings})
    guardrails = Guardrails(
        min_replicas=common.min_replicas,
        max_replicas=common.max_replicas,
        max_step_up=common.max_step_up,
        max_step_down=common.max_step_down,
        scale_down_stabilization_s=common.scale_down_stabilization_seconds,
        stale_after_s=common.stale_after_seconds,
        fail_after_s=common.fail_after_seconds,
    )
    scope = LabelScope(
        namespace=common.namespace or namespace or None,
        release=common.release,
        job=common.job,
        model=common.model,
    )
    return ScalerConfig(
        name=name,
        namespace=namespace,
        policy=policy,
        params=params,
        guardrails=guardrails,
        scope=scope,
        rate_window_s=common.rate_window_seconds,
        gpu_metric=common.gpu_metric,
        activation_metric=common.activation_metric,
        target_deployment=common.target_deployment,
        indicators=indicators,
        prometheus=_prometheus_target(common.server_address, metadata),
    )
