"""The data contract: one modality column -> arrays, with a mask of missing cells.

Every encoder goes through this module to read its input, so the rules for what a cell
may hold (see ``docs/data_contract.md``) live in one place:

- image: ndarray ``(H, W)`` or ``(H, W, C)`` with C in {1, 3, 4}, or a path to a PNG/JPEG
  file, read only when its batch is converted. Values: uint8 and 8-bit files /255, uint16 and
  16-bit files /65535, other integer dtypes must hold 0-255 (read as 8-bit), floats must be
  intensities in [0, 1]; anything else is a ValueError naming the column and row. The rows
  of a 2-D numeric table (``(n, n_pixels)``) are one-row images whose float values are used
  as they are (a table is often another scikit-learn step's output).
- audio: 1-D numeric ndarray (a waveform at the rate the column declares, see
  ``mmlearn/_audio_rate.py``, or at the encoder's ``sample_rate``) or a path to a WAV/FLAC
  file (resampled from its header's rate to that rate).
- text: str.
- missing: ``None``, NaN, ``pd.NA``, ``NaT`` -> reported in the mask, never an error.

Any other cell is present and is decoded or rejected with a ValueError/TypeError naming the
column and row: ragged nested lists, complex, datetime, bytes or string arrays, numbers
where arrays are expected (``Fraction``, ints too large for numpy).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mmlearn._audio_rate import declared_sample_rate

__all__ = [
    "ColumnCells",
    "as_cells",
    "is_missing",
    "read_images",
    "read_audio",
    "read_texts",
    "batch_slices",
    "MAX_PIXELS_WITHOUT_SIZE",
]

# Images read at their own size (no ``size=``) may have at most this many pixels each: one
# larger image would make every row of a pixel encoder or a network input that large.
MAX_PIXELS_WITHOUT_SIZE = 1_000_000


class ColumnCells:
    """The cells of one modality column, with the column's name for error messages.

    Parameters
    ----------
    cells : sequence
        One object per row.
    name : str
        The column's name as the user knows it (``"image"``), or a description.
    labels : sequence, optional
        The row labels shown in error messages (a DataFrame's index); positions if None.
    n_features : int, default=1
        The number of features scikit-learn counts in the input: the width of a stacked 2-D
        numeric table (one flat sample per row), else 1 (one column of cells).
    flat_rows : bool, default=False
        The cells are the rows of a 2-D numeric table (one-row images): their float values
        are used as they are, not checked to lie in [0, 1].
    sample_rate : int or None, default=None
        The audio sample rate (Hz) the column's DataFrame or Series declares
        (:func:`mmlearn.set_sample_rate`); audio encoders resolve it with
        :func:`mmlearn._audio_rate.resolve_sample_rate`.
    """

    def __init__(self, cells: Sequence, name: str, labels: Sequence | None = None,
                 n_features: int = 1, flat_rows: bool = False, sample_rate: int | None = None):
        self.cells = cells
        self.name = name
        self.labels = labels
        self.n_features = n_features
        self.flat_rows = flat_rows
        self.sample_rate = sample_rate

    def label(self, row: int) -> object:
        """The label of position ``row`` as the user knows it."""
        return row if self.labels is None else self.labels[row]

    def __len__(self) -> int:
        return len(self.cells)

    def missing_mask(self) -> np.ndarray:
        return np.fromiter((is_missing(c) for c in self.cells), dtype=bool, count=len(self))

    def has_paths(self) -> bool:
        """Whether some cell is a file path (decoded only when its batch is converted)."""
        return any(isinstance(c, str | os.PathLike) for c in self.cells)

    def subset(self, rows: np.ndarray) -> ColumnCells:
        labels = [self.label(i) for i in rows]
        return ColumnCells([self.cells[i] for i in rows], self.name, labels,
                           flat_rows=self.flat_rows, sample_rate=self.sample_rate)


def is_missing(cell: object) -> bool:
    """True for a missing modality cell: ``None``, NaN or ``pd.NA``/``NaT``.

    Never raises: any other object (an array, a string, a ``Fraction``, an int too large
    for numpy) is a present cell, which its decoder accepts or rejects with a message.
    """
    if cell is None or cell is pd.NA or cell is pd.NaT:
        return True
    if isinstance(cell, float | complex | np.inexact):
        return bool(cell != cell)  # NaN is the only float unequal to itself
    if isinstance(cell, np.datetime64 | np.timedelta64):
        return bool(np.isnat(cell))
    if isinstance(cell, numbers.Number) and not isinstance(cell, numbers.Integral):
        # Other number types (Fraction, Decimal...) have no NaN, or spell it as unequal to
        # itself; np.isnan would reject them, so compare instead.
        try:
            return bool(cell != cell)
        except (TypeError, ValueError, ArithmeticError):
            return False
    return False


def as_cells(X: object, *, kind: str, default_name: str = "input") -> ColumnCells:
    """Split the input of a single-modality encoder into one cell per row.

    Accepts a Series, a one-column DataFrame, a list, a 1-D object array, or a stacked
    ndarray: ``(n, H, W[, C])`` images, ``(n, T)`` audio, ``(n,)`` or ``(n, 1)`` text.
    A 2-D numeric array given to an image encoder is read as ``n`` images of one row each,
    which is what a row of flat pixel values is. Anything else (a single value, a mapping,
    a generator, sparse input) is a TypeError naming ``default_name``.
    """
    if isinstance(X, pd.DataFrame):
        if X.shape[1] > 1 and kind != "text" and all(
            pd.api.types.is_numeric_dtype(dtype) for dtype in X.dtypes
        ):
            # An all-numeric table is one flat sample per row, as a 2-D ndarray is.
            return _table_cells(X.to_numpy(), kind=kind, name=default_name, labels=list(X.index))
        if X.shape[1] != 1:
            raise ValueError(
                f"{_an(kind)} encoder reads one column, got {X.shape[1]} columns "
                f"{list(map(str, X.columns))}; give one column per encoder "
                "(EarlyFusion routes columns to encoders)."
            )
        name = str(X.columns[0])
        return ColumnCells(list(X.iloc[:, 0].to_numpy(dtype=object)), name, list(X.index),
                           sample_rate=declared_sample_rate(X))
    if isinstance(X, pd.Series):
        name = default_name if X.name is None else str(X.name)
        return ColumnCells(list(X.to_numpy(dtype=object)), name, list(X.index),
                           sample_rate=declared_sample_rate(X))
    if isinstance(X, str | bytes | os.PathLike):
        raise TypeError(
            f"column {default_name!r}: {_an(kind)} encoder expects one cell per sample (a list, "
            f"Series or array), got a single {type(X).__name__}; wrap it in a list."
        )
    if sp.issparse(X):
        raise TypeError(
            f"column {default_name!r}: sparse input is not supported: {_an(kind)} encoder "
            "needs one dense cell per sample."
        )
    if isinstance(X, Mapping):
        # list(mapping) would be its keys, not its values (a sparse dok matrix is also a
        # mapping, hence the sparse check first).
        raise TypeError(
            f"column {default_name!r}: {_an(kind)} encoder expects one cell per sample, got a "
            f"{type(X).__name__}; pass pd.Series(mapping) or a list of its values."
        )
    if hasattr(X, "__array__"):
        return _table_cells(np.asarray(X), kind=kind, name=default_name)
    if isinstance(X, list | tuple) and X and all(isinstance(row, list | tuple) for row in X):
        # Nested lists of numbers are a table (X.tolist()); anything else stays a list of cells.
        try:
            table = np.asarray(X)
        except ValueError:
            table = None
        if table is not None and table.ndim == 2 and table.dtype.kind in "uifb":
            return _table_cells(table, kind=kind, name=default_name)
    if hasattr(X, "__len__") and hasattr(X, "__getitem__"):
        return ColumnCells(list(X), default_name)
    raise TypeError(
        f"column {default_name!r}: {_an(kind)} encoder expects a Series, DataFrame column, "
        f"list or ndarray, got {type(X).__name__}."
    )


def _an(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _table_cells(X: np.ndarray, *, kind: str, name: str, labels: Sequence | None = None
                 ) -> ColumnCells:
    cells = _split_array(X, kind=kind, name=name)
    stacked_2d = X.ndim == 2 and X.dtype.kind in "uifb" and kind != "text"
    return ColumnCells(cells, name, labels, n_features=X.shape[1] if stacked_2d else 1,
                       flat_rows=kind == "image" and X.ndim == 2 and (
                           stacked_2d or (X.dtype == object and X.shape[1] > 1)))


def _split_array(X: np.ndarray, *, kind: str, name: str) -> list:
    if X.dtype == object and X.ndim == 2 and X.shape[1] > 1 and kind != "text":
        # A 2-D object array of numbers is a numeric table, not a column of cells.
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"column {name!r}: a 2-D object array must hold numbers: {exc}"
            ) from exc
    if X.dtype.kind == "c":
        raise ValueError(
            # scikit-learn's estimator checks look for "Complex data not supported".
            f"column {name!r}: Complex data not supported (dtype {X.dtype}); give real "
            f"{kind} values."
        )
    if X.dtype == object or X.dtype.kind in "US":
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        if X.ndim != 1:
            raise ValueError(
                f"column {name!r}: an object array of {kind} cells must be 1-D, "
                f"got shape {X.shape}."
            )
        return list(X)
    wanted = {"image": (2, 3, 4), "audio": (2,), "text": (1, 2)}[kind]
    if X.ndim not in wanted:
        raise ValueError(
            f"column {name!r}: a stacked {kind} array must have {' or '.join(map(str, wanted))} "
            f"dimensions (samples first), got shape {X.shape}. Reshape your data: a single "
            f"sample is X[np.newaxis] or [sample]."
        )
    if X.ndim == 2 and X.shape[1] == 0 and kind != "text":
        raise ValueError(
            f"column {name!r}: 0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    if kind == "image" and X.ndim == 2:
        return [row[np.newaxis, :] for row in X]
    return list(X)


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``batch_size`` rows covering ``range(n)``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


# ----------------------------------------------------------------------------- images

def _where(column: str, row: object) -> str:
    return f"column {column!r}, row {row}"


_BOMB_HINT = (
    "Pillow refuses images above PIL.Image.MAX_IMAGE_PIXELS pixels as a guard against "
    "decompression bombs; if you trust the file, raise the limit first (for example "
    "`PIL.Image.MAX_IMAGE_PIXELS = 200_000_000`, or None to remove it)"
)

# PIL modes decoded to one channel: 8-bit and 1-bit gray as uint8, 16-bit gray ("I;16*", and
# "I" which PNG uses for it) as uint16, 32-bit float gray as float32. Every other mode is
# converted to RGB or RGBA, so image_header's channel count matches what decoding gives.
_GRAY_MODES = {"L", "1", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}


def _open_image(path: object, column: str, row: object):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ValueError(
            f"{_where(column, row)}: image file {str(path)!r} is too large to open safely: "
            f"{exc} {_BOMB_HINT}."
        ) from exc
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(
            f"{_where(column, row)}: cannot read image file {str(path)!r}: {exc}"
        ) from exc


def _load_image_file(path: object, column: str, row: object) -> np.ndarray:
    """A file's pixels at their real bit depth: uint8, uint16 (16-bit gray) or float32."""
    img = _open_image(path, column, row)
    try:
        with img:
            mode = img.mode
            if mode == "1":
                img = img.convert("L")
            elif mode not in _GRAY_MODES and mode not in ("RGB", "RGBA"):
                img = img.convert("RGBA" if "A" in img.getbands() or mode == "P" else "RGB")
            arr = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{_where(column, row)}: cannot read image file {str(path)!r}: {exc}"
        ) from exc
    if mode.startswith("I;16"):
        arr = arr.astype(np.uint16)  # native byte order, whatever the file's
    elif mode == "I":
        # PNG decodes 16-bit gray to 32-bit integers; keep the file's depth so that a dark
        # 16-bit image is not read as a bright 8-bit one.
        if arr.size and (arr.min() < 0 or arr.max() > np.iinfo(np.uint16).max):
            raise ValueError(
                f"{_where(column, row)}: image file {str(path)!r} holds 32-bit integer "
                f"pixels in [{arr.min()}, {arr.max()}]; only 8- and 16-bit images are read."
            )
        arr = arr.astype(np.uint16)
    return arr


