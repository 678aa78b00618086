"""The work history's one-row path (what a decision appends) gives the very values of
the block path it stands in for."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.history import COLUMN_FIELDS
from policies.work import _row, _rows

_VALUES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 0.1, 0.95, 1.0, 2.0]),
    st.floats(-10.0, 1e6, allow_nan=False),
)


@pytest.mark.filterwarnings("ignore:overflow encountered")
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(_VALUES, min_size=len(COLUMN_FIELDS), max_size=len(COLUMN_FIELDS)),
        min_size=2,
        max_size=2,
    ),
    st.sampled_from([1, 2]),
)
def test_one_row_is_the_block_paths_row(rows: list[list[float]], instances: int) -> None:
    """Negative, infinite, NaN and zero fields, times that go back: each value of the
    second row equals the block path's, bit for bit (NaN where NaN)."""
    raw = np.asarray(rows, dtype=float).T
    first = _rows(raw[:, :1], instances, None)
    before = {k: v[0] for k, v in first.items()}
    block = _rows(raw[:, 1:], instances, before)
    one = _row(raw[:, 1].tolist(), instances, before)
    assert set(one) == set(block)
    for key, values in block.items():
        got = np.asarray([one[key]], dtype=values.dtype)
        np.testing.assert_array_equal(got, values, key)
        if values.dtype.kind == "f":
            np.testing.assert_array_equal(np.signbit(got), np.signbit(values), key)
