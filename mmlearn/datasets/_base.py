"""Shared helpers of the dataset loaders: package files, object columns, Bunch building.

The loaders read only the compact files in ``mmlearn/datasets/data`` (written by
``scripts/build_datasets.py``); nothing is downloaded and nothing is cached on disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
from sklearn.utils import Bunch

__all__ = [
    "FSDD_SAMPLE_RATE",
    "data_file",
    "fsdd_audio_cells",
    "fsdd_index",
    "load_descr",
    "make_bunch",
    "object_column",
    "read_csv",
]

FSDD_SAMPLE_RATE = 8000
_DATA = "data"
_DESCR = "descr"


def data_file(name: str):
    """Return a traversable handle on the package data file ``name`` (opened with ``.open``)."""
    return resources.files(__package__).joinpath(_DATA, name)


def load_descr(name: str) -> str:
    """Return the text of ``descr/<name>.rst``."""
    return resources.files(__package__).joinpath(_DESCR, f"{name}.rst").read_text("utf-8")


def read_csv(name: str) -> pd.DataFrame:
    """Read a shipped CSV with string columns as ``object`` dtype.

    ``keep_default_na=False`` because emoji names and speaker names such as ``"NA"`` or
    ``"null"`` are data here, not missing values; the shipped CSVs have no missing cells.
    """
    with data_file(name).open("rb") as fh:
        frame = pd.read_csv(fh, keep_default_na=False)
    return to_object_strings(frame)


def to_object_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast pandas string columns (Arrow or Python backed) to ``object``, missing as NaN.

    The data contract wants plain Python ``str`` cells and NaN for missing ones, whatever
    pandas' default string dtype is.
    """
    frame = frame.copy()
    for column in frame.columns:
        if pd.api.types.is_string_dtype(frame[column].dtype) and frame[column].dtype != object:
            frame[column] = frame[column].astype(object)
    return frame


def object_column(cells: Sequence[Any]) -> np.ndarray:
    """Pack per-row objects (e.g. ndarrays) into a 1-D ``object`` array.

    Built element by element: ``np.array(list_of_equal_shape_arrays, dtype=object)`` would
    make a multi-dimensional array instead of one cell per row.
    """
    out = np.empty(len(cells), dtype=object)
    for i, cell in enumerate(cells):
        out[i] = cell
    return out


@lru_cache(maxsize=1)
def _fsdd_pcm() -> np.ndarray:
    # Decoding the FLAC (~10.5 M samples) is the slow part of both audio loaders, so the
    # int16 samples are kept for the process; read-only so no caller can alter them.
    with data_file("fsdd.flac").open("rb") as fh:
        pcm, sample_rate = sf.read(fh, dtype="int16")
    if sample_rate != FSDD_SAMPLE_RATE:  # pragma: no cover - guards a bad rebuild
        raise RuntimeError(f"fsdd.flac has sample rate {sample_rate}, expected 8000")
    pcm.setflags(write=False)
    return pcm


@lru_cache(maxsize=1)
def _fsdd_index() -> pd.DataFrame:
    return read_csv("fsdd.csv")


def fsdd_index() -> pd.DataFrame:
    """Return a copy of the FSDD clip table.

    Columns ``recording`` (source file name), ``digit``, ``speaker``, ``take``, ``offset`` and
    ``length`` (in samples, into ``fsdd.flac``), one row per clip in the FLAC's order.
    """
    return _fsdd_index().copy()


def fsdd_audio_cells(offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Return an object array of float32 waveforms in [-1, 1) cut out of ``fsdd.flac``.

    Each cell owns its samples (no view into a shared buffer), so editing one returned
    clip never changes another loader call's result.
    """
    pcm = _fsdd_pcm()
    cells = []
    for offset, length in zip(offsets.tolist(), lengths.tolist(), strict=True):
        clip = pcm[offset : offset + length].astype(np.float32)
        clip /= 32768.0
        cells.append(clip)
    return object_column(cells)


def make_bunch(
    *,
    data: pd.DataFrame,
    target: np.ndarray,
    target_column: str,
    target_names: np.ndarray,
    modalities: Mapping[str, str],
    descr: str,
    test_mask: np.ndarray | None,
    return_X_y: bool,
    **extra: Any,
) -> Bunch | tuple[pd.DataFrame, np.ndarray]:
    """Assemble the loader result: a Bunch, or ``(data, target)`` when ``return_X_y``."""
    target = np.asarray(target)
    if return_X_y:
        return data, target
    frame = data.copy()
    # ``pd.Series(ndarray)`` on an object ndarray of str would turn into pandas' string
    # dtype under pandas 3; the explicit dtype keeps the target column as given.
    frame[target_column] = pd.Series(target, index=frame.index, dtype=target.dtype)
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        target_names=target_names,
        feature_names=list(data.columns),
        modalities=dict(modalities),
        DESCR=load_descr(descr),
        test_mask=test_mask,
        **extra,
    )
