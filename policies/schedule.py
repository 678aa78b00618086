"""Scheduled capacity: known campaigns pre-warm GPUs before their step arrives.

An offline reprocessing or injection campaign starts as a step (all batch jobs within
a minute) at a time someone knows in advance. A reactive policy sees it only once
the queue has grown, then waits minutes for pods; a schedule lets the scaler order
the GPUs ``lead_time_s`` before the start.

In ScaledObject metadata a schedule is one string, either compact::

    schedule: "2026-12-01T06:00:00Z/4h/800; 2026-12-02T06:00:00Z/90m/400"

(``START/DURATION/RATE`` entries separated by ``;``: START an ISO-8601 time with a
UTC offset, or seconds since the epoch, or since a simulation's start; DURATION
seconds or a sum like ``4h``, ``1h30m``, ``90s``, ``2d``; RATE req/s) or JSON::

    schedule: '[{"start": "2026-12-01T06:00:00Z", "duration": "4h", "rateRps": 800}]'

A campaign's rate is what it *adds* to the rest of the traffic. Before its start it
is added in full; after the start it is added only as far as the observed rate has
not yet risen by that much, for at most :data:`SETTLE_S` seconds, after which the
observed rate is trusted (so a campaign that brings less load than announced is not
provisioned for long).

:func:`with_schedule` wraps any policy (built-in or plug-in) with a schedule; the
predictive policy uses the same campaigns with its learned capacity.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, cast

from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    create_model,
)

from policies.base import Policy, PolicyContext, PolicyParams
from policies.decision import Recommendation
from policies.naming import legacy_alias, metadata_alias
from policies.observation import Observation
from policies.threshold import ThresholdParams, ThresholdPolicy

SETTLE_S = 300.0
"""Seconds after a campaign's start during which its not-yet-visible rate is still
added: covers the ``rate()`` window and the clients' ramp."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT_S = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}


class Campaign(BaseModel):
    """One known burst of load: from ``start_s`` for ``duration_s``, adding ``rate_rps``."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(
            validation_alias=lambda n: AliasChoices(metadata_alias(n), legacy_alias(n)),
            serialization_alias=metadata_alias,
        ),
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    start_s: float = Field(
        ge=-1e11, le=1e11, description="Start, seconds since the epoch (or a simulation's start)."
    )
    duration_s: float = Field(gt=0, le=366 * 86_400.0, description="Length in seconds.")
    rate_rps: float = Field(ge=0, le=1e9, description="Request rate it adds, req/s.")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def overlaps(self, start_s: float, end_s: float) -> bool:
        return self.start_s < end_s and self.end_s > start_s

    def compact(self) -> str:
        return f"{self.start_s:.15g}/{self.duration_s:.15g}/{self.rate_rps:.15g}"


def parse_duration_s(text: str) -> float:
    """``"4h"``, ``"1h30m"``, ``"90s"``, ``"2d"`` or plain seconds (``"3600"``) → seconds."""
    t = text.strip().lower()
    try:
        return float(t)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(t)
    if not parts or "".join(n + u for n, u in parts) != t:
        raise ValueError(f"duration {_short(text)} is not seconds or a sum like 4h, 1h30m, 90s, 2d")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def parse_start_s(text: str) -> float:
    """An ISO-8601 time with a UTC offset, or plain seconds → seconds since the epoch."""
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(
            f"start {_short(text)} is not an ISO-8601 time (e.g. 2026-12-01T06:00:00Z) or seconds"
        ) from None
    if when.tzinfo is None:
        raise ValueError(f"start {_short(text)} has no UTC offset: add Z or +HH:MM")
    return when.timestamp()


def _campaign(i: int, raw: Any) -> Campaign:
    where = f"campaign {i + 1}"
    try:
        if isinstance(raw, Campaign):
            return raw
        if isinstance(raw, str):
            bits = [b.strip() for b in raw.split("/")]
            if len(bits) != 3:
                raise ValueError(f"{_short(raw)} is not START/DURATION/RATE")
            start, duration, rate = bits
            return Campaign(
                start_s=parse_start_s(start),
                duration_s=parse_duration_s(duration),
                rate_rps=float(rate),
            )
        if isinstance(raw, dict):
            d = dict(raw)
            if "start" in d:
                s = d.pop("start")
                d["startSeconds"] = parse_start_s(str(s)) if isinstance(s, str) else s
            if "duration" in d:
                s = d.pop("duration")
                d["durationSeconds"] = parse_duration_s(str(s)) if isinstance(s, str) else s
            return Campaign.model_validate(d)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])} = {_short(e.get('input'))}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ValueError(f"{where}: {problems}") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    raise ValueError(f"{where}: expected START/DURATION/RATE or an object, got {_short(raw)}")


def _nesting(text: str) -> int:
    """Deepest bracket nesting of a JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


