"""Take a benchmark's best pipeline away and use it: ``--save-best`` and ``mmlearn predict``.

:func:`refit_best` rebuilds the best candidate of a benchmark (the first row of its
results) and fits it on every row the benchmark evaluated, on only the columns of that
candidate's modalities; ``mmlearn bench --save-best model.mmlearn`` writes it with
:func:`mmlearn.io.save` (one file, no pickle in it). :func:`predict_table` and
:func:`predict_file` apply such a model to a new table. See ``docs/bench.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mmlearn.bench.data import BenchData, subsample
from mmlearn.bench.grid import FUSIONS, HEADS, EncoderOptions, build_candidates

__all__ = [
    "check_model_path",
    "load_model",
    "model_columns",
    "predict_file",
    "predict_table",
    "read_table",
    "refit_best",
]

_TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def check_model_path(path: str | Path) -> Path:
    """Raise an OSError unless a model file can be written at ``path``; create nothing.

    ``mmlearn bench --save-best`` calls it before the run, which may take minutes.

    Parameters
    ----------
    path : str or Path
        The model file; its folder must exist.

    Returns
    -------
    path : Path

    Raises
    ------
    IsADirectoryError
        ``path`` is a folder.
    FileNotFoundError
        Its folder does not exist.
    NotADirectoryError
        What should be its folder is a file.
    PermissionError
        The file is read-only or its folder is not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; give a file name such as "
                                f"{str(path / 'model.mmlearn')!r}.")
    folder = path.parent
    if not folder.exists():
        raise FileNotFoundError(f"cannot write {str(path)!r}: its folder {str(folder)!r} "
                                "does not exist.")
    if not folder.is_dir():
        raise NotADirectoryError(f"cannot write {str(path)!r}: {str(folder)!r} is a file, "
                                 "not a folder.")
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"cannot overwrite {str(path)!r}: it is read-only.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {str(path)!r}: folder {str(folder)!r} is not "
                              "writable.")
    return path


def refit_best(results: pd.DataFrame, data: BenchData):
    """Fit the best candidate of a benchmark on every row the benchmark evaluated.

    Parameters
    ----------
    results : DataFrame
        As returned by :func:`mmlearn.bench.run_benchmark` on ``data`` (its first row is
        the best candidate; ``results.attrs["metadata"]`` says how the run was set up).
    data : BenchData
        What the benchmark ran on (the same ``--max-samples`` subset is taken again).

    Returns
    -------
    estimator : fitted Pipeline (or DummyClassifier when the majority class won)
        Fitted on a DataFrame of the candidate's columns only, so its
        ``feature_names_in_`` are the columns a table to predict must have.

    Examples
    --------
    >>> from mmlearn.bench import load_builtin, run_benchmark
    >>> from mmlearn.bench.predict import refit_best
    >>> data = load_builtin("av_digits")
    >>> results = run_benchmark(data, heads=["logreg"], cv=2, max_samples=100)
    >>> results.loc[0, "candidate"]
    'classical / image only / image / logreg'
    >>> model = refit_best(results, data)
    >>> list(model.feature_names_in_)
    ['image']
    """
    meta = results.attrs.get("metadata")
    if not meta or len(results) == 0:
        raise ValueError("results carry no run metadata (results.attrs['metadata']); pass "
                         "the DataFrame run_benchmark returned.")
    best = results.iloc[0]
    bench = subsample(data, meta["max_samples"], random_state=meta["seed"])
    options = EncoderOptions(sample_rate=meta["sample_rate"], image_size=meta["image_size"],
                             random_state=meta["seed"])
    fused = best["fusion"] in FUSIONS
    candidates = build_candidates(
        meta["modalities"], families=[best["family"]] if best["family"] != "baseline"
        else [meta["families"][0]],
        fusions=[best["fusion"]] if fused else [next(iter(FUSIONS))],
        heads=[best["head"]] if best["head"] in HEADS else [next(iter(HEADS))],
        options=options, max_epochs=meta.get("max_epochs"), baseline=True,
    )
    chosen = next(c for c in candidates if c.name == best["candidate"])
    wanted = set(chosen.modalities) or set(meta["modalities"].values())
    columns = [c for c, m in meta["modalities"].items() if m in wanted]
    return chosen.estimator.fit(bench.X[columns], bench.y)


