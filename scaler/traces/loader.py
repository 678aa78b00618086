"""Read a trace file (CSV or JSON Lines) into a :class:`Trace`.

Two shapes are recognised from the columns:

* **rate series**: a rate column (``rps``, ``rate``, ``requests_per_second``,
  ``req_per_s``, ``qps``) next to a time column; each row's rate holds until
  the next row's time (the last row lasts the median spacing), then the series
  is re-binned to ``step_s`` keeping the number of requests. Optional columns
  ``items_per_request`` (or another size name below) and ``burst_fraction``.
* **counts per bin**: a count column (``count``, ``requests``, ``n_requests``,
  ``request_count``, ``hits``, ``invocations``, or any column named by
  ``count_column``) next to a time column; each row's requests fall evenly
  over one bin from its time, the bin width being the smallest row spacing (any
  width: a minute, an hour), so missing rows are empty bins. Then re-binned to
  ``step_s`` keeping the number of requests.
* **one row per request**: a time column and optionally a size column (batch
  items: ``items``, ``batch_items``, ``batch_size``, ``items_per_request``,
  ``size``, ``n_items``, or any column named by ``size_column``); the arrivals
  are kept and binned to ``step_s``.

Times are ISO date-times (any number of fractional digits, UTC when no offset
is given) or numbers. The unit of numbers comes from ``time_unit``, else from a
unit suffix of the column name (``time_s``, ``ts_ms``, ``arrival_us``), else
from the magnitude of the first value: 1e8–1e10 epoch seconds, 1e11–1e13 epoch
milliseconds, 1e14–1e16 epoch microseconds, 1e17–1e19 epoch nanoseconds, below
1e8 seconds from an arbitrary origin (stated in the trace's notes). Magnitudes
between those ranges are ambiguous and need ``time_unit``.

Time columns are found by name (``timestamp``, ``time``, ``gmt_create``,
``created_at``, ``arrival_ms``… see ``TIME_NAMES``), else as the one column
whose name ends in a time unit (``*_s``, ``*_ms``, ``*_us``, ``*_ns``) and is no
duration (``latency_ms`` is not a time).

What looks implausible for the unit (a span of years, one request a minute
over days, evenly spaced one-request rows that look like counts) is stated in
``Trace.warnings`` with the flag that fixes it. A span of more than
``max_bins`` bins is refused while reading, at the row that makes it so,
before anything that size is allocated.

Nothing is dropped silently: blank lines, ``#`` comment lines and rows with an
empty time, size or rate are counted in ``Trace.skipped`` by reason (a skipped
rate row lets the previous rate hold); per-request rows out of time order are
sorted and the notes say how many; anything else
that cannot be read raises :class:`TraceError` naming ``file:line:column``
(1-based; the column is the character where the offending field starts);
so do text that is not UTF-8, truncated gzip data and running out of memory.
Values are streamed into compact arrays, never one Python object per request.
"""

from __future__ import annotations

import functools
import gzip
import math
import re
import zlib
from array import array
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from scaler.traces.model import FloatArray, Trace
from scaler.traces.rescale import hold_on_grid, rebin
from scaler.traces.sources import (
    CellError,
    CsvSource,
    Source,
    TraceError,
    locate_undecodable,
    open_source,
)
from scaler.traces.writer import INDICATOR_PREFIX

__all__ = ["TimeUnit", "TraceError", "TraceSpanError", "load_trace"]

TimeUnit = Literal["s", "ms", "us", "ns"]
UNIT_SECONDS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