def _integer_image_to_float(arr: np.ndarray, column: str, row: object) -> np.ndarray:
    """Integers by their declared bit depth: uint8 /255, uint16 /65535, others as 8-bit."""
    unsigned = arr.dtype.kind == "u"
    if unsigned and arr.dtype.itemsize == 2:
        return arr.astype(np.float32) / np.float32(65535)
    if not (unsigned and arr.dtype.itemsize == 1) and arr.size:
        low, high = arr.min(), arr.max()
        if low < 0 or high > 255:
            raise ValueError(
                f"{_where(column, row)}: integer image of dtype {arr.dtype} has values in "
                f"[{low}, {high}]; integer images are 8-bit (0-255), or 16-bit as np.uint16 "
                "(0-65535). Cast 16-bit data with .astype(np.uint16), or give floats in [0, 1]."
            )
    return arr.astype(np.float32) / np.float32(255)


def _cell_array(cell: object, column: str, row: object, what: str) -> np.ndarray:
    """An in-memory cell (ndarray, or nested lists/tuples of numbers) as an ndarray.

    Ragged nested lists (rows of different lengths) have no array form; say so with the
    column and row instead of numpy's "inhomogeneous shape".
    """
    if isinstance(cell, np.ndarray):
        return cell
    try:
        return np.asarray(cell)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(
            f"{_where(column, row)}: cannot read the nested {type(cell).__name__} as {what}: "
            "its rows have different lengths or hold non-numbers (numpy: "
            f"{str(exc).splitlines()[0]}). Give one rectangular array per cell."
        ) from exc


