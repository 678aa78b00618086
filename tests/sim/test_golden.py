"""A fixed trace, seed, scenario and policy give the checked-in summary.

Regenerate after an intended model change with
``SONIC_SCALER_UPDATE_GOLDEN=1 pytest tests/sim/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from scaler.sim.compare import compare
from scaler.sim.summary import summary
from scaler.traces.model import Trace
from tests.sim._util import scenario

GOLDEN = Path(__file__).parent / "golden" / "small_day.json"


def _trace() -> Trace:
    rng = np.random.default_rng(7)
    t = np.arange(7200)
    rps = 400 + 300 * np.sin(t / 7200 * 2 * np.pi) + rng.poisson(50, len(t))
    rps[3000:4000] += 1500
    items = np.where((t >= 3000) & (t < 4000), 24.0, 4.0)
    return Trace("golden", rps.astype(np.float64), 1.0, items)


def test_summary_matches_the_golden_file() -> None:
    sc = scenario(startup={"kind": "lognormal", "seconds": 45, "sigma": 0.3, "seed": 3})
    got = summary(compare(_trace(), sc, ("threshold-gpu70", "supersonic", "static-peak")))
    if os.environ.get("SONIC_SCALER_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=2) + "\n")
    assert got == json.loads(GOLDEN.read_text())
