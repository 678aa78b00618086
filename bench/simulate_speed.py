"""How fast the simulator replays load: a 7-day trace at 1 s resolution through the
whole chain (fleet → Prometheus → pipeline → KEDA/HPA → pods) with one policy, and
the fast mode's speed-up over ``--exact`` on the same short trace.

Run: ``.venv/bin/python bench/simulate_speed.py``; writes
``bench/results/simulate_speed.json``. Target: ≥ 100,000 simulated seconds per
wall second on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np

from scaler.sim.engine import simulate
from scaler.sim.presets import scenario_for
from scaler.sim.scenario import Scenario
from scaler.traces.model import Trace

RESULTS = Path(__file__).parent / "results" / "simulate_speed.json"
DAY_S = 86_400


def week_trace(days: int = 7, seed: int = 0) -> Trace:
    """LIGO-like load: 3 online streams (frame-synchronous, 1 item), one 4 h offline
    campaign of batch-128 requests a day at a random hour, a 30 min lock loss a day."""
    rng = np.random.default_rng(seed)
    n = days * DAY_S
    online = np.full(n, 1536.0)
    offline = np.zeros(n)
    for d in range(days):
        start = d * DAY_S + int(rng.integers(0, 20)) * 3600
        offline[start : start + 4 * 3600] = rng.poisson(800, 4 * 3600)
        lock = d * DAY_S + int(rng.integers(0, 23)) * 3600
        online[lock : lock + 1800] -= 512
    rps = online + offline
    items = (online + offline * 128) / np.maximum(rps, 1e-9)
    burst = online / np.maximum(rps, 1e-9)
    return Trace(f"ligo-like-{days}d", rps, 1.0, items, burst_fraction=burst)


def timed(trace: Trace, scenario: Scenario, exact: bool) -> float:
    start = time.perf_counter()
    simulate(trace, scenario, name="threshold", exact=exact, initial_replicas=2)
    return time.perf_counter() - start


def peak_extra_bytes(trace: Trace, scenario: Scenario) -> int:
    """Peak memory a run allocates beyond the trace it is given (tracemalloc sees
    numpy's buffers too)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    simulate(trace, scenario, name="threshold", initial_replicas=2)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base


def memory(scenario: Scenario) -> dict[str, object]:
    """Memory against trace length: the per-second arrays a run must hold (load in,
    replicas and latency out) grow with it; nothing per request should."""
    out: dict[str, object] = {}
    per_s = []
    for days in (1, 7):
        trace = week_trace(days)
        extra = peak_extra_bytes(trace, scenario)
        out[f"peak_extra_mb_{days}d"] = round(extra / 2**20, 1)
        out[f"requests_{days}d"] = trace.requests
        per_s.append(extra / trace.duration_s)
    out["bytes_per_simulated_s_1d"] = round(per_s[0])
    out["bytes_per_simulated_s_7d"] = round(per_s[1])
    out["flat_in_trace_length"] = per_s[1] <= 1.2 * per_s[0]
    return out


def main() -> None:
    sc = scenario_for("threshold", Scenario())
    week = week_trace()
    timed(Trace("warm", week.rps[:3600], 1.0, week.items_per_request[:3600]), sc, False)
    wall = timed(week, sc, False)
    short = Trace(
        "short",
        week.rps[: 10 * 60] / 4,
        1.0,
        np.ones(600),
        burst_fraction=None,
    )
    fast_short = min(timed(short, sc, False) for _ in range(3))
    exact_short = timed(short, sc, True)
    result = {
        "benchmark": "simulate_speed",
        "trace": week.name,
        "simulated_s": week.duration_s,
        "wall_s": round(wall, 3),
        "simulated_s_per_wall_s": round(week.duration_s / wall),
        "target_simulated_s_per_wall_s": 100_000,
        "meets_target": week.duration_s / wall >= 100_000,
        "short_trace_s": short.duration_s,
        "short_trace_requests": short.requests,
        "fast_short_wall_s": round(fast_short, 4),
        "exact_short_wall_s": round(exact_short, 3),
        "fast_speedup_over_exact": round(exact_short / fast_short, 1),
        "policy": "threshold",
        "memory": memory(sc),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
