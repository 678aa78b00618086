"""Policy quality: the untuned default and the tuned default against SuperSONIC's rule
swept into a frontier, the best static fleet and both oracles, on held-out days.

A benchmark that cannot flatter us (issue 10):

* **Scores come from later data only.** Every trace is cut into training days and
  test days; tuning sees only the training days, every number in the tables is
  measured on the test days. The baselines are not tuned on training days at all:
  SuperSONIC's rule is swept over its threshold and timers *on the test days* and
  its frontier (the points no other point beats on both GPU-hours and SLO
  attainment) is the bar, which can only favour the baseline; the best static fleet
  is also chosen on the test days.
* **At least the same budget for the baseline.** The tuned default gets :data:`BUDGET`
  configurations on the training days; SuperSONIC gets more: 12 points swept on the
  test days themselves (thresholds 2–50 ms of queue time per
  execution as the issue asks, extended to 2,000 ms because on full batches the
  per-execution queue time is about the batch size times the per-request one, with
  Purdue's timers and with a fast-up behaviour).
* **Trace shapes.** A multi-day LIGO-like trace (``scaler trace ligo --days 2``:
  campaign, lock loss and bursts at other times each day), both Azure LLM traces
  (on/off bursts, near-Poisson), two World Cup 1998 days (diurnal with match
  spikes and growth) and five NASA 1995 days (long idle gap, cold restart), all
  bundled in ``simulations/traces`` (provenance in its ``NOTICE.md``); tuning uses the
  day before the test days (the machine the results were made on had 2 cores shared
  by eight jobs, hence one training day and a budget of 4: a larger budget extends the
  same candidate list, so it can only find a better point). The public
  traces are rescaled so the oracle needs :data:`PEAK_REPLICAS` GPUs at the peak.
* Pod start-up 60 s and 240 s. Every run of a test part starts warm: with the
  oracle's highest need over the first start-up period booted (a fleet already
  running), so no run pays a cold start the oracle does not.

Targets (issue 10), judged per trace and start-up and written to the md as met or
missed with the numbers:

1. untuned default on the LIGO test days: ≥ 99.5 % of requests and ≥ 99 % of 1-minute
   windows within the SLO at ≤ 1.25× the oracle's GPU-hours;
2. untuned default on every trace: on or beyond SuperSONIC's frontier (at the
   default's attainment the frontier needs at least as many GPU-hours) and no more
   GPU-hours than the best static fleet meeting the same attainment;
3. tuned on training days: ≤ 1.15× oracle at ≥ 99.5 % on the LIGO test days, beyond
   SuperSONIC's frontier on every other trace.

Run: ``nice .venv/bin/python bench/policy_quality.py`` (about 40 minutes on 2 free
cores, an hour on a busy machine; ``--quick`` takes a few minutes and writes
``policy_quality_quick.*``).
Writes ``bench/results/policy_quality.{json,md,html}`` (the html has the Pareto
picture of every trace). The json is rewritten after every case, so a run cut short
keeps what it finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from code_version import commit as code_commit

from scaler.sim.engine import simulate
from scaler.sim.oracle import compute_oracle, rate_scale_for_peak
from scaler.sim.plots import Page, ParetoSeries, pareto_figure, table_html
from scaler.sim.presets import preset_scaled_object, recommended_scaled_object
from scaler.sim.scenario import ScaledObjectSpec, Scenario
from scaler.traces.bundled import bundled_trace
from scaler.traces.ligo import LigoParams, generate_ligo
from scaler.traces.loader import load_trace
from scaler.traces.model import Trace
from scaler.traces.rescale import rescale
from scaler.tuning.holdout import DAY_S, cut
from scaler.tuning.run import make_problem, tune

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
POLICY = "adaptive"
STARTUPS_S = (60.0, 240.0)
PEAK_REPLICAS = 20
SEED = 0
BUDGET = 4
TUNE_TARGET = 0.995
TUNE_MARGIN = 0.002
"""The search must reach this much more on the training days: a point that only just
meets the target there is likely to miss on the test days. When no candidate does, the
cheapest one reaching :data:`TUNE_TARGET` is kept, else the one with the highest
attainment (the same candidates and budget: only which of them is kept)."""

ATTAINMENT = 0.995
WINDOWS = 0.99
DEFAULT_OVER_ORACLE = 1.25
TUNED_OVER_ORACLE = 1.15

SUPERSONIC_THRESHOLDS_MS = (2.0, 5.0, 10.0, 20.0, 50.0, 200.0, 1000.0, 2000.0)
FAST_UP_THRESHOLDS_MS = (5.0, 20.0, 200.0, 2000.0)
ADAPTIVE_SWEEP_TARGET_MS = (50.0,)

TUNE_RANGES: dict[str, tuple[float, float]] = {
    "targetMs": (20.0, 100.0),
    "leadTimeSeconds": (30.0, 600.0),
    "peakHoldSeconds": (60.0, 1800.0),
    "scaleDownStabilizationSeconds": (0.0, 900.0),
}
"""What the tuned default searches besides ``capacityWindowSeconds``."""

TUNE_FIXED: dict[str, str] = {"instancesPerReplica": "1"}
"""A fact about the deployment (Triton's instance count), not a knob to fit."""

WHY: dict[str, str] = {
    "ligo": "Online frames (1 s square waves) under a campaign step, a lock loss and "
    "bursts at hours the training day did not have them. The default sizes for the work "
    "arriving (items/s) at the capacity Triton's counters show, which is what the "
    "oracle sizes with. SuperSONIC's signal, queue time per execution, adds up the "
    "waits of a full batch's 128 requests: at thresholds up to 50 ms it chases the "
    "frames to its maximum of 100 replicas, and the thresholds that bring its cost "
    "near the oracle's (≥ 200 ms) leave 7–10 % of requests over the SLO; its frontier "
    "reaches the default's attainment only at about 20× the oracle. The capacity it "
    "reads here is a full 128-item batch's, 10,427 items/s per replica in 12.3 ms, the "
    "oracle's figure. What it misses at 240 s start-up is the campaign's start (day 2, "
    "7:05): the work rises 5× (2 to 11 GPUs) over 50 s, and every request arriving until "
    "the pods ordered for it serve, 240 s later, times out behind the queue: about 5 min "
    "of 2,400 req/s, ~0.5 % of the day's requests. A 30 s rate trails a ramp by half its "
    "window; while it rises at each of the last 3 scrapes the default sizes for the work "
    "half a window ahead (at the slowest of those rises, with the SLO's spare), so the "
    "step is ordered in full about 25 s sooner: 99.507 % of requests (99.492 % without), "
    "99.58 % of windows, 1.01× the oracle. The start-up is learned from how long the "
    "ready count took to rise after the work needed more; leadTimeSeconds "
    "defaults to 240 s, so the dip is kept for 32 min and the lock loss's end does not "
    "queue (it cost 0.09 % with a 16 min hold). The backlog the step leaves drains within "
    "30 s of the pods arriving (+0.02 points against 60 s). Tuning on day 1 at 240 s: no "
    "candidate reaches the search's 99.7 % there (the default serves 99.502 %, losing the "
    "same campaign start), so the cheapest candidate reaching 99.5 % is kept: the default "
    "itself (1.01× on day 1), 1.01× at 99.51 % on day 2 (met). Keeping the highest "
    "attainment instead, as the bench did before, bought 99.505 % on day 1 for 1.28× and "
    "cost 1.24× on day 2 for 99.53 % (missed). The rule only picks among the default's own "
    "4 candidates; the baselines are swept on the test day itself. A clairvoyant oracle "
    "boots ahead of the step; a rule that reads metrics cannot.",
    "azure-code": "On/off bursts (73 % of seconds empty), rescaled so a busy second needs up to 12 "
    "GPUs, most bursts shorter than a pod's start-up. The oracle is clairvoyant; a scaler"
    " that reads metrics cannot boot GPUs inside a burst, so what serves a burst is what "
    "was kept warm, and a static fleet is the right shape here. A third to two fifths of "
    "its 30 s rates are 0, so it counts as on/off: the default holds the highest 30 s "
    "rate of the last 30 min (36,727 items/s), not only of its 5 min hold, through the "
    "gaps, with the SLO's spare and no one-second noise spare (30 s rates of on/off "
    "traffic differ by the bursts' whole level, which the held level provisions). Over "
    "a capacity read at 4,900–5,500 items/s per replica (the bursts' small batches; a "
    "full batch gives 10,427) that asks for 6.7–8.2 GPUs; the gap to the one-second "
    "peaks (105,825 items/s, about 10 GPUs at full batches) is covered by that low "
    "capacity reading, not by a spare. From the warm start's 12 it steps down to 11, 9 "
    "and 7 over 20 minutes; at 24 minutes the service law is fitted (an execution read "
    "at 25 ms), the SLO's spare rises from 0.06 to 1.54 GPUs and 9 serve the last burst "
    "(9 GPUs, 28 min 35 s in; at 240 s start-up they are ready 15 s before it, so that "
    "row rests on timing): 100 % of requests for 5.01 GPU-h at 60 s and 5.61 at 240 s "
    "start-up, beyond "
    "SuperSONIC's frontier (5.79 and 6.36 at 100 %) and below the static fleet of 12 "
    "that serves 100 % (5.93, 6.53): met. Before, the 5 min hold and a noise spare of up "
    "to the held work kept 12 GPUs for 25 minutes, gave half back when a 6-minute lull "
    "let the hold lapse, and the last burst found 6: 96.56 % for 5.58 GPU-h at 60 s and "
    "6.18 at 240 s, a quarter above a static 9 (96.87 % for 4.45 and 4.90; missed). "
    "Tried before that, not landed: the burst level held with the noise spare capped at "
    "the highest work of 30 min (100 % for 6.13 GPU-h at 60 s, 6.73 at 240 s); "
    "peakHoldSeconds 480 and 600 at 240 s (6.89 GPU-h at 96.56 %, 6.98 at 100 %); the "
    "spare capped at half or 1.5× the held work (5.41 GPU-h at 96.56 %; 6.34 at 100 %); "
    "with the 30 min burst level, a noise spare of a quarter, half or three quarters of "
    "it (5.24, 5.79, 5.93 GPU-h at 60 s, all 100 %). Tuned at 60 s, no candidate reaches "
    "the target on the training half (the best, 76.27 %, is kept): 5.35 GPU-h for 100 % "
    "on the test half, beyond the frontier's 5.79 (met).",
    "azure-conv": "Near-Poisson arrivals at a slowly varying mean, rescaled to a 20-GPU peak; each "
    "second's work varies by about half its mean and single seconds reach 3× their 30 s "
    "rate (142,683 items/s in a minute averaging 40,061), so the need is set by "
    "one-second peaks. At this light per-replica load batches hold about 8–15 items, so "
    "capacity is read off the service law (execution time against items per execution), "
    "fitted to the GPU's busy time per execution: 0.08–0.10 ms per item against the "
    "simulator's 0.092. Every rate window has work, so the one-second noise spare is "
    "capped at the highest work of the 30 min it is measured over, not at the held work: "
    "with the held work's cap the spare fell with the easing load at 240 s start-up, the "
    "fleet went from 14 to 11 GPUs in the last minutes and one second needing 14 put 0.12"
    " % of requests over the SLO (99.88 % for 10.08 GPU-h: both targets missed). Now 100 "
    "% for 10.14 GPU-h, beyond SuperSONIC's frontier (17.76 there) and below the best "
    "static fleet (19: 10.51). At 60 s start-up the default serves 98.64 % for 7.34 GPU-h"
    " (7.29 with the held work's cap), beyond the frontier (8.03) but 4 % above the "
    "static fleet of 14 (7.05 GPU-h, 99.25 %; missed): its seconds over the SLO are all "
    "in the first 7 minutes, where the warm fleet of 13 (the oracle's highest need over "
    "the first start-up) meets seconds needing 17–20 GPUs while the capacity is still "
    "being learned; it holds 15 from 6 min 15 s to the end. A static 14 has one more GPU "
    "from the start and costs less later. What would meet it is 15 GPUs ordered within "
    "the first 50 s (forced schedules: 15 asked at 0–40 s, 99.42 % for 7.49–7.51 GPU-h; "
    "at 50 s, 99.36 % for 7.48; both below the static 15's 7.55), before any queue: the "
    "first second over the SLO is at 65 s, and 15 asked then gives 99.24 % for 7.475 "
    "(the static 14 serves 99.25 % for 7.05), 16 asked at 45 s 99.40 % for 7.95. Tried, "
    "not landed: letting the warm fleet grow during its first 5 min to what the most "
    "work per replica served within the queue target says (15 GPUs from 3 min 35 s: "
    "98.96 % for 7.43 GPU-h); to the 99th-percentile second of the GPU busy fraction "
    "(mean + 2.33 standard deviations of busy × ready, a one-second gauge): 15.2 at 45 s"
    " but 18.3 once 16 serve (a saturated second reads 1 at any fleet size), 19 GPUs, "
    "99.59 % for 8.38 (static 16: 99.68 % for 8.05). The capacity learning drawing "
    "its service law only through rows whose batch size held within their rate window "
    "(rows that mix small and full batches read it low) meets this row (98.55 % for "
    "7.00 GPU-h) but at 240 s start-up grows the fleet to 48 (14.71 GPU-h against the "
    "static 19's 10.51) and serves 98.29 % on Azure's code trace: 29 of 32 targets; "
    "not landed. The same with that line used only when its rows are at least half the "
    "fitted ones, 60 or more over 15 min: this row met (7.00 GPU-h), the other untuned "
    "rows of the two Azure traces within 0.14 GPU-h, but World Cup served 98.40 % at 60 s and "
    "94.37 % at 240 s (99.21 % and 95.31 % now) and NASA's tuned row at 60 s fell behind "
    "the frontier by 0.25 % (268.05 GPU-h at 98.68 %): 31 of 32; not landed.",
    "worldcup98": "A daily cycle with match-time spikes; the test day (25 June) peaks "
    "1.6× higher than the training day (24 June), so tuning never saw that load. The "
    "misses gather in the few minutes where the rate jumps (the matches), faster than "
    "pods start. At 240 s start-up the default (95.31 % of requests for 122.84 GPU-h) "
    "is beyond SuperSONIC's frontier (159.03 there). At 60 s it serves 99.21 % for "
    "122.84 GPU-h, where the frontier's 20 ms point serves 100 % for 125.34: beyond the "
    "frontier by 2.0 % (71ed9b0's growth of a short, saturated fleet before its capacity "
    "is learned moved these rows from 95.27 % for 121.67 at 240 s and 99.18 % for 123.99 "
    "at 60 s; sizing for the work half a rate window ahead while it rises "
    "added 0.9 points for 0.08 GPU-h; the queue memory of 12 h instead of 6 took 1.1 "
    "and 1.3 GPU-h off at 60 and 240 s, same attainment). Most of its cost above the "
    "oracle is the SLO "
    "spare of a capacity read where an execution takes 25 ms (1.54 instances; the "
    "oracle's nights need 2 GPUs, the default keeps 3): reading the fitted service law "
    "at the batch that needs the fewest replicas cut 60 s to 114.33 GPU-h but lost 1.5 "
    "points of requests (97.67 %), so it is not in the default.",
    "nasa1995": "Test days 4–5: 18 h more of a 37.7 h gap without requests, then traffic resumes "
    "(rescaled, a busy second needs up to 20 GPUs). The default stays beyond SuperSONIC's"
    " frontier and below the static fleets: the oracle knows when traffic resumes, the "
    "default learns it from the first requests after the gap. For the first 30 min after "
    "it the noise window still holds the gap's empty rates, so the traffic counts as "
    "on/off: the highest rate of those 30 min is held, with no noise spare. It serves "
    "98.44 % of requests for 247.73 GPU-h at 60 s start-up and 98.75 % for 262.30 at "
    "240 s (98.07 % for 233.55 and 97.40 % for 243.83 before the service law was kept "
    "from extrapolating a slope within 3 standard errors of its scatter, f94da84: the "
    "direct reading, which errs low, stands there instead; the same limit on every "
    "line, read at batches seen too, served 98.72 % for 266.93 and left the tuned 60 s "
    "row at 98.88 % for 285.08, behind the frontier's 267.37: 30 of 32, not landed; "
    "97.77 % for 228.30 and 96.72 % for 230.70 with the 5 min hold and a noise "
    "spare of up to the held work there; 97.70 % for 219.79 and 96.03 % for 230.04 with "
    "that cap everywhere; capped at twice the held work it cost 280.02 GPU-h for 98.63 % "
    "at 60 s, past the frontier's 267.37). At 240 s SuperSONIC's 10 ms point serves "
    "93.52 % for "
    "190.47 GPU-h: the default stays beyond the frontier only while it serves more than "
    "that.",
}


@dataclasses.dataclass(frozen=True)
class Case:
    """One trace's training and test parts."""

    name: str
    shape: str
    train: Trace
    test: Trace


# ---------------------------------------------------------------------------- traces


SCALE_CACHE = Path(tempfile.gettempdir()) / "sonic_scaler_policy_quality_scales.json"
"""Rate factors already found (the bisection takes minutes on a multi-day trace), keyed
by the trace's name, length and total requests, so a stale entry is never used."""


def _rescaled(trace: Trace, scenario: Scenario) -> Trace:
    key = f"{trace.name}|{len(trace.rps)}|{trace.requests:.6g}|{PEAK_REPLICAS}"
    cache = json.loads(SCALE_CACHE.read_text()) if SCALE_CACHE.exists() else {}
    if key not in cache:
        cache[key] = rate_scale_for_peak(trace, scenario.fleet, scenario.slo_ms, PEAK_REPLICAS)
        SCALE_CACHE.write_text(json.dumps(cache, indent=1))
    return rescale(trace, rate_scale=float(cache[key]))


def _days(trace: Trace, first: float, last: float, label: str) -> Trace:
    """Days ``first``..``last`` (1-based, inclusive) of ``trace``."""
    return cut(trace, (first - 1) * DAY_S, last * DAY_S, label=f"{trace.name} {label}")


def load_cases(quick: bool) -> list[Case]:
    """The trace set, cut into training and test parts (see the module docstring)."""
    sc = Scenario()
    cases: list[Case] = []
    ligo_days = 2
    ligo = generate_ligo(LigoParams(seed=2, days=ligo_days))
    ligo = dataclasses.replace(ligo, name=f"ligo-{ligo_days}d")
    cases.append(
        Case(
            "ligo",
            f"scaler trace ligo --seed 2 --days {ligo_days}: a campaign, a lock loss and "
            "two bursts at other times each day",
            _days(ligo, 1, ligo_days - 1, f"days 1–{ligo_days - 1}"),
            _days(ligo, ligo_days, ligo_days, f"day {ligo_days}"),
        )
    )
    for kind in ("code", "conv"):
        raw = load_trace(bundled_trace(f"azure2023_AzureLLMInferenceTrace_{kind}.csv"))
        tr = dataclasses.replace(_rescaled(raw, sc), name=f"azure-{kind}")
        half = tr.duration_s / 2
        cases.append(
            Case(
                f"azure-{kind}",
                f"Azure LLM {kind} trace (1 h), peak need {PEAK_REPLICAS} GPUs",
                cut(tr, 0, half, label=f"azure-{kind} first half"),
                cut(tr, half, tr.duration_s, label=f"azure-{kind} second half"),
            )
        )
    if quick:
        return cases
    wc = load_trace(bundled_trace("worldcup98.csv.gz"))
    start = dt.datetime(1998, 4, 30, 21, 30)
    at = (dt.datetime(1998, 6, 24) - start).total_seconds()
    wc = dataclasses.replace(
        _rescaled(cut(wc, at, at + 2 * DAY_S), sc), name="worldcup98 1998-06-24..25"
    )
    cases.append(
        Case(
            "worldcup98",
            f"World Cup 1998 web site, 24–25 June 1998, peak need {PEAK_REPLICAS} GPUs",
            _days(wc, 1, 1, "24 June"),
            _days(wc, 2, 2, "25 June"),
        )
    )
    nasa = load_trace(bundled_trace("nasa1995_day26_5days.csv.gz"))
    nasa = dataclasses.replace(_rescaled(nasa, sc), name="nasa1995 5 days")
    cases.append(
        Case(
            "nasa1995",
            f"NASA KSC web server, 5 days with a 37.7 h gap, peak need {PEAK_REPLICAS} GPUs",
            _days(nasa, 3, 3, "day 3"),
            _days(nasa, 4, 5, "days 4–5"),
        )
    )
    return cases


# ------------------------------------------------------------------------ scenarios


def supersonic_so(threshold_ms: float, fast_up: bool) -> ScaledObjectSpec:
    """SuperSONIC's trigger (threshold on queue time per execution, ``Value`` metric,
    max 100) with Purdue's timers or a fast-up behaviour (polling 15 s, no up-window,
    doubling or 4 pods per 15 s)."""
    spec = preset_scaled_object("supersonic").model_dump(exclude_none=True)
    meta = spec["triggers"][0]["metadata"]
    meta["targetMs" if "targetMs" in meta else "target"] = f"{threshold_ms:g}"
    timers = "purdue"
    if fast_up:
        timers = "fast-up"
        spec["pollingInterval"] = 15
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        behavior["scaleUp"] = {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15},
                {"type": "Pods", "value": 4, "periodSeconds": 15},
            ],
        }
    spec["name"] = f"supersonic {threshold_ms:g} ms {timers}"
    return ScaledObjectSpec.model_validate(spec)