RATE_NAMES = ("rps", "rate", "requests_per_second", "req_per_s", "qps")
COUNT_NAMES = ("count", "requests", "n_requests", "request_count", "hits", "invocations")
TIME_NAMES = (
    "timestamp",
    "time",
    "time_s",
    "time_ms",
    "time_us",
    "time_ns",
    "timestamp_s",
    "timestamp_ms",
    "timestamp_us",
    "timestamp_ns",
    "t",
    "ts",
    "ts_s",
    "ts_ms",
    "ts_us",
    "ts_ns",
    "datetime",
    "date",
    "arrival",
    "arrival_time",
    "arrival_s",
    "arrival_ms",
    "arrival_us",
    "arrival_ns",
    "start_time",
    "start_ms",
    "seconds",
    "epoch",
    "unix_time",
    "event_time",
    "request_time",
    "created",
    "created_at",
    "gmt_create",
    "gmt_created",
)
_DURATION_WORDS = re.compile(r"latency|duration|delay|elapsed|wait|ttft|tbt|took|runtime")
MAX_BINS = 40_000_000
"""Largest trace the loader builds: 463 days at 1 s, 320 MB per float64 series."""
SIZE_NAMES = ("items_per_request", "items", "batch_items", "batch_size", "size", "n_items")
BURST_NAMES = ("burst_fraction",)

_EPOCH_CLASSES: tuple[tuple[float, float, TimeUnit], ...] = (
    (1e8, 1e10, "s"),
    (1e11, 1e13, "ms"),
    (1e14, 1e16, "us"),
    (1e17, 1e19, "ns"),
)
_RELATIVE_LIMIT = 1e8
_UNIT_SUFFIX = re.compile(r"(?:^|_)(s|sec|secs|seconds|ms|msec|us|usec|ns|nsec)$")
_SUFFIX_UNIT: dict[str, TimeUnit] = {
    "s": "s",
    "sec": "s",
    "secs": "s",
    "seconds": "s",
    "ms": "ms",
    "msec": "ms",
    "us": "us",
    "usec": "us",
    "ns": "ns",
    "nsec": "ns",
}
_LONG_FRACTION = re.compile(r"([.,]\d{6})\d+")
_MAX_RATE = 1e9
"""Largest request rate (req/s), count or items per request read: anything above
is a corrupt value, not load a fleet could see."""
_PLAUSIBLE_SPAN_S = 2 * 365 * 86_400.0
_SPARSE_RPS = 1 / 60
_DENSE_RPS = 1e6
_SMALLER: dict[str, TimeUnit] = {"s": "ms", "ms": "us", "us": "ns"}
_LARGER: dict[str, TimeUnit] = {"ns": "us", "us": "ms", "ms": "s"}


def load_trace(
    path: str | Path,
    *,
    time_column: str | None = None,
    time_unit: TimeUnit | None = None,
    size_column: str | None = None,
    count_column: str | None = None,
    step_s: float = 1.0,
    max_bins: int = MAX_BINS,
) -> Trace:
    """Read ``path`` (``.csv``/``.tsv``, or ``.jsonl``/``.ndjson``/``.json`` with
    one object per line; ``.gz`` compressed too) into a trace binned at ``step_s``.

    ``time_column`` and ``time_unit`` override the detection when a file is
    ambiguous; ``size_column`` names the column of batch items per request
    (per-request files) or mean items per request (rate and count series);
    ``count_column`` names a column of requests per bin (read as counts per bin).
    """
    path = Path(path)
    if not (math.isfinite(step_s) and step_s > 0):
        raise ValueError(f"step_s must be a finite number > 0, got {step_s}")
    if time_unit is not None and time_unit not in UNIT_SECONDS:
        raise ValueError(f"time_unit must be one of s, ms, us, ns, got {time_unit!r}")
    source: Source | None = None
    try:
        source = open_source(path)
        return _load(source, time_column, time_unit, size_column, count_column, step_s, max_bins)
    except UnicodeDecodeError as error:
        line, column = locate_undecodable(path)
        raise TraceError(
            path, line, column, f"not UTF-8 text (byte {error.object[error.start]:#04x})"
        ) from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        line = 1 if source is None else source.line + 1
        raise TraceError(path, line, 1, f"truncated or corrupt gzip data ({error})") from None
    except MemoryError:
        line = 1 if source is None else source.line
        raise TraceError(
            path, line, 1, "out of memory reading the trace: pass a larger --step-s"
        ) from None
    finally:
        if source is not None:
            source.close()


