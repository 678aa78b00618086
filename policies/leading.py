"""Leading indicators around any policy: provision for work the batch system announces.

:func:`with_indicators` wraps a policy. At each decision, for every indicator
(``Observation.indicators``, settings in ``params.indicators``) it counts the units
*announced and not yet due*::

    announced = min(I(t_h), I(now)) − I(now − lag − grace),   t_h = min(now, now + horizon − lag)

— units that appeared in the last ``lag + grace`` seconds whose load arrives within the
provisioning ``horizon`` (``indicatorHorizonSeconds``), less any that left the count. Their load
(``announced × load per unit``, added to every rate signal of the observation) is shown
to the wrapped policy, which sizes the fleet for it with its own capacity and headroom;
the difference is the indicator's contribution, named in the decision's explanation.

Give-back: ``lag + grace`` seconds after units appear they are no longer "announced":
if their work arrived, the wrapped policy sees it and keeps the replicas; if it did
not (a cancelled campaign, jobs that failed while staging), the contribution is gone
and the fleet shrinks after the stabilisation window, like any other drop. Units that
leave the count earlier (cancelled) stop counting at once. While announced units are
in force, a replica the HPA's tolerance would keep above what the answer needs (the
headroom's, or a backlog drain's that came after the announced pods) is given back
with a value just outside the tolerance (:func:`_give_back`).

Load per unit and lag come from the ScaledObject (``indicator<N>LoadPerUnit``,
``indicator<N>LeadSeconds``) or are learned from the history (:mod:`policies.indicators`)
when absent; without enough evidence the indicator adds nothing. Learning runs only
while something is announced, so an idle indicator costs a bisection per decision.
"""

from __future__ import annotations

import dataclasses
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from pydantic import Field, create_model

from policies.base import Policy, PolicyContext, PolicyParams
from policies.decision import Recommendation, ceil_replicas
from policies.indicators import (
    WORK_FIELD,
    IndicatorFit,
    IndicatorSettings,
    field_at,
    fit_indicator,
    groups,
    primary_rate,
    rate_fields,
    realised_share,
    typical_group,
    value_at,
    window,
)
from policies.observation import Observation

