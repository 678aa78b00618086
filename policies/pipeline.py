"""observe → policy → guardrails → decision: the one pipeline every adapter runs.

The gRPC server, the simulator and the dashboard call :func:`decide` with an
observation and the state returned by the previous call; nothing here reads a
clock or does I/O, so the same inputs always give the same decision.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, replace
from typing import Any

from policies.base import Policy, PolicyContext
from policies.decision import Decision, Status
from policies.guardrails import Guardrails, apply_guardrails, stabilize
from policies.history import HistoryColumns
from policies.observation import Observation


@dataclass(frozen=True, slots=True)
class PipelineState:
    """What the pipeline carries from one decision to the next.

    All of it can be rebuilt by replaying observations (the server does so from
    Prometheus range queries after a restart): the last good decision, the
    stabilisation window of (time_s, recommendation) pairs, when data went bad,
    and the observation history a policy asked for.
    """

    last_good: Decision | None = None
    window: tuple[tuple[float, float], ...] = ()
    bad_since_s: float | None = None
    history: tuple[Observation, ...] = ()
    columns: HistoryColumns | None = None
    """``history`` as arrays (:mod:`policies.history`), extended a row per decision;
    None or built for another tuple: rebuilt from ``history`` when needed."""


NO_SERIES_PROBLEM = (
    "no series matched this fleet's scope (a wrong namespace/release/model label, or no data yet)"
)


def _problem(
    obs: Observation | None,
    required: tuple[str, ...],
    now_s: float,
    g: Guardrails,
    last_good: Decision | None,
) -> str | None:
    """Why this observation cannot be trusted, or None if it can."""
    if obs is None:
        return "no observation (metrics query failed)"
    age = now_s - obs.time_s
    if age > g.stale_after_s:
        return f"observation is stale: {age:.0f} s old > stale_after_s={g.stale_after_s:.0f}"
    if obs.ready_replicas < 0:
        return f"ready_replicas={obs.ready_replicas} is negative"
    if obs.no_series and last_good is None:
        return NO_SERIES_PROBLEM
    if obs.ready_replicas == 0:
        if last_good is not None and last_good.replicas > 0 and obs.desired_replicas is None:
            return (
                f"no ready replica is seen while {last_good.replicas} were decided "
                "and the target's replica count is unknown (metrics missing?)"
            )
        return None
    for name in required:
        v = obs.value(name)
        if v is None:
            return f"{name} is missing"
        if not obs.is_usable(name):
            return f"{name} is {v} (not finite)"
        if v < 0:
            return f"{name}={v} is negative"
    return None


def _seen_replicas(obs: Observation | None, known: int | None) -> int | None:
    """The fleet's replica count as far as it is known without a decision: what the
    observation shows (if it shows any replica or the target's count) or ``known``."""
    counts = [] if known is None else [known]
    if obs is not None and (obs.ready_replicas > 0 or obs.desired_replicas is not None):
        counts += [max(obs.ready_replicas, 0), obs.desired_replicas or 0]
    return max(counts) if counts else None


def _trimmed(
    history: tuple[Observation, ...], obs: Observation, keep_s: float
) -> tuple[tuple[Observation, ...], int, bool]:
    """The observations of the last ``keep_s`` seconds plus ``obs``, how many were cut
    at the front, and whether ``obs`` was already the last one. History is oldest
    first, so the cut is found by bisection: O(log n), not a scan of a day of history."""
    if keep_s <= 0:
        return (), len(history), False
    again = bool(history) and history[-1] is obs
    if again:
        history = history[:-1]
    start = bisect_left(history, obs.time_s - keep_s, key=lambda o: o.time_s)
    return history[start:] + (obs,), start, again


def _extend_columns(
    state: PipelineState, trimmed: tuple[Observation, ...], drop: int, again: bool
) -> HistoryColumns | None:
    """The state's columns with the same cut and the new observation, when they
    describe the state's history (else None)."""
    old = state.columns
    if not trimmed or again or old is None or old.source is not state.history:
        return None
    return old.trimmed(drop, trimmed[-1], trimmed)


def decide(
    policy: Policy,
    params: Any,
    guardrails: Guardrails,
    observation: Observation | None,
    state: PipelineState,
    now_s: float,
    *,
    known_replicas: int | None = None,
) -> tuple[Decision, PipelineState]:
    """One decision for one ScaledObject at ``now_s`` (seconds).

    Missing, stale, NaN or Inf inputs never lower the fleet: the last good value
    is held (status ``hold``), and after ``fail_after_s`` of bad data the status
    becomes ``fail`` so the server can return an error and KEDA's fallback applies.

    With no last good decision (a cold start) there is nothing to hold: the count
    held is the replica count the observation shows, or ``known_replicas`` (read
    elsewhere, e.g. the Kubernetes API); if neither is known the status is ``fail``
    at once, so the server answers an error and the HPA keeps its current count,
    instead of reporting 0.
    """
    g = guardrails
    problem = _problem(observation, policy.required_signals(params), now_s, g, state.last_good)
    inputs: dict[str, Any] = observation.as_dict() if observation is not None else {}
    if problem is not None:
        bad_since = state.bad_since_s if state.bad_since_s is not None else now_s
        cold = False
        if state.last_good is not None:
            held = state.last_good.value
            active = state.last_good.active
        else:
            fresh = observation
            if fresh is not None and now_s - fresh.time_s > g.stale_after_s:
                fresh = None  # a stale count is not a known count
            seen = _seen_replicas(fresh, known_replicas)
            cold = seen is None
            held = float(seen or 0)
            active = held > 0
            if cold:
                problem += "; cold start: no last good decision and no known replica count"
        held = min(max(held, float(g.min_replicas)), float(g.max_replicas))
        failing = cold or now_s - bad_since >= g.fail_after_s
        status = Status.FAIL if failing else Status.HOLD
        verb = "failing" if failing else "holding"
        decision = Decision(
            time_s=now_s,
            value=held,
            status=status,
            reason=f"{verb} {held:g} replicas for {now_s - bad_since:.0f} s: {problem}",
            active=active,
            policy=policy.name,
            inputs=inputs,
        )
        return decision, replace(state, bad_since_s=bad_since)

    assert observation is not None
    history, drop, again = _trimmed(state.history, observation, policy.history_s(params))
    columns = _extend_columns(state, history, drop, again)
    if columns is None and history:
        columns = HistoryColumns.of(history)
    ctx = PolicyContext(
        now_s=now_s,
        observation=observation,
        history=history,
        current_replicas=observation.ready_replicas,
        min_replicas=g.min_replicas,
        max_replicas=g.max_replicas,
        columns=columns,
    )
    rec = policy.recommend(ctx, params)
    raw = rec.replicas if rec.replicas == rec.replicas else 0.0
    raw = max(0.0, raw)
    active = rec.active if rec.active is not None else raw > 0
    stabilised, window = stabilize(raw, now_s, state.window, g.scale_down_stabilization_s)
    base = state.last_good.value if state.last_good is not None else float(ctx.current_replicas)
    guarded = apply_guardrails(raw, stabilised, base, active, g)
    reason = rec.reason
    if guarded.applied:
        reason += f"; guardrails: {', '.join(guarded.applied)} → {guarded.value:g}"
    status = Status.OK
    if observation.no_series:
        status = Status.NO_SERIES
        reason = f"{NO_SERIES_PROBLEM}; {reason}"
    decision = Decision(
        time_s=now_s,
        value=guarded.value,
        status=status,
        reason=reason,
        active=active or guarded.value > 0,
        policy=policy.name,
        recommended=raw,
        signal=rec.signal,
        target=rec.target,
        inputs=inputs | rec.details,
        guardrails=guarded.applied,
    )
    return decision, PipelineState(
        last_good=decision, window=window, bad_since_s=None, history=history, columns=columns
    )
