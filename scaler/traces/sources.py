"""Row readers for trace files (CSV and JSON Lines) that know where each field
sits, so every error can name ``file:line:column``.

The loader asks a source for the cells of a few named columns, row by row;
the source streams the file, counts the lines it skips (blank, ``#`` comments)
and turns a bad value into a :class:`TraceError` pointing at the field.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, TextIO

BLANK = "blank line"
COMMENT = "comment line"
FORMATS = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")


class TraceError(ValueError):
    """A trace file that cannot be read; the message starts ``file:line:column:``
    (1-based; the column is the character where the offending field starts)."""

    def __init__(self, path: Path, line: int, column: int, message: str) -> None:
        self.path = path
        self.line = line
        self.column = column
        super().__init__(f"{path}:{line}:{column}: {message}")


class CellError(ValueError):
    """A value that cannot be read; the source adds file, line and column."""


class Source(ABC):
    """Rows of one file, with what it takes to point at a field in an error."""

    def __init__(self, path: Path, text: TextIO) -> None:
        self.path = path
        self.name = path.name.split(".")[0] or path.name
        self.text = text
        self.columns: list[str] = []
        self.header_line = 1
        self.line = 0
        self.skipped: Counter[str] = Counter()

    @abstractmethod
    def rows(self, names: list[str]) -> Iterator[list[object]]:
        """The cells of ``names`` in each data row (``None`` when absent)."""

    @abstractmethod
    def column_of(self, name: str) -> tuple[int, int]:
        """(line, column) where field ``name`` of the current row starts."""

    def close(self) -> None:
        self.text.close()

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def read(self, parse: Callable[[object], float], cell: object, name: str) -> float:
        """``parse(cell)``, with a :class:`CellError` turned into a located error."""
        try:
            return parse(cell)
        except CellError as error:
            self.fail(name, str(error))

    def fail(self, name: str, message: str) -> NoReturn:
        line, column = self.column_of(name)
        raise TraceError(self.path, line, column, message)

    def fail_header(self, message: str) -> NoReturn:
        raise TraceError(self.path, self.header_line, 1, message)

    def require_rows(self, kept: int) -> None:
        """Fail when no data row was kept, saying why."""
        if kept:
            return
        if set(self.skipped) <= {BLANK, COMMENT}:
            raise TraceError(self.path, self.line + 1, 1, "no data rows")
        reasons = ", ".join(f"{n} × {r}" for r, n in self.skipped.items())
        raise TraceError(self.path, self.line, 1, f"no usable rows (skipped: {reasons})")


class CsvSource(Source):
    """Comma-separated values with a header row (tab- or semicolon-separated
    when the header has no comma); blank lines and lines starting with ``#``
    are skipped.

    Rows are parsed by the ``csv`` module straight from the file; the raw text
    of a row is read again only to locate an error, so the common path keeps no
    per-line copies.
    """

    def __init__(self, path: Path, text: TextIO, reopen: Callable[[], TextIO]) -> None:
        super().__init__(path, text)
        self._reopen = reopen
        header_text = ""
        while raw := text.readline():
            self.line += 1
            if not raw.strip():
                self.skip(BLANK)
            elif raw.lstrip().startswith("#"):
                self.skip(COMMENT)
            else:
                header_text = raw
                break
        if not header_text:
            raise TraceError(path, self.line + 1, 1, "empty file: expected a header row")
        self.header_line = self.line
        self._delimiter = next((d for d in (",", "\t", ";") if d in header_text), ",")
        header = next(csv.reader([header_text], delimiter=self._delimiter))
        self.columns = [name.strip() for name in header]
        repeated = [n for n, k in Counter(self.columns).items() if k > 1]
        if repeated:
            self.fail_header(f"column {repeated[0]!r} appears more than once in the header")
        self._index = {name: i for i, name in enumerate(self.columns)}
        self._reader = csv.reader(text, delimiter=self._delimiter)
        self._record_line = self.line

    def rows(self, names: list[str]) -> Iterator[list[object]]:
        wanted = [self._index[name] for name in names]
        width = len(self.columns)
        reader = self._reader
        offset = self.header_line
        while True:
            previous_end = reader.line_num
            try:
                row = next(reader)
            except StopIteration:
                self.line = offset + reader.line_num
                return
            except csv.Error as error:
                line = offset + reader.line_num
                raise TraceError(self.path, line, 1, f"bad CSV: {error}") from None
            if len(row) != width:
                self._record_line = offset + previous_end + 1
                self.line = offset + reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    self.skip(BLANK)
                    continue
                if row[0].lstrip().startswith("#"):
                    self.skip(COMMENT)
                    continue
                column = _field_offset(self._record_text(), min(len(row), width), self._delimiter)
                raise TraceError(
                    self.path,
                    self._record_line,
                    column + 1,
                    f"row has {len(row)} fields, the header has {width}",
                )
            if row[0][:1] == "#":
                self.skip(COMMENT)
                continue
            self._record_line = offset + previous_end + 1
            self.line = offset + reader.line_num
            yield [row[i] for i in wanted]

    def _record_text(self) -> str:
        """The raw text of the current row, read again from the file."""
        with self._reopen() as again:
            lines = itertools.islice(again, self._record_line - 1, self.line)
            return "".join(lines)

    def column_of(self, name: str) -> tuple[int, int]:
        record = self._record_text()
        offset = _field_offset(record, self._index[name], self._delimiter)
        line = self._record_line + record.count("\n", 0, offset)
        return line, offset - (record.rfind("\n", 0, offset) + 1) + 1


def _field_offset(record: str, index: int, delimiter: str) -> int:
    """Character offset where field ``index`` starts in a CSV record (the end
    of the record when it has fewer fields)."""
    field, quoted = 0, False
    for offset, char in enumerate(record):
        if field == index:
            return offset
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            field += 1
    return len(record.rstrip("\r\n"))


class JsonLinesSource(Source):
    """One JSON object per line; the first object's keys are the columns;
    blank lines are skipped."""

    def __init__(self, path: Path, text: TextIO) -> None:
        super().__init__(path, text)
        self._raw = ""
        self._pending = self._next_object()
        if self._pending is None:
            raise TraceError(path, self.line + 1, 1, "empty file: expected one JSON object a line")
        self.header_line = self.line
        self.columns = list(self._pending)

    def _next_object(self) -> dict[str, object] | None:
        for raw in self.text:
            self.line += 1
            self._raw = raw
            if not raw.strip():
                self.skip(BLANK)
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as error:
                raise TraceError(self.path, self.line, error.colno, error.msg) from None
            except (ValueError, RecursionError) as error:
                where = len(raw) - len(raw.lstrip()) + 1
                raise TraceError(self.path, self.line, where, f"bad JSON: {error}") from None
            if not isinstance(value, dict):
                where = len(raw) - len(raw.lstrip()) + 1
                hint = " (one object per line; a JSON array is not read)" * isinstance(value, list)
                raise TraceError(self.path, self.line, where, f"expected a JSON object{hint}")
            return value
        return None

    def rows(self, names: list[str]) -> Iterator[list[object]]:
        row, self._pending = self._pending, None
        while row is not None:
            yield [row.get(name) for name in names]
            row = self._next_object()

    def column_of(self, name: str) -> tuple[int, int]:
        return self.line, self._raw.find(json.dumps(name)) + 1 or 1


def locate_undecodable(path: Path) -> tuple[int, int]:
    """(line, column) of the first byte that is not UTF-8 in ``path``, read again
    as bytes (the text decoder reads ahead, so its position is not the line's);
    (1, 1) when the bytes cannot be read again."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as raw:
            for number, line in enumerate(raw, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as error:
                    prefix = line[: error.start].decode("utf-8", errors="replace")
                    return number, len(prefix.removeprefix("\ufeff")) + 1
    except (OSError, EOFError, ValueError):
        pass
    return 1, 1


def open_source(path: Path) -> Source:
    """A row reader for ``path`` chosen by its extension (``.gz`` is unpacked)."""
    suffixes = [s.lower() for s in path.suffixes]
    compressed = suffixes[-1:] == [".gz"]
    kind = (suffixes[:-1] if compressed else suffixes)[-1:] or [""]
    if kind[0] not in FORMATS:
        raise TraceError(path, 1, 1, f"unknown trace format: expected {', '.join(FORMATS)}")

    def reopen() -> TextIO:
        opener = gzip.open if compressed else open
        text: TextIO = opener(path, "rt", encoding="utf-8-sig", newline="")
        return text

    try:
        text = reopen()
    except OSError as error:
        raise TraceError(path, 1, 1, f"cannot open: {error.strerror or error}") from None
    try:
        if kind[0] in {".csv", ".tsv"}:
            return CsvSource(path, text, reopen)
        return JsonLinesSource(path, text)
    except BaseException:
        text.close()
        raise