LEADING_FIELDS: dict[str, Any] = {
    "indicators": (
        tuple[IndicatorSettings, ...],
        Field(
            default=(),
            description="Leading indicators, filled from the indicator<N>… metadata keys.",
        ),
    ),
    "indicator_horizon_s": (
        float,
        Field(
            default=300.0,
            ge=0,
            le=7_200,
            description="Seconds ahead to provision announced load for: the provisioning "
            "lead time (pod start-up + KEDA poll + HPA sync), 300 covers a 240 s start-up.",
        ),
    ),
    "indicator_grace_s": (
        float,
        Field(
            default=60.0,
            ge=0,
            le=3_600,
            description="Seconds announced units keep counting after they are due, for "
            "jobs that start late (jitter).",
        ),
    ),
    "indicator_headroom": (
        float,
        Field(
            default=1.1,
            ge=1,
            le=3,
            description="Multiplier on announced load still to come. Above 1 because a "
            "fleet ordered for exactly the announced load can sit just below the need "
            "when it arrives, and the wrapped policy does not always scale a fleet that "
            "is already there up out of a growing queue (a 2 h LIGO campaign at 1: 10 "
            "replicas for a need of 11, 83 % of requests within the SLO; at 1.1: 100 %). "
            "Once the work is in force the extra replica, which the HPA's 10 % tolerance "
            "would keep, is given back (see _give_back).",
        ),
    ),
    # New keys are spelled ``…_seconds`` here, not ``…_s``: the naming rule gives an
    # ``_s`` field a legacy ``…S`` key (policies.naming), which these never had.
    "indicator_provision_seconds": (
        float | None,
        Field(
            default=None,
            ge=0,
            le=3_600,
            description="Seconds from ordering a pod to it serving (start-up + KEDA poll + "
            "HPA sync). When an indicator's lead is shorter, its load queues for the "
            "difference before the pods ordered at its rise serve, and more is ordered to "
            "drain that queue (indicatorDrainSeconds). None: the wrapped policy's "
            "leadTimeSeconds when it has one (adaptive's), else no drain is ordered.",
        ),
    ),
    "indicator_drain_seconds": (
        float,
        Field(
            default=60.0,
            gt=0,
            le=3_600,
            description="Seconds to drain the queue announced load builds when it arrives "
            "before the pods ordered for it serve: until it arrives, its units are "
            "provisioned for (provision − lead) / this much more (at most twice). A queue "
            "of at most this many seconds (provision − lead) is left to the fleet's margin.",
        ),
    ),
    "indicator_group_s": (
        float,
        Field(
            default=120.0,
            ge=0,
            le=3_600,
            description="Units appearing within this many seconds of the previous ones are "
            "one group (a job array, a campaign submitted together): while a group still "
            "appears, the rest of a typical group (its learned or given size) is announced "
            "with its first units, so the pods for all of it start at once. 0: off.",
        ),
    ),
    "indicator_max_lag_s": (
        float,
        Field(
            default=1_800.0,
            gt=0,
            le=86_400,
            description="Longest lag, s, searched when the lead is learned.",
        ),
    ),
    "indicator_history_s": (
        float,
        Field(
            default=180_000.0,
            ge=600,
            le=8 * 86_400,
            description="Seconds of history the load per unit and the lag are learned from "
            "(two days and a bit: yesterday's campaign from its start, whatever its hour).",
        ),
    ),
    "indicator_step_s": (
        float,
        Field(
            default=15.0,
            gt=0,
            le=600,
            description="Grid step, s, the history is resampled to for learning.",
        ),
    ),
    "indicator_min_correlation": (
        float,
        Field(
            default=0.3,
            ge=0,
            le=1,
            description="Evidence needed before a learned value is used: correlation of "
            "the rises (lag) and of the rate with the units in force (load).",
        ),
    ),
}
"""Parameters every wrapped policy gains (metadata keys: ``indicatorHorizonSeconds`` …)."""

HPA_TOLERANCE = 0.1
"""The HPA's tolerance (Kubernetes' default): it keeps its size while the reported
value is within this share of the current replica count."""

KEDA_STEP = 0.01
"""How far below the tolerance's edge a give-back reports (KEDA keeps 3 decimals)."""

INDICATORS_FIELD = "indicators"
"""The parameter the metadata layer fills from ``indicator<N>…`` keys (not a key itself)."""


@dataclass(frozen=True, slots=True)
class Contribution:
    """One indicator's part in a decision: units now and announced, what one unit
    brings (req/s of the primary rate), the lag, and whence they came."""

    name: str
    units: float | None
    announced: float
    per_unit: dict[str, float]
    lag_s: float | None
    source: str
    primary: str
    arrived: dict[str, float] = dataclasses.field(default_factory=dict)
    """How much each rate has risen since before these units appeared: the part of
    their load already here, which the wrapped policy sees anyway."""
    expected: float = 0.0
    """Units of the group now appearing that have not appeared yet (in ``announced``)."""
    drain: float = 0.0
    """Units' worth of load to add, beyond the announced load, to drain the queue it
    builds when it arrives before the pods ordered for it serve (:func:`_drain_units`);
    not reduced by what has arrived (the queue is on top of it)."""
    group: float | None = None
    """The typical size of a group, when one is appearing."""
    realised: float = 1.0
    """Share of announced units that do send (given or learned): the load provisioned
    for is ``announced × realised`` units' worth."""

    def missing(self, margin: float) -> dict[str, float]:
        """Load still to provision for, per rate field: the announced units (times
        ``margin``) less those whose load has arrived, counted on the arrival rate in
        front of the fleet. Not field by field: completions (the served rate, the
        item rate) stall while the fleet is short, so they would count an arrived
        campaign as still to come and the work would be provisioned twice."""
        per_primary = self.per_unit.get(self.primary, 0.0)
        sending = self.announced * self.realised * margin
        if per_primary > 0 and self.primary in self.arrived:
            units = max(0.0, sending - self.arrived[self.primary] / per_primary) + self.drain
            return {f: units * per for f, per in self.per_unit.items()}
        return {
            f: max(0.0, sending * per - self.arrived.get(f, 0.0)) + self.drain * per
            for f, per in self.per_unit.items()
        }

    @property
    def extra_rps(self) -> float:
        return self.announced * self.realised * self.per_unit.get(self.primary, 0.0)

    def describe(self) -> str:
        if self.units is None:
            return f"{self.name}: no value"
        head = f"{self.name}={self.units:g}"
        if self.lag_s is None or self.primary not in self.per_unit:
            return f"{head} ({self.source})"
        load = self.per_unit[self.primary]
        group = (
            f" (incl. {self.expected:g} more of a group of {self.group:g})"
            if self.expected > 0 and self.group is not None
            else ""
        )
        share = f" × {self.realised:.2g} that send" if self.realised < 1 else ""
        drain = (
            f", + {self.drain:.3g} units' worth to drain the queue they build before "
            "the pods ordered for them serve"
            if self.drain > 0
            else ""
        )
        return (
            f"{head}, {self.announced:.3g} announced{group}{share} × {load:.3g} req/s, "
            f"lead {self.lag_s:.0f} s ({self.source}) → +{self.extra_rps:.4g} req/s{drain}"
        )


