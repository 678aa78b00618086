"""The ScaledObject trigger ``metadata`` the scaler reads, validated once at the edge.

KEDA forwards every key of the trigger's ``metadata`` as strings. Keys are split
three ways: KEDA's own (ignored), the scaler's common keys (:class:`CommonMetadata`),
and the chosen policy's parameters (its pydantic model). Anything else is an error
that names the key, the value and what is allowed, returned as gRPC
``INVALID_ARGUMENT``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from policies import Guardrails, Policy, PolicyParams
from policies.leading import INDICATORS_FIELD
from policies.naming import metadata_alias, metadata_fields, metadata_key, metadata_keys
from scaler.indicator_metadata import (
    IndicatorMetadataError,
    IndicatorQuery,
    indicator_keys,
    is_indicator_key,
    parse_indicators,
)
from scaler.limits import (
    HARD_MAX_METADATA_BYTES,
    REDACTED,
    clean_message,
    is_secret_key,
    metadata_size_problem,
    number_problem,
    redact,
    short,
    strip_url_credentials,
)
from scaler.prometheus_urls import (
    PrometheusTarget,
    UrlError,
    check_credential,
    normalise_url,
)
from scaler.registry import UnknownPolicyError, available_policies, get_policy
from scaler.selector import SelectorError, parse_selector

LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")
"""Kubernetes-style names: letters, digits, ``.``, ``_``, ``-``. Nothing that could
close a PromQL string or matcher (quotes, braces, backslashes, commas)."""

ACTIVATION_SCOPE_LABELS = frozenset({"namespace", "release"})
"""Labels the scaler adds to the activation selector itself, from the trigger's keys."""

KEDA_KEYS = frozenset(
    {"scalerAddress", "enableTLS", "unsafeSsl", "caCert", "tlsClientCert", "tlsClientKey"}
)
"""Keys KEDA itself uses or forwards; accepted and ignored."""

CREDENTIAL_KEYS = ("authHeaderFromEnv", "bearerTokenFromEnv")
"""Per-trigger Prometheus credentials. KEDA resolves a ``*FromEnv`` key from the scale
target's container environment and forwards the *value* under the same key; it does
not forward TriggerAuthentication secrets to an external scaler. Never echoed."""

FROM_ENV = "FromEnv"
"""KEDA resolves a ``<key>FromEnv`` value from the scale target's container environment
and forwards the resolved value under the same ``<key>FromEnv`` name (an empty one is
dropped; ``pkg/scalers/external_scaler.go``). The parser reads it as ``<key>`` and
never echoes its value, which may come from a secret-bearing environment."""


DEFAULT_POLICY = "threshold"
"""The policy of a ScaledObject whose metadata names none."""


class MetadataError(ValueError):
    """Invalid ScaledObject metadata; the message names key, value and what is allowed.

    The message is bounded (it goes back to KEDA in gRPC metadata, soft limit 8 KiB)
    and stripped of URL credentials, whatever value it quotes."""

    def __init__(self, message: str) -> None:
        super().__init__(clean_message(message))


