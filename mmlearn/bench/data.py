"""Load what a benchmark runs on: a built-in dataset or a user's CSV/parquet file."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

__all__ = [
    "DATASETS",
    "MODALITIES",
    "BenchData",
    "check_cells",
    "load_builtin",
    "load_table",
    "select_modalities",
    "subsample",
]

MODALITIES = ("image", "audio", "text", "tabular")
DATASETS = ("av_digits", "spoken_digits", "emoji", "clothing_reviews")


@dataclass
class BenchData:
    """The inputs of a benchmark run.

    Attributes
    ----------
    X : DataFrame
        One column per feature; only the columns named in ``modalities`` are used.
    y : ndarray
        Class labels.
    modalities : dict of str -> str
        Column -> ``"image"``, ``"audio"``, ``"text"`` or ``"tabular"``.
    name : str
        The dataset's name or the file's path, for the report.
    sample_rate : int or None
        Audio sample rate in Hz; X declares it too (:func:`mmlearn.set_sample_rate`), so
        the encoders' explicit and declared rates agree. None: the rate X declares, else
        each file column's own.
    groups : ndarray or None
        Group labels (e.g. speaker) for group-aware cross-validation.
    """

    X: pd.DataFrame
    y: np.ndarray
    modalities: dict[str, str]
    name: str
    sample_rate: int | None = None
    groups: np.ndarray | None = field(default=None, repr=False)


def load_builtin(name: str) -> BenchData:
    """Load one of mmlearn's built-in datasets by name.

    Parameters
    ----------
    name : {"av_digits", "spoken_digits", "emoji", "clothing_reviews"}

    Returns
    -------
    data : BenchData

    Examples
    --------
    >>> from mmlearn.bench import load_builtin
    >>> data = load_builtin("av_digits")
    >>> data.X.shape, data.modalities, data.sample_rate
    ((1797, 2), {'image': 'image', 'audio': 'audio'}, 8000)
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    from mmlearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    return BenchData(
        X=bunch.data,
        y=np.asarray(bunch.target),
        modalities=dict(bunch.modalities),
        name=name,
        sample_rate=bunch.get("sample_rate"),
        groups=None if bunch.get("groups") is None else np.asarray(bunch.groups),
    )


def _read_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv", ".txt"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    raise ValueError(f"{str(path)!r}: unsupported file type {suffix!r}; use .csv or .parquet.")


def _object_strings(frame: pd.DataFrame) -> pd.DataFrame:
    # Encoders want plain str cells and NaN for missing ones, not Arrow-backed strings.
    frame = frame.copy()
    for column in frame.columns:
        dtype = frame[column].dtype
        if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
            frame[column] = frame[column].astype(object)
    return frame


def _resolve_paths(column: pd.Series, base: Path) -> pd.Series:
    # Relative media paths are read relative to the data file, so a dataset folder can move.
    def resolve(cell):
        if isinstance(cell, str) and cell and not Path(cell).is_absolute():
            return str(base / cell)
        return cell

    return pd.Series(
        [resolve(c) for c in column.to_numpy(dtype=object)],
        index=column.index, name=column.name, dtype=object,
    )


def _check_columns(columns: Sequence[str], present: Sequence[str], what: str) -> None:
    lost = [c for c in columns if c not in present]
    if lost:
        raise ValueError(
            f"{what} column(s) {', '.join(map(repr, lost))} not found; "
            f"available columns: {', '.join(map(repr, map(str, present)))}."
        )