def _time(o: Observation) -> float:
    return o.time_s


def _leading_params(base: type[PolicyParams]) -> type[PolicyParams]:
    model = create_model(f"Leading{base.__name__}", __base__=base, **LEADING_FIELDS)
    return cast(type[PolicyParams], model)


def _contribution(
    index: int,
    setting: IndicatorSettings,
    ctx: PolicyContext,
    history: Sequence[Observation],
    fields: tuple[str, ...],
    primary: str,
    p: Any,
) -> Contribution:
    now = ctx.observation.time_s
    name = setting.name or f"indicator{index + 1}"
    units = ctx.observation.indicator(index)

    def result(
        announced: float, per: dict[str, float], lag: float | None, src: str
    ) -> Contribution:
        return Contribution(name, units, announced, per, lag, src, primary)

    if units is None:
        return result(0.0, {}, None, "absent")
    bound = setting.lead_s if setting.lead_s is not None else p.indicator_max_lag_s
    recent = window(history, now - bound - p.indicator_grace_s, now)
    low = min((v for o in recent if (v := o.indicator(index)) is not None), default=units)
    if units <= low:
        return result(0.0, {}, setting.lead_s, "nothing new announced")
    fit = None
    if setting.lead_s is None or setting.load_per_unit is None:
        learn_from = window(history, now - p.indicator_history_s, now)
        fit = fit_indicator(
            learn_from,
            index,
            fields,
            primary,
            step_s=p.indicator_step_s,
            max_lag_s=p.indicator_max_lag_s,
            smooth_s=max(60.0, 4 * p.indicator_step_s),
            lag_s=setting.lead_s,
            settle_s=p.indicator_grace_s,
        )
        weak = fit is None or min(fit.lag_correlation, fit.load_correlation) < (
            p.indicator_min_correlation
        )
        if weak:
            r = "" if fit is None else f": r={min(fit.lag_correlation, fit.load_correlation):.2f}"
            return result(0.0, {}, setting.lead_s, f"not learned yet{r}")
    assert fit is not None or (setting.lead_s is not None and setting.load_per_unit is not None)
    lag = setting.lead_s if setting.lead_s is not None else fit.lag_s  # type: ignore[union-attr]
    per_unit: dict[str, float] = dict(fit.per_unit) if fit is not None else {}
    if setting.load_per_unit is not None:
        per_unit = _given_load(setting, setting.load_per_unit, per_unit, fields, ctx.observation)
    sources = []
    sources.append("lead given" if setting.lead_s is not None else "lead learned")
    if setting.load_per_unit is not None:
        sources.append("load given")
    else:
        assert fit is not None
        sources.append(f"load learned, r={fit.load_correlation:.2f}")
    t_h = min(now, now + p.indicator_horizon_s - lag)
    due = value_at(history, index, t_h)
    before = value_at(history, index, now - lag - p.indicator_grace_s)
    if due is None or before is None:
        return result(0.0, per_unit, lag, ", ".join(sources))
    announced = max(0.0, min(due, units) - before)
    expected, group = 0.0, None
    if announced > 0 and p.indicator_group_s > 0 and lag <= p.indicator_horizon_s:
        expected, group = _rest_of_group(setting, index, history, now, lag, p)
    share = _realised(setting, fit, index, history, now, lag, p)
    # Units still counted a lag after they appeared are sending (or about to): only
    # those not yet due are discounted by the share that sends.
    due_now = value_at(history, index, now - lag)
    confirmed = 0.0 if due_now is None else max(0.0, min(due_now, units) - before)
    confirmed = min(confirmed, announced)
    pending = announced - confirmed + expected
    effective = confirmed + pending * share
    realised = effective / (announced + expected) if announced + expected > 0 else 1.0
    out = result(announced + expected, per_unit, lag, ", ".join(sources))
    out = dataclasses.replace(out, expected=expected, group=group, realised=realised)
    since = now - lag - p.indicator_grace_s
    for f in per_unit:
        then, current = field_at(history, f, since), ctx.observation.value(f)
        if then is not None and current is not None:
            out.arrived[f] = max(0.0, current - then)
    # The drain is ordered until the load starts to arrive: from then on the wrapped
    # policy sees the queue and drains it itself, and the stabilisation window keeps
    # what was ordered; both at once would order the drain twice.
    if out.arrived.get(primary, 0.0) < per_unit.get(primary, math.inf):
        drain = _drain_units(index, history, now, units, lag, expected, share, p)
        out = dataclasses.replace(out, drain=drain)
    return out