def _image_cell_to_float(cell: object, column: str, row: object, *,
                         flat_row: bool = False) -> np.ndarray:
    """One image cell -> float32 (H, W, C) with C in {1, 3, 4}, values in [0, 1].

    ``flat_row``: the cell is a row of a 2-D numeric table, whose float values are kept as
    they are.
    """
    if isinstance(cell, str | os.PathLike):
        arr = _load_image_file(cell, column, row)
    elif isinstance(cell, np.ndarray | list | tuple):
        arr = _cell_array(cell, column, row, "an image")
    else:
        raise TypeError(
            f"{_where(column, row)}: expected an image (ndarray (H, W[, C]) or a PNG/JPEG path), "
            f"got {type(cell).__name__}."
        )
    if arr.dtype.kind == "c":
        raise ValueError(
            f"{_where(column, row)}: Complex data not supported (pixel dtype {arr.dtype}); "
            "give real intensities."
        )
    if arr.dtype.kind not in "uifb":
        raise TypeError(f"{_where(column, row)}: image array has non-numeric dtype {arr.dtype}.")
    if arr.ndim == 1:
        # A 1-D cell is a waveform or a feature vector, not an image; flat pixel rows come
        # as a 2-D (n, n_pixels) table, whose rows arrive here as (1, n_pixels).
        raise ValueError(
            f"{_where(column, row)}: expected an image of shape (H, W) or (H, W, C), got a "
            f"1-D array of shape {arr.shape}; reshape it to (H, W), or give flat pixel rows "
            "as one 2-D (n_samples, n_pixels) array."
        )
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"{_where(column, row)}: expected an image of shape (H, W) or (H, W, C) with C in "
            f"(1, 3, 4), got shape {arr.shape}."
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{_where(column, row)}: empty image of shape {arr.shape}.")
    if arr.dtype.kind in "ui":
        return _integer_image_to_float(arr, column, row)
    # No copy of a float32 cell: callers copy it into their batch, never write to it.
    out = arr.astype(np.float32, copy=False)
    # Two passes instead of three: a NaN makes the minimum NaN, an infinity shows in the
    # minimum or the maximum.
    low, high = out.min(), out.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{_where(column, row)}: image has NaN or infinite pixel values.")
    if not flat_row and arr.dtype.kind == "f" and (low < 0.0 or high > 1.0):
        raise ValueError(
            f"{_where(column, row)}: float image values must be intensities in [0, 1], got "
            f"values in [{low:g}, {high:g}]; divide 8-bit values by 255 (or pass "
            "them as np.uint8), 16-bit ones by 65535."
        )
    return out


