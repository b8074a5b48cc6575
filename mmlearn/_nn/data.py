"""The lazy data path: a ``Dataset`` over fitted modality inputs, and its ``DataLoader``.

``column -> cells (+ present mask) -> fitted modality input -> CellDataset -> DataLoader
-> module``. A :class:`CellDataset` holds the *cells* of one or more columns (arrays,
strings, file paths) and the fitted inputs that convert a batch of cells to tensors. A
column that holds file paths is decoded batch by batch when the loader draws the batch
(in its worker processes when ``n_workers > 0``), so memory is bounded by batch size x
workers, not by the number of rows; a column held in memory is converted once, when the
dataset is made, so that every epoch indexes ready tensors as a plain ``TensorDataset``
would. Batches are drawn through ``__getitems__`` (one call per batch), so a batch of
clips or images is converted together.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mmlearn._columns import ColumnCells, batch_slices

__all__ = ["Source", "CellDataset", "CellLoader", "TrainLoader", "keep_batch",
           "resolve_workers", "loader_params"]

# Rows converted at once when a column held in memory is converted up front.
_CONVERT_CHUNK = 1024


class Source:
    """One branch of a dataset: a fitted input over a column's cells.

    Parameters
    ----------
    input : ModalityInput
        Fitted; ``convert(cells)`` turns present cells into a batch array.
    cells : ColumnCells
        All rows of the column (missing cells included).
    present : ndarray of bool, optional
        Rows whose cell is there; None means every row.
    convert_once : bool, default=True
        Convert a column held in memory once, now (training: every epoch then indexes
        ready tensors). False converts every batch when it is drawn (inference: one pass,
        and memory stays near one batch of converted inputs).
    """

    def __init__(self, input, cells: ColumnCells, present: np.ndarray | None = None, *,
                 convert_once: bool = True, converted: np.ndarray | None = None):
        self.input = input
        self.cells = cells
        self.present = (np.ones(len(cells), dtype=bool) if present is None
                        else np.asarray(present, dtype=bool))
        self.ready: torch.Tensor | None = None
        self.lazy = not convert_once or input.streams(cells)
        if not self.lazy:
            rows = np.flatnonzero(self.present)
            if converted is not None:
                pieces = [(rows, converted)]
            else:
                pieces = [(rows[part], input.convert(cells.subset(rows[part])))
                          for part in batch_slices(len(rows), _CONVERT_CHUNK)]
            self.ready = self._scatter(pieces)

    @classmethod
    def fit(cls, input, cells: ColumnCells, present: np.ndarray | None = None,
            y: np.ndarray | None = None) -> Source:
        """Fit ``input`` on the present rows and make the training source over all rows.

        A column held in memory is converted in the same pass as the fit
        (``input.fit_convert``: a log-mel input computes each spectrogram once); a column of
        files is only fitted (from headers, or one statistics pass for audio) and decoded
        batch by batch later. ``y`` (all rows) reaches inputs that learn from labels.
        """
        present = (np.ones(len(cells), dtype=bool) if present is None
                   else np.asarray(present, dtype=bool))
        rows = np.flatnonzero(present)
        train = cells.subset(rows)
        labels = None if y is None else np.asarray(y)[rows]
        if input.streams(cells):
            input.fit(train, labels)
            return cls(input, cells, present)
        if hasattr(input, "fit_convert"):
            converted = input.fit_convert(train, labels)
        else:  # an input of one's own may have only fit and convert
            converted = input.fit(train, labels).convert(train)
        return cls(input, cells, present, converted=converted)

    def _scatter(self, pieces) -> torch.Tensor:
        """One tensor of every row from ``(rows, values)`` pieces; absent rows are empty."""
        if not pieces or not len(pieces[0][1]):
            return torch.from_numpy(self.input.empty(len(self.cells)))
        # Padded widths (text) may differ between pieces: pad to the widest.
        tail = max(values.shape[1:] for _, values in pieces)
        full = self.input.empty(len(self.cells), tail=tail)
        for rows, values in pieces:
            full[(rows,) + tuple(slice(0, s) for s in values.shape[1:])] = values
        return torch.from_numpy(full)

    def batch(self, rows: np.ndarray) -> torch.Tensor:
        """The input tensor of ``rows`` (absent rows: the input's empty value)."""
        if self.ready is not None:
            return self.ready[torch.from_numpy(rows)]
        here = np.flatnonzero(self.present[rows])
        if len(here) == len(rows):
            return torch.from_numpy(self.input.convert(self.cells.subset(rows)))
        values = (self.input.convert(self.cells.subset(rows[here])) if len(here) else None)
        tail = values.shape[1:] if values is not None else None
        out = self.input.empty(len(rows), tail=tail)
        if values is not None:
            out[here] = values
        return torch.from_numpy(out)


class _Failed:
    """A batch whose conversion raised in a loader worker: carries the original error."""

    def __init__(self, error: Exception):
        self.error = error


class CellDataset(Dataset):
    """A map-style dataset over fitted inputs; one item per row, drawn a batch at a time.

    Parameters
    ----------
    sources : Source or mapping of str -> Source
        One source yields tensor batches; a mapping yields dicts of tensors (keyword
        arguments of the module's ``forward``), to which ``extra`` arrays are added.
    y : ndarray, optional
        Targets returned beside each batch (zeros when None: skorch's predict loop and
        mmlearn's inference ignore them).
    extra : mapping of str -> ndarray, optional
        Per-row arrays added to each dict batch as tensors (JointFusion's ``present``).
    """

    def __init__(self, sources: Source | Mapping[str, Source], y: np.ndarray | None = None,
                 extra: Mapping[str, np.ndarray] | None = None):
        self.sources = sources
        first = sources if isinstance(sources, Source) else next(iter(sources.values()))
        self.n_rows = len(first.cells)
        self.y = (torch.zeros(self.n_rows, dtype=torch.int64) if y is None
                  else torch.as_tensor(np.asarray(y)))
        self.extra = {key: torch.as_tensor(value) for key, value in (extra or {}).items()}

    def __len__(self) -> int:
        return self.n_rows

    def reads_files(self) -> bool:
        """Whether some column holds file paths (decoded batch by batch)."""
        sources = [self.sources] if isinstance(self.sources, Source) else self.sources.values()
        return any(source.input.streams(source.cells) for source in sources)

    def __getitems__(self, indices: Sequence[int]):
        rows = np.asarray(indices, dtype=np.int64)
        try:
            if isinstance(self.sources, Source):
                X = self.sources.batch(rows)
            else:
                X = {key: source.batch(rows) for key, source in self.sources.items()}
                index = torch.from_numpy(rows)
                X.update({key: value[index] for key, value in self.extra.items()})
        except (ValueError, TypeError) as exc:
            if torch.utils.data.get_worker_info() is None:
                raise
            # Raised in a worker, the error would reach the user wrapped in a worker
            # traceback; handed back as a value, CellLoader re-raises it unchanged.
            return _Failed(exc)
        return X, self.y[torch.from_numpy(rows)]

    def __getitem__(self, index: int):
        batch = self.__getitems__([index])
        if isinstance(batch, _Failed):
            raise batch.error
        X, y = batch
        if isinstance(X, dict):
            return {key: value[0] for key, value in X.items()}, y[0]
        return X[0], y[0]


def keep_batch(batch):
    """The loader's ``collate_fn``: ``__getitems__`` already returned a whole batch."""
    return batch


class CellLoader(DataLoader):
    """A ``DataLoader`` that re-raises a worker's conversion error as the user would see it
    in the main process (the same type and message: column, row and path)."""

    def __iter__(self):
        for batch in super().__iter__():
            if isinstance(batch, _Failed):
                raise batch.error
            yield batch


class TrainLoader(CellLoader):
    """The training loader: a :class:`CellLoader` that never yields a batch of one row.

    Batch normalisation cannot train on a single row (one value per channel once the maps
    are pooled to 1x1), so when the rows of an epoch leave a last batch of exactly one,
    that batch is dropped. Training batches are shuffled, so a different row sits out each
    epoch and none is left out of training for good. Every other batch size, and every
    loader that does not train, keeps all rows.
    """

    def __init__(self, dataset, batch_size: int | None = 1, *, drop_last: bool = False,
                 sampler=None, **kwargs):
        n_rows = len(sampler) if sampler is not None else len(dataset)
        if batch_size is not None and 1 < batch_size < n_rows and n_rows % batch_size == 1:
            drop_last = True
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         sampler=sampler, **kwargs)