def load_table(
    path: str | Path,
    *,
    target: str,
    image: Sequence[str] = (),
    audio: Sequence[str] = (),
    text: Sequence[str] = (),
    tabular: Sequence[str] = (),
    sample_rate: int | None = None,
    groups: str | None = None,
) -> BenchData:
    """Load a CSV or parquet file whose columns you assign to modalities.

    Image and audio columns hold file paths (PNG/JPEG, WAV/FLAC); relative paths are
    taken relative to the data file's folder. Rows without a target are dropped with a
    warning.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.tsv`` or ``.parquet`` file.
    target : str
        The column holding the class labels.
    image, audio, text, tabular : sequence of str
        The columns of each modality; at least one column in all.
    sample_rate : int, default=None
        Rate (Hz) audio files are resampled to, declared on the audio columns of ``X``;
        None analyses each column at its first file's rate.
    groups : str, default=None
        A column of group labels for group-aware cross-validation.

    Returns
    -------
    data : BenchData

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> from mmlearn.bench import load_table
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"review": ["good", "bad"], "y": [1, 0]}).to_csv(folder / "r.csv")
    >>> load_table(folder / "r.csv", target="y", text=["review"]).modalities
    {'review': 'text'}
    """
    path = Path(path)
    frame = _object_strings(_read_file(path))
    present = [str(c) for c in frame.columns]
    if target not in present:
        raise ValueError(
            f"target column {target!r} not found; available columns: "
            f"{', '.join(map(repr, present))}."
        )
    modalities: dict[str, str] = {}
    for kind, columns in zip(MODALITIES, (image, audio, text, tabular), strict=True):
        _check_columns(columns, present, kind)
        for column in columns:
            if column == target:
                raise ValueError(f"column {column!r} is the target; it cannot be a feature.")
            modalities[column] = kind
    if not modalities:
        raise ValueError(
            "no modality columns given: name at least one image, audio, text or tabular column."
        )
    if groups is not None:
        _check_columns([groups], present, "groups")
    keep = frame[target].notna().to_numpy()
    if not keep.all():
        warnings.warn(
            f"dropping {int((~keep).sum())} rows whose target {target!r} is missing.",
            UserWarning, stacklevel=2,
        )
        frame = frame.loc[keep].reset_index(drop=True)
    X = frame[list(modalities)].copy()
    for column, kind in modalities.items():
        if kind in ("image", "audio"):
            X[column] = _resolve_paths(X[column], path.parent)
    audio_columns = [column for column, kind in modalities.items() if kind == "audio"]
    if sample_rate is not None and audio_columns:
        from mmlearn._audio_rate import set_sample_rate

        set_sample_rate(X, dict.fromkeys(audio_columns, sample_rate))
    return BenchData(
        X=X,
        y=frame[target].to_numpy(),
        modalities=modalities,
        name=str(path),
        sample_rate=sample_rate,
        groups=None if groups is None else frame[groups].to_numpy(),
    )


def check_cells(data: BenchData) -> None:
    """Raise a ValueError if a text column holds something other than text.

    Run before any candidate is fitted, so that a column given as ``--text`` by mistake
    (ages, say) stops the run at once with its name, rather than fails in the first text
    candidate's encoder. Missing cells (None, NaN) are allowed: they are imputed.

    Parameters
    ----------
    data : BenchData
    """
    from mmlearn._columns import is_missing

    for column, kind in data.modalities.items():
        if kind != "text":
            continue
        cells = data.X[column]
        for row, cell in enumerate(cells.to_numpy(dtype=object)):
            if isinstance(cell, str) or is_missing(cell):
                continue
            shown = repr(cell) if len(repr(cell)) <= 40 else repr(cell)[:37] + "..."
            what = (f"holds {cells.dtype} values" if cells.dtype != object
                    else "holds non-text cells")
            raise ValueError(
                f"text column {column!r} {what}: row {row} is {type(cell).__name__} "
                f"{shown}; a text column needs str cells (None/NaN for a missing one). "
                "Give numeric or categorical columns as tabular (--tabular)."
            )


def select_modalities(data: BenchData, columns: Mapping[str, str]) -> BenchData:
    """Keep only ``columns`` (column -> modality) of ``data``, checking they exist.

    Parameters
    ----------
    data : BenchData
    columns : dict of str -> str

    Returns
    -------
    data : BenchData
    """
    _check_columns(list(columns), [str(c) for c in data.X.columns], "feature")
    return BenchData(data.X[list(columns)], data.y, dict(columns), data.name,
                     data.sample_rate, data.groups)


def subsample(data: BenchData, max_samples: int | None, *, random_state: int = 0) -> BenchData:
    """A stratified random subset of at most ``max_samples`` rows, in the original order.

    Parameters
    ----------
    data : BenchData
    max_samples : int or None
        None (or at least the number of rows) keeps every row.
    random_state : int, default=0

    Returns
    -------
    data : BenchData
    """
    n = len(data.y)
    if max_samples is None or max_samples >= n:
        return data
    if max_samples < 1:
        raise ValueError(f"max_samples must be at least 1, got {max_samples}.")
    _, counts = np.unique(data.y, return_counts=True)
    # Stratification needs two rows per class and room for every class in the subset.
    stratify = data.y if counts.min() >= 2 and max_samples >= counts.size else None
    rows, _ = train_test_split(np.arange(n), train_size=max_samples, stratify=stratify,
                               random_state=random_state)
    rows = np.sort(rows)
    return BenchData(
        data.X.iloc[rows].reset_index(drop=True), data.y[rows], data.modalities, data.name,
        data.sample_rate, None if data.groups is None else data.groups[rows],
    )