def load_model(path: str | Path):
    """Read a model written by ``mmlearn bench --save-best`` (or :func:`mmlearn.io.save`).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    model : fitted estimator

    Raises
    ------
    FileNotFoundError
        No such file.
    mmlearn.io.UnsafeModelFileError
        (a ValueError) The file is not an mmlearn model file, or names an untrusted type.
    """
    from mmlearn.io import load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {str(path)!r}")
    return load(path)


def model_columns(model) -> list[str]:
    """The columns ``model`` was fitted on (its ``feature_names_in_``).

    Raises
    ------
    TypeError
        The model was not fitted on a DataFrame, so it names no columns.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise TypeError(f"{type(model).__name__} was not fitted on a DataFrame, so it names "
                        "no input columns; save a model fitted on one (mmlearn bench "
                        "--save-best does).")
    return [str(n) for n in names]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.parquet`` or ``.csv`` table, relative media paths made absolute.

    A text cell that names a file relative to the table's folder (an image or a clip, as
    ``mmlearn bench`` reads them) becomes that file's full path, so the table can be read
    from any working directory; other cells are kept as they are.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {str(path)!r}")
    kind = _TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{str(path)!r}: unsupported file type {path.suffix!r}; use .csv "
                         "or .parquet.")
    frame = pd.read_parquet(path) if kind == "parquet" else pd.read_csv(path)
    base = path.parent

    def resolve(cell):
        if not isinstance(cell, str) or not cell or "\n" in cell or Path(cell).is_absolute():
            return cell
        try:
            return str(base / cell) if (base / cell).is_file() else cell
        except OSError:  # a long text cell is no file name
            return cell

    for column in frame.columns:
        dtype = frame[column].dtype
        if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
            # Plain str cells (not Arrow-backed strings), as the encoders expect.
            frame[column] = pd.Series([resolve(c) for c in frame[column].to_numpy(object)],
                                      index=frame.index, dtype=object)
    return frame


def predict_table(model, data: pd.DataFrame) -> pd.DataFrame:
    """Predictions for every row of ``data``, keyed by its index.

    Parameters
    ----------
    model : fitted estimator
        Fitted on a DataFrame; the columns it names must be in ``data`` (others are
        ignored).
    data : DataFrame

    Returns
    -------
    predictions : DataFrame
        ``prediction``, then ``proba_<class>`` per class where the model has
        ``predict_proba``; ``data``'s index.

    Raises
    ------
    ValueError
        A column the model needs is absent from ``data`` (the message names it and lists
        the columns there are).

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> import pandas as pd
    >>> from mmlearn.bench.predict import predict_table
    >>> train = pd.DataFrame({"age": [30, 40, 50]})
    >>> model = DummyClassifier().fit(train, ["no", "yes", "yes"])
    >>> predict_table(model, pd.DataFrame({"age": [20]}, index=["r1"])).round(2)
       prediction  proba_no  proba_yes
    r1        yes      0.33       0.67
    """
    columns = model_columns(model)
    absent = [c for c in columns if c not in data.columns]
    if absent:
        raise ValueError(
            f"the model needs column(s) {', '.join(map(repr, absent))}, absent from the data "
            f"(its columns: {', '.join(map(repr, map(str, data.columns)))})."
        )
    X = data[columns]
    out = pd.DataFrame({"prediction": model.predict(X)}, index=data.index)
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X))
        for i, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, i]
    return out


def predict_file(model_path: str | Path, data_path: str | Path,
                 out: str | Path) -> pd.DataFrame:
    """Read a saved model and a table, and write the predictions.

    Parameters
    ----------
    model_path : str or Path
        A model file (``mmlearn bench --save-best``).
    data_path : str or Path
        A ``.parquet`` or ``.csv`` table with the model's columns.
    out : str or Path
        ``.parquet`` (the input's index is kept as is) or ``.csv`` (index written as the
        first column).

    Returns
    -------
    predictions : DataFrame
        What was written.
    """
    out = Path(out)
    kind = _TABLE_SUFFIXES.get(out.suffix.lower())
    if kind is None:
        raise ValueError(f"--out {str(out)!r}: unsupported file type {out.suffix!r}; use "
                         ".parquet or .csv.")
    check_model_path(out)
    model = load_model(model_path)
    predictions = predict_table(model, read_table(data_path))
    if kind == "parquet":
        predictions.to_parquet(out)
    else:
        predictions.to_csv(out)
    return predictions
