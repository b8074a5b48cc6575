"""What every fitted modality input is: cells of a batch of rows -> one array for a module."""

from __future__ import annotations

import numpy as np

from mmlearn._columns import ColumnCells

__all__ = ["ModalityInput"]


class ModalityInput:
    """Base of the fitted converters from a modality's cells to a network's input.

    An input learns what it needs from the *present* training cells in :meth:`fit`
    (image size and channels, log-mel statistics, a vocabulary, a standardisation) and
    then turns the present cells of any batch of rows into one NumPy array with
    :meth:`convert`. It holds no torch objects, so it pickles cheaply into loader
    workers. Deep encoders make one with ``make_input()``; JointFusion uses the same
    objects for its branches; :class:`~mmlearn._nn.data.CellDataset` draws batches
    through them.

    Subclasses set ``kind`` and ``dtype`` and implement :meth:`fit`, :meth:`convert`,
    :meth:`tail` and :meth:`module_params`.
    """

    kind: str = ""
    dtype: type = np.float32

    def fit(self, cells: ColumnCells, y=None) -> ModalityInput:
        """Learn from the present training cells (``y``: their labels, if it needs them)."""
        raise NotImplementedError

    def fit_convert(self, cells: ColumnCells, y=None) -> np.ndarray:
        """Fit on the (present) training cells and return their converted array.

        The same as ``fit(cells, y).convert(cells)``; an input whose fit already computes
        what convert needs (log-mel spectrograms) overrides it to do the work once.
        """
        return self.fit(cells, y).convert(cells)

    def convert(self, cells: ColumnCells) -> np.ndarray:
        """The array of the given (present) cells, one row per cell."""
        raise NotImplementedError

    def tail(self) -> tuple[int, ...]:
        """The shape of one converted row (a padded width may vary between batches)."""
        raise NotImplementedError

    def module_params(self) -> dict:
        """What a module needs to know about its input (channels, bands, vocabulary...)."""
        raise NotImplementedError

    def streams(self, cells: ColumnCells) -> bool:
        """Whether ``cells`` are decoded batch by batch: they hold file paths."""
        return cells.has_paths()

    def empty(self, n_rows: int, tail: tuple[int, ...] | None = None) -> np.ndarray:
        """``n_rows`` rows of zeros: the value of rows that lack the modality."""
        return np.zeros((n_rows, *(self.tail() if tail is None else tail)), dtype=self.dtype)
