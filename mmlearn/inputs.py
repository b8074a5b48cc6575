"""Modality inputs: the public surface for encoders written outside mmlearn.

A deep encoder (and a JointFusion branch) reads its column through a *modality input*:
an object that learns what it needs from the training cells (``fit``) and turns the cells
of a batch of rows into one array for a network (``convert``). mmlearn's own encoders use
these classes; an encoder of your own can use them too, or bring its own object with the
same methods (``fit, convert, tail, module_params, empty, streams``). See
``docs/architecture.md``, "How to add a new encoder".

- :class:`ImageInput`: image arrays or PNG/JPEG paths -> float32 ``(n, C, H, W)``;
- :class:`LogMelInput`: waveforms or WAV/FLAC paths -> standardised log-mel spectrograms
  with a frame mask, float32 ``(n, 1 + n_mels, frames)``;
- :class:`TokenInput`: text -> padded token ids, int64 ``(n, length)``;
- :class:`TabularInput`: any scikit-learn transformer's standardised features;
- :func:`as_cells` / :class:`ColumnCells`: a column (Series, one-column DataFrame, list,
  stacked array) as one cell per row, with its name for error messages and the mask of
  missing cells; the data contract's checks live there.
"""

from mmlearn._columns import ColumnCells, as_cells
from mmlearn._inputs import (
    ImageInput,
    LogMelInput,
    ModalityInput,
    TableRows,
    TabularInput,
    TokenInput,
)

__all__ = [
    "ColumnCells",
    "ImageInput",
    "LogMelInput",
    "ModalityInput",
    "TableRows",
    "TabularInput",
    "TokenInput",
    "as_cells",
]
