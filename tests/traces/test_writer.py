"""The CSV writer is compact and the loader reads back what it wrote."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scaler.traces.ligo import LigoParams, generate_ligo
from scaler.traces.loader import load_trace
from scaler.traces.model import Trace
from scaler.traces.writer import write_trace_csv


def test_written_values_drop_trailing_zeros(tmp_path: Path) -> None:
    trace = Trace(
        "small",
        np.array([1536.0, 2336.4567]),
        items_per_request=np.array([1.0, 44.4820001]),
        burst_fraction=np.array([1.0, 0.657534]),
    )
    path = tmp_path / "small.csv"

    write_trace_csv(trace, path)

    assert path.read_text().splitlines() == [
        "time_s,rps,items_per_request,burst_fraction",
        "0,1536,1,1",
        "1,2336.457,44.482,0.658",
    ]


def test_trace_without_sizes_is_written_with_one_item_and_no_burst_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plain.csv"

    write_trace_csv(Trace("plain", np.array([0.0, 2.5])), path)

    assert path.read_text().splitlines() == ["time_s,rps,items_per_request", "0,0,1", "1,2.5,1"]


def test_ligo_day_round_trips_through_the_loader(tmp_path: Path) -> None:
    trace = generate_ligo(LigoParams(duration_s=3 * 3600, campaign_start_s=3600, seed=5))
    path = tmp_path / "ligo.csv"

    write_trace_csv(trace, path)
    loaded = load_trace(path)

    np.testing.assert_array_equal(loaded.rps, trace.rps)
    np.testing.assert_allclose(loaded.items, trace.items, atol=5e-4)
    np.testing.assert_allclose(loaded.bursts, trace.bursts, atol=5e-4)
    assert loaded.skipped == {}
