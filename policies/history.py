"""The observation history as numeric columns, kept up to date one row per decision.

Policies that learn from their history (adaptive, predictive) read it as arrays.
Turning a tuple of hours of :class:`~policies.observation.Observation` objects into
arrays at every decision costs a Python loop over the whole history each time (at a
5 s refresh, 4,320 observations for 6 h, a dozen fields): most of a simulated day's
CPU. The pipeline instead carries a :class:`HistoryColumns` beside the tuple in its
state and appends the new observation's row, so a decision pays for one row.

Columns are a pure function of the tuple they describe: :func:`history_columns`
returns the pipeline's columns only when they were built for that very tuple (the
same object), and otherwise builds them from the observations. A policy therefore
decides the same from the same observations whether the columns came along or not
(a test, a wrapper that edits the history, a state rebuilt after a restart).

Storage is one float array per history (fields × rows) with room to grow; a history
trimmed at the front keeps the same storage until it fills, then the live rows are
copied to a fresh array. Appending never changes the rows an older
:class:`HistoryColumns` sees: only the columns whose last row is the storage's last
written row append in place; any other (a state decided from twice) copies first.

What a policy computes from each observation (its work, capacity, queue in
:mod:`policies.work`) is kept with the storage too (:meth:`HistoryColumns.derived`):
stored rows never change, so those arrays are extended by the new row at each decision
instead of recomputed over hours of rows. They are a cache, not state: built from the
rows alone (a restarted scaler builds them from its rebuilt history and decides the
same), and a test compares the decisions with those of a scaler that rebuilds
everything at every decision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator, Mapping
from operator import attrgetter
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from policies.forecast import FloatArray
from policies.observation import SIGNAL_FIELDS, Observation

COLUMN_FIELDS: tuple[str, ...] = ("time_s", "ready_replicas", "desired_replicas", *SIGNAL_FIELDS)
"""Observation fields kept as columns (absent values as NaN)."""

COLUMN_INDEX: dict[str, int] = {name: i for i, name in enumerate(COLUMN_FIELDS)}
"""Row of each field in :meth:`HistoryColumns.matrix`."""

T = TypeVar("T")

_MIN_ROOM = 64
"""Rows of storage at least (a fresh history grows by doubling from here)."""


RowWise = Callable[[FloatArray, dict[str, Any] | None], dict[str, npt.NDArray[Any]]]
"""Arrays computed from a block of rows (fields × rows, as :meth:`HistoryColumns.matrix`)
and the values of the row before the block (None at the first stored row): one value
per row, which depends on that row and the rows before it only (a running value such
as a last-known or a cumulative count carries through ``before``)."""

OneRow = Callable[[list[float], Mapping[str, Any]], dict[str, Any]]
"""The same values for one row (its fields as floats, in :data:`COLUMN_FIELDS` order)
after at least one stored row (``before``), as Python scalars: a decision appends one
row, and a dozen NumPy calls on one-element arrays cost ten times the arithmetic. It
must give the very values :data:`RowWise` gives for that row (IEEE arithmetic on
floats is the same in Python and NumPy; the caller keeps the two in step, and a test
compares them)."""


LookBack = Callable[["HistoryColumns", int, dict[str, npt.NDArray[Any]] | None], dict[str, Any]]
"""Values of the stored rows from ``start`` on, computed with every stored row before at
hand (see :meth:`HistoryColumns.stored_rows`): arrays, or for one row after stored ones
scalars (no one-element arrays to build)."""


class _Storage:
    """Rows ``[0, written)`` of ``data`` hold observations; later rows are free.
    ``derived`` keeps, per key, arrays computed row by row from the rows and how many
    rows they cover (see :meth:`HistoryColumns.derived`)."""

    __slots__ = ("carried", "data", "derived", "memo", "read_only", "written")

    def __init__(self, rows: int) -> None:
        self.data = np.empty((len(COLUMN_FIELDS), max(rows, _MIN_ROOM)))
        self.read_only = _read_only(self.data)
        """``data`` seen read-only: its slices are the views handed out, read-only
        without setting a flag on each."""
        self.written = 0
        self.derived: dict[Hashable, _Derived] = {}
        self.memo: dict[Hashable, tuple[tuple[int, int], Any]] = {}
        self.carried: dict[Hashable, Any] = {}


class _Derived:
    """Arrays computed row by row (writable, and the same seen read-only) and how many
    stored rows they cover."""

    __slots__ = ("arrays", "done", "read_only")

    def __init__(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.arrays = arrays
        self.read_only = {k: _read_only(v) for k, v in arrays.items()}
        self.done = 0


class _Last(Mapping[str, Any]):
    """The values of one stored row of derived arrays, read on demand (a one-row update
    reads two or three of a dozen)."""

    __slots__ = ("_arrays", "_i")

    def __init__(self, arrays: dict[str, npt.NDArray[Any]], i: int) -> None:
        self._arrays = arrays
        self._i = i

    def __getitem__(self, key: str) -> Any:
        return self._arrays[key][self._i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)


def _keep(
    store: _Storage,
    key: Hashable,
    kept: _Derived | None,
    fresh: Mapping[str, npt.NDArray[Any]],
    done: int,
    hi: int,
) -> _Derived:
    """Write ``fresh`` (the values of stored rows ``[done, hi)``) into what ``store``
    keeps under ``key``, making room for every stored row the first time."""
    if kept is None:
        room = store.data.shape[1]
        kept = _Derived({k: np.empty(room, dtype=v.dtype) for k, v in fresh.items()})
        store.derived[key] = kept
    if hi - done == 1:
        # One row (every decision): an item, where a slice assignment costs 3x. A
        # one-row block's values are one-element arrays: they take the slice.
        for k, v in fresh.items():
            if isinstance(v, np.ndarray):
                kept.arrays[k][done:hi] = v
            else:
                kept.arrays[k][done] = v
    else:
        for k, v in fresh.items():
            kept.arrays[k][done:hi] = v
    kept.done = hi
    return kept


def _read_only(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    view = a.view()
    view.flags.writeable = False
    return view


_fields = attrgetter(*COLUMN_FIELDS)


def _row(o: Observation) -> list[float]:
    return [math.nan if v is None else float(v) for v in _fields(o)]


class HistoryColumns:
    """Columns of the observations of ``source`` (a history tuple), oldest first."""

    __slots__ = ("_hi", "_lo", "_store", "source")

    def __init__(self, store: _Storage, lo: int, hi: int, source: tuple[Observation, ...]) -> None:
        self._store = store
        self._lo = lo
        self._hi = hi
        self.source = source
        """The history tuple these columns were built for (compared by identity)."""

    @staticmethod
    def of(history: tuple[Observation, ...]) -> HistoryColumns:
        """Columns built from ``history``'s observations."""
        store = _Storage(2 * len(history))
        if history:
            store.data[:, : len(history)] = np.array([_row(o) for o in history]).T
        store.written = len(history)
        return HistoryColumns(store, 0, len(history), history)

    def __len__(self) -> int:
        return self._hi - self._lo

    def column(self, name: str) -> FloatArray:
        """One field over the history (read-only view; NaN where absent)."""
        view: FloatArray = self._store.read_only[COLUMN_INDEX[name], self._lo : self._hi]
        return view

    def matrix(self) -> FloatArray:
        """Every column at once, as the rows of one (fields, observations) read-only
        view in :data:`COLUMN_FIELDS` order (:data:`COLUMN_INDEX` gives a field's row)."""
        view: FloatArray = self._store.read_only[:, self._lo : self._hi]
        return view

    def derived(
        self, key: Hashable, rows: RowWise, row: OneRow | None = None
    ) -> dict[str, npt.NDArray[Any]]:
        """``rows`` over every stored row up to this history's last, computed once per
        stored row instead of per call; the views of this history's rows are returned.

        ``rows`` must be causal (a row's values depend on it and on earlier rows only)
        and the same function for the same ``key``: stored rows never change, so values
        computed for an earlier, shorter history stay valid and a decision computes
        only the rows appended since. Rows before this history's first (still stored,
        not yet dropped) may weigh in through running values; the caller accounts for
        that. ``row``, if given, computes a single new row after stored ones (what a
        decision appends) without NumPy. The arrays are read-only."""
        store, lo, hi = self._store, self._lo, self._hi
        kept = store.derived.get(key)
        done = 0 if kept is None else kept.done
        if kept is not None and done < hi and row is not None and done and hi - done == 1:
            arrays = kept.arrays
            values = row(store.data[:, done].tolist(), _Last(arrays, done - 1))
            for k, v in arrays.items():
                v[done] = values[k]
            kept.done = hi
        elif done < hi:
            before = {k: v[done - 1] for k, v in kept.arrays.items()} if kept and done else None
            fresh = rows(store.data[:, done:hi], before)
            kept = _keep(store, key, kept, fresh, done, hi)
        if kept is None:
            return {}
        return {k: v[lo:hi] for k, v in kept.read_only.items()}

    def stored_rows(
        self, key: Hashable, compute: LookBack, skip: int = 0
    ) -> dict[str, npt.NDArray[Any]]:
        """Like :meth:`derived`, for values that look further back than one row (a count
        over the last minute, the index of the first sample of a window): ``compute``
        is given the columns of every stored row up to this history's last (``whole``,
        from the storage's first row, which may be older than this history's first),
        the first row to compute and the arrays it computed before for the earlier
        rows (None at the first), and returns the values of rows ``[start, len(whole))``.
        A stored row's values are computed once; this history's rows are returned as
        read-only views (without the first ``skip``). What a value depends on before this
        history's first row is the caller's to account for (e.g. by recomputing those
        first rows)."""
        store, lo, hi = self._store, self._lo, self._hi
        kept = store.derived.get(key)
        done = 0 if kept is None else kept.done
        if done < hi:
            prior = {k: v[:done] for k, v in kept.read_only.items()} if kept and done else None
            fresh = compute(HistoryColumns(store, 0, hi, ()), done, prior)
            kept = _keep(store, key, kept, fresh, done, hi)
        if kept is None:
            return {}
        lo = min(lo + skip, hi)
        return {k: v[lo:hi] for k, v in kept.read_only.items()}

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``, kept with the storage for these very rows: a value built from
        the rows (a view of them) that several callers of one decision want, built
        once. The latest per key is kept."""
        span = (self._lo, self._hi)
        kept = self._store.memo.get(key)
        if kept is not None and kept[0] == span:
            value: T = kept[1]
            return value
        value = make()
        self._store.memo[key] = (span, value)
        return value

    @property
    def offset(self) -> int:
        """Index of this history's first row among the rows its storage has kept: rows
        keep their index as long as the storage does, so it names them from decision
        to decision (with :meth:`carried`)."""
        return self._lo

    def carried(self, key: Hashable, make: Callable[[], T]) -> T:
        """An object kept with the storage from decision to decision (``make()`` the
        first time): a cache that names the rows it was built from by their storage
        index (:attr:`offset` + row) and checks them, as it may meet any history of
        the storage, such as an older one decided from again."""
        kept = self._store.carried.get(key)
        if kept is None:
            kept = self._store.carried[key] = make()
        value: T = kept
        return value

    def tail(self, start: int, source: tuple[Observation, ...]) -> HistoryColumns:
        """The rows from ``start`` on, sharing storage: the columns of ``source`` when it
        is ``history[start:]`` (a wrapper handing its policy a shorter history)."""
        return HistoryColumns(self._store, self._lo + min(start, len(self)), self._hi, source)

    def with_last(self, obs: Observation, source: tuple[Observation, ...]) -> HistoryColumns:
        """A copy with the newest row replaced by ``obs``: the columns of ``source`` when
        it is the history with its last observation replaced (a what-if)."""
        store = _Storage(len(self))
        store.data[:, : len(self)] = self._store.data[:, self._lo : self._hi]
        if len(self):
            store.data[:, len(self) - 1] = _row(obs)
        store.written = len(self)
        return HistoryColumns(store, 0, len(self), source)

    def trimmed(
        self, drop: int, obs: Observation, source: tuple[Observation, ...]
    ) -> HistoryColumns:
        """These columns without their ``drop`` oldest rows and with ``obs`` appended:
        the columns of ``source`` when it is that history."""
        lo, hi, store = self._lo + min(drop, len(self)), self._hi, self._store
        if store.written != hi or hi == store.data.shape[1]:
            fresh = _Storage(2 * (hi - lo + 1))
            fresh.data[:, : hi - lo] = store.data[:, lo:hi]
            store, lo, hi = fresh, 0, hi - lo
        store.data[:, hi] = _row(obs)
        store.written = hi + 1
        return HistoryColumns(store, lo, hi + 1, source)


def history_columns(
    history: tuple[Observation, ...], columns: HistoryColumns | None
) -> HistoryColumns:
    """``columns`` when they were built for ``history`` itself, else columns built from
    its observations: the same arrays either way."""
    if columns is not None and columns.source is history:
        return columns
    return HistoryColumns.of(history)