MAX_CAMPAIGNS = 500
"""Most campaigns in one schedule: each decision looks at all of them."""


def _short(raw: Any) -> str:
    """A bounded description of a client value (a deep list is not repr'd)."""
    if isinstance(raw, list | tuple | dict):
        return f"a {type(raw).__name__} of {len(raw)} items"
    text = repr(raw)
    return text if len(text) <= 80 else f"{text[:80]}…"


def parse_schedule(value: Any) -> tuple[Campaign, ...]:
    """Campaigns from a metadata string (compact or JSON) or a list; sorted by start.

    At most :data:`MAX_CAMPAIGNS`; JSON nested deeper than a campaign object is refused."""
    if value is None:
        return ()
    items: list[Any]
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        if text.startswith("["):
            if _nesting(text) > 3:
                raise ValueError("schedule JSON is nested too deeply (a list of campaign objects)")
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"schedule is not valid JSON: {exc.msg} at {exc.pos}") from None
            if not isinstance(loaded, list):
                raise ValueError("schedule JSON must be a list of campaigns")
            items = loaded
        else:
            items = [p for p in text.split(";") if p.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError(f"schedule must be a string or a list, got {type(value).__name__}")
    if len(items) > MAX_CAMPAIGNS:
        raise ValueError(f"schedule has {len(items)} campaigns (at most {MAX_CAMPAIGNS})")
    campaigns = tuple(_campaign(i, raw) for i, raw in enumerate(items))
    return tuple(sorted(campaigns, key=lambda c: c.start_s))


def format_schedule(campaigns: tuple[Campaign, ...]) -> str:
    """The compact metadata form, ``START/DURATION/RATE;…`` in seconds."""
    return ";".join(c.compact() for c in campaigns)


Schedule = Annotated[
    tuple[Campaign, ...],
    BeforeValidator(parse_schedule),
    PlainSerializer(format_schedule, return_type=str),
]
"""A params field type: parsed from the metadata string, written back in compact form."""


@dataclass(frozen=True, slots=True)
class ScheduledLoad:
    """Load the schedule adds over the lead time, and which campaigns it came from."""

    extra_rps: float
    due: tuple[Campaign, ...]

    def describe(self) -> str:
        names = ", ".join(f"{c.rate_rps:g} req/s from t={c.start_s:g}" for c in self.due)
        return f"schedule adds {self.extra_rps:.1f} req/s ({names})"


NO_LOAD = ScheduledLoad(0.0, ())


def scheduled_load(
    campaigns: tuple[Campaign, ...],
    now_s: float,
    lead_time_s: float,
    level_now_rps: float,
    level_before: Callable[[float], float | None],
) -> ScheduledLoad:
    """Extra req/s to provision for at ``now_s`` for campaigns overlapping the lead time.

    ``level_before(t)`` is the observed rate just before ``t`` (None if unknown); a
    campaign that has started adds only what the observed rate has not yet shown.
    """
    extra = 0.0
    due: list[Campaign] = []
    for c in campaigns:
        if not c.overlaps(now_s, now_s + lead_time_s):
            continue
        if c.start_s > now_s:
            missing = c.rate_rps
        elif now_s - c.start_s >= SETTLE_S:
            missing = 0.0
        else:
            before = level_before(c.start_s)
            risen = max(0.0, level_now_rps - before) if before is not None else 0.0
            missing = max(0.0, c.rate_rps - risen) if before is not None else c.rate_rps
        if missing > 0:
            extra += missing
            due.append(c)
    return ScheduledLoad(extra, tuple(due)) if due else NO_LOAD


def observed_rate(obs: Observation) -> float | None:
    """Request rate served by the fleet, else the one seen in front of it (at zero)."""
    for name in ("request_rate_rps", "activation_rps"):
        v = obs.value(name)
        if v is not None and math.isfinite(v) and v >= 0:
            return v
    return None


def level_before_from(
    history: tuple[Observation, ...], window_s: float
) -> Callable[[float], float | None]:
    """``level_before(t)``: median observed rate over ``[t - window_s, t)`` in ``history``."""

    def level_before(t: float) -> float | None:
        vals = sorted(
            r
            for o in history
            if t - window_s <= o.time_s < t and (r := observed_rate(o)) is not None
        )
        if not vals:
            return None
        mid = len(vals) // 2
        return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2

    return level_before


LEVEL_WINDOW_S = 60.0
"""Seconds of observations whose median is "the rate before a campaign started"."""


class _ScheduledBase:
    """A policy with a schedule: the inner policy's answer, raised to what the
    campaigns due within the lead time need at ``schedule_capacity_rps`` each."""

    name: ClassVar[str]
    params_model: ClassVar[type[PolicyParams]]
    inner: ClassVar[Policy]

    def required_signals(self, params: Any) -> tuple[str, ...]:
        return self.inner.required_signals(params)

    def history_s(self, params: Any) -> float:
        return max(self.inner.history_s(params), SETTLE_S + LEVEL_WINDOW_S)

    def recommend(self, ctx: PolicyContext, params: Any) -> Recommendation:
        inner_history = tuple(
            o for o in ctx.history if ctx.now_s - o.time_s <= self.inner.history_s(params)
        )
        rec = self.inner.recommend(
            PolicyContext(
                now_s=ctx.now_s,
                observation=ctx.observation,
                history=inner_history,
                current_replicas=ctx.current_replicas,
                min_replicas=ctx.min_replicas,
                max_replicas=ctx.max_replicas,
            ),
            params,
        )
        level = observed_rate(ctx.observation) or 0.0
        load = scheduled_load(
            params.schedule,
            ctx.now_s,
            params.schedule_lead_time_s,
            level,
            level_before_from(ctx.history, LEVEL_WINDOW_S),
        )
        if load.extra_rps <= 0:
            return rec
        planned = (level + load.extra_rps) / params.schedule_capacity_rps
        if planned <= rec.replicas:
            return rec
        reason = (
            f"{load.describe()}: ({level:.1f} + {load.extra_rps:.1f}) req/s / "
            f"{params.schedule_capacity_rps:g} per replica = {planned:.2f} > "
            f"{self.inner.name}'s {rec.replicas:.2f} ({rec.reason})"
        )
        return Recommendation(planned, reason, rec.signal, rec.target, True)


class ScheduleFields(PolicyParams):
    """The parameters a schedule adds to a policy's own (mixed into its params model)."""

    schedule: Schedule = Field(
        default=(), description="Known campaigns: START/DURATION/RATE;… or JSON."
    )
    schedule_lead_time_s: float = Field(
        default=105.0,
        ge=0,
        le=86_400,
        description="Seconds before a campaign's start to have its GPUs ordered "
        "(pod start-up + poll + HPA sync).",
    )
    schedule_capacity_rps: float = Field(
        default=80.0, gt=0, le=1e9, description="Req/s one replica serves at the SLO."
    )


def with_schedule(inner: Policy, name: str | None = None) -> Policy:
    """``inner`` with a schedule: its params gain ``schedule``, ``scheduleLeadTimeSeconds``
    and ``scheduleCapacityRps``; it is registered as ``name`` (default
    ``scheduled-<inner>``). Guardrails apply to the wrapped answer as to any other."""
    params_model: type[PolicyParams] = create_model(
        f"Scheduled{inner.params_model.__name__}",
        __base__=(inner.params_model, ScheduleFields),
    )
    cls = type(
        f"Scheduled{type(inner).__name__}",
        (_ScheduledBase,),
        {"name": name or f"scheduled-{inner.name}", "params_model": params_model, "inner": inner},
    )
    return cast(Policy, cls())


class ScheduledThresholdParams(ThresholdParams, ScheduleFields):
    """Threshold parameters plus a schedule of known campaigns."""


class ScheduledThresholdPolicy(_ScheduledBase):
    """The threshold policy with scheduled capacity (register as ``scheduled``)."""

    name: ClassVar[str] = "scheduled"
    params_model: ClassVar[type[PolicyParams]] = ScheduledThresholdParams
    inner: ClassVar[Policy] = ThresholdPolicy()