def _to_channels(img: np.ndarray, n_channels: int) -> np.ndarray:
    c = img.shape[2]
    if c == 4:
        # Transparent pixels carry arbitrary colour: composite on white so they read as background.
        alpha = img[:, :, 3:4]
        img = img[:, :, :3] * alpha + (1.0 - alpha)
        c = 3
    if c == n_channels:
        return img
    if n_channels == 1:
        luma = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
        return (img @ luma)[:, :, np.newaxis]
    return np.repeat(img, 3, axis=2)


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if img.shape[:2] == size:
        return img
    from PIL import Image

    h, w = size
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(img[:, :, k]), mode="F").resize(
                (w, h), Image.Resampling.BILINEAR
            )
        )
        for k in range(img.shape[2])
    ]
    return np.stack(channels, axis=2)


def image_channels(cell_array: np.ndarray) -> int:
    """1 for a grayscale image, 3 for colour (RGBA counts as colour)."""
    return 1 if cell_array.shape[2] == 1 else 3


def read_images(
    cells: ColumnCells,
    *,
    size: tuple[int, int] | None,
    n_channels: int,
    channels_first: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Convert image cells to one float32 array ``(n, H, W, C)``, or ``(n, C, H, W)``.

    Parameters
    ----------
    cells : ColumnCells
    size : (H, W) or None
        Every image is resized to this size; with None all images must already share a size.
    n_channels : {1, 3}
        Grayscale images are repeated to 3 channels, colour ones converted to luminance.
    channels_first : bool, default=False
        Write the images as ``(n, C, H, W)`` (C-ordered), as torch's convolutions take
        them, with no second pass over the batch.

    Returns
    -------
    images : ndarray of shape (n, H, W, C) or (n, C, H, W), float32
        Missing rows are zeros.
    missing : ndarray of shape (n,), bool
    """
    missing = cells.missing_mask()
    out = None
    first_shape: tuple[int, int] | None = None
    for row, cell in enumerate(cells.cells):
        if missing[row]:
            continue
        img = _image_cell_to_float(cell, cells.name, cells.label(row),
                                   flat_row=cells.flat_rows)
        if size is None:
            if first_shape is None:
                first_shape = img.shape[:2]
            elif img.shape[:2] != first_shape:
                raise ValueError(
                    f"{_where(cells.name, cells.label(row))}: image of size {img.shape[:2]} "
                    "differs from the "
                    f"size {first_shape} of earlier images; pass size=(H, W) to resize them."
                )
        else:
            img = _resize(img, size)
        img = _to_channels(img, n_channels)
        if channels_first:
            img = img.transpose(2, 0, 1)
        if out is None:
            out = np.empty((len(cells), *img.shape), dtype=np.float32)
            out[missing] = 0.0
        out[row] = img
    if out is None:
        h, w = size if size is not None else (1, 1)
        shape = (n_channels, h, w) if channels_first else (h, w, n_channels)
        out = np.zeros((len(cells), *shape), dtype=np.float32)
    return out, missing


def image_header(cell: object, column: str, row: object, *, flat_row: bool = False
                 ) -> tuple[tuple[int, int], int]:
    """``((H, W), channels)`` of one image cell; a file's from its header, not decoded."""
    if not isinstance(cell, str | os.PathLike):
        img = _image_cell_to_float(cell, column, row, flat_row=flat_row)
        return img.shape[:2], image_channels(img)
    with _open_image(cell, column, row) as img:
        width, height = img.size
        mode = img.mode
    return (height, width), 1 if mode in _GRAY_MODES else 3


def probe_images(cells: ColumnCells) -> tuple[tuple[int, int] | None, int]:
    """Common (H, W) of the present images (None if they differ) and their channel count.

    The channel count is 3 as soon as one image has colour, else 1. Files are not decoded:
    their size and mode come from the header.
    """
    sizes: set[tuple[int, int]] = set()
    channels = 1
    for row, cell in enumerate(cells.cells):
        if is_missing(cell):
            continue
        size, n_channels = image_header(cell, cells.name, cells.label(row),
                                        flat_row=cells.flat_rows)
        sizes.add(size)
        channels = max(channels, n_channels)
    if not sizes:
        raise ValueError(f"column {cells.name!r}: every image cell is missing.")
    return (sizes.pop() if len(sizes) == 1 else None), channels


# ------------------------------------------------------------------------------ audio

def _load_audio_file(path: object, sample_rate: int, column: str, row: object) -> np.ndarray:
    import soundfile

    try:
        wave, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError, ValueError, soundfile.LibsndfileError) as exc:
        raise ValueError(
            f"{_where(column, row)}: cannot read audio file {str(path)!r}: {exc}"
        ) from exc
    wave = wave.mean(axis=1)
    if rate != sample_rate and wave.size:
        import librosa

        wave = librosa.resample(wave, orig_sr=rate, target_sr=sample_rate).astype(np.float32)
    return wave


