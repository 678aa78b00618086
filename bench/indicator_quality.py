"""Leading indicators (issue 14): ``leading-adaptive`` against ``adaptive`` on LIGO test days.

Trace: ``scaler trace ligo --seed 2 --days 3 --indicators`` (the policy benchmark's
LIGO trace: the requests are the same bit for bit with or without indicator columns).
Days 1–2 are for training, day 3 is scored, as in the policy benchmark. The indicators
are ``campaign_jobs`` and ``burst_jobs``: batch jobs counted ``lead`` seconds (± 30 s)
before their first request until they stop.

Variants, each with pod start-up 60 s and 240 s, every run starting warm (the oracle's
highest need over the first start-up period already booted, as the policy benchmark):

* ``adaptive``: the default policy, no indicators: the baseline.
* ``leading-adaptive (trained)``: lag, load per job and items per request learned on
  the training days (the policy's own learning functions on the training days'
  series, sampled as Prometheus would show them every 15 s) and given as metadata.
* ``leading-adaptive (online)``: nothing given; learned from the test days' own history
  as it builds up (cold: the first campaign of the test days is not yet learned).

The HPA's scale-up rule: every scenario above runs with the benchmark's ScaledObject
(:func:`recommended_scaled_object`: the larger of 100 % and 4 pods per 15 s,
Kubernetes's default). Scenarios ``lead 3 min, scale-up rule for indicators`` and
``lead 3 min, a day of history, scale-up rule for indicators`` run the same with the
rule recommended for indicator-driven scaling (the larger of 100 % and 32 pods per
15 s, :data:`INDICATOR_STEP_PODS`), ``adaptive`` included (its own baseline there).

A running scaler has history: scenario ``lead 3 min, a day of history`` runs each
variant over days 2–3 (the warm start at day 2's start) and scores day 3 alone (its
requests, 1-minute windows and the GPU-seconds held within it), so online learning
has seen day 2's campaign, as a scaler deployed the day before would have; ``adaptive``
there is that scenario's baseline.

Scenarios: indicator leading by 3 minutes; leading by half the start-up (shorter than
it); 30 % of counted jobs never send; an indicator that is pure noise (the job counts
replaced by unrelated jobs arriving at random).

Targets (issue 14): lead 3 min: ≥ 99.9 % of requests and ≥ 99.8 % of 1-minute windows
within the SLO at ≤ 1.2 × the clairvoyant oracle's GPU-hours. Short lead or noisy: no
worse than ``adaptive`` (request and window attainment at least its own, GPU-hours at
most 2 % above). Pure noise: GPU-hours within 5 % of ``adaptive``.

Run: ``nice .venv/bin/python bench/indicator_quality.py`` (≈ 10 minutes on 2 idle cores).
Writes ``bench/results/indicator_quality.json`` and ``bench/results/indicator_quality.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import functools
import importlib.util
import json
import math
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from code_version import commit as code_commit

from policies import Observation
from policies.indicators import fit_indicator, groups, typical_group
from scaler.sim import engine
from scaler.sim import scores as scores_module
from scaler.sim.engine import simulate
from scaler.sim.fleet import FastFleet
from scaler.sim.hpa import Autoscaler
from scaler.sim.oracle import compute_oracle, need_series
from scaler.sim.presets import recommended_scaled_object
from scaler.sim.scenario import ScaledObjectSpec, Scenario
from scaler.sim.totals import Accumulator
from scaler.sim.windows import QUANTILE
from scaler.traces.ligo import LigoParams, day_params, generate_ligo, ligo_layout
from scaler.traces.model import Trace
from scaler.tuning.holdout import cut as holdout_cut
from scaler.tuning.run import make_problem

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DAY_S = 86_400.0
SEED = 2
DAYS = 3
TRAIN_DAYS = 2
STARTUPS_S = (60.0, 240.0)
LEAD_S = 180.0
STEP_S = 15.0
RATE_WINDOW_S = 30.0
MIN_CORRELATION = 0.3
GROUP_S = 120.0
GRACE_S = 60.0
"""The policy's default ``indicatorGraceSeconds``: late starters' fate settles after it."""
LEGACY_COMMIT = "c2e0c26"
STALE = "not judged (ran at an older commit than the baseline; re-run)"
"""Where rows written before rows named their commit were produced."""

WARM = "lead 3 min, a day of history"
RULE = "lead 3 min, scale-up rule for indicators"
WARM_RULE = "lead 3 min, a day of history, scale-up rule for indicators"
GHOSTS = "lead 3 min, 30 % never send"
NOISE = "pure-noise indicator"
RULE_SUFFIX = ", scale-up rule for indicators"
GHOSTS_RULE = GHOSTS + RULE_SUFFIX
NOISE_RULE = NOISE + RULE_SUFFIX
HEADLINE = ("lead 3 min", WARM, RULE, WARM_RULE)
"""Scenarios the issue's absolute targets apply to."""

TARGET_REQUESTS = 0.999
TARGET_WINDOWS = 0.998
TARGET_OVER_ORACLE = 1.2
NO_WORSE_GPU = 1.02
NOISE_GPU = 0.05


# ---------------------------------------------------------------------------- traces


def ligo(lead_s: float = LEAD_S, ghosts: float = 0.0) -> Trace:
    params = LigoParams(
        seed=SEED,
        days=DAYS,
        indicators=True,
        indicator_lead_s=lead_s,
        indicator_ghost_fraction=ghosts,
    )
    return generate_ligo(params)


def pure_noise(trace: Trace, seed: int = 7) -> Trace:
    """The same requests with every indicator replaced by unrelated jobs: arriving at
    random (Poisson, a mean of 16 counted) and staying an exponential 30 minutes."""
    rng = np.random.default_rng(seed)
    n = len(trace.rps)
    out = {}
    for name in trace.indicators:
        mean_stay_s = 1800.0
        arrivals = rng.poisson(16.0 / mean_stay_s * trace.step_s, n)
        starts = np.repeat(np.arange(n) * trace.step_s, arrivals)
        stops = starts + rng.exponential(mean_stay_s, starts.size)
        grid = np.arange(n) * trace.step_s
        count = np.searchsorted(np.sort(starts), grid, side="right") - np.searchsorted(
            np.sort(stops), grid, side="right"
        )
        out[name] = count.astype(np.float64)
    return dataclasses.replace(trace, name=f"{trace.name} (noise indicators)", indicators=out)


def cut(trace: Trace, first_day: int, last_day: int) -> Trace:
    """Days ``first_day``..``last_day`` (1-based, inclusive) on their own clock."""
    return holdout_cut(
        trace,
        (first_day - 1) * DAY_S,
        last_day * DAY_S,
        label=f"{trace.name} days {first_day}–{last_day}",
    )


# ---------------------------------------------------------------------------- misses


