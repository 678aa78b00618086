"""Window-level SLO: how the latency SLO holds minute by minute, not only over a run.

A run can meet the SLO for 99.5 % of its requests while a bad quarter of an hour
goes unnoticed in the total. Two figures catch that, both estimated from the
fleet's per-second latency data:

* **windows met**: the share of 1-minute windows whose p99 latency is within the
  SLO. A window's p99 is within the SLO exactly when at least 99 % of the requests
  arriving in it are answered within the SLO, so this is counted, not estimated
  from a percentile. Windows without requests are left out (they cannot fail).
* **worst 5-minute p99**: the highest p99 of any 5-minute window (ms), found by
  bisection on the per-window share of requests within a latency.

Failed (rejected) requests count as answered at the queue timeout: they are
misses whatever the SLO, and a window where more than 1 % failed has a p99 of at
least the timeout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from scaler.traces.model import FloatArray

WINDOW_S = 60.0
"""Window of the "windows met" share, s."""

WORST_WINDOW_S = 300.0
"""Window of the worst-window p99, s."""

QUANTILE = 0.99
"""The percentile both figures are about."""

_BISECTIONS = 40
"""Halvings of the log-latency interval: 2⁻⁴⁰ of ~9 decades is far below 0.1 %."""


class WithinCounter(Protocol):
    """Requests of each step answered within a latency limit (one limit per step)."""

    def within_per_step(self, limit_ms: FloatArray) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class WindowSlo:
    """``windows_met``: share (0–1) of non-empty ``window_s`` windows whose p99 ≤ SLO;
    ``windows``: how many windows had requests; ``worst_p99_ms`` and ``worst_start_s``:
    the worst ``worst_window_s`` window's p99 (ms) and where it starts (s)."""

    windows_met: float
    windows: int
    worst_p99_ms: float
    worst_start_s: float
    window_s: float = WINDOW_S
    worst_window_s: float = WORST_WINDOW_S


def _window_sums(x: FloatArray, per: int) -> FloatArray:
    starts = np.arange(0, len(x), per)
    if len(starts) == 0:
        return np.zeros(0)
    return np.add.reduceat(x, starts)


def window_slo(
    counter: WithinCounter,
    arrivals: FloatArray,
    failed: FloatArray,
    step_s: float,
    slo_ms: float,
    timeout_ms: float,
    *,
    window_s: float = WINDOW_S,
    worst_window_s: float = WORST_WINDOW_S,
) -> WindowSlo:
    """Both window figures for one run. ``arrivals``: requests arriving per step
    (served and failed); ``failed``: requests of each step rejected; ``counter``: the
    fleet model, which knows the latency spread of each step's requests."""
    steps = len(arrivals)
    if steps == 0:
        return WindowSlo(1.0, 0, 0.0, 0.0, window_s, worst_window_s)
    per = max(1, round(window_s / step_s))
    total = _window_sums(arrivals, per)
    within = _window_sums(counter.within_per_step(np.full(steps, float(slo_ms))), per)
    busy = total > 0
    met = within >= QUANTILE * total * (1 - 1e-9)
    n_busy = int(busy.sum())
    share = float((met & busy).sum()) / n_busy if n_busy else 1.0
    p99, starts = window_p99_ms(
        counter, arrivals, failed, step_s, timeout_ms, window_s=worst_window_s
    )
    if len(p99) == 0 or not np.any(p99 > 0):
        return WindowSlo(share, n_busy, 0.0, 0.0, window_s, worst_window_s)
    worst = int(np.argmax(p99))
    return WindowSlo(
        share, n_busy, float(p99[worst]), float(starts[worst]), window_s, worst_window_s
    )


def window_p99_ms(
    counter: WithinCounter,
    arrivals: FloatArray,
    failed: FloatArray,
    step_s: float,
    timeout_ms: float,
    *,
    window_s: float = WORST_WINDOW_S,
) -> tuple[FloatArray, FloatArray]:
    """p99 latency (ms) of every ``window_s`` window and the windows' start times (s);
    0 for a window without requests. Bisection on log latency, all windows at once;
    failed requests count at ``timeout_ms``."""
    steps = len(arrivals)
    per = max(1, round(window_s / step_s))
    index = np.arange(steps) // per
    total = _window_sums(arrivals, per)
    need = QUANTILE * total * (1 - 1e-9)
    hi_ms = 2 * max(float(timeout_ms), 1.0) + 1000.0

    def within(limit_ms: FloatArray) -> FloatArray:
        per_step = limit_ms[index]
        counted = counter.within_per_step(per_step) + np.where(per_step >= timeout_ms, failed, 0.0)
        return _window_sums(counted, per)

    lo = np.full(len(total), math.log(1e-3))
    hi = np.full(len(total), math.log(hi_ms))
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        ok = within(np.exp(mid)) >= need
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    p99 = np.exp(hi)
    p99 = np.where(total > 0, p99, 0.0)
    starts = np.arange(len(total)) * per * step_s
    return p99, starts