def _audio_cell(cell: object, sample_rate: int, column: str, row: object) -> np.ndarray:
    if isinstance(cell, str | os.PathLike):
        wave = _load_audio_file(cell, sample_rate, column, row)
    elif isinstance(cell, np.ndarray | list | tuple):
        wave = _cell_array(cell, column, row, "a waveform")
        if wave.dtype.kind == "c":
            raise ValueError(
                f"{_where(column, row)}: Complex data not supported (sample dtype "
                f"{wave.dtype}); give a real waveform."
            )
        if wave.dtype.kind not in "uif":
            raise TypeError(f"{_where(column, row)}: waveform has non-numeric dtype {wave.dtype}.")
        if wave.ndim != 1:
            raise ValueError(
                f"{_where(column, row)}: expected a 1-D waveform, got shape {wave.shape}; "
                "mix multi-channel audio down to mono first."
            )
        if wave.dtype.kind in "ui":
            info = np.iinfo(wave.dtype)
            wave = wave.astype(np.float32) / np.float32(max(abs(info.min), info.max))
        else:
            if np.isfinite(wave).all():
                with np.errstate(over="ignore"):
                    wave32 = wave.astype(np.float32)
                if not np.isfinite(wave32).all():
                    raise ValueError(
                        f"{_where(column, row)}: waveform samples reach "
                        f"{np.abs(wave).max():g}, beyond float32's range; audio is full "
                        "scale at 1, so rescale the clip."
                    )
                wave = wave32
            else:
                wave = wave.astype(np.float32)
    else:
        raise TypeError(
            f"{_where(column, row)}: expected audio (a 1-D waveform array or a WAV path), "
            f"got {type(cell).__name__}."
        )
    if wave.size == 0:
        raise ValueError(f"{_where(column, row)}: zero-length audio clip.")
    if not np.isfinite(wave).all():
        raise ValueError(f"{_where(column, row)}: waveform has NaN or infinite samples.")
    return wave


def read_audio(cells: ColumnCells, *, sample_rate: int) -> tuple[list, np.ndarray]:
    """Convert audio cells to a list of float32 1-D waveforms (None where missing)."""
    missing = cells.missing_mask()
    waves = [
        None if missing[row] else _audio_cell(cell, sample_rate, cells.name, cells.label(row))
        for row, cell in enumerate(cells.cells)
    ]
    return waves, missing


# ------------------------------------------------------------------------------- text

def read_texts(cells: ColumnCells) -> tuple[list, np.ndarray]:
    """Text cells as a list of str (None where missing)."""
    missing = cells.missing_mask()
    texts = []
    for row, cell in enumerate(cells.cells):
        if missing[row]:
            texts.append(None)
        elif isinstance(cell, str):
            texts.append(cell)
        else:
            raise TypeError(
                f"{_where(cells.name, cells.label(row))}: expected text (str), "
                f"got {type(cell).__name__}."
            )
    return texts, missing
