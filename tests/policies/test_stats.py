"""Median and quantile without NumPy's overhead: the very same floats as NumPy's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.stats import median, quantile

values = st.lists(
    st.one_of(
        st.floats(-1e9, 1e9, allow_nan=False),
        st.integers(-5, 5).map(float),
        st.just(math.nan),
    ),
    min_size=1,
    max_size=40,
)


def _same(got: float, want: float) -> None:
    assert (math.isnan(got) and math.isnan(want)) or got == want, (got, want)


@settings(max_examples=300, deadline=None)
@given(values, st.floats(0.0, 1.0))
def test_quantile_is_numpys_bit_for_bit(xs: list[float], q: float) -> None:
    x = np.asarray(xs)
    for p in (q, 0.0, 0.1, 0.5, 0.9, 1.0):
        _same(quantile(x, p), float(np.quantile(x, p)))


@settings(max_examples=300, deadline=None)
@given(values)
def test_median_is_numpys_bit_for_bit(xs: list[float]) -> None:
    x = np.asarray(xs)
    _same(median(x), float(np.median(x)))


def test_inputs_are_left_as_they_were() -> None:
    x = np.asarray([3.0, 1.0, 2.0, 5.0])
    median(x)
    quantile(x, 0.9)
    np.testing.assert_array_equal(x, [3.0, 1.0, 2.0, 5.0])


def test_empty() -> None:
    assert math.isnan(median(np.asarray([])))
    with pytest.raises(ValueError, match="empty"):
        quantile(np.asarray([]), 0.5)