def static_so(n: int) -> ScaledObjectSpec:
    return preset_scaled_object("static-peak", static_replicas=n).model_copy(
        update={"name": f"static {n}"}
    )


def policy_so(metadata: dict[str, str], name: str) -> ScaledObjectSpec:
    return recommended_scaled_object(metadata).model_copy(update={"name": name})


# ----------------------------------------------------------------------------- runs

_SHARED: dict[str, Any] = {}


def _run(key: str, so: ScaledObjectSpec, label: str) -> dict[str, Any]:
    """One run on the shared test part ``key`` (forked into the worker)."""
    test, base, initial, need = _SHARED[key]
    sc = base.model_copy(update={"scaledObject": so})
    r = simulate(test, sc, name=so.name, initial_replicas=initial, oracle_need=need)
    s = r.scores
    return {
        "name": so.name,
        "label": label,
        "metadata": dict(so.trigger.metadata),
        "gpu_hours": s.gpu_hours,
        "slo_attainment": s.slo_attainment,
        "windows_met": s.windows_met,
        "worst_5min_p99_ms": s.worst_window_p99_ms,
        "p99_ms": s.p99_ms,
        "scale_events_per_hour": s.scale_events_per_hour,
        "max_overshoot_replicas": r.max_overshoot_replicas,
        "max_fleet": float(np.max(r.held)) if len(r.held) else 0.0,
    }


