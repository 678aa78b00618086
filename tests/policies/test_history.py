"""The pipeline's history columns: always the arrays of the history tuple they come
with, however the history was trimmed, and never changed by a later decision."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import Guardrails, Observation, PipelineState, decide
from policies.adaptive import AdaptiveParams, AdaptivePolicy
from policies.history import COLUMN_FIELDS, HistoryColumns, history_columns
from policies.predictive import PredictiveParams, PredictivePolicy
from policies.work import WorkHistory, work_history
from tests.policies import obs

G = Guardrails(max_replicas=1000, scale_down_stabilization_s=0)


def _expected(history: tuple[Observation, ...]) -> dict[str, list[float]]:
    return {
        name: [math.nan if getattr(o, name) is None else float(getattr(o, name)) for o in history]
        for name in COLUMN_FIELDS
    }


def _same(columns: HistoryColumns, history: tuple[Observation, ...]) -> None:
    assert columns.source is history
    assert len(columns) == len(history)
    for name, want in _expected(history).items():
        np.testing.assert_array_equal(columns.column(name), np.asarray(want, dtype=float))


def _load(t: float) -> Observation:
    rate = 10.0 + 5.0 * math.sin(t / 300.0)
    return obs(
        t,
        2,
        request_rate_rps=rate,
        activation_rps=rate,
        items_per_s=rate * 4,
        execs_per_s=rate,
        compute_time_per_request_ms=3.0,
        queue_time_per_request_ms=1.0,
        pending_requests=None if int(t) % 7 == 0 else 0.0,
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(1, 4_000), min_size=1, max_size=60))
def test_columns_are_the_trimmed_history_after_every_decision(steps: list[float]) -> None:
    """Observations at growing times, the adaptive policy keeping 6 h: each state's
    columns equal the columns built from its history tuple."""
    state = PipelineState()
    t = 0.0
    for dt in steps:
        t += dt
        _, state = decide(AdaptivePolicy(), AdaptiveParams(), G, _load(t), state, t)
        assert state.columns is not None
        _same(state.columns, state.history)


def test_deciding_twice_from_one_state_leaves_the_first_answer_intact() -> None:
    """A state is a value: deciding from it again (the dashboard's what-if does) must
    not overwrite the rows a state derived from it already shows."""
    state = PipelineState()
    for t in range(0, 300, 5):
        _, state = decide(AdaptivePolicy(), AdaptiveParams(), G, _load(t), state, t)
    _, a = decide(AdaptivePolicy(), AdaptiveParams(), G, _load(300.0), state, 300.0)
    other = obs(300.0, 7, request_rate_rps=99.0)
    _, b = decide(AdaptivePolicy(), AdaptiveParams(), G, other, state, 300.0)
    assert a.columns is not None and b.columns is not None
    _same(a.columns, a.history)
    _same(b.columns, b.history)


def test_columns_for_another_tuple_are_rebuilt() -> None:
    """Columns that came with a different tuple (a wrapper edited the history) are
    not used: the arrays are built from the tuple handed over."""
    history = tuple(_load(float(t)) for t in range(0, 50, 5))
    stale = HistoryColumns.of(history[:-1] + (obs(45.0, 9),))
    got = history_columns(history, stale)
    _same(got, history)


def test_a_tail_and_a_replaced_last_row_are_the_columns_of_those_histories() -> None:
    """What a wrapper hands its policy (the last hours of a longer history, or the
    history with the newest observation replaced by a what-if) has its own columns."""
    history = tuple(_load(float(t)) for t in range(0, 600, 15))
    cols = HistoryColumns.of(history)
    tail = history[10:]
    _same(cols.tail(10, tail), tail)
    what_if = (*tail[:-1], obs(tail[-1].time_s, 7, request_rate_rps=99.0))
    _same(cols.tail(10, tail).with_last(what_if[-1], what_if), what_if)
    _same(cols, history)


def _gappy(t: float) -> Observation:
    """Load with stretches at zero replicas (only the proxy's rate) and without
    completions, so items per request must be carried over gaps."""
    phase = int(t) // 600 % 4
    if phase == 3:
        return obs(t, 0, activation_rps=5.0 if int(t) % 20 else 0.0, desired_replicas=0)
    rate = 0.0 if phase == 2 else 10.0 + 5.0 * math.sin(t / 300.0)
    return obs(
        t,
        2 + phase,
        desired_replicas=3 if int(t) % 50 == 0 else 2 + phase,
        request_rate_rps=rate,
        activation_rps=rate,
        items_per_s=rate * (4 + phase),
        execs_per_s=rate / 2,
        compute_time_per_request_ms=3.0 + phase,
        queue_time_per_request_ms=float(int(t) % 11),
        gpu_utilization=0.5,
        pending_requests=None if int(t) % 7 == 0 else float(int(t) % 5),
    )


def _reference_work(history: tuple[Observation, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Work and backlog (items/s, items) as defined: requests in front of the fleet
    (completions where the front counter does not count) and pending requests, times
    the last known items per request in this history (before the first known one,
    that one; 1 without any)."""
    known = [
        o.items_per_s / o.request_rate_rps
        if o.request_rate_rps and o.items_per_s is not None
        else None
        for o in history
    ]
    first = next((k for k in known if k is not None), 1.0)
    work, backlog, last = [], [], first
    for o, k in zip(history, known, strict=True):
        last = k if k is not None else last
        front = o.activation_rps
        counts = front is not None and (front > 0 or o.ready_replicas == 0)
        requests = front if counts else o.request_rate_rps
        work.append(math.nan if requests is None else requests * last)
        pending = o.pending_requests
        backlog.append(math.nan if pending is None else pending * last)
    return np.asarray(work), np.asarray(backlog)


def test_work_history_from_the_pipelines_columns_is_the_one_built_from_the_tuple() -> None:
    """The per-observation arrays are computed once per row and kept with the columns
    (items per request carried from row to row); the work history read through them
    equals the one built from the tuple alone, and its work and backlog are the
    definition's, after every decision, while the front of the history is trimmed."""
    params = AdaptiveParams(capacity_window_seconds=600, peak_hold_seconds=60)
    state = PipelineState()
    for t in range(0, 9 * 3_600, 37):
        _, state = decide(AdaptivePolicy(), params, G, _gappy(float(t)), state, float(t))
        if t % 7 and t < 8 * 3_600:
            continue
        fast = work_history(state.history, 2, state.columns)
        slow = work_history(state.history, 2, HistoryColumns.of(state.history))
        for name in WorkHistory.__dataclass_fields__:
            if name in ("columns", "first"):  # where the rows came from, not what they say
                continue
            np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)
        work, backlog = _reference_work(state.history)
        np.testing.assert_allclose(fast.work, work, rtol=1e-12)
        np.testing.assert_allclose(fast.backlog_items, backlog, rtol=1e-12)


def test_fast_path_decides_as_a_scaler_rebuilt_at_every_decision() -> None:
    """Adaptive and predictive decide the same whether the pipeline carries its columns
    (and what was computed from them) or every decision starts from the bare
    history, as a restarted scaler does."""
    for policy, params in (
        (AdaptivePolicy(), AdaptiveParams()),
        (PredictivePolicy(), PredictiveParams()),
    ):
        carried, rebuilt = PipelineState(), PipelineState()
        for t in range(0, 7 * 3_600, 25):
            o = _gappy(float(t))
            a, carried = decide(policy, params, G, o, carried, float(t))
            b, rebuilt = decide(policy, params, G, o, replace(rebuilt, columns=None), float(t))
            assert (a.value, a.recommended, a.reason) == (b.value, b.recommended, b.reason)


def test_queue_rows_kept_per_storage_row_are_those_worked_out_on_each_history() -> None:
    """The adaptive policy's queue memory (replicas each settled queue asks for, which
    rows count, which persist, and the median of those under comparable work), kept
    per storage row for one capacity, equals the one worked out over each whole
    history, across capacities that change, overloads (a backlog the fleet cannot
    clear), and a history trimmed at the front."""
    from policies.adaptive import _queue_rows, _remembered

    params = AdaptiveParams(capacity_window_seconds=600, peak_hold_seconds=60)
    state = PipelineState()
    checked = overloaded = pressed = nonzero = 0
    for t in range(0, 44_000, 13):
        _, state = decide(AdaptivePolicy(), params, G, _gappy(float(t)), state, float(t))
        h = work_history(state.history, 1, state.columns)
        if h.columns is None:
            continue
        # Each its own queue target (rows are kept per target), low enough that queues
        # persist: no capacity, one that changes now and then (rows worked out again),
        # one low enough that the backlog overloads the fleet, one that goes from that
        # to one that does not. Every decision, so rows are added one by one.
        low_high = 0.5 if t // 520 % 2 else 1e6  # overloads come and go with it
        for cap, target in (
            (None, 2.0),
            (40.0 + (t // 3_000) % 3, 1.0),
            (0.5, 3.0),
            (low_high, 4.0),
        ):
            fast = _queue_rows(h, cap, target)
            slow = _queue_rows(replace(h, columns=None), cap, target)
            n = h.times.size
            for a, b in zip(fast.rows(0, n), slow.rows(0, n), strict=True):
                np.testing.assert_array_equal(a, b)
            # The median of what comparable queues asked for, its values kept sorted
            # per held work (here one that changes now and then) over a window that
            # slides: the one taken over the rows.
            held = float(np.nanmax(h.work[-6:], initial=0.0)) if t % 1_000 < 500 else 30.0
            window = (n // 50, max(n - 4, n // 50))
            remembered = _remembered(h, fast, held, *window)
            assert remembered == _remembered(h, slow, held, *window)
            checked += 1
            nonzero += remembered > 0
            pressed += bool(fast.pressed[-1])
        overloaded += bool((h.backlog_items > 0.5 * h.ready * 3.0 / 1000.0).any())
    assert checked > 3_000 and overloaded > 100 and pressed > 100 and nonzero > 1_000


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0, 50, allow_subnormal=False), max_size=40),
    st.lists(st.floats(0, 50, allow_subnormal=False), max_size=6),
)
def test_median_of_two_sorted_lists_is_numpys(values: list[float], extra: list[float]) -> None:
    """The queue memory's median, read off a kept sorted list and a few values of the
    history's first rows, is NumPy's median of all of them, bit for bit (0: none)."""
    from policies.adaptive import _median_of

    both = np.asarray(values + extra, dtype=float)
    want = float(np.median(both)) if both.size else 0.0
    assert _median_of(sorted(values), sorted(extra)) == want


def test_the_queue_memory_survives_a_new_capacity_while_its_arrays_grow() -> None:
    """A new capacity that changes none of the remembered rows keeps the sorted memory;
    when the kept arrays must grow at that same decision, the rows' values must come
    back with it (they did not: a later removal read uninitialised values and raised
    IndexError in a tuning run of the policy benchmark)."""
    from policies.adaptive import _queue_rows, _QueueRows, _remembered

    params = AdaptiveParams(capacity_window_seconds=600, peak_hold_seconds=60)
    state = PipelineState()
    target = 2.0
    squeezed = checked = 0
    for t in range(0, 30_000, 13):
        _, state = decide(AdaptivePolicy(), params, G, _gappy(float(t)), state, float(t))
        h = work_history(state.history, 1, state.columns)
        if h.columns is None:
            continue
        cap = 1e6 + t  # a new capacity at every decision, too high to overload any row
        if t % 1_300 == 0:
            c = h.columns.carried(("queue rows", target), _QueueRows)
            if c.built and c.memory is not None and c.hi > c.lo:
                # Arrays exactly full: the next row makes room() re-allocate them.
                for name in ("asked", "counts", "undisturbed", "value"):
                    setattr(c, name, getattr(c, name)[: c.hi].copy())
                c.asked_view, c.counts_view = c.asked.view(), c.counts.view()
                squeezed += 1
        fast = _queue_rows(h, cap, target)
        slow = _queue_rows(replace(h, columns=None), cap, target)
        n = h.times.size
        window = (n // 50, max(n - 4, n // 50))
        assert _remembered(h, fast, 30.0, *window) == _remembered(h, slow, 30.0, *window)
        checked += 1
    assert squeezed > 5 and checked > 1_000