class MinuteRecorder(Accumulator):
    """The engine's accumulator, also keeping each 1-minute window's requests and those
    within the SLO (the windows ``windows_met`` judges), to say *where* a run misses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.minute_total: list[float] = []
        self.minute_within: list[float] = []
        MinuteRecorder.last = self

    last: MinuteRecorder | None = None

    def _minutes(self, counter: Any, arrivals: Any) -> None:
        super()._minutes(counter, arrivals)
        starts = np.arange(0, len(arrivals), self._per_minute)
        within = counter.within_per_step(np.full(len(arrivals), self.slo_ms))
        self.minute_total += np.add.reduceat(arrivals, starts).tolist()
        self.minute_within += np.add.reduceat(within, starts).tolist()


EPISODE_AFTER_S = 900.0
"""Seconds after an event whose misses are put down to it (a start-up and a drain)."""


def episodes() -> dict[str, tuple[float, float]]:
    """Where on the scored day (its own clock, s) each feature's misses fall: the
    campaign's start (from 5 minutes before its first job's first request, which
    covers every lead here) and end, the lock loss (its drop and its end) and each
    burst, each with :data:`EPISODE_AFTER_S` after. Earlier features win an overlap."""
    day = day_params(LigoParams(seed=SEED, days=DAYS))[DAYS - 1]
    layout = ligo_layout(day)
    first = float(layout.job_starts_s.min())
    end = float(layout.job_stops_s.min())
    loss0, loss1 = day.lock_loss_start_s, day.lock_loss_start_s + day.lock_loss_duration_s
    out = {
        "campaign start": (first - 300.0, first + EPISODE_AFTER_S),
        # and the fleet's fall after it, once the dip hold (8 start-ups) has lapsed
        "campaign end": (end - 60.0, float(layout.job_stops_s.max()) + 3 * EPISODE_AFTER_S),
        "lock loss": (loss0 - 60.0, loss1 + EPISODE_AFTER_S),
    }
    for i, b in enumerate(layout.burst_starts_s, start=1):
        out[f"burst {i}"] = (float(b) - 60.0, float(b) + day.burst_duration_s + EPISODE_AFTER_S)
    return out


def misses_by_episode(rec: MinuteRecorder) -> dict[str, dict[str, float]]:
    """Requests outside the SLO and 1-minute windows missed, per episode (``other``:
    outside all of them), from the recorder of a run."""
    total = np.asarray(rec.minute_total)
    within = np.asarray(rec.minute_within)
    missed_req = np.maximum(total - within, 0.0)
    busy = total > 0
    missed_win = busy & ~(within >= QUANTILE * total * (1 - 1e-9))
    minute_s = np.arange(total.size) * 60.0
    rest = np.ones(total.size, dtype=bool)
    out: dict[str, dict[str, float]] = {}
    for name, (t0, t1) in episodes().items():
        inside = (minute_s + 60.0 > t0) & (minute_s < t1) & rest
        rest &= ~inside
        out[name] = {
            "requests": float(missed_req[inside].sum()),
            "windows": int(missed_win[inside].sum()),
        }
    out["other"] = {
        "requests": float(missed_req[rest].sum()),
        "windows": int(missed_win[rest].sum()),
    }
    out["_total"] = {"requests": float(total.sum()), "windows": int(busy.sum())}
    return out


def first_rise_bound(startup: float) -> dict[str, Any]:
    """What a policy that orders the whole campaign's pods at the instant its
    indicator first rises would lose at the campaign's start on the scored day, at
    best (lead 3 min): the pods serve ``startup`` seconds after the first job
    appears; until then the fleet is what the oracle kept before the campaign (its
    highest need over the 5 minutes before the first request). From the first
    second the campaign needs more than that, the queue grows and, first come first
    served, every request arriving (online ones too) waits past the SLO until the
    pods serve; from then on the backlog is taken to drain at once and every later
    second to be served as the oracle would. Optimistic on purpose (no scrape lag,
    KEDA poll, HPA rate limit or drain): no policy reading this indicator does
    better, so it is the most the campaign start leaves to gain."""
    trace = cut(ligo_cached(LEAD_S), TRAIN_DAYS + 1, DAYS)
    step = trace.step_s
    jobs = trace.indicators["campaign_jobs"]
    first_req = episodes()["campaign start"][0] + 300.0
    rises = np.flatnonzero((jobs > 0) & (np.arange(jobs.size) * step > first_req - 1800.0))
    t_rise = float(rises[0]) * step
    ready_s = t_rise + startup
    base = Scenario().with_overrides(startup_s=startup)
    need = need_series(trace, base.fleet, base.slo_ms)
    i_req = round(first_req / step)
    fleet = int(need[max(0, i_req - round(300.0 / step)) : i_req].max())
    i_ready = round(ready_s / step)
    over = np.flatnonzero(need[i_req:i_ready] > fleet)
    requests = trace.rps * step
    total_windows = int(
        np.count_nonzero(np.add.reduceat(requests, np.arange(0, requests.size, round(60 / step))))
    )
    if over.size == 0:
        lost, windows, t_sat = 0.0, 0, ready_s
    else:
        i_sat = i_req + int(over[0])
        t_sat = i_sat * step
        lost = float(requests[i_sat:i_ready].sum())
        windows = int(math.floor((ready_s - 1e-9) / 60.0) - math.floor(t_sat / 60.0) + 1)
    return {
        "startup_s": startup,
        "first_rise_s": t_rise,
        "first_request_s": first_req,
        "saturated_s": t_sat,
        "pods_serve_s": ready_s,
        "fleet_before": fleet,
        "lost_requests": lost,
        "lost_windows": windows,
        "total_requests": float(requests.sum()),
        "total_windows": total_windows,
    }


CHAIN_ASKS = ("need", "twice the need", "maxReplicaCount")
"""What the chain bound's policy asks for from its first decision that sees the rise:
the oracle's peak need over the campaign start, twice that, or the ScaledObject's
``maxReplicaCount`` (the HPA's rate limits then decide alone)."""


def _span(trace: Trace, start_s: float, end_s: float) -> Trace:
    """Seconds ``start_s``..``end_s`` of ``trace`` (whole steps) on their own clock."""
    return holdout_cut(trace, start_s, end_s, label=trace.name)


def _next_at(t_s: float, period_s: float, offset_s: float = 0.0) -> float:
    """The first time ``offset_s + k × period_s`` (k ≥ 0) at or after ``t_s``."""
    return offset_s + max(0, math.ceil((t_s - offset_s) / period_s - 1e-9)) * period_s


UNLIMITED_UP = {"type": "Pods", "value": 1000, "periodSeconds": 15}
"""A scale-up policy that never binds: the chain bound's sensitivity to the HPA's
rate limit (the benchmark's ScaledObject adds the larger of 100 % and 4 pods per 15 s)."""

INDICATOR_STEP_PODS = 32
"""Pods the scale-up rule for indicator-driven scaling lets the HPA add per 15 s
(besides doubling). The LIGO campaign start asks, from a fleet of 2, for at most 24
replicas (leading-adaptive (trained), the announced load with its drain; the oracle's
peak need is 12, twice it 24): 32 lets the first sync reach all of it, while the
default rule's 4 pods per 15 s takes three syncs (2 → 6 → 12 → 24). Above 32 replicas
doubling is the larger step anyway. Still a limit: one wrong decision adds at most 32
pods (or doubles the fleet) per 15 s, within ``maxReplicaCount``."""

SCALE_UP_RULES: dict[str, list[dict[str, Any]] | None] = {
    "default": None,
    "indicators": [
        {"type": "Percent", "value": 100, "periodSeconds": 15},
        {"type": "Pods", "value": INDICATOR_STEP_PODS, "periodSeconds": 15},
    ],
    "unlimited": [UNLIMITED_UP],
}
"""``behavior.scaleUp.policies`` of the benchmark's ScaledObject by rule: ``default``
keeps :func:`recommended_scaled_object`'s (the larger of 100 % and 4 pods per 15 s),
``indicators`` is the rule recommended for indicator-driven scaling (the larger of
100 % and :data:`INDICATOR_STEP_PODS` pods per 15 s), ``unlimited`` never binds. Each
keeps the scale-up window 0 and ``selectPolicy: Max``."""

RULE_TEXT = {
    "default": "max(100 %, 4 pods) / 15 s",
    "indicators": f"max(100 %, {INDICATOR_STEP_PODS} pods) / 15 s",
    "unlimited": "1000 pods / 15 s",
}

SCENARIO_RULES = {
    RULE: "indicators",
    WARM_RULE: "indicators",
    GHOSTS_RULE: "indicators",
    NOISE_RULE: "indicators",
}
"""Scenarios whose runs (baseline included) use a scale-up rule other than the default
(and the short lead's under it, whose name depends on the start-up: :func:`scenario_rule`)."""


def scaled_object(meta: dict[str, str], rule: str = "default") -> ScaledObjectSpec:
    """The benchmark's ScaledObject (:func:`recommended_scaled_object`) with ``meta``
    and the HPA scale-up rule ``rule`` (:data:`SCALE_UP_RULES`)."""
    so = recommended_scaled_object(meta)
    policies = SCALE_UP_RULES[rule]
    if policies is None:
        return so
    spec = so.model_dump(by_alias=True)
    spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]["policies"] = policies
    return type(so).model_validate(spec)


