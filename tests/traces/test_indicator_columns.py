"""Leading-indicator columns: generated before each campaign and burst, written,
read back, rescaled, and shown to the scaler by the simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scaler.indicator_metadata import parse_indicators
from scaler.sim.observe import indicator_series
from scaler.traces.ligo import LigoParams, generate_ligo, ligo_layout
from scaler.traces.loader import load_trace
from scaler.traces.model import Trace
from scaler.traces.rescale import rescale
from scaler.traces.writer import write_trace_csv

DAY = LigoParams(indicators=True, duration_s=8 * 3600.0, campaign_duration_s=3600.0, bursts=1)


def test_campaign_jobs_are_counted_a_lead_before_their_first_request() -> None:
    trace = generate_ligo(DAY)
    layout = ligo_layout(DAY)
    jobs = trace.indicators["campaign_jobs"]
    first_request = float(layout.job_starts_s.min())
    first_counted = float(np.flatnonzero(jobs > 0)[0])
    lead = first_request - first_counted
    assert 180 - 30 - 1 <= lead <= 180 + 30 + 1
    assert jobs.max() == DAY.campaign_jobs
    end = int(layout.job_stops_s.max()) + 1
    assert jobs[end] == 0


def test_burst_jobs_rise_before_the_burst() -> None:
    trace = generate_ligo(DAY)
    burst = float(ligo_layout(DAY).burst_starts_s[0])
    jobs = trace.indicators["burst_jobs"]
    assert jobs[int(burst) - 211] == 0
    assert jobs[int(burst) + 1] == DAY.burst_jobs


def test_jobs_that_never_send_are_counted_then_leave() -> None:
    noisy = generate_ligo(DAY.model_copy(update={"indicator_ghost_fraction": 0.3}))
    jobs = noisy.indicators["campaign_jobs"]
    assert jobs.max() == 16 + 7  # 7 of 23 counted jobs (30 %) never send
    start = float(ligo_layout(DAY).job_starts_s.max())
    assert jobs[int(start) + 60] == 16


def test_indicators_do_not_change_the_requests() -> None:
    plain = generate_ligo(DAY.model_copy(update={"indicators": False}))
    assert plain.indicators == {}
    assert np.array_equal(plain.rps, generate_ligo(DAY).rps)


def test_multi_day_traces_carry_indicators_for_every_day() -> None:
    trace = generate_ligo(DAY.model_copy(update={"days": 2}))
    jobs = trace.indicators["campaign_jobs"]
    assert jobs.shape == trace.rps.shape
    half = len(jobs) // 2
    assert jobs[:half].max() > 0 and jobs[half:].max() > 0


def test_written_and_read_back(tmp_path: Path) -> None:
    trace = generate_ligo(DAY.model_copy(update={"duration_s": 7 * 3600.0}))
    path = tmp_path / "ligo.csv"
    write_trace_csv(trace, path)
    header = path.read_text().splitlines()[0]
    assert header.endswith(",indicator_campaign_jobs,indicator_burst_jobs")
    back = load_trace(path)
    assert list(back.indicators) == ["campaign_jobs", "burst_jobs"]
    assert np.array_equal(back.indicators["campaign_jobs"], trace.indicators["campaign_jobs"])


def test_coarser_rows_hold_their_count(tmp_path: Path) -> None:
    path = tmp_path / "coarse.csv"
    path.write_text("time_s,rps,indicator_jobs\n0,10,0\n10,10,4\n20,10,2\n")
    back = load_trace(path, step_s=5.0)
    assert back.indicators["jobs"].tolist() == [0, 0, 4, 4, 2, 2]


def test_a_negative_count_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time_s,rps,indicator_jobs\n0,10,0\n1,10,-4\n")
    with pytest.raises(ValueError, match=r"bad.csv:3.*indicator_jobs"):
        load_trace(path)


def test_time_scaling_moves_the_indicator_with_the_requests() -> None:
    trace = Trace("t", np.ones(10), indicators={"jobs": np.arange(10, dtype=float)})
    slow = rescale(trace, time_scale=2.0)
    assert slow.indicators["jobs"].tolist() == [i // 2 for i in range(20)]


def test_indicators_are_matched_by_metric_name_else_position() -> None:
    trace = Trace("t", np.ones(3), indicators={"a": np.zeros(3), "b": np.ones(3)})
    by_name = parse_indicators({"indicator1Metric": 'b{x="y"}'})
    assert indicator_series(trace, by_name)[0].tolist() == [1, 1, 1]
    by_position = parse_indicators({"indicator1Metric": "slurm_jobs", "indicator2Metric": "z"})
    assert [s[0] for s in indicator_series(trace, by_position)] == [0, 1]
    with pytest.raises(ValueError, match="indicator1Metric"):
        indicator_series(Trace("t", np.ones(3)), by_name)
