"""Every decision of every preset, digested: the check that a speed change decides exactly
as before (bit-identical, not merely close).

Each run records every pipeline decision (:meth:`policies.Decision.as_record`: time,
value, status, reason, guardrails and every input, floats by ``repr``, so exact) and
the run's scores, on three traces: the bundled LIGO day with ``make run``'s entries
(the README's ScaledObject and every preset, started as ``scaler simulate`` starts
them: the oracle's highest need over the first start-up booted), the
speed benchmark's LIGO-like day (:func:`simulate_speed.week_trace`) and the Azure conv
trace at ``--peak-replicas 8``.

Run ``python bench/decision_digest.py --save BEFORE.pkl`` on the old code and
``python bench/decision_digest.py --against BEFORE.pkl`` on the new: it names each run
whose decisions differ and the first decision that does, and exits 1 if any does.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import pickle
import sys
import time
from pathlib import Path
from typing import Any

from simulate_speed import week_trace

import scaler.sim.scaler_model as scaler_model
from scaler.commands.trace_options import load_scaled_trace
from scaler.sim.compare import Entry, entry_scenario
from scaler.sim.engine import simulate
from scaler.sim.oracle import compute_oracle
from scaler.sim.presets import PRESET_NAMES
from scaler.sim.scenario import Scenario, load_scaled_object
from scaler.traces.model import Trace

ROOT = Path(__file__).resolve().parents[1]
TRACES = ("ligo", "bench-day", "azure-conv")
README_SO = ROOT / "simulations" / "scenarios" / "readme-scaledobject.yaml"

_cache: dict[str, Trace] = {}


def _load(name: str, peak_replicas: int | None) -> Trace:
    """A bundled trace read as ``scaler simulate`` reads it (defaults but the peak)."""
    return load_scaled_trace(
        ROOT / "simulations" / "traces" / name,
        Scenario(),
        time_column=None,
        time_unit=None,
        rate_scale=1.0,
        time_scale=1.0,
        peak_rps=None,
        peak_replicas=peak_replicas,
    )


def _trace(key: str) -> Trace:
    if key not in _cache:
        if key == "ligo":
            _cache[key] = _load("ligo.csv", None)
        elif key == "bench-day":
            _cache[key] = week_trace(1)
        else:
            _cache[key] = _load("azure2023_AzureLLMInferenceTrace_conv.csv", 8)
    return _cache[key]


def _entries() -> list[str]:
    return ["readme", *PRESET_NAMES]


def run_one(job: tuple[str, str]) -> tuple[str, str, list[dict[str, Any]], str, float]:
    """One (trace, entry): its decision records, its scores' repr and CPU seconds."""
    key, entry_name = job
    trace = _trace(key)
    base = Scenario()
    records: list[dict[str, Any]] = []
    original = scaler_model.ScalerModel.decide

    def recording(self: scaler_model.ScalerModel, now_s: float, obs: Any) -> Any:
        d = original(self, now_s, obs)
        records.append(d.as_record())
        return d

    scaler_model.ScalerModel.decide = recording  # type: ignore[method-assign]
    try:
        start = time.process_time()
        if key == "bench-day":
            from scaler.sim.presets import scenario_for

            if entry_name == "readme":
                _, sc = entry_scenario(load_scaled_object(README_SO), base, static_replicas=60)
            else:
                sc = scenario_for(entry_name, base, static_replicas=60)
            run = simulate(trace, sc, name=entry_name, initial_replicas=20)
        else:
            oracle = compute_oracle(trace, base.fleet, base.slo_ms, base.startup.nominal_s)
            entry: Entry = load_scaled_object(README_SO) if entry_name == "readme" else entry_name
            name, sc = entry_scenario(entry, base, static_replicas=oracle.peak_replicas)
            first = oracle.warm_fleet(base.startup.nominal_s)
            run = simulate(trace, sc, name=name, initial_replicas=first, oracle_need=oracle.need)
        cpu = time.process_time() - start
    finally:
        scaler_model.ScalerModel.decide = original  # type: ignore[method-assign]
    return key, entry_name, records, repr(run.scores), cpu


def _key(record: dict[str, Any]) -> str:
    """Exact text of a record (floats by repr: NaN equals NaN, -0.0 differs from 0.0)."""
    return repr(sorted(record.items()))


def digest(records: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for r in records:
        h.update(_key(r).encode())
    return h.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--save", type=Path, help="Write every run's records here.")
    parser.add_argument("--against", type=Path, help="Compare with records saved earlier.")
    parser.add_argument("--traces", nargs="*", default=list(TRACES), choices=TRACES)
    parser.add_argument("--entries", nargs="*", default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    jobs = [(k, e) for k in args.traces for e in (args.entries or _entries())]
    # Slow ones first, so both workers stay busy to the end.
    jobs.sort(key=lambda j: (j[1] not in ("adaptive-defaults", "predictive-defaults"), j))
    with mp.get_context("fork").Pool(args.workers) as pool:
        results = pool.map(run_one, jobs, chunksize=1)
    out = {(k, e): (recs, scores) for k, e, recs, scores, _ in results}
    for k, e, recs, _, cpu in sorted(results):
        print(f"{k:11s} {e:20s} {len(recs):6d} decisions {digest(recs)} {cpu:6.2f} CPU-s")
    if args.save:
        args.save.write_bytes(pickle.dumps(out))
    if args.against:
        before: dict[tuple[str, str], tuple[list[dict[str, Any]], str]] = pickle.loads(
            args.against.read_bytes()
        )
        bad = 0
        for key, (recs, scores) in out.items():
            if key not in before:
                print(f"{key}: not in {args.against}")
                continue
            old_recs, old_scores = before[key]
            if list(map(_key, recs)) == list(map(_key, old_recs)) and scores == old_scores:
                continue
            bad += 1
            if len(recs) != len(old_recs):
                print(f"{key}: {len(old_recs)} decisions before, {len(recs)} now")
            for i, (a, b) in enumerate(zip(old_recs, recs, strict=False)):
                if _key(a) != _key(b):
                    diff = {
                        f: (a.get(f), b.get(f))
                        for f in a.keys() | b.keys()
                        if repr(a.get(f)) != repr(b.get(f))
                    }
                    print(f"{key}: decision {i} (t={a['time_s']}) differs: {diff}")
                    break
            if scores != old_scores:
                print(f"{key}: scores differ")
        print("identical" if not bad else f"{bad} runs differ")
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
