"""Reading trace files: both real Azure traces, the two shapes (per request and
rate series), time-unit detection and its overrides, and located errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from scaler.traces.loader import TraceError, load_trace

TRACES = Path(__file__).parents[2] / "simulations" / "traces"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def azure(kind: str) -> Path:
    return TRACES / f"azure2023_AzureLLMInferenceTrace_{kind}.csv"


@pytest.mark.parametrize(
    ("kind", "requests", "peak_rps"), [("code", 8819, 67.0), ("conv", 19366, 19.0)]
)
def test_azure_traces_load_every_request_binned_by_clock_second(
    kind: str, requests: int, peak_rps: float
) -> None:
    trace = load_trace(azure(kind))

    assert trace.requests == requests
    assert trace.arrivals_s is not None and len(trace.arrivals_s) == requests
    assert np.all(np.diff(trace.arrivals_s) >= 0)
    assert trace.peak_rps == peak_rps
    assert 3400 < trace.duration_s < 3600
    assert trace.skipped == {}
    assert trace.items_per_request is None
    assert any("ISO date-time" in note for note in trace.notes)


def test_azure_code_trace_keeps_its_on_off_burstiness() -> None:
    trace = load_trace(azure("code"))

    assert 0.70 < float((trace.rps == 0).mean()) < 0.76


def test_iso_timestamps_with_seven_fractional_digits_keep_microseconds(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "iso.csv",
        "TIMESTAMP,ContextTokens\n"
        "2023-11-16 18:17:03.9799600,10\n"
        "2023-11-16 18:17:05.1234567,20\n"
        "2023-11-16T18:17:05.5+00:00,30\n",
    )

    trace = load_trace(path)

    assert trace.arrivals_s is not None
    np.testing.assert_allclose(trace.arrivals_s, [0.97996, 2.123456, 2.5], atol=1e-6)
    np.testing.assert_array_equal(trace.rps, [1, 0, 2])
    assert any("starts 2023-11-16T18:17:03Z" in note for note in trace.notes)


def test_iso_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    path = write(tmp_path, "tz.csv", "timestamp\n2024-01-01T01:00:00+01:00\n2024-01-01T00:00:02Z\n")

    trace = load_trace(path)

    assert trace.arrivals_s is not None
    np.testing.assert_allclose(trace.arrivals_s, [0.0, 2.0])


def test_per_request_size_column_gives_request_weighted_mean_items(tmp_path: Path) -> None:
    path = write(tmp_path, "sized.csv", "time_s,items\n0.1,1\n0.5,128\n1.2,4\n3.0,2\n")

    trace = load_trace(path)

    np.testing.assert_array_equal(trace.rps, [2, 1, 0, 1])
    assert trace.items_per_request is not None
    assert trace.items_per_request[0] == pytest.approx(64.5)
    assert trace.items_per_request[1] == 4
    assert trace.items_per_request[3] == 2
    assert np.isfinite(trace.items_per_request).all()
    assert trace.arrival_items is not None
    np.testing.assert_array_equal(trace.arrival_items, [1, 128, 4, 2])


def test_size_column_can_be_named_explicitly(tmp_path: Path) -> None:
    path = write(tmp_path, "tok.csv", "time_s,ContextTokens\n0,100\n0.5,300\n")

    trace = load_trace(path, size_column="ContextTokens")

    assert trace.items_per_request is not None
    assert trace.items_per_request[0] == 200


def test_per_request_json_lines_read_numbers_and_strings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "req.jsonl",
        '{"ts": 1700000000.25, "batch_items": 8}\n'
        "\n"
        '{"ts": "1700000000.75", "batch_items": 8}\n'
        '{"ts": 1700000002, "batch_items": 128}\n',
    )

    trace = load_trace(path)

    np.testing.assert_array_equal(trace.rps, [2, 0, 1])
    assert trace.items_per_request is not None
    assert trace.items_per_request[2] == 128
    assert trace.skipped == {"blank line": 1}


def test_json_extension_holding_json_lines_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "req.json", '{"time": 0.5}\n{"time": 1.5}\n')

    assert load_trace(path).requests == 2


def test_gzip_compressed_trace_is_read(tmp_path: Path) -> None:
    path = tmp_path / "req.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("time_s\n0.1\n0.2\n1.5\n")

    np.testing.assert_array_equal(load_trace(path).rps, [2, 1])


def test_rate_series_on_the_step_grid_is_taken_as_is(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rate.csv",
        "time_s,rps,items_per_request,burst_fraction\n0,10,1,1\n1,20,2.5,0.5\n2,0,1,0\n",
    )

    trace = load_trace(path)

    np.testing.assert_array_equal(trace.rps, [10, 20, 0])
    assert trace.items_per_request is not None
    np.testing.assert_array_equal(trace.items_per_request, [1, 2.5, 1])
    assert trace.burst_fraction is not None
    np.testing.assert_array_equal(trace.burst_fraction, [1, 0.5, 0])
    assert trace.arrivals_s is None


def test_coarse_rate_series_holds_each_rate_until_the_next_row(tmp_path: Path) -> None:
    path = write(tmp_path, "minutes.csv", "time,requests_per_second\n0,10\n60,40\n120,20\n")

    trace = load_trace(path)

    assert len(trace.rps) == 180
    assert trace.requests == pytest.approx(60 * (10 + 40 + 20))
    np.testing.assert_allclose(trace.rps[:60], 10)
    np.testing.assert_allclose(trace.rps[60:120], 40)
    assert any("re-binned" in note for note in trace.notes)


def test_rate_series_with_iso_times_and_a_rate_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "iso_rate.csv",
        "timestamp,rate\n2024-05-01T00:00:00Z,5\n2024-05-01T00:00:01Z,7\n",
    )

    np.testing.assert_array_equal(load_trace(path).rps, [5, 7])


@pytest.mark.parametrize(
    ("scale", "unit_name"),
    [(1.0, "epoch s"), (1e3, "epoch ms"), (1e6, "epoch us"), (1e9, "epoch ns")],
)
def test_epoch_unit_is_detected_from_the_magnitude(
    tmp_path: Path, scale: float, unit_name: str
) -> None:
    times = [1_700_000_000.0, 1_700_000_000.5, 1_700_000_003.25]
    path = write(tmp_path, "epoch.csv", "ts\n" + "".join(f"{t * scale:.17g}\n" for t in times))

    trace = load_trace(path)

    assert trace.arrivals_s is not None
    np.testing.assert_allclose(trace.arrivals_s, [0.0, 0.5, 3.25], atol=1e-5)
    assert any(unit_name in note for note in trace.notes)


def test_small_numbers_are_read_as_seconds_from_an_origin_and_said_so(tmp_path: Path) -> None:
    path = write(tmp_path, "rel.csv", "time\n0\n0.5\n2\n")

    trace = load_trace(path)

    np.testing.assert_array_equal(trace.rps, [2, 0, 1])
    assert any("assumed" in note for note in trace.notes)


def test_unit_suffix_of_the_column_name_sets_the_unit(tmp_path: Path) -> None:
    path = write(tmp_path, "ms.csv", "arrival_ms\n0\n500\n2500\n")

    trace = load_trace(path)

    assert trace.arrivals_s is not None
    np.testing.assert_allclose(trace.arrivals_s, [0, 0.5, 2.5])


def test_ambiguous_magnitude_is_an_error_until_the_unit_is_given(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.csv", "t\n50000000000\n50000000500\n")

    with pytest.raises(TraceError, match=r"odd\.csv:2:1: .*--time-unit"):
        load_trace(path)
    trace = load_trace(path, time_unit="ms")
    assert trace.arrivals_s is not None
    np.testing.assert_allclose(trace.arrivals_s, [0.0, 0.5])


def test_relative_milliseconds_need_the_time_unit_override(tmp_path: Path) -> None:
    path = write(tmp_path, "relms.csv", "time\n0\n1000\n2000\n")

    assert load_trace(path).duration_s == 2001
    assert load_trace(path, time_unit="ms").duration_s == 3


def test_two_candidate_time_columns_need_time_column(tmp_path: Path) -> None:
    path = write(tmp_path, "two.csv", "timestamp,time\n1700000000,0\n1700000001,5\n")

    with pytest.raises(TraceError, match=r"two\.csv:1:1: .*--time-column"):
        load_trace(path)
    assert load_trace(path, time_column="time").duration_s == 6


def test_time_unit_given_for_iso_times_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "iso.csv", "timestamp\n2024-01-01T00:00:00\n")

    with pytest.raises(TraceError, match=r"iso\.csv:2:1: .*date-times"):
        load_trace(path, time_unit="s")


def test_a_value_of_another_magnitude_later_in_the_file_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "mixed.csv", "ts\n1700000000\n1700000001\n1700000002000\n")

    with pytest.raises(TraceError, match=r"mixed\.csv:4:1: .*magnitude"):
        load_trace(path)


def test_bad_number_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", "time_s,rps,items\n0,10,1\n1,1O,1\n")

    with pytest.raises(TraceError) as caught:
        load_trace(path)

    assert str(caught.value) == f"{path}:3:3: '1O' in column 'rps' is not a number"
    assert (caught.value.line, caught.value.column) == (3, 3)


def test_bad_value_inside_quotes_is_located_at_its_field(tmp_path: Path) -> None:
    path = write(tmp_path, "quoted.csv", 'note,time_s,items\n"a, b",0,1\n"c, d",1,big\n')

    with pytest.raises(TraceError, match=r"quoted\.csv:3:10: 'big' in column 'items'"):
        load_trace(path)


def test_bad_iso_date_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "date.csv", "id,timestamp\n1,2024-01-01T00:00:00\n2,2024-13-01\n")

    with pytest.raises(TraceError, match=r"date\.csv:3:3: '2024-13-01' .*ISO date-time"):
        load_trace(path)


def test_bad_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", '{"time": 1}\n{"time": 2,}\n')

    with pytest.raises(TraceError, match=r"bad\.jsonl:2:12: "):
        load_trace(path)


def test_bad_json_value_points_at_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, "val.jsonl", '{"time": 1}\n{"time": true}\n')

    with pytest.raises(TraceError, match=r"val\.jsonl:2:2: True in column 'time' is not a number"):
        load_trace(path)


def test_json_array_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "array.json", '[{"time": 1}, {"time": 2}]\n')

    with pytest.raises(TraceError, match=r"array\.json:1:1: .*one object per line"):
        load_trace(path)


def test_missing_time_column_is_reported_on_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, "nocol.csv", "a,b\n1,2\n")

    with pytest.raises(TraceError, match=r"nocol\.csv:1:1: no time column among 'a', 'b'"):
        load_trace(path)


def test_unknown_column_override_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "time\n1\n")

    with pytest.raises(TraceError, match=r"t\.csv:1:1: no column 'when'"):
        load_trace(path, time_column="when")


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.csv", "")

    with pytest.raises(TraceError, match=r"empty\.csv:1:1: empty file"):
        load_trace(path)


def test_header_without_rows_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "head.csv", "time_s,rps\n")

    with pytest.raises(TraceError, match=r"head\.csv:2:1: no data rows"):
        load_trace(path)


def test_row_with_missing_fields_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "short.csv", "time_s,rps\n0,1\n1\n")

    with pytest.raises(TraceError, match=r"short\.csv:3:2: row has 1 fields, the header has 2"):
        load_trace(path)


def test_rate_series_time_going_backwards_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "back.csv", "time_s,rps\n0,1\n2,1\n1,1\n")

    with pytest.raises(TraceError, match=r"back\.csv:4:1: time '1' is not after"):
        load_trace(path)


def test_negative_rate_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "neg.csv", "time_s,rps\n0,-1\n")

    with pytest.raises(TraceError, match=r"neg\.csv:2:3: -1 in column 'rps' must be >= 0"):
        load_trace(path)


def test_burst_fraction_above_one_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "bf.csv", "time_s,rps,burst_fraction\n0,1,1.5\n")

    with pytest.raises(TraceError, match=r"bf\.csv:2:5: 1.5 .* must be >= 0 and <= 1"):
        load_trace(path)


def test_unknown_extension_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "trace.parquet", "")

    with pytest.raises(TraceError, match="unknown trace format"):
        load_trace(path)


def test_skipped_rows_are_counted_by_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "gaps.csv",
        "# exported by hand\ntime_s,items\n0.5,1\n\n# pause\n,3\n1.5,\n2.5,2\n",
    )

    trace = load_trace(path)

    assert trace.requests == 2
    assert trace.skipped == {
        "comment line": 2,
        "blank line": 1,
        "no value in 'time_s'": 1,
        "no value in 'items'": 1,
    }


def test_file_where_every_row_is_skipped_says_why(tmp_path: Path) -> None:
    path = write(tmp_path, "none.csv", "time_s,rps\n,1\n,2\n")

    with pytest.raises(TraceError, match=r"no usable rows \(skipped: 2 × no value in 'time_s'\)"):
        load_trace(path)


def test_out_of_order_requests_are_sorted_and_noted(tmp_path: Path) -> None:
    path = write(tmp_path, "order.csv", "time_s\n0.2\n1.7\n0.9\n")

    trace = load_trace(path)

    assert trace.arrivals_s is not None
    np.testing.assert_allclose(trace.arrivals_s, [0.2, 0.9, 1.7])
    assert any("sorted" in note for note in trace.notes)


def test_tab_separated_file_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "tabs.tsv", "time_s\trps\n0\t3\n1\t4\n")

    np.testing.assert_array_equal(load_trace(path).rps, [3, 4])


def test_step_s_sets_the_bin_width(tmp_path: Path) -> None:
    path = write(tmp_path, "fine.csv", "time_s\n0.05\n0.15\n0.16\n")

    trace = load_trace(path, step_s=0.1)

    np.testing.assert_allclose(trace.rps, [10, 20])
    assert trace.step_s == 0.1


def test_rate_rows_read_the_same_however_their_numbers_are_written(tmp_path: Path) -> None:
    """A CSV's rows of numbers are read in one go, the others cell by cell: numbers
    written any way Python reads them give the same trace as the plain ones, and a
    row out of range still names its line and column."""
    plain = write(
        tmp_path,
        "plain.csv",
        "time_s,rps,items_per_request,burst_fraction\n0,10,1,1\n1,12.5,128,0\n2,0,3,0.25\n",
    )
    spelled = write(
        tmp_path,
        "spelled.csv",
        "time_s,rps,items_per_request,burst_fraction\n"
        '0.0, 1e1 ,1.000,1\n1,"12.50",1.28e2,0e0\n2e0,-0,3,.25\n',
    )
    a, b = load_trace(plain), load_trace(spelled)
    for field in ("rps", "items_per_request", "burst_fraction"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    bad = write(
        tmp_path,
        "bad.csv",
        "time_s,rps,items_per_request,burst_fraction\n0,10,1,1\n1,12,1,1.5\n",
    )
    with pytest.raises(TraceError, match=r"bad.csv:3:\d+: .*burst_fraction.*<= 1"):
        load_trace(bad)
