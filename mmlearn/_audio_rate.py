"""Audio sample rates that travel with the data: declaring them, and the one rule reading them.

A waveform is a list of numbers; without its rate, the frequency scale of every spectrogram
computed from it is a guess. mmlearn therefore never guesses:

- a DataFrame (or Series) declares the rate of its audio columns with
  :func:`set_sample_rate`, which stores ``{column: rate}`` under the ``"mmlearn.sample_rate"``
  key of ``X.attrs``. pandas carries ``attrs`` through what fusion and cross-validation do to
  X (column selection, ``iloc``/``take``, ``copy``, concatenation of frames that declare the
  same), and :func:`mmlearn._columns.as_cells` copies the column's declaration onto its
  :class:`~mmlearn._columns.ColumnCells` (``cells.sample_rate``), so it reaches every
  encoder, JointFusion's branches and loader workers;
- every audio encoder resolves the rate it analyses at with :func:`resolve_sample_rate`.

Operations that drop ``attrs`` (building a new DataFrame, ``to_numpy()``, a list of arrays)
lose the declaration, and then an encoder without an explicit ``sample_rate`` raises a
``ValueError`` saying how to declare it: a lost rate is never replaced by a guess.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from numbers import Integral
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mmlearn._columns import ColumnCells

__all__ = ["RATE_KEY", "declared_sample_rate", "resolve_sample_rate", "set_sample_rate"]

# The key of DataFrame.attrs / Series.attrs that holds {column label: rate in Hz}.
RATE_KEY = "mmlearn.sample_rate"

_HOW_TO_DECLARE = (
    "declare it with mmlearn.set_sample_rate(X, {column: rate}) on the DataFrame (mmlearn's "
    "audio dataset loaders do this for you), or pass the encoder's sample_rate="
)


def _check_rate(rate: object, column: object) -> int:
    if isinstance(rate, bool) or not isinstance(rate, Integral) or rate < 1:
        raise ValueError(
            f"column {column!r}: a sample rate must be a positive integer number of Hz, "
            f"got {rate!r}."
        )
    return int(rate)


def set_sample_rate(X: pd.DataFrame | pd.Series, rates: Mapping | int) -> pd.DataFrame | pd.Series:
    """Declare the sample rate of audio columns on the data itself.

    Every mmlearn audio encoder (:class:`~mmlearn.encoders.AudioMFCCEncoder`,
    :class:`~mmlearn.encoders.AudioCNNEncoder`, JointFusion's audio branches) reads this
    declaration when its ``sample_rate`` is None (the default), and raises a ``ValueError``
    naming the column and both rates when an explicit ``sample_rate`` disagrees with it.

    The declaration is stored in ``X.attrs["mmlearn.sample_rate"]`` as
    ``{column: rate}``; pandas keeps it through column selection (``X["audio"]``,
    ``X[["audio", "image"]]``), ``iloc``/``loc``/``take`` (what cross-validation and the
    fusion steps use), ``copy`` and ``sample``. A new DataFrame built from the columns'
    values does not inherit it: declare again.

    Parameters
    ----------
    X : DataFrame or Series
        Declared in place (its ``attrs``), and returned for chaining. Earlier declarations
        of other columns are kept.
    rates : mapping of column -> int, or int
        Rate in Hz of each audio column's waveforms. A plain int is the rate of a Series
        (keyed by its name).

    Returns
    -------
    X : DataFrame or Series
        The same object.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import mmlearn
    >>> X = pd.DataFrame({"audio": [np.zeros(800), np.ones(400)]})
    >>> X = mmlearn.set_sample_rate(X, {"audio": 8000})
    >>> X.attrs["mmlearn.sample_rate"]
    {'audio': 8000}
    >>> X["audio"].iloc[:1].attrs["mmlearn.sample_rate"]
    {'audio': 8000}
    """
    if isinstance(X, pd.Series):
        if not isinstance(rates, Mapping):
            rates = {X.name: rates}
        columns = [X.name]
    elif isinstance(X, pd.DataFrame):
        if not isinstance(rates, Mapping):
            raise TypeError(
                "set_sample_rate on a DataFrame takes a mapping {column: rate}, got "
                f"{type(rates).__name__}; e.g. set_sample_rate(X, {{'audio': 8000}})."
            )
        columns = list(X.columns)
    else:
        raise TypeError(
            "set_sample_rate declares the rate on a pandas DataFrame or Series (in its "
            f"attrs), got {type(X).__name__}; for arrays or lists pass the encoder's "
            "sample_rate= instead."
        )
    unknown = [column for column in rates if column not in columns]
    if unknown:
        raise ValueError(
            f"set_sample_rate: column(s) {unknown} not found; X has columns "
            f"{list(map(str, columns))}."
        )
    checked = {column: _check_rate(rate, column) for column, rate in rates.items()}
    # A new dict: derived frames may share the old one, and must not change with X.
    X.attrs[RATE_KEY] = {**X.attrs.get(RATE_KEY, {}), **checked}
    return X


def declared_sample_rate(X: object, column: object = None) -> int | None:
    """The rate declared for ``column`` on ``X``, or None.

    Parameters
    ----------
    X : DataFrame, Series, ColumnCells or anything else
        A DataFrame or Series is read from its ``attrs`` (see :func:`set_sample_rate`);
        a :class:`~mmlearn._columns.ColumnCells` from its ``sample_rate``; anything else
        declares nothing.
    column : label, optional
        The column to look up; default: the Series' name, or the only column of a
        one-column DataFrame.

    Returns
    -------
    rate : int or None
    """
    if isinstance(X, pd.Series | pd.DataFrame):
        rates = X.attrs.get(RATE_KEY)
        if not isinstance(rates, Mapping):
            return None
        if column is None:
            if isinstance(X, pd.Series):
                column = X.name
            elif X.shape[1] == 1:
                column = X.columns[0]
            else:
                return None
        rate = rates.get(column)
        # attrs can be written directly: a malformed rate is an error, not a guess.
        return None if rate is None else _check_rate(rate, column)
    from mmlearn._columns import ColumnCells

    return X.sample_rate if isinstance(X, ColumnCells) else None


def _file_rate(cells: ColumnCells, row: int) -> int:
    import soundfile

    path = cells.cells[row]
    try:
        return int(soundfile.info(path).samplerate)
    except (OSError, RuntimeError, ValueError, soundfile.LibsndfileError) as exc:
        raise ValueError(
            f"column {cells.name!r}, row {cells.label(row)}: cannot read audio file "
            f"{str(path)!r}: {exc}"
        ) from exc


def resolve_sample_rate(cells: ColumnCells, explicit: int | None, *,
                        fitted: int | None = None) -> int | None:
    """The rate an audio encoder analyses a column at: the one rule every encoder follows.

    - ``explicit`` (the encoder's ``sample_rate``) and the column's declared rate must
      agree when both are given; otherwise a ``ValueError`` names the column and both.
    - In-memory waveforms are at the explicit or declared rate; with neither, a
      ``ValueError`` says how to declare it (a rate is never assumed).
    - Files (WAV/FLAC paths) carry their rate in their header and are resampled to the
      analysis rate; a column of files only, with no explicit or declared rate, is
      analysed at the rate of its first file.
    - At transform time (``fitted``: the rate the encoder was fitted at) a column whose
      explicit or declared rate differs from ``fitted`` is a ``ValueError``; otherwise
      the fitted rate is used.

    Parameters
    ----------
    cells : ColumnCells
        The column, with its name and declared rate (``cells.sample_rate``).
    explicit : int or None
        The encoder's ``sample_rate`` parameter.
    fitted : int or None, default=None
        The rate found at fit time (``sample_rate_``), when transforming.

    Returns
    -------
    rate : int or None
        None only when no cell is present and nothing gives a rate.

    Examples
    --------
    >>> import numpy as np
    >>> from mmlearn._columns import ColumnCells
    >>> cells = ColumnCells([np.zeros(80)], "speech", sample_rate=8000)
    >>> resolve_sample_rate(cells, None)
    8000
    >>> resolve_sample_rate(cells, 16000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: column 'speech' declares a sample rate of 8000 Hz, but the encoder has ...
    """
    declared = declared_sample_rate(cells)
    if explicit is not None and declared is not None and int(explicit) != int(declared):
        raise ValueError(
            f"column {cells.name!r} declares a sample rate of {declared} Hz, but the encoder "
            f"has sample_rate={explicit}; features computed at the wrong rate are on the "
            "wrong frequency scale. Pass sample_rate=None to use the declared rate, or fix "
            "the declaration (mmlearn.set_sample_rate)."
        )
    rate = explicit if explicit is not None else declared
    if fitted is not None and rate is not None and int(rate) != int(fitted):
        given = (f"column {cells.name!r} declares a sample rate of {declared} Hz"
                 if declared is not None else
                 f"the encoder's sample_rate is now {explicit} (column {cells.name!r})")
        raise ValueError(
            f"{given}, but the encoder was fitted at {fitted} Hz; give clips at {fitted} Hz, "
            "or refit."
        )
    if rate is not None:
        return int(rate)
    first_file = None
    for row, cell in enumerate(cells.cells):
        if isinstance(cell, str | os.PathLike):
            first_file = row if first_file is None else first_file
        elif isinstance(cell, np.ndarray | list | tuple):
            # Only what read_audio takes as a waveform: other cells get its TypeError,
            # which says what a cell must be.
            fitted_at = "" if fitted is None else f" (the encoder was fitted at {fitted} Hz)"
            raise ValueError(
                f"column {cells.name!r} holds waveforms (row {cells.label(row)}) with no "
                f"sample rate{fitted_at}: {_HOW_TO_DECLARE}<rate in Hz>. mmlearn does not "
                "assume one: features at the wrong rate are silently on the wrong frequency "
                "scale."
            )
    if fitted is not None:
        return int(fitted)
    return None if first_file is None else _file_rate(cells, first_file)