DRAIN_MAX = 1.0
"""At most this many units' worth of drain per unit announced (the fleet for twice
the announced load): the queue an indicator leading by less than the provisioning
time builds grows with the difference, but pods beyond this drain it only seconds
sooner (LIGO, 240 s start-up, lead 3 min: 24 pods ordered at the rise drain it as
fast as 100 would, bench/indicator_quality.py's chain bound)."""


def provision_s(p: Any) -> float | None:
    """Seconds from ordering a pod to it serving, as the policy takes it: given
    (``indicatorProvisionSeconds``), else the wrapped policy's ``leadTimeSeconds``
    (``adaptive``'s, same meaning), else None (not known: no drain is ordered)."""
    given = p.indicator_provision_seconds
    if given is None:
        given = getattr(p, "lead_time_seconds", None)
    return None if given is None else float(given)


def _drain_units(
    index: int,
    history: Sequence[Observation],
    now: float,
    units: float,
    lag: float,
    expected: float,
    share: float,
    p: Any,
) -> float:
    """Units' worth of load that drains, within ``indicatorDrainSeconds``, the queue
    the load of recently appeared units builds when it arrives before the pods
    ordered at their appearance serve.

    A unit appearing at ``a`` sends from ``a + lag``; pods ordered at ``a`` serve from
    ``a + provision``. When ``provision > lag`` its load queues for the difference,
    and every request behind that queue misses a tight SLO until it is gone: ordering
    for exactly the announced load leaves only the fleet's margin to drain it (LIGO,
    240 s start-up, lead 3 min: 30 s after the pods serve). So units that appeared
    less than a lag ago and are still counted (and the rest of their group, at the
    share that sends) are provisioned for ``(provision − lag) / drain`` more (at most
    :data:`DRAIN_MAX`); the caller stops it once their load starts to arrive. Jobs
    that leave the count take their drain with them, so a campaign that never sends
    gives it back like the announced load itself.

    A queue of at most ``drain`` seconds is left to the fleet's margin and the
    wrapped policy: the HPA doubles the fleet every sync, so the announced pods
    drain it about as soon as extra ones would serve, and the extra fleet, held for
    the stabilisation window, is what costs (LIGO, 60 s start-up, lead 30 s: a
    drain for 55 s of queue arrived after the queue was gone, and ``adaptive``,
    sizing from what the over-provisioned fleet did, then fell to 10 replicas for
    a need of 12: 0.225 % of the day's requests lost instead of 0.030 %)."""
    prov = provision_s(p)
    drain_s = float(p.indicator_drain_seconds)
    if prov is None or prov - lag <= drain_s:
        return 0.0
    factor = min(DRAIN_MAX, (prov - lag) / drain_s)
    before = value_at(history, index, now - lag)
    if before is None:
        return 0.0
    fresh = max(0.0, units - before)
    return (fresh + expected) * share * factor


