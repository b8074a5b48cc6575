"""Fuzz the data contract: random inputs to the encoders either work or fail cleanly.

Generates seeded random inputs (Series, Arrow-string Series, lists, tuples, ndarrays and
one-column DataFrames of cells of many dtypes, 0-5 dimensions, ragged and nested lists,
None/NaN/NA/NaT mixes, ``Fraction`` and big-int cells) and feeds each to
``ImagePixelEncoder`` and ``AudioMFCCEncoder(sample_rate=8000)`` (``fit_transform``, then
``transform``) and to the missing-modality check ``missing_rows``; every 25th input
(``--cnn-every``) also goes to ``ImageCNNEncoder(max_epochs=1, width=2)`` with a two-class y.

A case is CLEAN when it either

- succeeds with the right number of rows, finite where cells are present and NaN exactly
  where cells are missing (``missing_rows``: True exactly on those rows), or
- raises a ValueError/TypeError whose message names the column (``'input'`` for unnamed
  cells), or says "X has ..."/"y has ..." (scikit-learn's width and target checks), or names
  an ImageCNNEncoder parameter.

Anything else is UNCLEAN: another exception type (IndexError, numpy's errors...), a
ValueError/TypeError that says nothing about where, or NaN/inf for a present cell. The
summary lists the outcomes by kind; the last line is the count of unclean cases (target 0).

    python benchmarks/fuzz_columns.py [--cases 5000] [--seed 0] [--show 5]
"""

from __future__ import annotations

import argparse
import collections
import fractions
import time
import traceback
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion._missing import missing_rows

DTYPES = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128", "datetime64[ns]",
    "timedelta64[ns]", "object", "U8", "S8",
]
MISSING = [None, float("nan"), np.nan, pd.NA, pd.NaT, np.float32("nan")]


def random_shape(rng: np.random.Generator, ndim: int) -> tuple:
    return tuple(int(rng.choice([0, 1, 2, 3, 5, 8, 12], p=[.05, .15, .15, .15, .2, .2, .1]))
                 for _ in range(ndim))


