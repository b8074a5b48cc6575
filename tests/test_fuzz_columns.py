"""The data contract under random input: every encoder input works or fails cleanly.

A property test (hypothesis, derandomized so CI is stable) feeds random containers of
random cells to ImagePixelEncoder, AudioMFCCEncoder and the missing-modality check; the
explicit tests below pin each raw numpy error the fuzzing found
(``benchmarks/fuzz_columns.py`` runs the same contract on thousands of cases).
"""

from __future__ import annotations

import decimal
import fractions
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from mmlearn._columns import as_cells, is_missing  # noqa: E402
from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder  # noqa: E402
from mmlearn.fusion._missing import missing_rows  # noqa: E402

MISSING = [None, float("nan"), np.nan, pd.NA, pd.NaT, np.float32("nan")]
DTYPES = ["bool", "int8", "int16", "int64", "uint8", "uint16", "uint64", "float16",
          "float32", "float64", "complex128", "datetime64[ns]", "timedelta64[ns]", "U3", "S3"]


def _oracle_missing(cell: object) -> bool:
    if any(cell is m for m in (None, pd.NA, pd.NaT)):
        return True
    if isinstance(cell, np.datetime64 | np.timedelta64):
        return bool(np.isnat(cell))
    return isinstance(cell, float | np.floating) and cell != cell


scalars = st.one_of(
    st.integers(-300, 300),
    st.integers(2 ** 63, 2 ** 200),
    st.floats(allow_nan=False, width=64),
    st.fractions(max_denominator=9),
    st.just(complex(1, 2)),
    st.sampled_from(["no/such/file.png", "text", b"bytes", True]),
)
arrays = st.sampled_from(DTYPES).flatmap(
    lambda dtype: hnp.arrays(np.dtype(dtype), hnp.array_shapes(min_dims=0, max_dims=5,
                                                               min_side=0, max_side=4)))
# Nested lists, regular or ragged, of numbers and the odd non-number.
nested = st.recursive(st.one_of(st.floats(0, 1), st.integers(0, 255)),
                      lambda inner: st.lists(inner, max_size=4), max_leaves=16)
present_cells = st.one_of(arrays, nested, scalars)
cells = st.one_of(st.sampled_from(MISSING), present_cells, present_cells)


@st.composite
def inputs(draw) -> tuple[object, np.ndarray | None, str]:
    """(X, the missing mask of its cells if known, the column name errors must show)."""
    kind = draw(st.integers(0, 7))
    if kind == 0:
        # A stacked array, samples first: no cell is missing.
        arr = draw(arrays)
        return arr, (None if arr.ndim == 0 or arr.dtype == object
                     else np.zeros(len(arr), dtype=bool)), "input"
    if kind == 1:
        values = draw(st.lists(st.one_of(st.none(), st.sampled_from(["a", "x.png", ""])),
                               min_size=1, max_size=5))
        dtype = draw(st.sampled_from(["string[pyarrow]", "string", object]))
        return (pd.Series(values, dtype=dtype, name="text"),
                np.array([v is None for v in values]), "text")
    drawn = draw(st.lists(cells, max_size=5))
    mask = np.array([_oracle_missing(c) for c in drawn], dtype=bool)
    if kind == 2:
        return drawn, mask, "input"
    if kind == 3:
        return tuple(drawn), mask, "input"
    if kind == 4:
        arr = np.empty(len(drawn), dtype=object)
        for i, cell in enumerate(drawn):
            arr[i] = cell
        return arr, mask, "input"
    series = pd.Series(drawn, dtype=object, name="cells")
    return (series.to_frame() if kind == 5 else series), mask, "cells"


def _expected_missing_rows(X: object, cell_mask: np.ndarray | None) -> np.ndarray | None:
    # missing_rows reads an array (or a list, as numpy nests it) row by row: a row is
    # missing when all its values are; a ragged list is one cell per item.
    if isinstance(X, pd.Series | pd.DataFrame):
        return cell_mask
    try:
        arr = X if isinstance(X, np.ndarray) else np.asarray(X, dtype=object)
    except (ValueError, TypeError):
        return cell_mask
    if arr.ndim == 0:
        return cell_mask
    rows = arr.reshape(len(arr), int(np.prod(arr.shape[1:])))
    return np.array([len(r) > 0 and all(map(_oracle_missing, r)) for r in rows], dtype=bool)


def _check_output(out: np.ndarray, mask: np.ndarray | None) -> None:
    assert isinstance(out, np.ndarray) and out.ndim == 2
    if mask is None:
        assert np.isfinite(out).all()
        return
    assert out.shape[0] == len(mask)
    assert np.isfinite(out[~mask]).all(), "NaN/inf for a present cell"
    assert np.isnan(out[mask]).all(), "a missing cell is not a NaN row"