def chain_bound(
    startup: float, ask: str = "maxReplicaCount", rule: str = "default"
) -> dict[str, Any]:
    """What a policy reacting to the campaign indicator's first sample loses at the
    campaign's start on the scored day (lead 3 min), through the actuation chain the
    simulator models with the benchmark's ScaledObject: the indicator is read at the
    first Prometheus scrape at or after its rise (``observation.scrape_offset_s`` +
    k × ``scrape_interval_s``),
    decided on at the scaler's next refresh (``scaler.refresh_offset_s`` +
    k × ``refresh_interval_s``), read by the HPA at its next sync (every
    ``hpa.sync_period_s``), which adds pods within the scale-up rule ``rule``
    (:data:`SCALE_UP_RULES`: by default the larger of 100 % and 4 pods per 15 s;
    for indicators the larger of 100 % and 32), each serving ``startup`` seconds after it is
    created. From that decision on the policy asks for ``ask`` replicas (the
    oracle's peak need over the episode, twice it, or ``maxReplicaCount``); before it
    the fleet is what the oracle kept before the campaign (its highest need from the
    episode's start to the first request), as in the first-rise bound. The
    campaign start is then replayed through the simulator's own fleet model (queue,
    drain, timeouts), and the misses counted as for a run. KEDA's poll only wakes a
    fleet at zero (not here) and service discovery only delays what Prometheus
    shows, not when a pod serves: neither delays this policy. No policy that reacts
    to the indicator does better with these timers and this rule; one that keeps a
    larger fleet before the indicator rises (not reacting to it) can. The rule
    ``unlimited`` never binds: what the HPA's rate limit costs."""
    day = cut(ligo_cached(LEAD_S), TRAIN_DAYS + 1, DAYS)
    step = day.step_s
    t0, t1 = episodes()["campaign start"]
    first_req = t0 + 300.0
    jobs = day.indicators["campaign_jobs"]
    rises = np.flatnonzero((jobs > 0) & (np.arange(jobs.size) * step > first_req - 1800.0))
    t_rise = float(rises[0]) * step
    so = scaled_object({"policy": "adaptive"}, rule)
    sc = Scenario().with_overrides(startup_s=startup).model_copy(update={"scaledObject": so})
    # A scrape at s shows the gauge of step int(s / step) (scaler.sim.observe).
    obs = sc.observation
    seen = _next_at(t_rise, obs.scrape_interval_s, obs.scrape_offset_s)
    decided = _next_at(seen, sc.scaler.refresh_interval_s, sc.scaler.refresh_offset_s)
    sync_s = sc.hpa.sync_period_s
    first_sync = _next_at(decided, sync_s)
    start = math.floor(t0 / 60.0) * 60.0
    end = math.ceil(t1 / 60.0) * 60.0
    need = need_series(day, sc.fleet, sc.slo_ms)
    fleet_before = int(need[round(start / step) : math.ceil(first_req / step)].max())
    peak = int(need[round(start / step) : round(end / step)].max())
    target = {"need": peak, "twice the need": 2 * peak, "maxReplicaCount": so.maxReplicaCount}[ask]
    hpa = Autoscaler.for_scenario(sc, fleet_before)
    ready_at: list[float] = []
    t = first_sync
    while t < end:
        before = hpa.replicas
        hpa.hpa_sync(t, float(target), 1.0, before)
        ready_at += [t + startup] * (hpa.replicas - before)
        t += sync_s
    part = _span(day, start, end)
    sink = MinuteRecorder(len(part.rps), step, sc.slo_ms, sc.fleet.timeout_ms)
    fleet = FastFleet(part, sc.fleet, fleet_before)
    fleet.sink = sink
    for r in sorted(ready_at):
        if r < end:
            fleet.add_ready(math.ceil((r - start) / step - 1e-9), 1)
    fleet.finish(sink)
    total = np.asarray(sink.minute_total)
    within = np.asarray(sink.minute_within)
    minute_s = start + np.arange(total.size) * 60.0
    inside = (minute_s + 60.0 > t0) & (minute_s < t1)
    missed = np.maximum(total - within, 0.0)[inside]
    missed_win = ((total > 0) & ~(within >= QUANTILE * total * (1 - 1e-9)))[inside]
    requests = day.rps * step
    minutes = np.add.reduceat(requests, np.arange(0, requests.size, round(60 / step)))
    serving: dict[float, int] = {}
    for n, r in enumerate(sorted(ready_at), start=fleet_before + 1):
        serving[r] = n  # the fleet serving from r on
    return {
        "startup_s": startup,
        "ask": ask,
        "ask_replicas": target,
        "hpa_rate_limit": rule != "unlimited",
        "scale_up": rule,
        "first_rise_s": t_rise,
        "seen_s": seen,
        "decided_s": decided,
        "first_sync_s": first_sync,
        "first_request_s": first_req,
        "fleet_before": fleet_before,
        "serving": sorted(serving.items())[:4],
        "lost_requests": float(missed.sum()),
        "lost_windows": int(missed_win.sum()),
        "total_requests": float(requests.sum()),
        "total_windows": int(np.count_nonzero(minutes)),
    }


# ---------------------------------------------------------------------------- training


def as_history(trace: Trace) -> list[Observation]:
    """The trace as the scaler would see it every 15 s: arrival and work rates over a
    30 s rate window, indicators at the last scrape."""
    per_bin = trace.rps * trace.step_s
    items = per_bin * trace.items
    c_req = np.concatenate(([0.0], np.cumsum(per_bin)))
    c_items = np.concatenate(([0.0], np.cumsum(items)))
    w = round(RATE_WINDOW_S / trace.step_s)
    out = []
    for t in np.arange(RATE_WINDOW_S, trace.duration_s, STEP_S):
        i = round(t / trace.step_s)
        rps = float(c_req[i] - c_req[i - w]) / RATE_WINDOW_S
        ips = float(c_items[i] - c_items[i - w]) / RATE_WINDOW_S
        out.append(
            Observation(
                time_s=float(t),
                ready_replicas=1,
                request_rate_rps=rps,
                activation_rps=rps,
                items_per_s=ips,
                indicators=tuple(float(v[i - 1]) for v in trace.indicators.values()),
            )
        )
    return out