def _give_back(value: float, current: int) -> tuple[float, int] | None:
    """(value to report, replicas given back) when ``current`` replicas exceed what
    ``value`` needs, ``ceil(value)``, but the HPA's tolerance would keep them (value
    within 10 % of ``current``): a value just outside the tolerance whose ceiling is
    still ``ceil(value)`` moves the fleet there. None when no such value exists (the
    tolerance's edge lies below ``ceil(value) − 1``: 20 replicas and more, for one)
    or nothing is kept.

    Why here: announced load is provisioned with ``indicatorHeadroom`` and ahead of a
    backlog the wrapped policy also reacts to, so when the work arrives the fleet can
    stand a replica above the policy's own answer, inside the tolerance, for a whole
    campaign (+6 % GPU-hours on a LIGO day). A fleet that grew from below never does.
    """
    need = ceil_replicas(value)
    if need < 1 or current <= need or value < (1 - HPA_TOLERANCE) * current:
        return None
    edge = math.floor(((1 - HPA_TOLERANCE) * current - KEDA_STEP) * 1000) / 1000
    if edge <= need - 1:
        return None
    return min(value, edge), current - need


def _in_force(
    index: int,
    setting: IndicatorSettings,
    part: Contribution,
    ctx: PolicyContext,
    history: Sequence[Observation],
    fields: tuple[str, ...],
    primary: str,
    p: Any,
) -> bool:
    """Whether units this indicator announced are now sending: counted a lag ago and
    still counted, for an indicator whose lag and load are given or learned with
    evidence (an indicator without evidence never changes the answer)."""
    units = ctx.observation.indicator(index)
    if units is None or units <= 0:
        return False
    lag = part.lag_s if part.per_unit else None
    if lag is None and setting.lead_s is not None and setting.load_per_unit is not None:
        lag = setting.lead_s
    if lag is None:
        now = ctx.observation.time_s
        fit = fit_indicator(
            window(history, now - p.indicator_history_s, now),
            index,
            fields,
            primary,
            step_s=p.indicator_step_s,
            max_lag_s=p.indicator_max_lag_s,
            smooth_s=max(60.0, 4 * p.indicator_step_s),
            lag_s=setting.lead_s,
            settle_s=p.indicator_grace_s,
        )
        if fit is None or min(fit.lag_correlation, fit.load_correlation) < (
            p.indicator_min_correlation
        ):
            return False
        lag = fit.lag_s
    then = value_at(history, index, ctx.observation.time_s - lag)
    return then is not None and min(then, units) > 0


def _realised(
    setting: IndicatorSettings,
    fit: IndicatorFit | None,
    index: int,
    history: Sequence[Observation],
    now: float,
    lag: float,
    p: Any,
) -> float:
    """Share of announced units that send: given, else learned with the fit, else
    learned from the history alone (lag and load given)."""
    if setting.realised is not None:
        return setting.realised
    if fit is not None:
        return fit.realised
    return realised_share(
        window(history, now - p.indicator_history_s, now),
        index,
        lag_s=lag,
        step_s=p.indicator_step_s,
        settle_s=p.indicator_grace_s,
    )