def _check_contract(target: str, X: object, mask: np.ndarray | None, name: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if target == "missing_rows":
                out = missing_rows(X)
                assert isinstance(out, np.ndarray) and out.dtype == bool and out.ndim == 1
                expected = _expected_missing_rows(X, mask)
                if expected is not None:
                    np.testing.assert_array_equal(out, expected)
                return
            encoder = ImagePixelEncoder() if target == "image" else AudioMFCCEncoder(
                sample_rate=8000)
            _check_output(encoder.fit_transform(X), mask)
            _check_output(encoder.transform(X), mask)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert repr(name) in message or message.startswith("X has "), (
            f"{type(exc).__name__} without the column: {message}")


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(case=inputs(), target=st.sampled_from(["image", "audio", "missing_rows"]))
def test_random_inputs_keep_the_contract(case, target):
    X, mask, name = case
    _check_contract(target, X, mask, name)


# ------------------------------------------------------------- regressions found by fuzzing

@pytest.mark.parametrize("cell", [
    fractions.Fraction(1, 3), 2 ** 100, -(2 ** 100), "text", b"bytes", np.zeros((2, 2)),
    np.array(np.nan), [np.nan], decimal.Decimal("1.5"), complex(1, 2), {"a": 1}, True,
    np.datetime64("2020-01-01"),
])
def test_is_missing_never_raises_on_present_cells(cell):
    # np.isnan used to raise "ufunc 'isnan' not supported" on a Fraction or a big int.
    assert is_missing(cell) is False


@pytest.mark.parametrize("cell", [
    None, float("nan"), np.float32("nan"), pd.NA, pd.NaT, np.datetime64("NaT"),
    np.timedelta64("NaT"), decimal.Decimal("NaN"), complex("nan+0j"),
])
def test_is_missing_recognises_missing_cells(cell):
    assert is_missing(cell) is True


@pytest.mark.parametrize("encoder", [ImagePixelEncoder(), AudioMFCCEncoder(sample_rate=8000)])
@pytest.mark.parametrize("cell", [fractions.Fraction(1, 2), 2 ** 100])
def test_number_cells_give_a_type_error_naming_the_row(encoder, cell):
    X = pd.Series([cell, None], name="clip")
    with pytest.raises(TypeError, match=r"column 'clip', row 0: expected"):
        encoder.fit(X)


def test_ragged_image_cell_names_column_and_row():
    X = pd.Series([None, [[0.1, 0.2], [0.3]]], name="photo")
    with pytest.raises(ValueError, match=r"column 'photo', row 1: .*different lengths"):
        ImagePixelEncoder().fit(X)


def test_ragged_waveform_cell_names_column_and_row():
    with pytest.raises(ValueError, match=r"column 'input', row 0: .*different lengths"):
        AudioMFCCEncoder(sample_rate=8000).fit([[0.1, [0.2, 0.3]]])


@pytest.mark.parametrize("X", [(x for x in [1, 2]), {0: np.zeros((2, 2))}, 3.5])
def test_containers_that_are_not_columns_name_the_input(X):
    with pytest.raises(TypeError, match=r"column 'input': an image encoder expects"):
        as_cells(X, kind="image")


def test_complex_cells_say_so():
    with pytest.raises(ValueError, match=r"column 'input', row 0: Complex data not supported"):
        ImagePixelEncoder().fit([np.ones((2, 2), dtype=complex)])


@pytest.mark.parametrize("X, expected", [
    # numpy would read [nan, "a.png"] as two strings and lose the NaN.
    ([np.nan, "a.png"], [True, False]),
    ([fractions.Fraction(1, 2), None, 2 ** 100], [False, True, False]),
    # Ragged cells: one object per row.
    ([[1.0, 2.0], [3.0], None], [False, False, True]),
    ([np.zeros((2, 2)), np.zeros((3, 3)), np.nan], [False, False, True]),
    # Stacked images: a row is missing when all its values are NaN, whatever the rank.
    (np.stack([np.zeros((2, 2)), np.full((2, 2), np.nan)]), [False, True]),
    (np.array(["2020-01-01", "NaT"], dtype="datetime64[ns]"), [False, True]),
    ([], []),
    (np.zeros((0, 3, 3)), []),
])
def test_missing_rows_of_odd_inputs(X, expected):
    np.testing.assert_array_equal(missing_rows(X), np.array(expected, dtype=bool))


def test_missing_rows_of_arrow_strings():
    X = pd.Series(["a", None, "b"], dtype="string[pyarrow]")
    np.testing.assert_array_equal(missing_rows(X), [False, True, False])


@pytest.mark.parametrize("X", [np.array(3.0), "a.png", 7, {0: None}])
def test_missing_rows_rejects_a_single_value(X):
    with pytest.raises(TypeError, match=r"column 'input': expected one cell per row"):
        missing_rows(X)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dok", "lil"])
def test_missing_rows_of_sparse_input(fmt):
    # np.asarray(sparse) is a 0-d object array: indexing it raised a bare IndexError.
    dense = np.array([[np.nan, np.nan], [0.0, np.nan], [0.0, 0.0], [np.nan, np.nan]])
    X = sp.csr_array(dense).asformat(fmt)
    np.testing.assert_array_equal(missing_rows(X), [True, False, False, True])