class CommonMetadata(BaseModel):
    """Keys every ScaledObject may set besides the guardrails (declared once, in
    :class:`policies.Guardrails`): which policy, the label scope and the queries."""

    model_config = ConfigDict(
        alias_generator=metadata_alias,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    policy: str = Field(default=DEFAULT_POLICY, description="Registered policy name.")
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
    rate_window_s: int = Field(
        default=30, ge=2, le=3_600, description="Seconds: the `rate()` window of every query."
    )
    gpu_metric: Literal["nv_gpu_utilization", "DCGM_FI_DEV_GPU_UTIL"] = Field(
        default="nv_gpu_utilization",
        description="GPU busy gauge: Triton's (fraction 0–1) or DCGM's (percent).",
    )
    activation_metric: str | None = Field(
        default=None,
        max_length=1000,
        description="Counter in front of the fleet whose rate wakes it from zero: a metric "
        'name with optional equality matchers, metric{label="value",...} (no other PromQL), '
        "scoped by namespace and release; for SuperSONIC's Envoy "
        'envoy_cluster_upstream_cx_none_healthy{envoy_cluster_name="triton_grpc_service"}.',
    )

    server_address: str | None = Field(
        default=None,
        max_length=2048,
        description="Base URL of this trigger's Prometheus (KEDA's key name), e.g. "
        "http://<release>-prometheus-server.<namespace>.svc:9090; must be one the server "
        "allows (SCALER_PROMETHEUS_URL, SCALER_PROMETHEUS_ALLOWED_URLS). Unset: the "
        "server's SCALER_PROMETHEUS_URL.",
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


GUARDRAIL_KEYS: frozenset[str] = metadata_keys(Guardrails)
"""Keys of the guardrails (:class:`policies.Guardrails`), the common keys an override
may change."""


def key_of(model: type[BaseModel], name: str) -> str:
    """The metadata key of ``model``'s field ``name`` (KeyError if it has none). Code
    that writes or looks up a key names it by its Python field, so renaming a key is
    one edit (its field or alias), wherever the key is used."""
    return metadata_key(name, model.model_fields[name])


POLICY_KEY = key_of(CommonMetadata, "policy")
"""The key naming the policy (``policy``)."""

RENAMED_COMMON_FIELDS: dict[str, str] = {}
"""``{old key: Python field of CommonMetadata or Guardrails}`` for renamed common and
guardrail keys, still accepted with a deprecation warning (as a policy's
``renamed_keys``). Renaming a common key is one edit to its field (name or alias)
plus one entry here, ``{"minReplicas": "min_replicas"}`` for a ``min_replicas``
whose key became ``minReplicaCount``; the README's table of renamed keys lists it."""


def renamed_common_keys() -> dict[str, str]:
    """``{old key: current key}`` of :data:`RENAMED_COMMON_FIELDS`."""
    out: dict[str, str] = {}
    for old, name in RENAMED_COMMON_FIELDS.items():
        model = CommonMetadata if name in CommonMetadata.model_fields else Guardrails
        out[old] = key_of(model, name)
    return out


COMMON_KEYS: frozenset[str] = metadata_keys(CommonMetadata) | GUARDRAIL_KEYS
"""Keys every ScaledObject may set, whatever its policy."""


def from_env_base(key: str) -> str | None:
    """``<key>`` of a ``<key>FromEnv`` key that KEDA resolves and the parser reads as
    ``<key>`` (None for any other key, and for the credential keys, which keep their
    own names)."""
    if key.endswith(FROM_ENV) and len(key) > len(FROM_ENV) and key not in CREDENTIAL_KEYS:
        return key[: -len(FROM_ENV)]
    return None


def is_common_key(key: str) -> bool:
    """Whether ``key`` means the same to every policy: a common key (or a deprecated
    name of one), one of KEDA's, a Prometheus credential key, or ``<key>FromEnv`` of
    any of these (a policy's parameter read from the environment is the policy's)."""
    base = from_env_base(key) or key
    return (
        base in COMMON_KEYS
        or base in KEDA_KEYS
        or key in CREDENTIAL_KEYS
        or base in renamed_common_keys()
    )


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


_FROM_COMMON = {"from_common": True}
"""Marks a :class:`ScalerConfig` field that is the :class:`CommonMetadata` field of the
same name (the parser copies every one so marked, none by hand)."""


@dataclass(frozen=True, slots=True)
class ScalerConfig:
    """One ScaledObject's validated configuration. ``common`` holds the validated
    common keys (scope and queries), the fields marked ``from_common`` are copies of
    its fields of the same name; ``deprecations`` the warnings about deprecated keys
    the metadata used (the tracker logs each once)."""

    name: str
    namespace: str
    policy: Policy
    params: PolicyParams
    guardrails: Guardrails
    scope: LabelScope
    common: CommonMetadata
    rate_window_s: int = field(metadata=_FROM_COMMON)
    gpu_metric: str = field(metadata=_FROM_COMMON)
    activation_metric: str | None = field(metadata=_FROM_COMMON)
    target_deployment: str | None = field(default=None, metadata=_FROM_COMMON)
    indicators: tuple[IndicatorQuery, ...] = ()
    """Leading indicators (``indicator<N>…`` keys), in order: Observation.indicators[i]."""
    prometheus: PrometheusTarget = field(default_factory=PrometheusTarget)
    """Which Prometheus to read and with which credentials (default: the server's)."""
    deprecations: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _field_of(model: type[BaseModel], key: str) -> tuple[str, Any]:
    for k, name, info in metadata_fields(model):
        if key in (k, name):
            return k, info
    return key, None


def _given_key(key: str, hidden: frozenset[str], given_as: Mapping[str, str]) -> tuple[str, bool]:
    """The key as the trigger wrote it (a deprecated name renamed before validation,
    ``<key>FromEnv`` for a value from the environment) and whether its value is hidden."""
    given = given_as.get(key, key)
    return (given + FROM_ENV, True) if given in hidden or key in hidden else (given, False)


def _describe(
    err: dict[str, Any],
    model: type[BaseModel],
    hidden: frozenset[str],
    given_as: Mapping[str, str],
) -> str:
    loc = err.get("loc", ())
    if not loc:
        return f"scalerMetadata: {err.get('msg')}"
    key, field = _field_of(model, str(loc[0]))
    allowed = ""
    if field is not None:
        bits = []
        if field.description:
            bits.append(field.description)
        if field.default is not None and not callable(field.default):
            bits.append(f"default {field.default!r}")
        allowed = f" (allowed: {'; '.join(bits)})" if bits else ""
    shown_key, secret = _given_key(key, hidden, given_as)
    if secret:
        return f"scalerMetadata key {shown_key!r} (value not shown): {err.get('msg')}{allowed}"
    shown = err.get("input")
    if isinstance(shown, str):
        shown = strip_url_credentials(shown)
    return f"scalerMetadata key {shown_key!r} = {short(shown)}: {err.get('msg')}{allowed}"


def _numeric_problems(
    model: type[BaseModel],
    values: Mapping[str, str],
    hidden: frozenset[str],
    given_as: Mapping[str, str],
) -> str | None:
    """NaN, ±Inf or absurd magnitudes in numeric fields, named (pydantic would take
    ``inf`` for a float and a 400-digit int that overflows later)."""
    for key, name, f in metadata_fields(model):
        raw = values.get(key, values.get(name))
        if isinstance(raw, str) and re.search(r"\b(int|float)\b", str(f.annotation)):
            shown_key, secret = _given_key(key, hidden, given_as)
            problem = number_problem(shown_key, raw)
            if problem is not None:
                return problem.replace(short(raw), "(value not shown)") if secret else problem
    return None


def _validate(
    model: type[BaseModel],
    values: Mapping[str, str],
    hidden: frozenset[str],
    given_as: Mapping[str, str] | None = None,
) -> Any:
    """``given_as``: current key → the deprecated key the trigger wrote, so messages
    name what the user wrote."""
    given = given_as or {}
    problem = _numeric_problems(model, values, hidden, given)
    if problem is not None:
        raise MetadataError(problem)
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise MetadataError(
            "; ".join(
                _describe(dict(e), model, hidden, given) for e in exc.errors(include_url=False)
            )
        ) from None


def _resolve_from_env(metadata: Mapping[str, str]) -> tuple[dict[str, str], frozenset[str]]:
    """KEDA's keys dropped, ``<key>FromEnv`` read as ``<key>``; returns the metadata and
    the keys whose values came from the environment (never echoed)."""
    out: dict[str, str] = {}
    hidden: set[str] = set()
    for key, value in metadata.items():
        if key in KEDA_KEYS or key in CREDENTIAL_KEYS:
            continue
        if key.endswith(FROM_ENV) and len(key) > len(FROM_ENV):
            base = key[: -len(FROM_ENV)]
            if base in metadata:
                raise MetadataError(
                    f"scalerMetadata keys {base!r} and {key!r} both set {base}: keep one"
                )
            out[base] = value
            hidden.add(base)
        else:
            out[key] = value
    return out, frozenset(hidden)


def resolve_env_references(
    metadata: Mapping[str, str], environ: Mapping[str, str]
) -> dict[str, str]:
    """What KEDA forwards for trigger ``metadata`` as written in a ScaledObject: each
    ``<key>FromEnv`` names an environment variable whose value KEDA reads from the
    scale target's container and forwards under the same key (an empty value is
    dropped). Here the variables come from ``environ`` (the simulator has no
    container: its own process environment). An unset variable is a
    :class:`MetadataError` naming the key and the variable. The credential keys
    (:data:`CREDENTIAL_KEYS`) are kept as written: nothing simulated reads a
    Prometheus, and a secret must not reach a result row."""
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not key.endswith(FROM_ENV) or key in CREDENTIAL_KEYS or not isinstance(value, str):
            out[key] = value
            continue
        resolved = environ.get(value)
        if resolved is None:
            raise MetadataError(
                f"scalerMetadata key {key!r} reads the environment variable {short(value)}, "
                "which is not set: KEDA takes it from the scale target's container; "
                "set it in the environment of this command"
            )
        if resolved:
            out[key] = resolved
    return out


def _rename(kept: dict[str, str], renamed: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Deprecated keys replaced by their current names, with one warning each."""
    out = dict(kept)
    warnings: list[str] = []
    for old, new in renamed.items():
        if old not in out:
            continue
        if new in out:
            raise MetadataError(
                f"scalerMetadata keys {old!r} (deprecated) and {new!r} are both set: keep {new!r}"
            )
        out[new] = out.pop(old)
        warnings.append(f"scalerMetadata key {old!r} is deprecated: use {new!r}")
    return out, warnings


def with_override(metadata: Mapping[str, str], override: Mapping[str, str]) -> dict[str, str]:
    """``metadata`` with ``override`` on top, deprecated keys of either side first
    renamed to their current names, so an override of ``targetMs`` replaces a
    ScaledObject's deprecated ``target`` instead of clashing with it."""

    def current(meta: Mapping[str, str], policy_name: str) -> dict[str, str]:
        renamed = renamed_common_keys()
        with contextlib.suppress(UnknownPolicyError):
            renamed |= get_policy(policy_name).params_model.renamed_keys(meta)
        out: dict[str, str] = {}
        for key, value in meta.items():
            new = renamed.get(key)
            out[new if new is not None and new not in meta else key] = value
        return out

    policy = override.get(POLICY_KEY, metadata.get(POLICY_KEY, DEFAULT_POLICY))
    base, over = current(metadata, policy), current(override, policy)
    # ``<key>`` and ``<key>FromEnv`` are one key to the parser: the override's replaces
    # the object's, whichever form either side uses.
    replaced = {from_env_base(k) or k for k in over}
    kept = {k: v for k, v in base.items() if (from_env_base(k) or k) not in replaced}
    return {**kept, **over}


def fold_from_env(metadata: Mapping[str, str]) -> dict[str, str]:
    """``metadata`` as KEDA forwards it with each resolved ``<key>FromEnv`` value under
    ``<key>``, as the parser reads it: for code that changes a key's value (the tuner
    searches ``<key>``, which must not sit beside ``<key>FromEnv``). The credential
    keys keep their names. :func:`as_written` shows the result as the user wrote it."""
    return {from_env_base(k) or k: v for k, v in metadata.items()}


def as_written(
    metadata: Mapping[str, str],
    references: Mapping[str, str],
    resolved: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``metadata`` (as KEDA forwards it, or :func:`fold_from_env`-ed) as a ScaledObject
    writes it, to show or paste: each ``<key>FromEnv`` in ``references`` (``{key:
    the variable it names}``, the metadata as written) names its variable again, and a
    ``<key>`` folded from one does too while its value is still the one resolved
    (``resolved``: the metadata as forwarded, default ``metadata``); a value that
    changed is shown as ``<key>``. Every other secret value is redacted
    (:func:`scaler.limits.redact`): no value read from the environment is echoed."""
    forwarded = metadata if resolved is None else resolved
    out: dict[str, str] = {}
    for key, value in metadata.items():
        ref = key + FROM_ENV
        if key in references:
            out[key] = references[key]
        elif ref in references and key not in forwarded and forwarded.get(ref) == value:
            out[ref] = references[ref]
        else:
            out |= redact({key: value})
    return out


def deprecated_keys() -> dict[str, str]:
    """``{deprecated key: current key}`` of the common keys and over every registered
    policy, with the metadata defaults (threshold's ``target`` → ``targetMs`` holds for
    its latency signals): the README's table of renamed keys."""
    out = renamed_common_keys()
    for policy in available_policies().values():
        out |= policy.params_model.renamed_keys({})
    return out


def policy_keys(params_model: type[PolicyParams]) -> frozenset[str]:
    """The metadata keys of a policy's parameters (leading indicators have their own)."""
    return frozenset(
        key for key, name, _ in metadata_fields(params_model) if name != INDICATORS_FIELD
    )


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
    kept, hidden = _resolve_from_env(metadata)
    common_renamed = renamed_common_keys()
    given_as = {new: old for old, new in common_renamed.items() if old in kept}
    kept, deprecations = _rename(kept, common_renamed)
    try:
        indicators = parse_indicators(kept)
    except IndicatorMetadataError as exc:
        raise MetadataError(str(exc)) from None
    kept = {k: v for k, v in kept.items() if not is_indicator_key(k)}
    common_keys = metadata_keys(CommonMetadata)
    common: CommonMetadata = _validate(
        CommonMetadata, {k: v for k, v in kept.items() if k in common_keys}, hidden, given_as
    )
    try:
        policy = get_policy(common.policy)
    except UnknownPolicyError:
        raise MetadataError(
            f"scalerMetadata key 'policy' = {short(common.policy)}: unknown policy; "
            f"available: {', '.join(sorted(available_policies()))}"
        ) from None
    params_model = policy.params_model
    own_keys = policy_keys(params_model)
    renamed = params_model.renamed_keys(kept)
    given_as |= {new: old for old, new in renamed.items() if old in kept}
    kept, policy_deprecations = _rename(kept, renamed)
    deprecations += policy_deprecations
    takes_indicators = INDICATORS_FIELD in params_model.model_fields
    if indicators and not takes_indicators:
        raise MetadataError(
            f"scalerMetadata key 'indicator1Metric': policy {policy.name!r} does not use "
            f"leading indicators; use policy 'leading-{policy.name}' if it exists, or a "
            "leading-* policy"
        )
    unknown = sorted(set(kept) - COMMON_KEYS - own_keys)
    if unknown:
        bad = unknown[0]
        value = REDACTED if is_secret_key(bad) else short(kept[bad])
        shown = f"{bad + FROM_ENV!r}" if bad in hidden else f"{short(bad)} = {value}"
        allowed = ", ".join(sorted(COMMON_KEYS | own_keys))
        raise MetadataError(
            f"scalerMetadata key {shown} is not known to the scaler or policy "
            f"{policy.name!r}; allowed keys: {allowed}"
        )
    params: PolicyParams = _validate(
        params_model, {k: v for k, v in kept.items() if k in own_keys}, hidden, given_as
    )
    if takes_indicators:
        settings = tuple(q.settings for q in indicators)
        params = params.model_copy(update={INDICATORS_FIELD: settings})
    guardrails: Guardrails = _validate(
        Guardrails, {k: v for k, v in kept.items() if k in GUARDRAIL_KEYS}, hidden, given_as
    )
    scope = LabelScope(
        namespace=common.namespace or namespace or None,
        release=common.release,
        job=common.job,
        model=common.model,
    )
    copied = {
        f.name: getattr(common, f.name)
        for f in fields(ScalerConfig)
        if f.metadata.get("from_common")
    }
    return ScalerConfig(
        name=name,
        namespace=namespace,
        policy=policy,
        params=params,
        guardrails=guardrails,
        scope=scope,
        common=common,
        **copied,
        indicators=indicators,
        prometheus=_prometheus_target(common.server_address, metadata),
        deprecations=tuple(deprecations),
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _dump(model: BaseModel, *, set_only: bool = False) -> dict[str, str]:
    return {
        k: _text(v)
        for k, v in model.model_dump(by_alias=True, mode="json", exclude_unset=set_only).items()
        if v is not None
    }


def metadata_of(*models: BaseModel) -> dict[str, str]:
    """The keys set on ``models`` (built by Python field name:
    ``Guardrails(min_replicas=1)``) as trigger metadata strings (``{"minReplicas":
    "1"}``), validated: code that writes metadata takes its keys from the schema and
    spells none."""
    out: dict[str, str] = {}
    for model in models:
        out |= _dump(model, set_only=True)
    return out


def config_metadata(cfg: ScalerConfig) -> dict[str, str]:
    """Trigger metadata that parses back to ``cfg`` with every key explicit (so an export
    pins today's behaviour even if a default changes later): the inverse of
    :func:`parse_metadata`, derived from the same models. Leading indicators are not
    included (their keys live in :mod:`scaler.indicator_metadata`)."""
    out = _dump(cfg.common)
    out |= _dump(cfg.guardrails)
    params = cfg.params.model_dump(by_alias=True, mode="json")
    out |= {
        k: _text(v)
        for k, v in params.items()
        if v is not None and k in policy_keys(type(cfg.params))
    }
    out.update(indicator_keys(cfg.indicators))
    out[POLICY_KEY] = cfg.policy.name
    return out