def trained_metadata(train: Trace) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """indicator<N> keys learned on the training days (lag, load, items per request);
    an indicator without evidence gets none of them (it is then learned online)."""
    history = as_history(train)
    meta: dict[str, str] = {}
    fits = []
    for n, name in enumerate(train.indicators, start=1):
        meta[f"indicator{n}Metric"] = name
        fit = fit_indicator(
            history,
            n - 1,
            ("activation_rps", "items_per_s"),
            "activation_rps",
            step_s=STEP_S,
            max_lag_s=1800.0,
            smooth_s=60.0,
            settle_s=GRACE_S,
        )
        evidence = 0.0 if fit is None else min(fit.lag_correlation, fit.load_correlation)
        record: dict[str, Any] = {"indicator": name, "evidence": round(evidence, 3)}
        if fit is not None and evidence >= MIN_CORRELATION:
            load = fit.per_unit.get("activation_rps", 0.0)
            items = fit.per_unit.get("items_per_s", 0.0) / load if load > 0 else math.nan
            if load > 0 and math.isfinite(items) and items > 0:
                meta[f"indicator{n}LoadPerUnit"] = f"{load:.4g}"
                meta[f"indicator{n}LeadSeconds"] = f"{fit.lag_s:g}"
                meta[f"indicator{n}ItemsPerRequest"] = f"{items:.4g}"
                meta[f"indicator{n}RealisedFraction"] = f"{fit.realised:.3g}"
                record |= {
                    "load_per_unit": load,
                    "lead_s": fit.lag_s,
                    "items_per_request": items,
                    "realised": fit.realised,
                }
                values = [o.indicator(n - 1) for o in history]
                size = typical_group(groups([o.time_s for o in history], values, GROUP_S))
                if size is not None:
                    meta[f"indicator{n}GroupSize"] = f"{size:g}"
                    record["group_size"] = size
        fits.append(record)
    return meta, fits


# ---------------------------------------------------------------------------- runs


def _held_from(start_s: float) -> Any:
    """:func:`scaler.sim.scores.gpu_seconds` counting only what is held from
    ``start_s`` on (> 0): the scored day's GPU-seconds of a run that began a day
    earlier."""

    def gpu_seconds(pods: list[Any]) -> float:
        return float(sum(max(p.released_s - max(p.created_s, start_s), 0.0) for p in pods))

    return gpu_seconds


def run_one(job: tuple[str, str, float, Trace, dict[str, str]]) -> dict[str, Any]:
    """One variant on one trace. A trace of more than one day (the warm scenario) is
    scored on its last day only: requests and windows from that day's minutes, GPU-hours
    from what is held within it; the worst 5-minute p99 then covers the whole run.
    The ScaledObject's scale-up rule is the scenario's (:func:`scenario_rule`)."""
    scenario_name, variant, startup, test, meta = job
    rule = scenario_rule(scenario_name)
    base = Scenario().with_overrides(startup_s=startup)
    sc = base.model_copy(update={"scaledObject": scaled_object(meta, rule)})
    initial = make_problem([test], base, warm_start_s=startup).initial_replicas[0]
    scored_from = test.duration_s - DAY_S
    t0 = time.monotonic()
    with contextlib.ExitStack() as patches:
        patches.enter_context(mock.patch.object(engine, "Accumulator", MinuteRecorder))
        if scored_from > 0:
            held = _held_from(scored_from)
            patches.enter_context(mock.patch.object(scores_module, "gpu_seconds", held))
        r = simulate(test, sc, name=variant, initial_replicas=initial)
    rec = MinuteRecorder.last
    assert rec is not None
    s = r.scores
    slo, windows = s.slo_attainment, s.windows_met
    if scored_from > 0:
        first = round(scored_from / 60.0)
        rec.minute_total = rec.minute_total[first:]
        rec.minute_within = rec.minute_within[first:]
        total = np.asarray(rec.minute_total)
        within = np.asarray(rec.minute_within)
        busy = total > 0
        slo = float(within.sum() / total.sum())
        windows = float((busy & (within >= QUANTILE * total * (1 - 1e-9))).sum() / busy.sum())
    return {
        "scenario": scenario_name,
        "variant": variant,
        "startup_s": startup,
        "metadata": meta,
        "gpu_hours": round(s.gpu_hours, 4),
        "slo_attainment": round(slo, 6),
        "windows_met": round(windows, 6),
        "worst_window_p99_ms": round(s.worst_window_p99_ms, 1),
        "scale_events_per_hour": round(s.scale_events_per_hour, 2),
        "misses": misses_by_episode(rec),
        "scale_up": rule,
        "seconds": round(time.monotonic() - t0, 1),
    }


@functools.cache
def ligo_cached(lead_s: float, ghosts: float = 0.0) -> Trace:
    return ligo(lead_s, ghosts)


SCENARIOS = (
    "lead",
    "short",
    "ghosts",
    "noise",
    "warm",
    "rule",
    "warm-rule",
    "short-rule",
    "ghosts-rule",
    "noise-rule",
)
"""Scenario keys (``--scenarios``): lead 3 min; lead half the start-up; 30 % never send;
pure-noise indicator; lead 3 min with a day of history before the scored day; then
``rule``, ``warm-rule``, ``short-rule``, ``ghosts-rule`` and ``noise-rule``: ``lead``,
``warm``, ``short``, ``ghosts`` and ``noise`` with the scale-up rule for indicators
(:data:`SCALE_UP_RULES`), each judged against its own ``adaptive`` run under that rule."""

OWN_BASELINE = ("lead", "warm", "rule", "warm-rule", "short-rule", "ghosts-rule", "noise-rule")
"""Scenario keys that run their own ``adaptive`` baseline (``lead``'s is the start-up's)."""


def scenario_rule(name: str) -> str:
    """The HPA scale-up rule (:data:`SCALE_UP_RULES`) a scenario's runs use, by its name."""
    return "indicators" if name.endswith(RULE_SUFFIX) else "default"


def scenario_name(key: str, startup: float) -> str:
    return {
        "lead": "lead 3 min",
        "short": f"lead {startup / 2:g} s (shorter than start-up)",
        "ghosts": GHOSTS,
        "noise": NOISE,
        "warm": WARM,
        "rule": RULE,
        "warm-rule": WARM_RULE,
        "short-rule": f"lead {startup / 2:g} s (shorter than start-up){RULE_SUFFIX}",
        "ghosts-rule": GHOSTS_RULE,
        "noise-rule": NOISE_RULE,
    }[key]


def scenario_trace(key: str, startup: float) -> Trace:
    key = key.removesuffix("-rule") if key != "warm-rule" else key
    if key == "short":
        return ligo_cached(startup / 2)
    if key == "ghosts":
        return ligo_cached(LEAD_S, 0.3)
    if key == "noise":
        return pure_noise(ligo_cached(LEAD_S))
    return ligo_cached(LEAD_S)  # lead, warm, rule, warm-rule


def oracle_gpu_hours(startup: float) -> float:
    test = cut(ligo_cached(LEAD_S), TRAIN_DAYS + 1, DAYS)
    base = Scenario().with_overrides(startup_s=startup)
    return compute_oracle(test, base.fleet, base.slo_ms, startup).gpu_hours


def jobs_for(startup: float, keys: tuple[str, ...] = SCENARIOS) -> list[Any]:
    """Runs of one start-up: the baseline, then per scenario ``leading-adaptive``
    trained; learned online only on the headline scenarios with the default rule and
    after a day of history with the rule for indicators (on the others, with a
    single test day, online learning starts only after the day's one campaign). The
    scenarios with the rule for indicators run their own baseline (the same
    ScaledObject for both)."""
    jobs: list[Any] = []
    plain = {"policy": "adaptive"}
    for key in keys:
        name, trace = scenario_name(key, startup), scenario_trace(key, startup)
        test = cut(trace, TRAIN_DAYS + 1, DAYS)
        if key in ("warm", "warm-rule"):
            # Training on days 1-2 as the other scenarios; the run starts at day 2.
            test = cut(trace, TRAIN_DAYS, DAYS)
        trained, _ = trained_metadata(cut(trace, 1, TRAIN_DAYS))
        if key in OWN_BASELINE:
            jobs.append((name, "adaptive", startup, test, plain))
        given = trained | {"indicatorProvisionSeconds": f"{provision_s(startup):g}"}
        jobs.append((name, "leading-adaptive (trained)", startup, test, given | _policy()))
        if key in ("lead", "warm", "warm-rule"):
            online = {k: v for k, v in trained.items() if k.endswith("Metric")}
            jobs.append((name, "leading-adaptive (online)", startup, test, online | _policy()))
    return jobs


