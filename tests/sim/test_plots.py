"""Series for the report's plots: bucketed, rounded, gaps where values are missing."""

from __future__ import annotations

import math

import numpy as np

from scaler.sim.plots import PLOT_POINTS, time_series


def test_time_series_rounds_each_value_and_leaves_gaps_for_missing_ones() -> None:
    """Each point is the value rounded to 4 decimals as round() rounds a NumPy float
    (the report's numbers do not change with how they are computed), and a missing
    (NaN or infinite) value is a gap (None), on short and bucketed series."""
    rng = np.random.default_rng(3)
    for n in (7, 5 * PLOT_POINTS + 3):
        y = rng.normal(0, 50, n) / 7.0
        y[::11] = np.nan
        y[5] = math.inf
        x, v = time_series(y, 2.0, how="mean")
        assert len(x) == len(v)
        size = 1 if n <= PLOT_POINTS else math.ceil(n / PLOT_POINTS)
        blocks = [y[i : i + size] for i in range(0, n, size)]
        for got, block in zip(v, blocks, strict=True):
            with np.errstate(all="ignore"):
                mean = np.nanmean(block) if size > 1 else block[0]
            want = float(round(mean, 4)) if np.isfinite(mean) else None
            assert got == want and (got is None or type(got) is float)
