"""Trace shapes people have: counts per bin of any width, common time column
names, and the warnings that name the flag fixing an implausible unit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scaler.traces.loader import TraceError, load_trace


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_per_minute_requests_column_is_read_as_counts_per_bin(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "wc.csv",
        "time,requests\n1998-04-30 21:30:00,120\n1998-04-30 21:31:00,60\n1998-04-30 21:32:00,0\n",
    )

    trace = load_trace(path)

    assert trace.requests == pytest.approx(180)
    assert trace.duration_s == 180
    assert trace.rps[:60] == pytest.approx(np.full(60, 2.0))
    assert trace.rps[60:120] == pytest.approx(np.full(60, 1.0))
    assert any("counts per bin" in note for note in trace.notes)
    assert trace.warnings == ()


def test_missing_count_rows_are_empty_bins_not_spread(tmp_path: Path) -> None:
    path = write(tmp_path, "gaps.csv", "time_s,count\n0,60\n60,60\n300,60\n")

    trace = load_trace(path)

    assert trace.requests == pytest.approx(180)
    assert trace.rps[:120] == pytest.approx(np.full(120, 1.0))
    assert trace.rps[120:300].sum() == 0
    assert trace.rps[300:360] == pytest.approx(np.full(60, 1.0))


def test_hourly_counts_are_spread_over_the_hour(tmp_path: Path) -> None:
    path = write(tmp_path, "hourly.csv", "timestamp,hits\n0,3600\n3600,7200\n")

    trace = load_trace(path, step_s=60)

    assert trace.rps[:60] == pytest.approx(np.full(60, 1.0))
    assert trace.rps[60:] == pytest.approx(np.full(60, 2.0))


def test_count_column_flag_names_any_column(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.csv", "time_s,n\n0,10\n1,20\n2,30\n")

    trace = load_trace(path, count_column="n")

    assert trace.rps.tolist() == [10.0, 20.0, 30.0]


def test_one_row_count_per_second_keeps_sizes(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "time_s,count,items\n0,4,2\n1,2,8\n")

    trace = load_trace(path)

    assert trace.rps.tolist() == [4.0, 2.0]
    assert trace.items.tolist() == [2.0, 8.0]


@pytest.mark.parametrize(
    ("column", "values", "span_s"),
    [
        ("arrival_ms", ["0", "1500", "3000"], 4),
        ("gmt_create", ["2024-01-01 00:00:00", "2024-01-01 00:00:02"], 3),
        ("created_at", ["2024-01-01T00:00:00Z", "2024-01-01T00:00:09Z"], 10),
        ("send_us", ["0", "2000000"], 3),
    ],
)
def test_common_time_columns_are_recognised(
    tmp_path: Path, column: str, values: list[str], span_s: int
) -> None:
    path = write(tmp_path, "t.csv", f"{column},latency_ms\n" + "".join(f"{v},5\n" for v in values))

    trace = load_trace(path)

    assert trace.duration_s == span_s
    assert trace.requests == len(values)


def test_a_duration_column_is_not_taken_for_a_time(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "latency_ms,other\n1,2\n")

    with pytest.raises(TraceError, match="pass --time-column"):
        load_trace(path)


def test_milliseconds_read_as_seconds_warn_and_name_the_flag(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 3_600_000, 12_031)).round()
    path = tmp_path / "ms.jsonl"
    path.write_text("".join(json.dumps({"t": float(t)}) + "\n" for t in times))

    trace = load_trace(path)

    assert trace.duration_s > 40 * 86_400
    assert len(trace.warnings) == 1
    assert "--time-unit ms" in trace.warnings[0]
    assert load_trace(path, time_unit="ms").warnings == ()


def test_a_span_of_years_warns_with_the_smaller_unit(tmp_path: Path) -> None:
    path = write(tmp_path, "y.csv", "time_s,rps\n0,1\n80000000,1\n")

    trace = load_trace(path, step_s=3600)

    assert any("years" in w and "--time-unit ms" in w for w in trace.warnings)


def test_nanoseconds_given_as_milliseconds_warn_of_an_implausible_rate(tmp_path: Path) -> None:
    path = write(tmp_path, "ns.csv", "t\n" + "".join(f"{i * 100}\n" for i in range(2000)))

    trace = load_trace(path, time_unit="ns")

    assert any("--time-unit us" in w for w in trace.warnings)


def test_evenly_spaced_single_requests_suggest_a_count_column(tmp_path: Path) -> None:
    rows = "".join(f"{i * 60},5\n" for i in range(20))
    path = write(tmp_path, "ev.csv", "minute,hits_total\n" + rows)

    trace = load_trace(path, time_column="minute")

    assert any("--count-column hits_total" in w for w in trace.warnings)


def test_plausible_traces_have_no_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.csv", "time_s\n0.5\n1.2\n1.9\n3.3\n")

    assert load_trace(path).warnings == ()


def test_a_stray_epoch_value_is_refused_at_its_row_before_allocating(tmp_path: Path) -> None:
    path = write(tmp_path, "stray.csv", "time_ms\n0\n1000\n99999999999999\n")

    with pytest.raises(TraceError) as error:
        load_trace(path)

    assert str(error.value).startswith(f"{path}:4:1: ")
    assert "--time-unit" in str(error.value)