def provision_s(startup: float) -> float:
    """``indicatorProvisionSeconds`` of the trained variant: what the site knows of
    its own chain, the pods' start-up plus the HPA's sync period, the scaler's
    refresh and a scrape (the longest each adds). The online variant is given
    nothing and takes ``adaptive``'s ``leadTimeSeconds`` (240 s)."""
    sc = Scenario()
    return (
        startup
        + sc.hpa.sync_period_s
        + sc.scaler.refresh_interval_s
        + sc.observation.scrape_interval_s
    )


def timeline(startup: float, drain: bool = True, rule: str = "default") -> list[str]:
    """The scored day's campaign start (lead 3 min) as ``leading-adaptive`` (trained)
    meets it, every 5 s from the first job to the queue's end: jobs counted, the
    HPA's replica count, replicas serving, arrivals and the queue (the fleet's), and
    the decisions' value; ``drain`` False runs it without ``indicatorProvisionSeconds``
    (adaptive's 240 s leadTimeSeconds: no drain at this lead); ``rule`` the HPA's
    scale-up rule (:data:`SCALE_UP_RULES`). Markdown table rows."""
    from scaler.sim import fleet as fleet_module
    from scaler.sim import hpa as hpa_module
    from scaler.sim.scaler_model import ScalerModel

    trace = ligo_cached(LEAD_S)
    test = cut(trace, TRAIN_DAYS + 1, DAYS)
    meta = trained_metadata(cut(trace, 1, TRAIN_DAYS))[0] | _policy()
    if drain:
        meta |= {"indicatorProvisionSeconds": f"{provision_s(startup):g}"}
    t0 = episodes()["campaign start"][0] - 60.0
    t1 = t0 + 600.0
    values: dict[float, float] = {}
    asked: dict[float, int] = {}
    steps: dict[int, tuple[float, float, float]] = {}
    decide, set_, hand_over = (
        ScalerModel.decide,
        hpa_module.Autoscaler._set,
        fleet_module.FastFleet._hand_over,
    )

    def on_decide(self: Any, now: float, obs: Any) -> Any:
        d = decide(self, now, obs)
        if t0 <= now <= t1:
            values[now] = d.value
        return d

    def on_set(self: Any, now: float, replicas: int) -> None:
        if t0 <= now <= t1:
            asked[now] = replicas
        set_(self, now, replicas)

    def on_hand_over(self: Any, upto: int) -> None:
        o = self.outputs
        for k in range(max(self.handed, int(t0)), min(upto, int(t1))):
            i = k - self.base
            steps[k] = (float(o.arrivals[i]), float(o.pending[i]), float(o.ready[i]))
        hand_over(self, upto)

    base = Scenario().with_overrides(startup_s=startup)
    sc = base.model_copy(update={"scaledObject": scaled_object(meta, rule)})
    initial = make_problem([test], base, warm_start_s=startup).initial_replicas[0]
    with contextlib.ExitStack() as patches:
        patches.enter_context(mock.patch.object(ScalerModel, "decide", on_decide))
        patches.enter_context(mock.patch.object(hpa_module.Autoscaler, "_set", on_set))
        patches.enter_context(mock.patch.object(fleet_module.FastFleet, "_hand_over", on_hand_over))
        simulate(test, sc, name="timeline", initial_replicas=initial)
    jobs = test.indicators["campaign_jobs"]
    out = [
        "| time | jobs counted | decision | HPA | serving | arrivals (req/s) | queue (requests) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rise = chain_bound(startup, rule=rule)["first_rise_s"]
    last, was_queued = "", False
    for k in range(round(rise), int(t1)):
        if k not in steps:
            continue
        arrivals, queue, ready = steps[k]
        done = [v for t, v in values.items() if t <= k]
        orders = [n for t, n in asked.items() if t <= k]
        row = (
            f"{jobs[round(k / test.step_s)]:g} | {done[-1] if done else math.nan:.2f} | "
            f"{orders[-1] if orders else initial} | {ready:g} | "
        )
        # A row when jobs, decision, HPA or serving change, every 5 s while queued,
        # and the first second the queue is gone.
        queued = queue >= 10
        if row != last or (queued and (k - round(rise)) % 5 == 0) or (was_queued and not queued):
            out.append(f"| {_clock(k)} | {row}{arrivals / test.step_s:,.0f} | {queue:,.0f} |")
        if was_queued and not queued:
            break
        last, was_queued = row, queued
    return out


def _policy() -> dict[str, str]:
    return {"policy": "leading-adaptive"}


def verdicts(rows: list[dict[str, Any]], oracle: float) -> list[dict[str, Any]]:
    """Per row: the target that applies to its scenario, met or by how much missed."""
    base = next(r for r in rows if r["variant"] == "adaptive")
    out = []
    for r in rows:
        if r["variant"] == "adaptive":
            r["x_oracle"] = round(r["gpu_hours"] / oracle, 4)
            out.append(r | {"target": "baseline"})
            continue
        r["x_oracle"] = round(r["gpu_hours"] / oracle, 4)
        r["vs_adaptive_gpu"] = round(r["gpu_hours"] / base["gpu_hours"] - 1, 4)
        if r.get("commit") != base.get("commit"):
            # Ran against an older adaptive than this baseline: not comparable.
            out.append(r | {"target": {STALE: False}, "met": False})
            continue
        if r["scenario"] in HEADLINE:
            checks = {
                "requests ≥ 99.9 %": r["slo_attainment"] >= TARGET_REQUESTS,
                "windows ≥ 99.8 %": r["windows_met"] >= TARGET_WINDOWS,
                "≤ 1.2 × oracle": r["x_oracle"] <= TARGET_OVER_ORACLE,
            }
        elif r["scenario"] in (NOISE, NOISE_RULE):
            checks = {"GPU-h within 5 % of adaptive": abs(r["vs_adaptive_gpu"]) <= NOISE_GPU}
        else:
            checks = {
                "requests ≥ adaptive": r["slo_attainment"] >= base["slo_attainment"],
                "windows ≥ adaptive": r["windows_met"] >= base["windows_met"],
                "GPU-h ≤ 1.02 × adaptive": r["gpu_hours"] <= base["gpu_hours"] * NO_WORSE_GPU,
            }
        out.append(r | {"target": checks, "met": all(checks.values())})
    return out


# ---------------------------------------------------------------------------- report


def pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def markdown(doc: dict[str, Any]) -> str:
    out = [
        "# Leading indicators (issue 14): leading-adaptive vs adaptive, LIGO test days",
        "",
        f"Trace `scaler trace ligo --seed {SEED} --days {DAYS} --indicators`; days 1–"
        f"{TRAIN_DAYS} train, day {DAYS} scored. "
        "Generated by `bench/indicator_quality.py`; targets and variants in its docstring. "
        f"Rows ran at commit(s) {', '.join(doc.get('commits', []))} (column `at`); the "
        "analysis of the misses is in [docs/indicators.md](../../docs/indicators.md).",
        "",
        "## Headline",
        "",
        *doc.get("headline_md", []),
        "",
    ]
    for case in doc["cases"]:
        out += [
            f"## Start-up {case['startup_s']:g} s (oracle {case['oracle_gpu_hours']:.2f} GPU-h)",
            "",
            "| scenario | policy | GPU-h | × oracle | vs adaptive | requests in SLO "
            "| 1-min windows in SLO | worst 5-min p99 | target | at |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for r in case["rows"]:
            vs = "" if "vs_adaptive_gpu" not in r else f"{r['vs_adaptive_gpu'] * 100:+.1f} %"
            if r["target"] == "baseline":
                target = "baseline"
            else:
                target = ", ".join(
                    k if k == STALE else f"{k} {'yes' if ok else '**no**'}"
                    for k, ok in r["target"].items()
                )
            out.append(
                f"| {r['scenario']} | {r['variant']} | {r['gpu_hours']:.2f} | "
                f"{r['x_oracle']:.3f} | {vs} | {pct(r['slo_attainment'])} | "
                f"{pct(r['windows_met'])} | {r['worst_window_p99_ms']:.0f} ms | {target} "
                f"| {r.get('commit', '')} |"
            )
        out.append("")
        out += misses_md(case)
    out += bound_md(doc.get("bounds", []))
    out += chain_md(doc.get("chain_bounds", []))
    out += ["## What was learned on the training days", ""]
    for name, fits in doc["trained"].items():
        for f in fits:
            got = (
                f"lead {f['lead_s']:g} s, {f['load_per_unit']:.3g} req/s per job, "
                f"{f['items_per_request']:.3g} items per request, "
                f"groups of {f.get('group_size', 0):g} jobs, "
                f"{f.get('realised', 1.0):.0%} of counted jobs send"
                if "lead_s" in f
                else "no evidence: left to online learning"
            )
            out.append(f"- {name}, {f['indicator']} (evidence r = {f['evidence']}): {got}")
    return "\n".join(out) + "\n"


EPISODE_COLUMNS = ("campaign start", "campaign end", "lock loss", "bursts", "other")


def _episode(misses: dict[str, dict[str, float]], column: str) -> dict[str, float]:
    names = [k for k in misses if k.startswith("burst")] if column == "bursts" else [column]
    return {
        what: sum(misses.get(n, {}).get(what, 0.0) for n in names)
        for what in ("requests", "windows")
    }


def misses_md(case: dict[str, Any]) -> list[str]:
    """Per run of one start-up: requests outside the SLO (share of the day's) and
    1-minute windows missed, by the feature of the day they fall in."""
    rows = [r for r in case["rows"] if "misses" in r]
    if not rows:
        return []
    out = [
        f"Where the misses are (start-up {case['startup_s']:g} s; requests outside the SLO, "
        "% of the day's, and missed 1-minute windows; episodes: from 5 min before the "
        "campaign's first request to 15 min after, from its end to 45 min after, the lock "
        "loss to 15 min after its end, each burst to 15 min after):",
        "",
        "| scenario | policy | " + " | ".join(EPISODE_COLUMNS) + " |",
        "|---|---|" + "---:|" * len(EPISODE_COLUMNS),
    ]
    for r in rows:
        total = r["misses"]["_total"]["requests"] or 1.0
        cells = []
        for col in EPISODE_COLUMNS:
            e = _episode(r["misses"], col)
            cells.append(f"{e['requests'] / total * 100:.3f} % ({e['windows']:.0f})")
        out.append(f"| {r['scenario']} | {r['variant']} | " + " | ".join(cells) + " |")
    return [*out, ""]


def bound_lines(bounds: list[dict[str, Any]], cases: list[dict[str, Any]]) -> list[str]:
    """Per start-up: what ordering the campaign at the indicator's first rise can do
    at best (:func:`first_rise_bound`), against the trained run's campaign start."""
    out = []
    for b in bounds:
        lost_share = b["lost_requests"] / b["total_requests"]
        row = next(
            (
                r
                for c in cases
                if c["startup_s"] == b["startup_s"]
                for r in c["rows"]
                if r["scenario"] == "lead 3 min"
                and r["variant"] == "leading-adaptive (trained)"
                and "misses" in r
            ),
            None,
        )
        line = (
            f"- {b['startup_s']:g} s, bound for a policy ordering the campaign's pods at the "
            f"indicator's first rise ({_clock(b['first_rise_s'])}; first request "
            f"{_clock(b['first_request_s'])}, pods serving {_clock(b['pods_serve_s'])} at "
            f"best): {lost_share * 100:.3f} % of the day's requests and {b['lost_windows']} "
            "1-minute window(s) lost at the campaign start, so at most "
            f"{pct(1 - lost_share)} of requests and "
            f"{pct(1 - b['lost_windows'] / b['total_windows'])} of windows with nothing else missed"
        )
        if row is not None:
            m = row["misses"]
            total = m["_total"]
            start = m["campaign start"]
            rest_req = sum(
                v["requests"] for k, v in m.items() if k not in ("_total", "campaign start")
            )
            rest_win = sum(
                v["windows"] for k, v in m.items() if k not in ("_total", "campaign start")
            )
            line += (
                "; leading-adaptive (trained) loses "
                f"{start['requests'] / total['requests'] * 100:.3f} % "
                f"and {start['windows']:.0f} window(s) there, and "
                f"{rest_req / total['requests'] * 100:.3f} % and {rest_win:.0f} elsewhere; "
                "with the bound at the campaign start and its other misses as they are: "
                f"{pct(1 - (b['lost_requests'] + rest_req) / total['requests'])} of requests, "
                f"{pct(1 - (b['lost_windows'] + rest_win) / total['windows'])} of windows"
            )
        out.append(line)
    return out


def _campaign_start(cases: list[dict[str, Any]], startup: float, scenario: str) -> list[Any]:
    """(variant, share of the day's requests and windows lost at the campaign start,
    attainment) of each leading variant of ``scenario`` at ``startup``."""
    out = []
    for c in cases:
        if c["startup_s"] != startup:
            continue
        for r in c["rows"]:
            if r["scenario"] != scenario or "misses" not in r or r["variant"] == "adaptive":
                continue
            m = r["misses"]
            out.append(
                (
                    r["variant"],
                    m["campaign start"]["requests"] / m["_total"]["requests"],
                    m["campaign start"]["windows"],
                    r["slo_attainment"],
                )
            )
    return out


def _rule(b: dict[str, Any]) -> str:
    """The scale-up rule a chain bound or a row ran with (records written before
    rules had names: ``hpa_rate_limit`` False was ``unlimited``)."""
    return str(b.get("scale_up", "default" if b.get("hpa_rate_limit", True) else "unlimited"))


RULE_SCENARIOS = {"default": ("lead 3 min", WARM), "indicators": (RULE, WARM_RULE)}
"""The headline scenarios (cold, after a day of history) run with each scale-up rule."""


def chain_lines(chains: list[dict[str, Any]], cases: list[dict[str, Any]]) -> list[str]:
    """Per start-up and scale-up rule the rows ran with: the chain bound
    (:func:`chain_bound`, the largest ask) against the leading variants' campaign
    start, and whether 99.9 % is within reach."""
    out = []
    for b in chains:
        rule = _rule(b)
        if b["ask"] != CHAIN_ASKS[-1] or rule not in RULE_SCENARIOS:
            continue
        share = b["lost_requests"] / b["total_requests"]
        reach = "reachable" if 1 - share >= TARGET_REQUESTS else "**not reachable**"
        cold, warm = RULE_SCENARIOS[rule]
        ours = "; ".join(
            f"{v} loses {lost * 100:.3f} % and {win:.0f} window(s) there ({pct(att)} overall)"
            for v, lost, win, att in _campaign_start(cases, b["startup_s"], cold)
            + [
                (f"{v}{WARM_MARK}", lost, win, att)
                for v, lost, win, att in _campaign_start(cases, b["startup_s"], warm)
            ]
        )
        out.append(
            f"- {b['startup_s']:g} s, HPA scale-up {RULE_TEXT[rule]}, "
            "bound through the actuation chain for a policy reacting "
            f"to the indicator's first sample (seen {_clock(b['seen_s'])}, decided "
            f"{_clock(b['decided_s'])}, first HPA sync {_clock(b['first_sync_s'])}, asking "
            f"{b['ask_replicas']}): {share * 100:.3f} % of the day's requests and "
            f"{b['lost_windows']} window(s) lost at the campaign start, so at most "
            f"{pct(1 - share)} of requests: ≥ 99.9 % {reach} by reacting to the indicator; " + ours
        )
    return out


def chain_md(chains: list[dict[str, Any]]) -> list[str]:
    if not chains:
        return []
    doc = (chain_bound.__doc__ or "").replace("\n    ", " ").strip()
    return [
        "## Campaign start through the actuation chain",
        "",
        doc.replace("``", "`"),
        "",
        "| start-up | first rise | scrape sees it | decision | first HPA sync | asks "
        "| fleet serving (from) | requests lost | windows lost | at most |",
        "|---:|---|---|---|---|---:|---|---:|---:|---:|",
        *(
            f"| {b['startup_s']:g} s | {_clock(b['first_rise_s'])} | {_clock(b['seen_s'])} | "
            f"{_clock(b['decided_s'])} | {_clock(b['first_sync_s'])} | "
            f"{b['ask_replicas']} ({b['ask']}; scale-up {RULE_TEXT[_rule(b)]}) | "
            + ", ".join(f"{n} ({_clock(t)})" for t, n in b["serving"])
            + f" | {b['lost_requests']:,.0f} "
            f"({b['lost_requests'] / b['total_requests'] * 100:.3f} %) | {b['lost_windows']} "
            f"| {pct(1 - b['lost_requests'] / b['total_requests'])} |"
            for b in chains
        ),
        "",
    ]


def _clock(t_s: float) -> str:
    t = round(t_s)
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"


def bound_md(bounds: list[dict[str, Any]]) -> list[str]:
    if not bounds:
        return []
    return [
        "## Campaign start: the most a first-rise policy can do",
        "",
        (first_rise_bound.__doc__ or "").split("\n\n")[0].replace("\n    ", " ").strip(),
        "",
        "| start-up | first rise | first request | queue grows | pods serve (best) "
        "| fleet before | requests lost | windows lost |",
        "|---:|---|---|---|---|---:|---:|---:|",
        *(
            f"| {b['startup_s']:g} s | {_clock(b['first_rise_s'])} | "
            f"{_clock(b['first_request_s'])} | {_clock(b['saturated_s'])} | "
            f"{_clock(b['pods_serve_s'])} | {b['fleet_before']} | "
            f"{b['lost_requests']:,.0f} ({b['lost_requests'] / b['total_requests'] * 100:.3f} %) "
            f"| {b['lost_windows']} |"
            for b in bounds
        ),
        "",
    ]


def build_cases(rows: list[dict[str, Any]], oracles: dict[float, float]) -> list[dict[str, Any]]:
    """Rows grouped by start-up, each judged against that start-up's ``adaptive`` row."""
    cases = []
    for startup in sorted(oracles):
        mine = [r for r in rows if r["startup_s"] == startup]
        base = next((r for r in mine if r["variant"] == "adaptive"), None)
        if base is None:
            continue
        by_scenario: list[dict[str, Any]] = []
        for scenario in dict.fromkeys(r["scenario"] for r in mine):
            # A scenario with its own adaptive run (the warm one) is judged against it.
            own = next(
                (r for r in mine if r["scenario"] == scenario and r["variant"] == "adaptive"),
                base,
            )
            group = [own] + [
                r for r in mine if r["scenario"] == scenario and r["variant"] != "adaptive"
            ]
            checked = verdicts(group, oracles[startup])
            by_scenario += [r for r in checked if r["variant"] != "adaptive" or own is not base]
        cases.append(
            {
                "startup_s": startup,
                "oracle_gpu_hours": round(oracles[startup], 4),
                "rows": [verdicts([base], oracles[startup])[0], *by_scenario],
            }
        )
    return cases


def headline(cases: list[dict[str, Any]]) -> list[str]:
    """The issue's headline rows (lead 3 min) and a line per other target, for
    ``bench/results/policy_quality.md`` (which includes them)."""
    out = [
        f"LIGO `--seed {SEED} --days {DAYS} --indicators`, day {DAYS} scored; indicator "
        "leading by 3 min; target ≥ 99.9 % requests, ≥ 99.8 % 1-min windows, ≤ 1.2× oracle. "
        "Column *HPA scale-up*: the ScaledObject's `behavior.scaleUp` each row ran with, "
        f"baseline and leading variants alike: {RULE_TEXT['default']}, the benchmark's "
        "recommended ScaledObject (Kubernetes's default rule), or "
        f"{RULE_TEXT['indicators']}, the rule recommended for indicator-driven scaling "
        "(docs/indicators.md); each judged against the `adaptive` row with the same rule.",
        "",
        "| start-up | HPA scale-up | policy | GPU-h (× oracle) | requests | 1-min windows "
        "| targets |",
        "|---:|---|---|---:|---:|---:|---|",
    ]
    for c in cases:
        for r in c["rows"]:
            if r["scenario"] not in HEADLINE:
                continue
            if r["target"] == "baseline":
                met = "baseline"
            elif STALE in r["target"]:
                met = f"not judged (ran at {r.get('commit', '?')}, before the baseline)"
            else:
                met = _yes(r["met"])
            warm = r["scenario"] in (WARM, WARM_RULE)
            rule = RULE_TEXT[scenario_rule(r["scenario"])]
            out.append(
                f"| {c['startup_s']:g} s | {rule} "
                f"| {r['variant']}{WARM_MARK * warm} "
                f"| {r['gpu_hours']:.2f} "
                f"({r['x_oracle']:.2f}×) | {pct(r['slo_attainment'])} "
                f"| {pct(r['windows_met'])} | {met} |"
            )
    out.append("")
    for c in cases:
        for r in c["rows"]:
            if r["scenario"] in HEADLINE or r["target"] == "baseline":
                continue
            checks = ", ".join(
                k if k == STALE else f"{k} {_yes(ok)}" for k, ok in r["target"].items()
            )
            base = _baseline(c, r["scenario"])
            out.append(
                f"- {c['startup_s']:g} s, {r['scenario']}, {r['variant']}: {checks} "
                f"({r['gpu_hours']:.2f} GPU-h, {pct(r['slo_attainment'])}, "
                f"{pct(r['windows_met'])}; adaptive {base['gpu_hours']:.2f} GPU-h, "
                f"{pct(base['slo_attainment'])}, {pct(base['windows_met'])}, "
                f"{RULE_TEXT[scenario_rule(base['scenario'])]})"
            )
    return out


WARM_MARK = ", after a day of history"


def _baseline(case: dict[str, Any], scenario: str) -> dict[str, Any]:
    """The ``adaptive`` row a scenario's rows are judged against: its own run (the
    scenarios with the scale-up rule for indicators, the warm ones) or the start-up's."""
    rows = case["rows"]
    own = (r for r in rows if r["scenario"] == scenario and r["variant"] == "adaptive")
    return next(own, rows[0])


def _yes(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _old_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    keep = ("target", "met", "x_oracle", "vs_adaptive_gpu")
    for c in doc["cases"]:
        for r in c["rows"]:
            r.setdefault("commit", LEGACY_COMMIT)
    # Online learning now runs on the headline scenarios only.
    doc["cases"] = [
        c
        | {
            "rows": [
                r for r in c["rows"] if "online" not in r["variant"] or r["scenario"] in HEADLINE
            ]
        }
        for c in doc["cases"]
    ]
    return [{k: v for k, v in r.items() if k not in keep} for c in doc["cases"] for r in c["rows"]]


POLICY_HEADING = "## Leading indicators (issue 14)"


def policy_md(path: Path) -> None:
    """Rewrite the indicator section of ``policy_quality.md`` (from its heading to the
    next one) with what ``bench/policy_quality.py`` itself puts there
    (``indicator_section``, from this bench's json), so that file says what these
    results say without re-running the policy benchmark."""
    if not path.exists():
        return
    spec = importlib.util.spec_from_file_location(
        "policy_quality", REPO / "bench" / "policy_quality.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    lines = path.read_text().split("\n")
    try:
        start = lines.index(POLICY_HEADING)
    except ValueError:
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    section = module.indicator_section(RESULTS)
    # indicator_section starts with a blank line and the heading; keep one blank before the next
    new = lines[: start - 1] + section + [""] + lines[end:]
    path.write_text("\n".join(new))


def policy_json(path: Path, cases: list[dict[str, Any]], commits: list[str]) -> None:
    """Write the indicator rows under the ``indicators`` key of ``policy_quality.json``
    (read-modify-write: every other key stays as it is), as :func:`policy_md` writes
    them into the md: the headline rows (with their baselines) and the targets they
    are judged by, then every other scenario's verdict. Nothing if the file is absent
    (the policy benchmark has not run)."""
    if not path.exists():
        return
    doc = json.loads(path.read_text())
    keep = (
        "scenario",
        "variant",
        "gpu_hours",
        "x_oracle",
        "vs_adaptive_gpu",
        "slo_attainment",
        "windows_met",
        "target",
        "met",
        "commit",
    )

    def row(c: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
        rule = scenario_rule(r["scenario"])
        return {"startup_s": c["startup_s"], "scale_up": rule, "scale_up_rule": RULE_TEXT[rule]} | {
            k: r[k] for k in keep if k in r
        }

    doc["indicators"] = {
        "bench": "bench/indicator_quality.py",
        "results": "bench/results/indicator_quality.json",
        "trace": f"scaler trace ligo --seed {SEED} --days {DAYS} --indicators",
        "scored": f"day {DAYS} (days 1-{TRAIN_DAYS} train)",
        "commits": commits,
        "targets": {
            "headline": {
                "scenarios": list(HEADLINE),
                "requests_min": TARGET_REQUESTS,
                "windows_min": TARGET_WINDOWS,
                "x_oracle_max": TARGET_OVER_ORACLE,
            },
            "pure_noise": {"scenarios": [NOISE, NOISE_RULE], "gpu_off_adaptive_max": NOISE_GPU},
            "others": {
                "requests_min": "adaptive's (same scale-up rule)",
                "windows_min": "adaptive's (same scale-up rule)",
                "gpu_x_adaptive_max": NO_WORSE_GPU,
            },
        },
        "oracle_gpu_hours": {f"{c['startup_s']:g}": c["oracle_gpu_hours"] for c in cases},
        "rows": [row(c, r) for c in cases for r in c["rows"] if r["scenario"] in HEADLINE],
        "other_rows": [
            row(c, r) for c in cases for r in c["rows"] if r["scenario"] not in HEADLINE
        ],
        "all_targets_met": all(r.get("met", True) for c in cases for r in c["rows"]),
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--startup", type=float, nargs="+", default=list(STARTUPS_S))
    ap.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    ap.add_argument("--workers", type=int, default=2, help="1: no process pool")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of the existing results that this run does not redo "
        "(each row names the commit it ran at)",
    )
    ap.add_argument(
        "--render", action="store_true", help="run nothing: rewrite the md from the JSON's rows"
    )
    ap.add_argument(
        "--timeline",
        type=float,
        metavar="STARTUP_S",
        help="run nothing else: print the campaign start of leading-adaptive (trained) "
        "at this start-up, with and without the drain (docs/indicators.md)",
    )
    ap.add_argument(
        "--rule",
        choices=list(SCALE_UP_RULES),
        default="default",
        help="the HPA scale-up rule of --timeline's ScaledObject",
    )
    args = ap.parse_args(argv)
    if args.timeline is not None:
        for drain in (False, True):
            print(f"\n{'with' if drain else 'without'} the drain\n")
            print("\n".join(timeline(args.timeline, drain, args.rule)))
        return
    t0 = time.monotonic()
    commit = code_commit()
    rows: list[dict[str, Any]] = []
    if not args.render:
        keys = tuple(args.scenarios)
        all_jobs = [j for startup in args.startup for j in jobs_for(startup, keys)]
        if args.workers > 1:
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                done_rows = list(pool.map(run_one, all_jobs))
        else:  # in this process: several runs side by side, each with its --merge
            done_rows = [run_one(j) for j in all_jobs]
        rows = [r | {"commit": commit} for r in done_rows]
    json_path = RESULTS / "indicator_quality.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (Path(tempfile.gettempdir()) / "indicator_quality.lock").open("w") as lock:
        # Runs side by side (--workers 1 --merge) merge one at a time.
        fcntl.flock(lock, fcntl.LOCK_EX)
        _write(args, rows, json_path, t0)


def _write(
    args: argparse.Namespace, rows: list[dict[str, Any]], json_path: Path, t0: float
) -> None:
    """Merge ``rows`` with the results on disk (``--merge``), judge them, write json and md."""
    previous = json.loads(json_path.read_text()) if json_path.exists() else {}
    # ``seconds`` is the wall time of the last run that produced rows (a render runs
    # nothing and keeps it); ``runs`` lists every run whose rows are kept (--merge).
    runs: list[dict[str, Any]] = previous.get("runs", []) if args.merge or args.render else []
    if not args.render:
        runs = [
            *runs,
            {
                "commit": rows[0]["commit"] if rows else "unknown",
                "scenarios": list(args.scenarios),
                "startups_s": list(args.startup),
                "workers": args.workers,
                "seconds": round(time.monotonic() - t0, 1),
            },
        ]
    seconds = runs[-1]["seconds"] if runs else previous.get("seconds")
    if args.merge or args.render:
        done = {(r["scenario"], r["variant"], r["startup_s"]) for r in rows}
        old = _old_rows(json_path)
        rows = [r for r in old if (r["scenario"], r["variant"], r["startup_s"]) not in done] + rows
    startups = sorted({r["startup_s"] for r in rows})
    cases = build_cases(rows, {s: oracle_gpu_hours(s) for s in startups})
    bounds = [first_rise_bound(st) for st in startups]
    chains = [
        chain_bound(st, ask, rule)
        for rule in ("default", "indicators")
        for st in startups
        for ask in CHAIN_ASKS
    ] + [chain_bound(st, ask, "unlimited") for st in startups if st > 60 for ask in CHAIN_ASKS]
    trained = {}
    for key in ("lead", "ghosts", "noise"):
        trace = scenario_trace(key, STARTUPS_S[0])
        trained[scenario_name(key, 0)] = trained_metadata(cut(trace, 1, TRAIN_DAYS))[1]
    doc = {
        "bench": "indicator_quality",
        "trace": f"scaler trace ligo --seed {SEED} --days {DAYS} --indicators",
        "train_days": TRAIN_DAYS,
        "test_days": DAYS - TRAIN_DAYS,
        "commits": sorted({r.get("commit", "unknown") for r in rows}),
        "seconds": seconds,
        "runs": runs,
        "all_targets_met": all(r.get("met", True) for c in cases for r in c["rows"]),
        "cases": cases,
        "trained": trained,
        "bounds": bounds,
        "chain_bounds": chains,
        "headline_md": headline(cases) + bound_lines(bounds, cases) + chain_lines(chains, cases),
    }
    json_path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (RESULTS / "indicator_quality.md").write_text(markdown(doc))
    policy_md(RESULTS / "policy_quality.md")
    policy_json(RESULTS / "policy_quality.json", cases, doc["commits"])
    print(markdown(doc))
    print(f"{time.monotonic() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