def _load(
    source: Source,
    time_column: str | None,
    time_unit: TimeUnit | None,
    size_column: str | None,
    count_column: str | None,
    step_s: float,
    max_bins: int,
) -> Trace:
    columns = source.columns
    lowered = {name.strip().lower(): name for name in columns}
    kind: Literal["rate", "count"] = "rate"
    rate_col: str | None
    if count_column is not None:
        _require_column(source, count_column)
        rate_col, kind = count_column, "count"
    elif (rate_col := _find(lowered, RATE_NAMES)) is not None:
        pass
    elif (rate_col := _find(lowered, COUNT_NAMES)) is not None:
        kind = "count"
    time_col = _time_column(source, lowered, time_column, rate_col)
    size_col = _size_column(source, lowered, size_column, exclude={time_col, rate_col})
    parse_time = _TimeParser(time_col, time_unit)
    limit = _SpanLimit(source, time_col, step_s, max_bins)
    if rate_col is not None:
        burst_col = _find(lowered, BURST_NAMES)
        trace = _read_series(source, parse_time, rate_col, kind, size_col, burst_col, step_s, limit)
    else:
        trace = _read_requests(source, parse_time, size_col, step_s, limit)
    return replace(trace, warnings=tuple(_plausibility(trace, parse_time, rate_col, source)))


def _require_column(source: Source, name: str) -> None:
    if name not in source.columns:
        source.fail_header(f"no column {name!r} (columns: {_listing(source.columns)})")


class TraceSpanError(TraceError):
    """A trace spanning more than the bins allowed; ``span_s`` is the span so far
    (seconds), so a caller with its own limit (the dashboard) can word it."""

    def __init__(self, path: Path, line: int, column: int, message: str, span_s: float) -> None:
        self.span_s = span_s
        super().__init__(path, line, column, message)


class _SpanLimit:
    """Refuses, at the row that does it, a time span of more than ``max_bins`` bins:
    a stray epoch value among relative seconds would otherwise ask for terabytes."""

    def __init__(self, source: Source, column: str, step_s: float, max_bins: int) -> None:
        self.source = source
        self.column = column
        self.max_span_s = max_bins * step_s
        self.step_s = step_s
        self.max_bins = max_bins
        self.lo = math.inf
        self.hi = -math.inf

    def __call__(self, moment: float) -> None:
        if moment < self.lo:
            self.lo = moment
        if moment > self.hi:
            self.hi = moment
        if self.hi - self.lo > self.max_span_s:
            line, column = self.source.column_of(self.column)
            raise TraceSpanError(
                self.source.path,
                line,
                column,
                f"this time makes the trace span {_span_text(self.hi - self.lo)}, more than "
                f"{self.max_bins:,} bins of {self.step_s:g} s: check --time-unit, or pass a "
                "larger --step-s",
                span_s=self.hi - self.lo,
            )


def _span_text(seconds: float) -> str:
    if seconds >= 2 * 365 * 86_400:
        return f"{seconds / (365 * 86_400):,.3g} years"
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:,.3g} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:,.3g} h"
    return f"{seconds:,.6g} s"