def _rest_of_group(
    setting: IndicatorSettings,
    index: int,
    history: Sequence[Observation],
    now: float,
    lag: float,
    p: Any,
) -> tuple[float, float | None]:
    """(units of the group now appearing still to come, the typical group size).

    A batch system's campaign shows as a run of rises over a minute or two (jobs
    submitted together, their queue waits jittered). The first units announce the
    rest: a typical group's size (given, else the median of the groups in the
    learning history) less what has appeared. Nothing once the rises have stopped
    for ``indicatorGroupSeconds``: a smaller group is then what counts."""
    gap = p.indicator_group_s
    recent = window(history, now - lag - p.indicator_grace_s - gap, now)
    current = groups([o.time_s for o in recent], [o.indicator(index) for o in recent], gap)
    if not current or now - current[-1].last_s > gap:
        return 0.0, None
    g = current[-1]
    size = setting.group_size
    if size is None:
        past = window(history, now - p.indicator_history_s, g.start_s - gap)
        size = typical_group(
            groups([o.time_s for o in past], [o.indicator(index) for o in past], gap)
        )
    if size is None:
        return 0.0, None
    return max(0.0, size - g.size), size


def _same_batches(obs: Observation, changes: dict[str, Any]) -> None:
    """Announced work is executed in batches like today's: executions grow with the
    items, so items per execution (what a policy learns capacity from) stay as observed
    and the what-if cannot inflate a learned capacity."""
    items, execs = obs.items_per_s, obs.execs_per_s
    new_items = changes.get(WORK_FIELD)
    if new_items is not None and items and execs is not None and items > 0:
        changes["execs_per_s"] = execs * new_items / items


def _given_load(
    setting: IndicatorSettings,
    load: float,
    learned: dict[str, float],
    fields: tuple[str, ...],
    obs: Observation,
) -> dict[str, float]:
    """Per-unit loads when the request rate per unit is given: every request rate gets
    it; the work rate gets it × the items per request (given, else the learned work
    per request, else the fleet's current mix)."""
    out = {f: load for f in fields if f.endswith("_rps")}
    if WORK_FIELD not in fields:
        return out
    items = setting.items_per_request
    if items is None:
        rps = [learned[f] for f in fields if f.endswith("_rps") and learned.get(f, 0.0) > 0]
        if WORK_FIELD in learned and rps:
            items = learned[WORK_FIELD] / max(rps)
    if items is None:
        served, work = obs.request_rate_rps, obs.items_per_s
        items = work / served if served and work is not None and served > 0 else 1.0
    out[WORK_FIELD] = load * items
    return out


