"""Search dimensions read from a policy's pydantic parameters.

Every parameter a ScaledObject can set is a candidate: numbers and integers within
their ``Field`` bounds, ``Literal`` choices and booleans. A point of the search is a
vector in the unit cube, one coordinate per dimension, decoded into metadata
strings exactly as a site would paste them.

Ranges: the ``Field`` bounds, narrowed to 1/100–100× the default where a bound is
missing or far (a parameter with no upper bound and a default of 0 has no natural
range and is left out unless a range is given). Ranges spanning ≥ 10× are searched
on a log scale, so 0.01–1 is sampled as evenly as 1–100; a range starting at 0 with
a positive default keeps 0 reachable at the bottom 5 % of its axis.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types
from pydantic.fields import FieldInfo

from policies import Guardrails, PolicyParams
from policies.naming import metadata_fields
from scaler.metadata import POLICY_KEY, CommonMetadata, fold_from_env, key_of

WIDE = 100.0
"""How far from the default an unbounded (or very wide) range reaches, as a factor."""

ZERO_SHARE = 0.05
"""Share of a zero-based log axis that decodes to exactly 0."""

COMMON_DIMENSIONS: dict[str, tuple[float, float]] = {
    key_of(Guardrails, "scale_down_stabilization_s"): (0, 1200)
}
"""Scaler keys (not the policy's) searched by default: how long the scaler holds its
highest recommendation before scaling down, the main GPU-hours-for-SLO trade-off of
every policy."""


def _common_defaults() -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for model in (CommonMetadata, Guardrails):
        for key, _, info in metadata_fields(model):
            default = info.get_default(call_default_factory=True)
            number = isinstance(default, int | float) and not isinstance(default, bool)
            out[key] = float(default) if number else None
    return out


_COMMON_DEFAULTS = _common_defaults()


class SpaceError(ValueError):
    """A ``--set`` or ``--range`` that names no parameter or is out of its bounds."""


@dataclass(frozen=True, slots=True)
class Numeric:
    """A number searched between ``lo`` and ``hi`` (inclusive)."""

    key: str
    lo: float
    hi: float
    integer: bool
    log: bool

    def decode(self, u: float) -> str:
        u = min(max(u, 0.0), 1.0)
        if self.hi <= self.lo:
            value = self.lo
        elif not self.log:
            value = self.lo + u * (self.hi - self.lo)
        elif self.lo > 0:
            value = self.lo * (self.hi / self.lo) ** u
        elif u < ZERO_SHARE:
            value = 0.0
        else:
            floor = self.hi / WIDE**2
            value = floor * (self.hi / floor) ** ((u - ZERO_SHARE) / (1 - ZERO_SHARE))
        return _fmt(value, self.integer)

    def encode(self, text: str) -> float:
        value = min(max(float(text), self.lo), self.hi)
        if self.hi <= self.lo:
            return 0.0
        if not self.log:
            return (value - self.lo) / (self.hi - self.lo)
        if self.lo > 0:
            return math.log(value / self.lo) / math.log(self.hi / self.lo)
        floor = self.hi / WIDE**2
        if value < floor:
            return 0.0
        return ZERO_SHARE + (1 - ZERO_SHARE) * math.log(value / floor) / math.log(self.hi / floor)


@dataclass(frozen=True, slots=True)
class Choice:
    """One of ``options`` (metadata strings); the unit interval is cut in equal parts."""

    key: str
    options: tuple[str, ...]

    def decode(self, u: float) -> str:
        index = min(int(min(max(u, 0.0), 1.0) * len(self.options)), len(self.options) - 1)
        return self.options[index]

    def encode(self, text: str) -> float:
        index = self.options.index(text) if text in self.options else 0
        return (index + 0.5) / len(self.options)


Dimension = Numeric | Choice


@dataclass(frozen=True, slots=True)
class Space:
    """The dimensions searched, the keys held fixed and the starting metadata."""

    policy: str
    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, str]
    start: Mapping[str, str]

    def decode(self, point: Sequence[float]) -> dict[str, str]:
        """Full trigger metadata for a point: policy, fixed keys, searched keys."""
        out = {POLICY_KEY: self.policy, **self.fixed}
        for dim, u in zip(self.dimensions, point, strict=True):
            out[dim.key] = dim.decode(u)
        return out

    def start_point(self) -> list[float]:
        """The starting metadata (defaults where unset) as a point."""
        return [dim.encode(self.start[dim.key]) for dim in self.dimensions]


def _fmt(value: float, integer: bool) -> str:
    if integer:
        return str(round(value))
    return f"{value:.4g}"


def _bounds(info: FieldInfo) -> tuple[float, float]:
    lo, hi = -math.inf, math.inf
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            lo = float(m.ge)  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Gt):
            lo = float(m.gt)  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Le):
            hi = float(m.le)  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Lt):
            hi = float(m.lt)  # type: ignore[arg-type]
    return lo, hi


def _strict_lower(info: FieldInfo) -> bool:
    return any(isinstance(m, annotated_types.Gt) for m in info.metadata)


def _kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    """("int" | "float" | "choice" | "other", choices) for a field's annotation."""
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return "choice", ("false", "true")
    if annotation is int:
        return "int", ()
    if annotation is float:
        return "float", ()
    if origin is Literal:
        return "choice", tuple(str(a) for a in typing.get_args(annotation))
    return "other", ()


def _numeric(
    key: str, lo_b: float, hi_b: float, default: float, integer: bool, strict: bool
) -> Numeric | None:
    if default > 0:
        lo = lo_b if lo_b == 0 else max(lo_b, default / WIDE)
        hi = min(hi_b, default * WIDE)
        if strict and lo <= lo_b:
            lo = default / WIDE
    elif math.isfinite(lo_b) and math.isfinite(hi_b) and not strict:
        lo, hi = lo_b, hi_b
    else:
        return None
    return _make_numeric(key, lo, hi, integer, default)


def _make_numeric(key: str, lo: float, hi: float, integer: bool, default: float) -> Numeric:
    log = (lo > 0 and hi / lo >= 10) or (lo == 0 and default > 0 and hi / default >= 10)
    return Numeric(key, lo, hi, integer, log)


def _default_text(info: FieldInfo, kind: str) -> str | None:
    default = info.get_default(call_default_factory=True)
    if default is None:
        return None
    if isinstance(default, bool):
        return "true" if default else "false"
    if kind in ("int", "float"):
        return _fmt(float(default), kind == "int")
    return str(default)


def is_deployment_fact(info: FieldInfo) -> bool:
    """Whether a parameter states a fact of the deployment (e.g. Triton's instance count
    per replica) rather than a choice of the policy: searching it would "tune" the
    policy to a deployment the user does not have (a budget-8 search once answered
    ``instancesPerReplica: 63``). Such keys are searched only when ``--range`` asks."""
    extra = info.json_schema_extra
    return isinstance(extra, dict) and extra.get("deployment") is True


def build_space(
    policy: str,
    params_model: type[PolicyParams],
    *,
    start: Mapping[str, str] | None = None,
    fixed: Mapping[str, str] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    common: Mapping[str, tuple[float, float]] | None = None,
) -> Space:
    """The search space of ``params_model``.

    ``start``: metadata to start from (its policy keys seed the first point and, for
    keys that cannot be searched, are carried as they are; a ``<key>FromEnv`` is read
    as ``<key>``, :func:`scaler.metadata.fold_from_env`, so a searched key never sits
    beside it). ``fixed``: keys held at
    a value. ``ranges``: ``{metadataKey: (lo, hi)}`` overriding a searched range or
    adding one (also for scaler keys such as ``minReplicas``). ``common``: scaler
    keys searched by default (:data:`COMMON_DIMENSIONS` when None).
    """
    start = fold_from_env(start or {})
    start.pop(POLICY_KEY, None)
    fixed = dict(fixed or {})
    ranges = dict(ranges or {})
    common = dict(COMMON_DIMENSIONS if common is None else common)
    keys: set[str] = set()
    dims: list[Dimension] = []
    begin: dict[str, str] = {}
    carried: dict[str, str] = {k: v for k, v in start.items()}
    unused = params_model.unused_keys({**start, **fixed})
    for key, _, info in metadata_fields(params_model):
        keys.add(key)
        if key in fixed or key in unused or (is_deployment_fact(info) and key not in ranges):
            continue
        kind, options = _kind(info.annotation)
        text = start.get(key, _default_text(info, kind))
        dim: Dimension | None = None
        if kind == "choice":
            dim = Choice(key, options)
        elif kind in ("int", "float"):
            lo_b, hi_b = _bounds(info)
            if key in ranges:
                lo, hi = ranges[key]
                if lo < lo_b or hi > hi_b or hi < lo:
                    raise SpaceError(
                        f"range {key}={lo:g}:{hi:g} is outside its bounds [{lo_b:g}, {hi_b:g}]"
                    )
                if text is None:  # no default (e.g. threshold's target): start mid-range
                    text = _fmt(math.sqrt(lo * hi) if lo > 0 else (lo + hi) / 2, kind == "int")
                dim = _make_numeric(key, lo, hi, kind == "int", float(text))
            elif text is not None:
                dim = _numeric(key, lo_b, hi_b, float(text), kind == "int", _strict_lower(info))
        if dim is None or text is None:
            continue
        dims.append(dim)
        begin[key] = text
        carried.pop(key, None)
    for key, (lo, hi) in {**common, **{k: r for k, r in ranges.items() if k not in keys}}.items():
        if key in fixed or key in keys:
            continue
        if hi < lo:
            raise SpaceError(f"range {key}={lo:g}:{hi:g}: the upper end is below the lower")
        if key not in _COMMON_DEFAULTS:
            raise SpaceError(f"range {key}: not a parameter of policy {policy!r} nor a scaler key")
        integer = True
        known = _COMMON_DEFAULTS[key]
        default = float(start.get(key, known if known is not None else lo))
        dims.append(_make_numeric(key, lo, hi, integer, default))
        begin[key] = start.get(key, _fmt(min(max(default, lo), hi), integer))
        carried.pop(key, None)
        keys.add(key)
    for key in fixed:
        carried.pop(key, None)
    return Space(
        policy=policy,
        dimensions=tuple(dims),
        fixed={**carried, **fixed},
        start=begin,
    )