def resolve_workers(n_workers: int | None, dataset: CellDataset) -> int:
    """The number of loader worker processes for ``dataset``.

    ``None`` chooses: 0 when every column is held in memory (converting arrays is cheaper
    than sending them to another process), else one worker per spare core
    (``os.cpu_count() - 1``, at most 4), so that decoding the next batch of files overlaps
    training on the current one.
    """
    if n_workers is not None:
        return int(n_workers)
    if not dataset.reads_files():
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _limit_worker_threads(worker_id: int) -> None:
    # A decoding worker needs one thread; the training process keeps the cores.
    torch.set_num_threads(1)


def loader_params(n_workers: int) -> dict:
    """``DataLoader`` arguments for a :class:`CellDataset` (skorch ``iterator_*__`` style)."""
    params = {"iterator": CellLoader, "collate_fn": keep_batch, "num_workers": n_workers}
    if n_workers > 0:
        params.update(persistent_workers=False, worker_init_fn=_limit_worker_threads,
                      prefetch_factor=2)
    return params


def iterate(dataset: CellDataset, *, batch_size: int, n_workers: int) -> CellLoader:
    """An ordered loader over ``dataset`` for inference."""
    params = loader_params(n_workers)
    params.pop("iterator")
    # A loader draws its workers' base seed when it starts iterating; a generator of its
    # own keeps that draw off torch's global random stream (inference must not move it).
    return CellLoader(dataset, batch_size=batch_size, shuffle=False,
                      generator=torch.Generator().manual_seed(0), **params)