class LeadingPolicy:
    """A policy plus the load its leading indicators announce (see the module doc)."""

    name: ClassVar[str] = "leading"
    params_model: ClassVar[type[PolicyParams]] = PolicyParams

    def __init__(self, base: Policy) -> None:
        self.base = base

    def required_signals(self, params: Any) -> tuple[str, ...]:
        return self.base.required_signals(params)

    def history_s(self, params: Any) -> float:
        own = params.indicator_history_s if params.indicators else 0.0
        return max(self.base.history_s(params), own)

    def recommend(self, ctx: PolicyContext, params: Any) -> Recommendation:
        settings: tuple[IndicatorSettings, ...] = params.indicators
        if not settings:
            return self.base.recommend(ctx, params)
        obs = ctx.observation
        history: tuple[Observation, ...] = ctx.history
        if not history or history[-1] is not obs:
            history = (*history, obs)
        # The wrapped policy sees only the history it asked for: ours is longer (a day
        # and a bit to learn from), and it should not pay to scan it.
        start = bisect_left(history, obs.time_s - self.base.history_s(params), key=_time)
        own = history[start:]
        # The pipeline's columns, cut the same way, spare the wrapped policy rebuilding
        # hours of history as arrays (most of a simulated day's CPU).
        cols = ctx.columns if ctx.columns is not None and ctx.columns.source is history else None
        ctx = dataclasses.replace(
            ctx, history=own, columns=None if cols is None else cols.tail(start, own)
        )
        rec = self.base.recommend(ctx, params)
        fields = rate_fields(obs)
        primary = primary_rate(history)
        parts = [
            _contribution(i, s, ctx, history, fields, primary, params)
            for i, s in enumerate(settings)
        ]
        answer = self._with_announced(rec, ctx, params, parts, fields, primary)
        give = _give_back(answer.replicas, ctx.current_replicas)
        if give is None or not any(
            _in_force(i, s, c, ctx, history, fields, primary, params)
            for i, (s, c) in enumerate(zip(settings, parts, strict=True))
        ):
            return answer
        value, kept = give
        details = dict(answer.details)
        details["indicator_give_back"] = float(kept)
        return dataclasses.replace(
            answer,
            replicas=value,
            reason=f"{answer.reason}; gives back {kept} replica(s) the HPA's "
            f"{HPA_TOLERANCE:.0%} tolerance would keep above the {ceil_replicas(answer.replicas)} "
            f"needed while the indicated work is in force ({ctx.current_replicas} ready): "
            f"{value:.3f}",
            details=details,
        )

    def _with_announced(
        self,
        rec: Recommendation,
        ctx: PolicyContext,
        params: Any,
        parts: list[Contribution],
        fields: tuple[str, ...],
        primary: str,
    ) -> Recommendation:
        """``rec`` raised to what the wrapped policy asks for with the announced load
        still to come added to the rates it sees."""
        obs = ctx.observation
        extra: dict[str, float] = {}
        margin = params.indicator_headroom
        for c in parts:
            for f, missing in c.missing(margin).items():
                extra[f] = extra.get(f, 0.0) + missing
        details: dict[str, float] = dict(rec.details)
        for i, c in enumerate(parts, start=1):
            details[f"indicator{i}_announced"] = c.announced
            details[f"indicator{i}_extra_rps"] = c.extra_rps
            if c.lag_s is not None:
                details[f"indicator{i}_lead_s"] = c.lag_s
            if primary in c.per_unit:
                details[f"indicator{i}_load_per_unit"] = c.per_unit[primary]
        changes: dict[str, Any] = {
            f: v + extra[f]
            for f in fields
            if extra.get(f, 0.0) > 0 and (v := obs.value(f)) is not None
        }
        _same_batches(obs, changes)
        text = "; ".join(c.describe() for c in parts)
        if not changes:
            details["indicator_replicas"] = 0.0
            return dataclasses.replace(
                rec, reason=f"{rec.reason}; indicators: {text}", details=details
            )
        shown = dataclasses.replace(obs, **changes)
        ahead_history = (*ctx.history[:-1], shown)
        ahead_cols = None if ctx.columns is None else ctx.columns.with_last(shown, ahead_history)
        ctx2 = dataclasses.replace(
            ctx, observation=shown, history=ahead_history, columns=ahead_cols
        )
        ahead = self.base.recommend(ctx2, params)
        added = ahead.replicas - rec.replicas
        details["indicator_replicas"] = added
        if added <= 0:
            return dataclasses.replace(
                rec,
                reason=f"{rec.reason}; indicators: {text} → no more replicas "
                f"({self.base.name} does not size from the arrival rate, or already has them)",
                details=details,
            )
        active = True if rec.active or ahead.active else rec.active
        return Recommendation(
            replicas=ahead.replicas,
            reason=f"{rec.reason}; indicators: {text} → +{added:.2f} replicas "
            f"({rec.replicas:.2f} → {ahead.replicas:.2f})",
            signal=rec.signal,
            target=rec.target,
            active=active,
            details=details,
        )


def with_indicators(policy: Policy) -> Policy:
    """``policy`` plus leading indicators, registered as ``leading-<name>``; its
    parameters are the policy's own plus ``indicatorHorizonSeconds`` and friends."""
    cls = type(
        f"Leading{type(policy).__name__}",
        (LeadingPolicy,),
        {"name": f"leading-{policy.name}", "params_model": _leading_params(policy.params_model)},
    )
    leading: Policy = cls(policy)
    return leading