def _find(lowered: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def _time_column(
    source: Source, lowered: dict[str, str], given: str | None, rate_col: str | None
) -> str:
    if given is not None:
        _require_column(source, given)
        return given
    found = [lowered[name] for name in TIME_NAMES if name in lowered]
    if not found:
        found = [
            original
            for name, original in lowered.items()
            if _UNIT_SUFFIX.search(name)
            and not _DURATION_WORDS.search(name)
            and original != rate_col
            and name not in SIZE_NAMES
        ]
    if len(found) > 1:
        source.fail_header(f"several possible time columns ({_listing(found)}): pass --time-column")
    if not found:
        if rate_col is None and len(source.columns) == 1:
            return source.columns[0]
        source.fail_header(
            f"no time column among {_listing(source.columns)} "
            f"(looked for {_listing(list(TIME_NAMES))}): pass --time-column"
        )
    return found[0]


def _size_column(
    source: Source, lowered: dict[str, str], given: str | None, exclude: set[str | None]
) -> str | None:
    if given is not None:
        _require_column(source, given)
        return given
    for name in SIZE_NAMES:
        if name in lowered and lowered[name] not in exclude:
            return lowered[name]
    return None


def _listing(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


class _TimeParser:
    """Turns time cells of one column into seconds, fixing the interpretation
    (ISO or number, and the unit) from the first value it sees."""

    def __init__(self, column: str, unit: TimeUnit | None) -> None:
        self.column = column
        self.given_unit = unit
        self.kind: Literal["iso", "number"] | None = None
        self.scale = 1.0
        self.unit: TimeUnit = "s"
        self.bounds = (-math.inf, math.inf)
        self.description = ""

    def __call__(self, cell: object) -> float:
        if self.kind is None:
            self._settle(cell)
        if self.kind == "iso":
            if not isinstance(cell, str):
                raise CellError(f"{cell!r} in column {self.column!r} is not a date-time")
            return _parse_iso(cell, self.column)
        value = _number(cell, self.column)
        lo, hi = self.bounds
        if not lo <= abs(value) < hi:
            raise CellError(
                f"{value:g} in column {self.column!r} does not have the magnitude of the "
                f"first value ({self.description}): pass --time-unit"
            )
        return value * self.scale

    def _settle(self, cell: object) -> None:
        if _empty(cell):
            raise CellError(f"no value in column {self.column!r}")
        if isinstance(cell, str) and not _looks_numeric(cell):
            if self.given_unit is not None:
                raise CellError(
                    f"column {self.column!r} holds date-times; --time-unit applies to numbers"
                )
            self.kind = "iso"
            self.description = "ISO date-time, UTC unless an offset is given"
            return
        self.kind = "number"
        first = abs(_number(cell, self.column))
        suffix = _UNIT_SUFFIX.search(self.column.strip().lower())
        if self.given_unit is not None:
            unit: TimeUnit = self.given_unit
            self.description = f"{unit} (given)"
        elif suffix is not None:
            unit = _SUFFIX_UNIT[suffix.group(1)]
            self.description = f"{unit} (from the column name)"
        else:
            unit, self.bounds, self.description = _unit_from_magnitude(first, self.column)
        self.unit = unit
        self.scale = UNIT_SECONDS[unit]


def _unit_from_magnitude(first: float, column: str) -> tuple[TimeUnit, tuple[float, float], str]:
    if first < _RELATIVE_LIMIT:
        return (
            "s",
            (0.0, _RELATIVE_LIMIT),
            "seconds from an arbitrary origin, assumed: no unit in the column name",
        )
    for lo, hi, unit in _EPOCH_CLASSES:
        if lo <= first < hi:
            return unit, (lo, hi), f"epoch {unit}, from the magnitude {first:.3g}"
    raise CellError(
        f"cannot tell the unit of {first:g} in column {column!r} (not epoch s, ms, us or ns, "
        "nor seconds below 1e8): pass --time-unit s|ms|us"
    )


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(cell: Any, column: str) -> float:
    try:
        value = float(cell)
    except (TypeError, ValueError):
        raise CellError(f"{cell!r} in column {column!r} is not a number") from None
    if value - value != 0.0:
        raise CellError(f"{cell!r} in column {column!r} is not a finite number")
    if type(cell) is bool or type(cell) is bytes:
        raise CellError(f"{cell!r} in column {column!r} is not a number")
    return value


def _parse_iso(text: str, column: str) -> float:
    """Seconds since the epoch; fractions beyond microseconds (the Azure traces
    have 7 digits) are cut to microseconds, below float64 resolution at today's
    epoch anyway."""
    cleaned = _LONG_FRACTION.sub(r"\1", text.strip(), count=1)
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise CellError(f"{text!r} in column {column!r} is not an ISO date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _non_negative(cell: object, column: str, upper: float = _MAX_RATE) -> float:
    value = _number(cell, column)
    if not 0 <= value <= upper:
        raise CellError(f"{value:g} in column {column!r} must be >= 0 and <= {upper:g}")
    return value


def _read_requests(
    source: Source,
    parse_time: _TimeParser,
    size_col: str | None,
    step_s: float,
    limit: _SpanLimit,
) -> Trace:
    time_col = parse_time.column
    times = array("d")
    sizes = array("d")
    wanted = [time_col] if size_col is None else [time_col, size_col]
    read_size = functools.partial(_non_negative, column=size_col or "")
    size = 1.0
    for cells in source.rows(wanted):
        column = time_col
        try:
            moment = parse_time(cells[0])
            if size_col is not None:
                column = size_col
                size = read_size(cells[1])
        except CellError as error:
            _skip_if_empty(source, column, cells[wanted.index(column)], error)
            continue
        limit(moment)
        times.append(moment)
        if size_col is not None:
            sizes.append(size)
    source.require_rows(len(times))

    t: FloatArray = np.frombuffer(times, dtype=np.float64)
    items: FloatArray | None = np.frombuffer(sizes, dtype=np.float64) if size_col else None
    notes = [f"one row per request: {len(t)} requests"]
    order_breaks = int(np.count_nonzero(np.diff(t) < 0))
    if order_breaks:
        order = np.argsort(t, kind="stable")
        t = t[order]
        items = None if items is None else items[order]
        notes.append(f"{order_breaks} rows earlier than the row before them: sorted by time")
    start = math.floor(t[0] / step_s) * step_s
    relative = t - start
    index = np.floor(relative / step_s).astype(np.int64)
    counts = np.bincount(index).astype(np.float64)
    per_bin: FloatArray | None = None
    if items is not None:
        overall = float(items.mean())
        per_bin = np.full_like(counts, overall)
        summed = np.bincount(index, weights=items, minlength=len(counts))
        busy = counts > 0
        per_bin[busy] = summed[busy] / counts[busy]
    notes.append(f"time column {time_col!r}: {parse_time.description}")
    if parse_time.kind == "iso" or parse_time.bounds[0] > 0:
        notes.append(f"starts {_iso(start)}")
    notes.append(f"size column {size_col!r}" if size_col else "no size column: 1 item per request")
    return Trace(
        name=source.name,
        rps=counts / step_s,
        step_s=step_s,
        items_per_request=per_bin,
        arrivals_s=relative,
        arrival_items=items,
        skipped=dict(source.skipped),
        notes=tuple(notes),
    )


def _numbers_in_range(
    cells: list[object], parse_time: _TimeParser, uppers: list[float]
) -> list[float] | None:
    """The values the readers of :func:`_read_series` give for a row of text cells when
    every cell is a finite number the readers accept (the time of the magnitude the
    first row set, in seconds; the others from 0 to their upper bound), else None
    (the readers then read the row, and name what is wrong with it)."""
    if parse_time.kind != "number":
        return None
    try:
        values = [float(c) for c in cells]  # type: ignore[arg-type]  # text, or raises
    except (TypeError, ValueError):
        return None
    t = values[0]
    lo, hi = parse_time.bounds
    if t - t != 0.0 or not lo <= abs(t) < hi:
        return None
    values[0] = t * parse_time.scale
    for v, up in zip(values[1:], uppers, strict=True):
        if v - v != 0.0 or not 0 <= v <= up:
            return None
    return values


def _read_series(
    source: Source,
    parse_time: _TimeParser,
    value_col: str,
    kind: Literal["rate", "count"],
    size_col: str | None,
    burst_col: str | None,
    step_s: float,
    limit: _SpanLimit,
) -> Trace:
    """A rate series (``value_col`` in req/s, each row holding until the next) or
    a count series (``value_col`` requests in one bin of the median row spacing)."""
    time_col = parse_time.column
    times, values_out, sizes, bursts = array("d"), array("d"), array("d"), array("d")
    optional = [c for c in (size_col, burst_col) if c is not None]
    gauges = [c for c in source.columns if c.strip().lower().startswith(INDICATOR_PREFIX)]
    gauge_values = [array("d") for _ in gauges]
    columns = [time_col, value_col, *optional, *gauges]
    upper = _MAX_RATE * 1e3 if kind == "count" else _MAX_RATE
    readers: list[Callable[[object], float]] = [
        parse_time,
        functools.partial(_non_negative, column=value_col, upper=upper),
        *(
            functools.partial(_non_negative, column=c, upper=1.0 if c == burst_col else _MAX_RATE)
            for c in optional
        ),
        *(functools.partial(_non_negative, column=c, upper=math.inf) for c in gauges),
    ]
    outputs = [
        times,
        values_out,
        *(sizes if c == size_col else bursts for c in optional),
        *gauge_values,
    ]
    uppers = [upper, *(1.0 if c == burst_col else _MAX_RATE for c in optional)]
    uppers += [math.inf] * len(gauges)
    # CSV cells are text: a row of numbers in range (nearly every row) is read in one
    # go; any other row goes through the readers, which say what is wrong with it.
    quick = isinstance(source, CsvSource)
    for cells in source.rows(columns):
        fast = _numbers_in_range(cells, parse_time, uppers) if quick else None
        if fast is not None:
            values = fast
        else:
            values = []
            try:
                for read, cell in zip(readers, cells, strict=True):
                    values.append(read(cell))
            except CellError as error:
                column = columns[len(values)]
                if len(values) < 2:
                    _skip_if_empty(source, column, cells[len(values)], error)
                    continue
                source.fail(column, str(error))
        if times and values[0] <= times[-1]:
            source.fail(time_col, f"time {cells[0]!r} is not after the previous row's")
        limit(values[0])
        for out, value in zip(outputs, values, strict=True):
            out.append(value)
    source.require_rows(len(times))

    t: FloatArray = np.frombuffer(times, dtype=np.float64)
    amount: FloatArray = np.frombuffer(values_out, dtype=np.float64)
    items = np.frombuffer(sizes, dtype=np.float64) if size_col else None
    burst = np.frombuffer(bursts, dtype=np.float64) if burst_col else None
    spacing = np.diff(t)
    width = (
        float(np.median(spacing) if kind == "rate" else spacing.min()) if len(spacing) else step_s
    )
    on_grid = len(spacing) == 0 or np.allclose(spacing, step_s, rtol=0, atol=1e-6 * step_s)
    if kind == "rate":
        notes = [f"rate series: {len(t)} rows, column {value_col!r} in req/s"]
        if on_grid:
            rps, per_bin, frac = amount.copy(), items, burst
        else:
            edges = np.concatenate((t, [t[-1] + width]))
            rps, per_bin, frac = rebin(
                edges, amount * np.diff(edges), step_s, items=items, bursts=burst
            )
            notes.append(
                f"rows {width:g} s apart (median) re-binned to {step_s:g} s; "
                "each row's rate holds until the next row"
            )
    else:
        notes = [
            f"counts per bin: {len(t)} rows, column {value_col!r} = requests in the "
            f"{width:g} s from the row's time (the smallest row spacing)"
            + (" (one row: bin width taken as the step)" if len(spacing) == 0 else "")
        ]
        if on_grid and (len(spacing) == 0 or width == step_s):
            rps, per_bin, frac = amount / step_s, items, burst
        else:
            edges, requests, seg_items, seg_bursts = _count_segments(t, amount, width, items, burst)
            rps, per_bin, frac = rebin(edges, requests, step_s, items=seg_items, bursts=seg_bursts)
            notes.append(
                f"re-binned to {step_s:g} s, each row's requests spread evenly over its bin; "
                "missing rows are empty bins"
            )
    notes.append(f"time column {time_col!r}: {parse_time.description}")
    if parse_time.kind == "iso" or parse_time.bounds[0] > 0:
        notes.append(f"starts {_iso(float(t[0]))}")
    if size_col:
        notes.append(f"items per request from {size_col!r}")
    if burst_col:
        notes.append(f"burst fraction from {burst_col!r}")
    indicators = {
        c.strip()[len(INDICATOR_PREFIX) :]: hold_on_grid(
            t - t[0], np.frombuffer(v, dtype=np.float64), step_s, len(rps)
        )
        for c, v in zip(gauges, gauge_values, strict=True)
    }
    if gauges:
        notes.append(f"leading indicators from {_listing(gauges)} (gauges: last value holds)")
    return Trace(
        name=source.name,
        rps=rps,
        step_s=step_s,
        items_per_request=per_bin,
        burst_fraction=frac,
        skipped=dict(source.skipped),
        notes=tuple(notes),
        indicators=indicators,
    )


def _count_segments(
    t: FloatArray,
    counts: FloatArray,
    width: float,
    items: FloatArray | None,
    bursts: FloatArray | None,
) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray | None]:
    """Segments for :func:`rebin`: each row's count over [t, t + width) (cut at the
    next row), with an empty segment wherever rows are further apart than that."""
    ends = np.minimum(t + width, np.concatenate((t[1:], [t[-1] + width])))
    gap = np.concatenate((t[1:] > ends[:-1], [False]))
    n = len(t) + int(gap.sum())
    slot = np.arange(len(t)) + np.concatenate(([0], np.cumsum(gap)[:-1]))
    edges = np.empty(n + 1)
    edges[slot] = t
    edges[slot[gap] + 1] = ends[gap]
    edges[-1] = ends[-1]
    requests = np.zeros(n)
    requests[slot] = counts

    def spread(values: FloatArray | None) -> FloatArray | None:
        if values is None:
            return None
        out = np.full(n, float(values.mean()))
        out[slot] = values
        return out

    return edges, requests, spread(items), spread(bursts)


def _plausibility(
    trace: Trace, parse_time: _TimeParser, value_col: str | None, source: Source
) -> list[str]:
    """Warnings about a span or rate that the time unit makes implausible, each
    naming the flag that fixes it."""
    out: list[str] = []
    if parse_time.kind != "number":
        return out
    unit = parse_time.unit
    span = trace.duration_s
    how = parse_time.description
    smaller, larger = _SMALLER.get(unit), _LARGER.get(unit)
    if span > _PLAUSIBLE_SPAN_S and smaller is not None:
        out.append(
            f"the trace spans {_span_text(span)} with times read as {how}: "
            f"if they are {smaller}, pass --time-unit {smaller}"
        )
    elif trace.arrivals_s is not None:
        n = len(trace.arrivals_s)
        rate = n / max(span, trace.step_s)
        dense = n / max(float(trace.arrivals_s[-1] - trace.arrivals_s[0]), 1e-12)
        if span > 86_400 and rate < _SPARSE_RPS and smaller is not None:
            out.append(
                f"{n:,} requests over {_span_text(span)} (one every {1 / rate:,.0f} s) with "
                f"times read as {how}: if they are {smaller}, pass --time-unit {smaller}"
            )
        elif n >= 100 and dense > _DENSE_RPS and larger is not None:
            out.append(
                f"{n:,} requests in {n / dense:.3g} s ({dense:,.3g} req/s) with times read as "
                f"{how}: "
                f"if they are {larger}, pass --time-unit {larger}"
            )
        gaps = np.diff(trace.arrivals_s)
        if n >= 10 and gaps.min() > 0 and np.ptp(gaps) <= 1e-9 * max(float(gaps[0]), 1.0):
            others = [c for c in source.columns if c != parse_time.column]
            named = f"--count-column {others[0]}" if len(others) == 1 else "--count-column NAME"
            out.append(
                f"rows are evenly spaced {float(gaps[0]):g} s apart and read as one request "
                f"each: if each row counts the requests of a bin, pass {named}"
            )
    elif value_col is not None and trace.peak_rps > _DENSE_RPS and larger is not None:
        out.append(
            f"peak {trace.peak_rps:,.3g} req/s with times read as {how}: "
            f"if they are {larger}, pass --time-unit {larger}"
        )
    return out


def _skip_if_empty(source: Source, column: str, cell: object, error: CellError) -> None:
    """Count a row whose ``column`` is empty as skipped; fail on any other bad value."""
    if not _empty(cell):
        source.fail(column, str(error))
    source.skip(f"no value in {column!r}")


def _empty(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat().replace("+00:00", "Z")