def random_array(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    size = int(np.prod(shape)) if shape else 1
    if dtype == "bool":
        flat = rng.random(size) < 0.5
    elif dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        scale = rng.choice([1, 255, 65535, info.max])
        flat = rng.integers(max(info.min, -scale), min(info.max, scale), size=size,
                            endpoint=True, dtype=dtype)
    elif dtype.startswith(("float", "complex")):
        scale = rng.choice([1.0, 1.0, 255.0, 1e6, 1e30])
        flat = rng.random(size) * scale
        if dtype.startswith("complex"):
            flat = flat + 1j * rng.random(size)
        if rng.random() < 0.2 and size:
            flat[rng.integers(size)] = rng.choice([np.nan, np.inf, -np.inf])
        with np.errstate(over="ignore"):
            flat = flat.astype(dtype)
    elif dtype == "datetime64[ns]":
        flat = np.arange(size).astype("datetime64[ns]")
    elif dtype == "timedelta64[ns]":
        flat = np.arange(size).astype("timedelta64[ns]")
    elif dtype == "object":
        flat = np.empty(size, dtype=object)
        for i in range(size):
            flat[i] = random_scalar(rng)
    elif dtype == "U8":
        flat = np.array([f"s{i}" for i in range(size)], dtype="U8")
    else:
        flat = np.array([f"b{i}".encode() for i in range(size)], dtype="S8")
    return np.asarray(flat).reshape(shape)


def random_scalar(rng: np.random.Generator) -> object:
    choice = rng.integers(12)
    return [
        lambda: int(rng.integers(-300, 300)),
        lambda: 2 ** int(rng.integers(63, 200)),
        lambda: -(2 ** 100),
        lambda: float(rng.random()),
        lambda: fractions.Fraction(int(rng.integers(1, 9)), int(rng.integers(1, 9))),
        lambda: "path/that/does/not/exist.png",
        lambda: "some text",
        lambda: b"bytes",
        lambda: bool(rng.random() < 0.5),
        lambda: complex(1, 2),
        lambda: MISSING[rng.integers(len(MISSING))],
        lambda: np.float64(rng.random()),
    ][choice]()


def random_nested(rng: np.random.Generator, depth: int) -> object:
    """Nested lists, regular or ragged, possibly with non-numbers inside."""
    if depth == 0:
        if rng.random() < 0.1:
            return random_scalar(rng)
        return float(rng.random()) if rng.random() < 0.5 else int(rng.integers(0, 255))
    n = int(rng.integers(0, 6))
    ragged = rng.random() < 0.3
    width = int(rng.integers(1, 5))
    if ragged:
        return [random_nested(rng, depth - 1) if rng.random() < 0.7
                else [random_nested(rng, max(depth - 2, 0))] * int(rng.integers(0, 4))
                for _ in range(n)]
    return [[random_nested(rng, max(depth - 2, 0)) for _ in range(width)]
            if depth > 1 else random_nested(rng, 0) for _ in range(n)]


def random_cell(rng: np.random.Generator) -> tuple[object, bool]:
    """A cell and whether it is missing by the contract (None, NaN, pd.NA, NaT)."""
    r = rng.random()
    if r < 0.15:
        return MISSING[rng.integers(len(MISSING))], True
    if r < 0.6:
        ndim = int(rng.choice([0, 1, 2, 3, 4, 5], p=[.05, .3, .3, .25, .05, .05]))
        return random_array(rng, random_shape(rng, ndim), DTYPES[rng.integers(len(DTYPES))]), False
    if r < 0.8:
        return random_nested(rng, int(rng.integers(1, 4))), False
    return random_scalar_present(rng), False


def random_scalar_present(rng: np.random.Generator) -> object:
    while True:
        value = random_scalar(rng)
        if not any(value is m for m in MISSING):
            return value


def random_input(rng: np.random.Generator) -> tuple[object, np.ndarray | None, str]:
    """An encoder input, the expected missing mask of its rows (None if not known), its name."""
    r = rng.random()
    if r < 0.2:
        # A stacked array: samples first, no cell missing.
        ndim = int(rng.integers(0, 6))
        dtype = DTYPES[rng.integers(len(DTYPES))]
        arr = random_array(rng, random_shape(rng, ndim), dtype)
        mask = None
        if arr.ndim >= 1:
            mask = np.zeros(len(arr), dtype=bool)
            if arr.dtype == object:
                rows = arr.reshape(len(arr), int(np.prod(arr.shape[1:])))
                mask = np.array([len(r) > 0 and all(map(_is_missing_oracle, r)) for r in rows],
                                dtype=bool)
        return arr, mask, "input"
    if r < 0.3:
        # Arrow (or python) strings with missing values.
        n = int(rng.integers(1, 7))
        values = [None if rng.random() < 0.3 else str(rng.choice(["a", "x.png", "", "text"]))
                  for _ in range(n)]
        name = "text_col"
        dtype = "string[pyarrow]" if rng.random() < 0.7 else "string"
        mask = np.array([v is None for v in values])
        return pd.Series(values, dtype=dtype, name=name), mask, name
    if r < 0.35:
        # Nullable and categorical pandas columns, pandas arrays and odd containers.
        n = int(rng.integers(1, 6))
        values = [None if rng.random() < 0.3 else int(rng.integers(0, 255)) for _ in range(n)]
        mask = np.array([v is None for v in values])
        kind = int(rng.integers(10))
        if kind == 9:
            dense = rng.random((n, int(rng.integers(0, 4)))) * (rng.random((n, 1)) < 0.7)
            dense[rng.random(n) < 0.3] = np.nan
            make = (sp.csr_array, sp.csc_matrix, sp.coo_array, sp.dok_array, sp.lil_matrix)
            return make[rng.integers(len(make))](dense), None, "input"
        if kind < 4:
            dtype = ("Int64", "Float64", "category", "boolean")[kind]
            if dtype == "boolean":
                values = [None if v is None else v > 100 for v in values]
            return pd.Series(values, dtype=dtype, name="nullable"), mask, "nullable"
        if kind == 4:
            return pd.array(values, dtype="Int64"), mask, "input"
        if kind == 5:
            return pd.Index([v if v is not None else np.nan for v in values]), mask, "input"
        if kind == 6:
            return dict(enumerate(values)), None, "input"
        if kind == 7:
            return (v for v in values), None, "input"
        return random_scalar(rng), None, "input"
    if r < 0.4:
        # A numeric Series or list of scalars (a column of numbers, not of images).
        n = int(rng.integers(1, 7))
        values = [float("nan") if rng.random() < 0.3 else float(rng.random()) for _ in range(n)]
        mask = np.isnan(values)
        if rng.random() < 0.5:
            return pd.Series(values, name="num"), mask, "num"
        return values, mask, "input"
    n = int(rng.integers(0, 7))
    pairs = [random_cell(rng) for _ in range(n)]
    if rng.random() < 0.5 and n:
        # Same-shaped arrays, as real data usually is.
        shape = random_shape(rng, int(rng.choice([1, 2, 3])))
        dtype = DTYPES[rng.integers(len(DTYPES))]
        pairs = [(c, m) if m else (random_array(rng, shape, dtype), False) for c, m in pairs]
    cells = [c for c, _ in pairs]
    mask = np.array([m for _, m in pairs], dtype=bool)
    container = rng.integers(5)
    if container == 0:
        return cells, mask, "input"
    if container == 1:
        return tuple(cells), mask, "input"
    if container == 2:
        arr = np.empty(len(cells), dtype=object)
        arr[:] = cells
        return arr, mask, "input"
    series = pd.Series(cells, dtype=object, name="cells")
    if container == 3:
        return series, mask, "cells"
    return series.to_frame(), mask, "cells"


def _is_missing_oracle(cell: object) -> bool:
    if cell is None or cell is pd.NA or cell is pd.NaT:
        return True
    if isinstance(cell, np.datetime64 | np.timedelta64):
        return bool(np.isnat(cell))
    return isinstance(cell, float | np.floating | complex | np.complexfloating) and cell != cell


def expected_missing_rows(X: object, cell_mask: np.ndarray | None) -> np.ndarray | None:
    """The rows ``missing_rows`` must report, by its documented rule.

    An array (or a list, read as numpy reads nested lists, its cells kept as objects) is
    missing on the rows whose values are all missing; ragged lists are one cell per item.
    """
    if isinstance(X, pd.Series | pd.DataFrame):
        return cell_mask
    if sp.issparse(X):
        dense = X.toarray()
        return np.isnan(dense).all(axis=1) & (dense.shape[1] > 0)
    try:
        arr = X if isinstance(X, np.ndarray) else np.asarray(X, dtype=object)
    except (ValueError, TypeError):
        return cell_mask
    if arr.ndim == 0:
        return cell_mask
    rows = arr.reshape(len(arr), int(np.prod(arr.shape[1:])))
    return np.array([len(r) > 0 and all(map(_is_missing_oracle, r)) for r in rows], dtype=bool)


def names_where(message: str, name: str) -> bool:
    """Whether an error message says which column (``'input'`` for unnamed cells) it is about.

    scikit-learn's own "X has 3 features, but ... is expecting 4" about a stacked table's
    width also says where, as does an error about the target ("y has 1 class") of the
    supervised ImageCNNEncoder, or about one of its parameters ("ImageCNNEncoder:
    batch_size=8 gives ...").
    """
    return (repr(name) in message or message.startswith(("X has ", "y has "))
            or "the target y" in message
            or (message.startswith("ImageCNNEncoder: ") and "=" in message.split(";")[0]))


def check_output(out: object, mask: np.ndarray | None, n_rows: int | None) -> str | None:
    """None if an encoder's output keeps the contract, else what is wrong."""
    if not isinstance(out, np.ndarray) or out.ndim != 2:
        return f"output is not a 2-D array: {type(out).__name__}"
    if n_rows is not None and out.shape[0] != n_rows:
        return f"output has {out.shape[0]} rows for {n_rows} cells"
    if mask is None or len(mask) != out.shape[0]:
        return None if np.isfinite(out).all() else "non-finite output"
    if not np.isfinite(out[~mask]).all():
        return "NaN/inf output for a present cell"
    if mask.any() and not np.isnan(out[mask]).all():
        return "missing cell not NaN in the output"
    return None


def make_encoder(target: str) -> object:
    if target == "image":
        return ImagePixelEncoder()
    if target == "audio":
        return AudioMFCCEncoder(sample_rate=8000)
    from mmlearn.encoders import ImageCNNEncoder

    return ImageCNNEncoder(max_epochs=1, width=2, batch_size=8, random_state=0)


def run_case(target: str, X: object, mask: np.ndarray | None, name: str) -> tuple[bool, str]:
    """(clean, kind) of one input fed to one target."""
    n_rows = None if mask is None else len(mask)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if target == "missing_rows":
                out = missing_rows(X)
                mask = expected_missing_rows(X, mask)
                if not isinstance(out, np.ndarray) or out.dtype != bool or out.ndim != 1:
                    return False, "missing_rows: not a 1-D bool array"
                if mask is not None and not np.array_equal(out, mask):
                    return False, "missing_rows: wrong rows"
                return True, "missing_rows: ok"
            encoder = make_encoder(target)
            y = None if target != "cnn" or n_rows is None else np.arange(n_rows) % 2
            problem = check_output(encoder.fit_transform(X, y), mask, n_rows)
            if problem is None:
                problem = check_output(encoder.transform(X), mask, n_rows)
            if problem is not None:
                return False, f"{target}: {problem}"
            return True, f"{target}: ok"
    except (ValueError, TypeError) as exc:
        if names_where(str(exc), name):
            return True, f"{target}: {type(exc).__name__}"
        return False, f"{target}: {type(exc).__name__} without column: {str(exc)[:80]}"
    except Exception as exc:  # noqa: BLE001 - every other exception is what we count
        return False, f"{target}: {type(exc).__name__}: {str(exc)[:80]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cnn-every", type=int, default=25,
                        help="also feed every N-th input to ImageCNNEncoder (0: never)")
    parser.add_argument("--show", type=int, default=5, help="tracebacks of unclean cases shown")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    kinds: collections.Counter = collections.Counter()
    unclean = 0
    shown = 0
    start = time.perf_counter()
    runs = 0
    for case in range(args.cases):
        X, mask, name = random_input(rng)
        targets = [("image", "audio", "missing_rows")[case % 3]]
        if args.cnn_every and case % args.cnn_every == 0:
            targets.append("cnn")
        for target in targets:
            runs += 1
            clean, kind = run_case(target, X, mask, name)
            kinds[("clean" if clean else "UNCLEAN", kind)] += 1
            if clean:
                continue
            unclean += 1
            if shown < args.show:
                shown += 1
                print(f"--- unclean case {case} ({kind}); input: {X!r:.300}")
                try:
                    run_case_raise(target, X, None if mask is None else len(mask))
                except Exception:  # noqa: BLE001
                    traceback.print_exc(limit=-3)
    for (status, kind), count in sorted(kinds.items()):
        print(f"{count:6d}  {status:8s} {kind}")
    print(f"{time.perf_counter() - start:.1f} s")
    print(f"unclean: {unclean} of {runs}")


def run_case_raise(target: str, X: object, n_rows: int | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if target == "missing_rows":
            missing_rows(X)
        else:
            encoder = make_encoder(target)
            encoder.fit_transform(X, None if target != "cnn" or n_rows is None
                                  else np.arange(n_rows) % 2)
            encoder.transform(X)


if __name__ == "__main__":
    main()
