"""What every deep (skorch) encoder shares: supervised fit, batched embeddings, predictions."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.base import ClassifierMixin, ClassNamePrefixFeaturesOutMixin
from sklearn.utils.validation import check_is_fitted

from mmlearn._columns import ColumnCells, batch_slices
from mmlearn._torch import (
    TRAINING_CONSTRAINTS,
    check_device,
    encode_labels,
    predict_batches,
    train_classifier,
)
from mmlearn.encoders._base import ModalityEncoder
from mmlearn.utils._sklearn_compat import Interval

COMMON_CONSTRAINTS: dict = {
    "embedding_dim": [Interval(Integral, 1, None, closed="left")],
    **TRAINING_CONSTRAINTS,
}


class DeepEncoder(ClassNamePrefixFeaturesOutMixin, ClassifierMixin, ModalityEncoder):
    """Base of the deep encoders: a network trained with a classification head on its modality.

    Subclasses define ``_module`` (an ``nn.Module`` class at module level whose ``forward``
    returns class logits and whose ``embed`` returns the ``embedding_dim`` features),
    ``_prepare(cells, fitting)`` (cells -> float32/int64 array for the module, learning any
    input shape when ``fitting``) and ``_module_params()``. Hyper-parameters every subclass
    takes: ``embedding_dim, max_epochs, lr, batch_size, validation_fraction, patience,
    device, random_state, verbose``.
    """

    _module: type[torch.nn.Module]

    def _prepare(self, cells: ColumnCells, *, fitting: bool) -> np.ndarray:
        raise NotImplementedError

    def _module_params(self) -> dict:
        raise NotImplementedError

    def fit(self, X, y=None):
        """Train the network (and its classification head) on one modality column.

        Rows whose cell is missing are left out of training.

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of cells
        y : array-like of shape (n_samples,)
            Class labels (any type LabelEncoder accepts: ints, strings).

        Returns
        -------
        self
        """
        self._validate_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "it is trained with labels."
            )
        device = check_device(self.device)
        cells = self._read_column(X, y, reset=True)
        present = ~cells.missing_mask()
        if not present.any():
            raise ValueError(f"column {cells.name!r}: every {self._modality} cell is missing.")
        cells = cells.subset(np.flatnonzero(present))
        self.classes_, y_encoded = encode_labels(y)
        y_encoded = y_encoded[present]
        inputs = self._prepare(cells, fitting=True)
        self.net_ = train_classifier(
            self, self._module,
            module_params={**self._module_params(), "n_classes": len(self.classes_)},
            X=inputs, y=y_encoded, device=device)
        self._n_features_out = self.embedding_dim
        return self

    def _run(self, X, fn_name: str, width: int) -> np.ndarray:
        check_is_fitted(self)
        cells = self._read_column(X, reset=False)
        present = np.flatnonzero(~cells.missing_mask())
        out = np.full((len(cells), width), np.nan, dtype=np.float32)
        module = self.net_.module_
        module.eval()
        fn = getattr(module, fn_name)
        # Cells are decoded a chunk at a time so that peak memory stays near one chunk of
        # decoded inputs, not the whole column (20,000 images would otherwise be held twice).
        chunk = max(self.batch_size, 1024)
        for rows in batch_slices(len(present), chunk):
            inputs = self._prepare(cells.subset(present[rows]), fitting=False)
            out[present[rows]] = predict_batches(fn, inputs, batch_size=self.batch_size,
                                                 device=self.net_.device)
        return out

    def transform(self, X):
        """The learned embedding of each cell (rows with a missing cell are NaN).

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of cells

        Returns
        -------
        embedding : ndarray of shape (n_samples, embedding_dim), float32
        """
        return self._run(X, "embed", self.embedding_dim)

    def predict_proba(self, X):
        """Class probabilities from the network's own head.

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of cells

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float32
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        logits = self._run(X, "forward", len(self.classes_))
        if np.isnan(logits).any():
            raise ValueError(
                f"{type(self).__name__}: some rows have no {self._modality} (missing cells); "
                "a single-modality model cannot predict them. Use a fusion step."
            )
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def predict(self, X):
        """Class labels (in the user's label space).

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of cells

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.device != "cpu"
        return tags