def frontier(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows no other row beats on both GPU-hours (fewer) and attainment (higher)."""
    out = []
    for r in rows:
        dominated = any(
            o["gpu_hours"] <= r["gpu_hours"]
            and o["slo_attainment"] >= r["slo_attainment"]
            and (o["gpu_hours"] < r["gpu_hours"] or o["slo_attainment"] > r["slo_attainment"])
            for o in rows
        )
        if not dominated:
            out.append(r)
    return sorted(out, key=lambda r: r["gpu_hours"])


ATTAINMENT_TOLERANCE = 5e-5
"""A baseline row counts as reaching an attainment within half the tables' last digit
(0.005 %): a SuperSONIC point serving 99.99996 % is shown, and counted, as 100.00 %.
Comparing unrounded shares made the bar a costlier point whenever the default served
every request and a cheaper baseline missed one in a million (azure-code: 15.01 GPU-h
against the 5.79 its 5 ms point costs). The tolerance can only lower a baseline's cost."""


def cost_at(rows: list[dict[str, Any]], attainment: float) -> float | None:
    """Fewest GPU-hours among ``rows`` reaching ``attainment`` within
    :data:`ATTAINMENT_TOLERANCE` (None: none reaches it)."""
    ok = [r["gpu_hours"] for r in rows if r["slo_attainment"] >= attainment - ATTAINMENT_TOLERANCE]
    return min(ok) if ok else None


LEAN_SUPERSONIC: tuple[tuple[float, bool], ...] = (
    (2.0, False),
    (5.0, False),
    (20.0, False),
    (50.0, False),
    (200.0, False),
)
LEAN_SUPERSONIC += ((2000.0, False), (20.0, True), (200.0, True))
"""``--lean``: SuperSONIC points kept when the machine cannot afford the full sweep."""


def run_case(
    case: Case,
    startup: float,
    budget: int,
    workers: int,
    log: Callable[[str], None],
    lean: bool = False,
) -> dict[str, Any]:
    base = Scenario().with_overrides(startup_s=startup)
    t0 = time.monotonic()
    oracle = compute_oracle(case.test, base.fleet, base.slo_ms, startup)
    initial = make_problem([case.test], base, warm_start_s=startup).initial_replicas[0]
    key = f"{case.name}@{startup:g}"
    _SHARED[key] = (case.test, base, initial, oracle.need)

    tuned_meta, train_best = _tune(case, base, budget, workers, startup)
    log(f"  tuned on {case.train.name} in {time.monotonic() - t0:.0f} s")

    jobs: list[tuple[str, ScaledObjectSpec, str]] = [
        ("default", policy_so({"policy": POLICY}, f"{POLICY} (untuned)"), "default"),
        ("tuned", policy_so(tuned_meta, f"{POLICY} (tuned)"), "tuned"),
    ]
    for target in () if lean else ADAPTIVE_SWEEP_TARGET_MS:
        meta = {"policy": POLICY, "targetMs": f"{target:g}"}
        jobs.append(("adaptive", policy_so(meta, f"{POLICY} targetMs {target:g}"), "sweep"))
    points = (
        LEAN_SUPERSONIC
        if lean
        else (
            [(ms, False) for ms in SUPERSONIC_THRESHOLDS_MS]
            + [(ms, True) for ms in FAST_UP_THRESHOLDS_MS]
        )
    )
    for ms, fast in points:
        label = f"{ms:g} ms {'fast-up' if fast else 'purdue'}"
        jobs.append(("supersonic", supersonic_so(ms, fast), label))
    peak = max(oracle.peak_replicas, 1)
    sizes = range(max(1, peak // 2), peak + 1, 2 if lean else 1)
    for n in sorted({*sizes, peak, 1}):
        jobs.append(("static", static_so(n), f"{n} replicas"))

    context = mp.get_context("fork")
    results: dict[str, list[dict[str, Any]]] = {"adaptive": []}
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures: list[tuple[str, Future[dict[str, Any]]]] = [
            (family, pool.submit(_run, key, so, label)) for family, so, label in jobs
        ]
        for family, f in futures:
            results.setdefault(family, []).append(f.result())
    del _SHARED[key]

    default, tuned = results["default"][0], results["tuned"][0]
    tuned["train"] = train_best
    adaptive = [default, tuned, *results["adaptive"]]
    supersonic = results["supersonic"]
    statics = results["static"]
    front = frontier(supersonic)
    og = oracle.gpu_hours
    for r in [*adaptive, *supersonic, *statics]:
        r["x_oracle"] = r["gpu_hours"] / og if og > 0 else None
    out = {
        "trace": case.name,
        "shape": case.shape,
        "startup_s": startup,
        "train": case.train.name,
        "train_hours": round(case.train.duration_s / 3600, 3),
        "test": case.test.name,
        "test_hours": round(case.test.duration_s / 3600, 3),
        "oracle": {"gpu_hours": og, "peak_replicas": oracle.peak_replicas},
        "oracle_instant": {"gpu_hours": oracle.instant_gpu_hours},
        "initial_replicas": initial,
        "default": default,
        "tuned": tuned,
        "adaptive_sweep": results["adaptive"],
        "supersonic_sweep": supersonic,
        "supersonic_frontier": [r["name"] for r in front],
        "static_sweep": statics,
        "seconds": round(time.monotonic() - t0, 1),
        "lean": lean,
        "budget": budget,
    }
    out["targets"] = targets(out, front)
    return out


def rescore_case(
    old: dict[str, Any], case: Case, workers: int, tuned: bool, retune: bool = False
) -> dict[str, Any]:
    """``old`` (a case of an earlier results document) with the untuned default (and,
    with ``tuned``, the tuned metadata it found) run again on the test part with the
    current code; the baselines (SuperSONIC, static, oracle) do not depend on our
    policy and are kept. With ``retune`` the tuned row is tuned again on the training
    part with the current code (same budget and seed) instead. For a machine that
    cannot afford the full run."""
    startup = float(old["startup_s"])
    base = Scenario().with_overrides(startup_s=startup)
    tuned_meta, train = old["tuned"]["metadata"], old["tuned"]["train"]
    if retune:
        budget = int(old.get("budget", BUDGET))
        tuned_meta, train = _tune(case, base, budget, workers, startup)
        tuned = True
    oracle = compute_oracle(case.test, base.fleet, base.slo_ms, startup)
    initial = make_problem([case.test], base, warm_start_s=startup).initial_replicas[0]
    key = f"{case.name}@{startup:g}"
    _SHARED[key] = (case.test, base, initial, oracle.need)
    jobs = [("default", policy_so({"policy": POLICY}, f"{POLICY} (untuned)"))]
    if tuned:
        jobs.append(("tuned", policy_so(tuned_meta, f"{POLICY} (tuned)")))
    context = mp.get_context("fork")
    with ProcessPoolExecutor(max(1, min(workers, len(jobs))), mp_context=context) as pool:
        futures = [(who, pool.submit(_run, key, so, who)) for who, so in jobs]
        rows = {who: f.result() for who, f in futures}
    del _SHARED[key]
    out = dict(old)
    og = oracle.gpu_hours
    for who, row in rows.items():
        row["x_oracle"] = row["gpu_hours"] / og if og > 0 else None
        if who == "tuned":
            row["train"] = train
        out[who] = row
    out["rescored"] = sorted(rows)
    if retune:
        out["retuned"] = True
    front = stored_frontier(old)
    out["targets"] = targets(out, front)
    return out


def _tune(
    case: Case, base: Scenario, budget: int, workers: int, startup: float
) -> tuple[dict[str, str], dict[str, Any]]:
    sc = base.model_copy(update={"scaledObject": recommended_scaled_object({"policy": POLICY})})
    result = tune(
        [case.train],
        POLICY,
        scenario=sc,
        target=TUNE_TARGET + TUNE_MARGIN,
        budget=budget,
        seed=SEED,
        workers=workers,
        start={"policy": POLICY},
        fixed=TUNE_FIXED,
        ranges=TUNE_RANGES,
        common={},
        warm_start_s=startup,
    )
    best = result.best
    rule = "the cheapest reaching the target plus margin"
    if not result.feasible:
        # Nothing reached the margin: the cheapest candidate that reaches the target
        # itself, else (the same order as the search's) the highest attainment. Keeping
        # the highest attainment alone bought LIGO's day 1 at 240 s 99.505 % for 1.28x
        # the oracle where the default served 99.502 % for 1.01x.
        best = min(result.trials, key=lambda t: t.rank(TUNE_TARGET))
        rule = (
            "the cheapest reaching the target, none the margin"
            if best.feasible(TUNE_TARGET)
            else "the highest attainment, none reaching the target"
        )
    oracle = result.oracle_gpu_hours[0]
    return dict(best.metadata), {
        "gpu_hours": best.gpu_hours,
        "x_oracle": best.gpu_hours / oracle if oracle > 0 else None,
        "slo_attainment": best.slo_attainment,
        "trials": len(result.trials),
        "feasible": result.feasible,
        "rule": rule,
    }


# --------------------------------------------------------------------------- targets


def stored_frontier(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The SuperSONIC rows a results json marked as its frontier."""
    return [r for r in case["supersonic_sweep"] if r["name"] in case["supersonic_frontier"]]


def retarget(doc: dict[str, Any]) -> None:
    """Work every case's targets out again from its stored rows, so a rendered md
    follows the current target rules (:func:`cost_at`'s tolerance) and not the rules of
    the run that wrote the json."""
    for c in doc["cases"]:
        front = stored_frontier(c)
        c["targets"] = targets(c, front)


def targets(c: dict[str, Any], front: list[dict[str, Any]]) -> dict[str, Any]:
    """Every issue-10 target that applies to this case, with the numbers it rests on."""
    d, t = c["default"], c["tuned"]
    statics = c["static_sweep"]
    out: dict[str, Any] = {}
    if c["trace"] == "ligo":
        out["default_ligo"] = {
            "met": d["slo_attainment"] >= ATTAINMENT
            and d["windows_met"] >= WINDOWS
            and d["x_oracle"] <= DEFAULT_OVER_ORACLE,
            "requests": d["slo_attainment"],
            "windows": d["windows_met"],
            "x_oracle": d["x_oracle"],
        }
        out["tuned_ligo"] = {
            "met": t["slo_attainment"] >= ATTAINMENT and t["x_oracle"] <= TUNED_OVER_ORACLE,
            "requests": t["slo_attainment"],
            "x_oracle": t["x_oracle"],
        }
    for who, row in (("default", d), ("tuned", t)):
        need = cost_at(front, row["slo_attainment"])
        out[f"{who}_vs_frontier"] = {
            "met": need is None or row["gpu_hours"] <= need * (1 + 1e-9),
            "gpu_hours": row["gpu_hours"],
            "attainment": row["slo_attainment"],
            "frontier_gpu_hours_at_that_attainment": need,
        }
    best_static = cost_at(statics, d["slo_attainment"])
    out["default_vs_static"] = {
        "met": best_static is None or d["gpu_hours"] <= best_static * (1 + 1e-9),
        "gpu_hours": d["gpu_hours"],
        "best_static_gpu_hours_at_that_attainment": best_static,
    }
    return out


# -------------------------------------------------------------------------- writing


def pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 100:.2f} %"


def gh(x: float | None) -> str:
    return "none reaches it" if x is None else f"{x:,.2f}"


def by_how_much(got: float, bar: float | None) -> str:
    """ " (+12 % GPU-h)" when ``got`` exceeds ``bar``; empty otherwise."""
    if bar is None or bar <= 0 or got <= bar:
        return ""
    return f" (+{(got / bar - 1) * 100:.0f} % GPU-h)"


def short_by(got: float, bar: float) -> str:
    return "" if got >= bar else f" (short by {(bar - got) * 100:.2f} points)"


def _row_text(r: dict[str, Any]) -> str:
    return f"{r['gpu_hours']:,.2f} GPU-h ({r['x_oracle']:.2f}×) / {pct(r['slo_attainment'])}"


BEHAVIOUR_WHY = (
    "Why a run holds more GPUs than the static fleet at the peak for a while: it "
    "orders GPUs for what its metrics show while it cannot know the next seconds, "
    "which the oracle sizing that fleet knows. LIGO (17 for 13): at the campaign's "
    "start the rate trails a 5x step, so the default sizes half a rate window ahead "
    "and adds what drains the step's backlog within 30 s (+3.6 GPUs), held by the "
    "scale-down stabilisation. World Cup (21 at 60 s, 26-28 at 240 s start-up, for "
    "20): at a match's jump (at 240 s, 16 ready replicas face work that needs 19 and "
    "a backlog of 1.9 million items) the backlog asks for up to 6 more while the "
    "ordered pods start. NASA (24-27 untuned, 27-29 tuned, for 17): one-item requests "
    "at light load run small batches, and in a burst's rate windows, which mix small "
    "batches and full ones, the capacity reads 2,800-3,800 items/s per replica where a "
    "full batch does 10,427 (untuned 60 s: 8,500 a minute before, 2,959 at the burst, "
    "an execution read at 7.6 ms); sized at that reading with the one-second noise "
    "spare (11-13 GPUs at it) the fleet asks for 23-29 and the scale-down "
    "stabilisation holds it. The tuned runs' 39-40 before f94da84 came from a queue "
    "reaction (12 x 87 ms / 27.2 ms, held for the tuned peakHoldSeconds); with the "
    "service law kept from extrapolating a slope within 3 standard errors, the tuning "
    "kept other candidates. Tried on 2026-12-04 after d20fcfe, not landed: the queue"
    " reaction capped at the fleet the highest work of the queue memory needs (the "
    "tuned NASA run's peak fell to 26, but the untuned one's rose to 30 and served "
    "96.67 % instead of 98.07 %, and a queue that persists on a fleet its rate says "
    "is 7x too large, the bursts inside a scrape the queue reaction is for, was cut "
    "to the ready fleet); the 4x count lowered to 2x (the tuned NASA run's peak 39 to"
    " 19 at 60 s, but at 240 s the untuned run's rose from 24 to 33 and served 96.96 "
    "% instead of 97.40 %; no other trace moved); the backlog's drain capped at the "
    "fleet the highest work of the queue memory needs (LIGO's peak 17 to 14, World "
    "Cup's 26-28 to 22-23, but LIGO at 240 s start-up served 99.48 % of requests, "
    "under the 99.5 % target, and World Cup at 240 s 94.85 % instead of 95.31 %): "
    "draining the step's backlog fast is what keeps LIGO's campaign start within the "
    "SLO. Both NASA peaks come from the capacity read in windows mixing small batches"
    " and full ones (items per execution averaged per execution, the execution time "
    "averaged per request): a fix belongs in the capacity learning, which Azure's "
    "code trace leans on (its bursts are served by a capacity read low). Reading the "
    "capacity only from rows whose batch size held within their rate window brought "
    "the tuned NASA peaks to 25 and 24, the untuned 60 s one to 28, and cost Azure's "
    "code trace 5.40 and 6.00 GPU-h instead of 5.01 and 5.61 (still below its static "
    "fleets); not landed."
)


def _max_fleet(row: dict[str, Any]) -> str:
    """The most GPUs a run held at once; "—" for rows of a run before it was recorded."""
    got = row.get("max_fleet")
    return "—" if got is None else f"{got:.0f}"


def behaviour_section(cases: list[dict[str, Any]]) -> list[str]:
    """Issue 10 item 3 per case, for our policy: the most GPUs held at once against a
    static fleet sized at the peak (the oracle's peak need), GPU-hours against that
    fleet's, scale events per hour and the largest overshoot above the oracle's need
    (ready replicas above the highest need of the last 5 min)."""
    out = [
        "",
        "## Policies that behave (issue 10 item 3, test days)",
        "",
        "Static at the peak: a fixed fleet of the oracle's peak need, the most GPUs the "
        "trace needs in any second. *Max fleet*: the most GPUs the run held at once "
        "(starting pods included). *Max overshoot*: ready replicas above the oracle's "
        "highest need of the last 5 min.",
        "",
        "| trace | start-up | run | max fleet | static at the peak | GPU-h | static at the "
        "peak GPU-h | scale events/h | max overshoot |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    over: list[str] = []
    dearer: list[str] = []
    for c in cases:
        peak = int(c["oracle"]["peak_replicas"])
        static = next((r for r in c["static_sweep"] if r["name"] == f"static {peak}"), None)
        for who in ("default", "tuned"):
            r = c[who]
            out.append(
                f"| {c['trace']} | {c['startup_s']:g} s | {r['name']} | {_max_fleet(r)} "
                f"| {peak} | {r['gpu_hours']:,.2f} "
                f"| {gh(static['gpu_hours']) if static else '—'} "
                f"| {r['scale_events_per_hour']:.1f} | {r['max_overshoot_replicas']:.0f} |"
            )
            got = r.get("max_fleet")
            if got is not None and got > peak:
                over.append(f"{c['trace']} {c['startup_s']:g} s {who} {got:.0f}/{peak}")
            if static is not None and r["gpu_hours"] > static["gpu_hours"]:
                dearer.append(f"{c['trace']} {c['startup_s']:g} s {who}")
    out.append("")
    if over:
        out.append("Above the static fleet at the peak at some moment: " + "; ".join(over) + ".")
        out += ["", BEHAVIOUR_WHY, ""]
    out.append("GPU-hours above that fleet's: " + ("; ".join(dearer) if dearer else "none") + ".")
    return out


def markdown(doc: dict[str, Any]) -> str:
    cases = doc["cases"]
    yes = {True: "met", False: "**missed**"}
    out = [
        "# Policy quality (`bench/policy_quality.py`)",
        "",
        f"Policy: `{doc['policy']}` (the untuned default) — {doc['policy_note']}. Mode: "
        f"{doc['mode']}; the full run's code at commit "
        f"`{doc.get('commit', 'not recorded (a run before the field existed)')}`; seed "
        f"{doc['seed']}; tuning budget {doc['budget']} configurations "
        f"on the training days; SuperSONIC swept over {doc['supersonic_points']} "
        "thresholds × timers on the test days; every figure below is from the test days. "
        f"Run took {doc['seconds'] / 60:.0f} min.",
        "",
        "## Headline (test days)",
        "",
        "| trace | start-up | oracle GPU-h | untuned default: GPU-h (× oracle) / requests "
        "| 1-min windows | tuned default | SuperSONIC frontier at the default's attainment "
        "| best static at that attainment |",
        "|---|---:|---:|---|---:|---|---:|---:|",
    ]
    for c in cases:
        tg = c["targets"]
        out.append(
            f"| {c['trace']} | {c['startup_s']:g} s | {c['oracle']['gpu_hours']:,.2f} "
            f"| {_row_text(c['default'])} | {pct(c['default']['windows_met'])} "
            f"| {_row_text(c['tuned'])} "
            f"| {gh(tg['default_vs_frontier']['frontier_gpu_hours_at_that_attainment'])} "
            f"| {gh(tg['default_vs_static']['best_static_gpu_hours_at_that_attainment'])} |"
        )
    lean = [
        f"{c['trace']} at {c['startup_s']:g} s (budget {c.get('budget', doc['budget'])})"
        for c in cases
        if c.get("lean")
    ]
    if lean:
        out += [
            "",
            "Run lean for lack of CPU (fewer SuperSONIC and static points, no targetMs "
            "sweep, a smaller tuning budget): " + "; ".join(lean) + ".",
        ]
    old = [f"{c['trace']} at {c['startup_s']:g} s" for c in cases if c.get("not_rerun")]
    if old:
        out += [
            "",
            "**Not re-run** for lack of CPU: "
            + "; ".join(old)
            + ". Every figure of these cases is from earlier runs, made with the code "
            "before this version's adaptive changes; their verdicts are that code's.",
        ]
    rescored = [c for c in cases if c.get("rescored")]
    if rescored:
        kept = [f"{c['trace']} at {c['startup_s']:g} s" for c in rescored]
        stale = [k for k, c in zip(kept, rescored, strict=True) if "tuned" not in c["rescored"]]
        again = [
            k
            for k, c in zip(kept, rescored, strict=True)
            if "tuned" in c["rescored"] and not c.get("retuned")
        ]
        retuned = [k for k, c in zip(kept, rescored, strict=True) if c.get("retuned")]
        out += [
            "",
            "Re-scored for lack of CPU: " + "; ".join(kept) + ". The untuned default was "
            "run again with the code at commit "
            f"`{doc.get('rescored_at_commit', 'not recorded')}` on the test part; "
            "SuperSONIC's sweep, the static fleets and the oracle do not depend on our policy "
            "and are those of the previous full run (`--rescore`); so is the `adaptive "
            "targetMs` sweep row, which is that run's code."
            + (
                " The **tuned** row of "
                + "; ".join(again)
                + " is the metadata the previous run found on the training days, run again "
                "with the current code (`--rescore-tuned`), not tuned again."
                if again
                else ""
            )
            + (
                " The **tuned** row of "
                + "; ".join(stale)
                + " is the previous run's (tuned and scored with the code before the "
                "capacity change), not re-run."
                if stale
                else ""
            )
            + (
                " The **tuned** row of "
                + "; ".join(retuned)
                + " was tuned again on the training days with that code (`--retune`: the "
                f"same budget of {doc['budget']} and seed), then run on the test part."
                if retuned
                else ""
            ),
        ]
    kept_by = [
        f"{c['trace']} at {c['startup_s']:g} s: {c['tuned']['train']['rule']} "
        f"({pct(c['tuned']['train']['slo_attainment'])} at "
        f"{c['tuned']['train']['x_oracle']:.2f}× on the training days)"
        for c in cases
        if c["tuned"].get("train", {}).get("rule")
    ]
    if kept_by:
        out += [
            "",
            f"Which candidate the tuning kept (it asks for {pct(TUNE_TARGET + TUNE_MARGIN)} "
            f"on the training days; when none reaches that, the cheapest reaching "
            f"{pct(TUNE_TARGET)}, else the highest attainment): " + "; ".join(kept_by) + ".",
        ]
    verdicts = [
        v["met"]
        for c in cases
        for k, v in c["targets"].items()
        if not (k == "tuned_vs_frontier" and c["trace"] == "ligo")
    ]
    out += [
        "",
        "## Issue 10 targets",
        "",
        f"{sum(verdicts)} of {len(verdicts)} met (each trace and start-up counted apart).",
        "",
    ]
    for c in cases:
        tg = c["targets"]
        head = f"{c['trace']}, {c['startup_s']:g} s start-up"
        if "default_ligo" in tg:
            t = tg["default_ligo"]
            out.append(
                f"- {head}: untuned default ≥ 99.5 % requests, ≥ 99 % windows, ≤ 1.25× "
                f"oracle — {yes[t['met']]}: {pct(t['requests'])}"
                f"{short_by(t['requests'], ATTAINMENT)}, {pct(t['windows'])}"
                f"{short_by(t['windows'] or 0.0, WINDOWS)}, {t['x_oracle']:.2f}×"
            )
            t = tg["tuned_ligo"]
            out.append(
                f"- {head}: tuned ≤ 1.15× oracle at ≥ 99.5 % — {yes[t['met']]}: "
                f"{t['x_oracle']:.2f}× at {pct(t['requests'])}"
                f"{short_by(t['requests'], ATTAINMENT)}"
            )
        for who in ("default", "tuned"):
            if who == "tuned" and c["trace"] == "ligo":
                continue
            t = tg[f"{who}_vs_frontier"]
            out.append(
                f"- {head}: {'untuned' if who == 'default' else 'tuned'} default on or "
                f"beyond SuperSONIC's frontier — {yes[t['met']]}: {t['gpu_hours']:,.2f} GPU-h "
                f"at {pct(t['attainment'])}; the frontier needs "
                f"{gh(t['frontier_gpu_hours_at_that_attainment'])} GPU-h there"
                f"{by_how_much(t['gpu_hours'], t['frontier_gpu_hours_at_that_attainment'])}"
            )
        t = tg["default_vs_static"]
        out.append(
            f"- {head}: untuned default ≤ best static at the same attainment — "
            f"{yes[t['met']]}: {t['gpu_hours']:,.2f} vs "
            f"{gh(t['best_static_gpu_hours_at_that_attainment'])} GPU-h"
            f"{by_how_much(t['gpu_hours'], t['best_static_gpu_hours_at_that_attainment'])}"
        )
    out += behaviour_section(cases)
    out += ["", "## Why, per trace", ""]
    for name in dict.fromkeys(c["trace"] for c in cases):
        out.append(f"- **{name}**: {WHY.get(name, '')}")
        for note in doc.get("notes", {}).get(name, []):
            out.append(f"  {note}")
    out += indicator_section()
    out += ["", "## Every run (test days)", ""]
    header = "| trace | start-up | run | GPU-h | × oracle | requests | 1-min windows "
    header += "| worst 5-min p99 ms | scale events/h | max overshoot | max fleet |"
    out += [header, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cases:
        rows = [c["default"], c["tuned"], *c["adaptive_sweep"]]
        rows += c["supersonic_sweep"] + c["static_sweep"]
        for r in rows:
            star = " (frontier)" if r["name"] in c["supersonic_frontier"] else ""
            out.append(
                f"| {c['trace']} | {c['startup_s']:g} s | {r['name']}{star} "
                f"| {r['gpu_hours']:,.2f} | {r['x_oracle']:.2f} | {pct(r['slo_attainment'])} "
                f"| {pct(r['windows_met'])} | {r['worst_5min_p99_ms']:,.0f} "
                f"| {r['scale_events_per_hour']:.1f} | {r['max_overshoot_replicas']:.0f} "
                f"| {_max_fleet(r)} |"
            )
    out += ["", "Tuned metadata (found on the training days):", ""]
    for c in cases:
        meta = ", ".join(f"{k}={v}" for k, v in c["tuned"]["metadata"].items())
        tr = c["tuned"]["train"]
        out.append(
            f"- {c['trace']}, {c['startup_s']:g} s: {meta} (training: "
            f"{tr['gpu_hours']:,.2f} GPU-h, {pct(tr['slo_attainment'])})"
        )
    return "\n".join(out) + "\n"


def html_page(doc: dict[str, Any]) -> str:
    page = Page("Policy quality")
    page.add("<h1>Policy quality: GPU-hours against SLO attainment, test days</h1>")
    page.add(
        "<p>Each panel is one trace and start-up. Up and to the left is better. SuperSONIC's "
        "rule swept over its threshold and timers (points; its frontier joined), the "
        "adaptive family (untuned default, tuned default and a targetMs sweep), static "
        "fleets of every size, and the clairvoyant oracle (dashed).</p>"
    )
    for c in doc["cases"]:
        label = f"{c['trace']}, start-up {c['startup_s']:g} s (test: {c['test']})"
        front = stored_frontier(c)

        def series(name: str, rows: list[dict[str, Any]], line: bool, symbol: str) -> ParetoSeries:
            return ParetoSeries(
                name,
                [r["gpu_hours"] for r in rows],
                [r["slo_attainment"] for r in rows],
                [r["name"] for r in rows],
                line=line,
                symbol=symbol,
            )

        page.add(
            pareto_figure(
                label,
                [
                    series("SuperSONIC sweep", c["supersonic_sweep"], False, "circle-open"),
                    series("SuperSONIC frontier", front, True, "circle"),
                    series("static fleets", c["static_sweep"], True, "square"),
                    series("adaptive sweep", c["adaptive_sweep"], True, "triangle-up"),
                    series("adaptive untuned (default)", [c["default"]], False, "star"),
                    series("adaptive tuned on training days", [c["tuned"]], False, "diamond"),
                ],
                oracle_gpu_hours=c["oracle"]["gpu_hours"],
                target=ATTAINMENT,
            )
        )
    rows = [
        [
            c["trace"],
            f"{c['startup_s']:g} s",
            f"{c['oracle']['gpu_hours']:,.2f}",
            _row_text(c["default"]),
            _row_text(c["tuned"]),
        ]
        for c in doc["cases"]
    ]
    page.add(table_html(["trace", "start-up", "oracle GPU-h", "untuned", "tuned"], rows))
    return page.render()


def indicator_section(results: Path = RESULTS) -> list[str]:
    """Issue 14's rows (leading indicators on LIGO), written by ``bench/indicator_quality.py``
    into its own results: its headline table when it has run, else a pointer to it."""
    out = ["", "## Leading indicators (issue 14)", ""]
    path = results / "indicator_quality.json"
    rows = json.loads(path.read_text()).get("headline_md", []) if path.exists() else []
    out += rows or ["Not run yet: `bench/indicator_quality.py`."]
    return [*out, "", "Every row: [indicator_quality.md](indicator_quality.md)."]


README_HEADING = "### Policy quality (`bench/results/policy_quality.md`)"
"""The README section :func:`readme_section` replaces, up to the next ``## `` heading."""

TEST_PART = {
    "ligo": "day 2",
    "azure-code": "second half",
    "azure-conv": "second half",
    "worldcup98": "25 June",
    "nasa1995": "days 4–5",
}


TARGET_LABEL = {
    "default_ligo": "untuned: ≥ 99.5 % requests, ≥ 99 % windows, ≤ 1.25× oracle",
    "tuned_ligo": "tuned: ≤ 1.15× oracle at ≥ 99.5 %",
    "default_vs_frontier": "untuned vs SuperSONIC's frontier",
    "tuned_vs_frontier": "tuned vs SuperSONIC's frontier",
    "default_vs_static": "untuned vs the best static fleet",
}


def _verdicts(doc: dict[str, Any]) -> list[tuple[dict[str, Any], str, bool]]:
    """(case, target key, met) for every counted target (as the md counts them)."""
    return [
        (c, k, bool(v["met"]))
        for c in doc["cases"]
        for k, v in c["targets"].items()
        if not (k == "tuned_vs_frontier" and c["trace"] == "ligo")
    ]


def readme_section(doc: dict[str, Any]) -> str:
    """The README's policy-quality section, generated from the results (``--readme``)."""
    intro = (
        "The untuned `adaptive` default (only scope keys and min/max set) and the same policy "
        "tuned on training days, scored on later test days only, against SuperSONIC's rule "
        "swept over its threshold and timers on the test days (its frontier), static fleets "
        "of every size and the clairvoyant oracle (same start-up). Pareto pictures per "
        "trace: `bench/results/policy_quality.html`. Generated by `bench/policy_quality.py "
        "--render bench/results/policy_quality.json --readme README.md`."
    )
    out = [
        README_HEADING,
        "",
        textwrap.fill(intro, 90),
        "",
        "| trace (test part) | start-up | oracle GPU-h | untuned default: GPU-h (× oracle) / "
        "requests / 1-min windows | tuned on training days | SuperSONIC frontier at the "
        "default's attainment | best static there |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for c in doc["cases"]:
        d, t, tg = c["default"], c["tuned"], c["targets"]
        part = TEST_PART.get(c["trace"], c["test"])
        out.append(
            f"| {c['trace']} ({part}) | {c['startup_s']:g} s | {c['oracle']['gpu_hours']:,.2f} "
            f"| {d['gpu_hours']:,.2f} ({d['x_oracle']:.2f}×) / {pct(d['slo_attainment'])} / "
            f"{pct(d['windows_met'])} | {t['gpu_hours']:,.2f} ({t['x_oracle']:.2f}×) / "
            f"{pct(t['slo_attainment'])} "
            f"| {gh(tg['default_vs_frontier']['frontier_gpu_hours_at_that_attainment'])} "
            f"| {gh(tg['default_vs_static']['best_static_gpu_hours_at_that_attainment'])} |"
        )
    verdicts = _verdicts(doc)
    missed: dict[str, list[str]] = {}
    for c, k, met in verdicts:
        if not met:
            missed.setdefault(f"{c['trace']} {c['startup_s']:g} s", []).append(TARGET_LABEL[k])
    text = f"{sum(m for _, _, m in verdicts)} of {len(verdicts)} issue-10 targets met."
    if missed:
        text += " Missed: " + "; ".join(f"{k} ({', '.join(v)})" for k, v in missed.items())
        text += ". The md gives each miss by how much and why."
    lean = [f"{c['trace']} {c['startup_s']:g} s" for c in doc["cases"] if c.get("lean")]
    if lean:
        text += (
            f" Run lean for lack of CPU on {', '.join(lean)} (fewer SuperSONIC and static "
            "points, a smaller tuning budget); a larger budget extends the same candidate "
            "list, so it can only do better."
        )
    stale = [c for c in doc["cases"] if c.get("not_rerun")]
    if stale:
        text += (
            " Not re-run for lack of CPU (figures from the previous run, before this "
            "version's adaptive changes): "
            + ", ".join(f"{c['trace']} {c['startup_s']:g} s" for c in stale)
            + "."
        )
    again = [c for c in doc["cases"] if c.get("rescored")]
    if again:
        retuned = all(c.get("retuned") for c in again)
        text += (
            " Re-scored for lack of CPU (the untuned default "
            + "run again with the code at "
            + str(doc.get("rescored_at_commit", "the current commit")).split(" ")[0]
            + " (the md says which commit that is on main), the tuned row "
            + (
                "tuned again on the training days with it; "
                if retuned
                else "the earlier tuned metadata re-run, not tuned again; "
            )
            + "SuperSONIC, static and oracle baselines from the previous full run): "
            + ", ".join(f"{c['trace']} {c['startup_s']:g} s" for c in again)
            + "."
        )
    return "\n".join([*out, "", textwrap.fill(text, 90), ""])


def update_readme(doc: dict[str, Any], readme: Path) -> None:
    """Replace the README's policy-quality section by :func:`readme_section`."""
    text = readme.read_text()
    start = text.index(README_HEADING)
    end = text.index("\n## ", start) + 1
    readme.write_text(text[:start] + readme_section(doc) + "\n" + text[end:])


def merge(paths: list[Path]) -> dict[str, Any]:
    """One results document from runs made apart (e.g. lean cases on a busy machine):
    the first run's settings, every run's cases, their times summed."""
    docs = [json.loads(p.read_text()) for p in paths]
    doc = dict(docs[0])
    order = list(TEST_PART)
    doc["cases"] = sorted(
        (c for d in docs for c in d["cases"]),
        key=lambda c: (
            order.index(c["trace"]) if c["trace"] in order else len(order),
            c["startup_s"],
        ),
    )
    doc["seconds"] = sum(d["seconds"] for d in docs)
    doc["mode"] = "full"
    return doc


def write(doc: dict[str, Any], out_dir: Path, stem: str) -> None:
    """The json, md and html of ``doc``. Issue 14's rows, which ``bench/indicator_quality.py``
    writes under the json's ``indicators`` key, are carried over from the file being
    replaced or from ``bench/results`` when ``doc`` has none: a policy run does not drop them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if "indicators" not in doc:
        for old in (out_dir / f"{stem}.json", RESULTS / "policy_quality.json"):
            if old.exists():
                kept = json.loads(old.read_text()).get("indicators")
                if kept is not None:
                    doc = {**doc, "indicators": kept}
                    break
    (out_dir / f"{stem}.json").write_text(json.dumps(_clean(doc), indent=2) + "\n")
    (out_dir / f"{stem}.md").write_text(markdown(doc))
    (out_dir / f"{stem}.html").write_text(html_page(doc))


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return None if math.isnan(x) else float(f"{x:.6g}")
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2-day LIGO and Azure, 60 s only")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--startup", type=float, action="append", help="start-up s (repeatable)")
    ap.add_argument("--only", action="append", help="trace names to run (repeatable)")
    ap.add_argument("--budget", type=int, help=f"tuning budget (default {BUDGET})")
    ap.add_argument(
        "--lean",
        action="store_true",
        help="fewer SuperSONIC and static points, no adaptive sweep (a busy machine)",
    )
    ap.add_argument(
        "--render", type=Path, help="rebuild the md and html from this json (no simulation)"
    )
    ap.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="combine these results jsons (runs made apart) into policy_quality.* in --out",
    )
    ap.add_argument(
        "--readme", type=Path, help="with --render or --merge: regenerate this README's section"
    )
    ap.add_argument(
        "--rescore",
        type=Path,
        help="re-run only the untuned default (with --rescore-tuned also the tuned "
        "metadata found before) of this results json's cases (--only), keeping its baselines",
    )
    ap.add_argument("--rescore-tuned", action="store_true")
    ap.add_argument(
        "--retune",
        action="store_true",
        help="with --rescore: tune again on the training part with the current code "
        "(same budget and seed) instead of re-running the tuned metadata found before",
    )
    args = ap.parse_args(argv)
    if args.rescore is not None:
        commit = code_commit()
        prev = json.loads(args.rescore.read_text())
        wanted = {(c["trace"], float(c["startup_s"])) for c in prev["cases"]}
        if args.only:
            wanted = {w for w in wanted if w[0] in args.only}
        if args.startup:
            wanted = {w for w in wanted if w[1] in args.startup}
        by_name = {c.name: c for c in load_cases(False) if c.name in {w[0] for w in wanted}}
        t0 = time.monotonic()
        prev["cases"] = [
            c
            if (c["trace"], float(c["startup_s"])) not in wanted
            else rescore_case(c, by_name[c["trace"]], args.workers, args.rescore_tuned, args.retune)
            for c in prev["cases"]
            if not args.only or c["trace"] in args.only
        ]
        prev["cases"] = [c for c in prev["cases"] if (c["trace"], float(c["startup_s"])) in wanted]
        prev["seconds"] = time.monotonic() - t0
        prev["rescored_at_commit"] = commit
        write(prev, args.out, "policy_quality_rescored")
        return
    if args.render is not None or args.merge:
        ran = merge(args.merge) if args.merge else json.loads(args.render.read_text())
        retarget(ran)
        write(ran, args.out, "policy_quality" if args.merge else args.render.stem)
        if args.readme is not None:
            update_readme(ran, args.readme)
        return
    t0 = time.monotonic()
    startups = tuple(args.startup) if args.startup else ((60.0,) if args.quick else STARTUPS_S)
    budget = args.budget or (3 if args.quick else BUDGET)
    cases = [c for c in load_cases(args.quick) if not args.only or c.name in args.only]
    doc: dict[str, Any] = {
        "bench": "policy_quality",
        "commit": code_commit(),
        "mode": "quick" if args.quick else "full",
        "policy": POLICY,
        "policy_note": "the registered `adaptive` policy with only scope keys and "
        "min/max set (its preset `adaptive-defaults`)",
        "seed": SEED,
        "budget": budget,
        "supersonic_points": len(SUPERSONIC_THRESHOLDS_MS) + len(FAST_UP_THRESHOLDS_MS),
        "targets": {
            "attainment": ATTAINMENT,
            "windows": WINDOWS,
            "default_over_oracle": DEFAULT_OVER_ORACLE,
            "tuned_over_oracle": TUNED_OVER_ORACLE,
        },
        "cases": [],
        "seconds": 0.0,
    }
    stem = "policy_quality_quick" if args.quick else "policy_quality"
    order = sorted(
        ((c, s) for c in cases for s in startups), key=lambda cs: (cs[1], cases.index(cs[0]))
    )
    for case, startup in order:
        print(f"{case.name}, start-up {startup:g} s", file=sys.stderr, flush=True)
        doc["cases"].append(
            run_case(
                case,
                startup,
                budget,
                args.workers,
                lambda m: print(m, file=sys.stderr),
                lean=args.lean,
            )
        )
        doc["seconds"] = time.monotonic() - t0
        write(doc, args.out, stem)
    print(markdown(doc))


if __name__ == "__main__":
    main()
