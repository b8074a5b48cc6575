"""What every deep (skorch) encoder is: a fitted modality input + a torch module.

A deep encoder walks the one data path of mmlearn: column -> cells (+ present mask) ->
fitted modality input (:meth:`DeepEncoder.make_input`) -> lazy dataset -> DataLoader ->
module (:meth:`DeepEncoder.make_module`) -> embedding. Its public surface,
``modality``, ``embedding_dim``, ``make_input()`` and ``make_module()``, is also what
JointFusion and third-party code use to put the same encoder in one end-to-end network.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.base import ClassifierMixin, ClassNamePrefixFeaturesOutMixin
from sklearn.utils.validation import check_is_fitted

from mmlearn._columns import ColumnCells
from mmlearn._inputs.base import ModalityInput
from mmlearn._nn.data import CellDataset, Source, loader_params, resolve_workers
from mmlearn._nn.inference import run_net
from mmlearn._nn.training import (
    CLASS_WEIGHT_CONSTRAINTS,
    TRAINING_CONSTRAINTS,
    atomic_fit,
    check_device,
    check_sample_weight,
    encode_labels,
    train_net,
)
from mmlearn.encoders._base import ModalityEncoder
from mmlearn.utils._sklearn_compat import Interval

COMMON_CONSTRAINTS: dict = {
    "embedding_dim": [Interval(Integral, 1, None, closed="left")],
    "n_workers": [None, Interval(Integral, 0, None, closed="left")],
    **TRAINING_CONSTRAINTS,
    **CLASS_WEIGHT_CONSTRAINTS,
}


class DeepEncoder(ClassNamePrefixFeaturesOutMixin, ClassifierMixin, ModalityEncoder):
    """Base of the deep encoders: a network trained with a classification head on its modality.

    Subclasses set ``modality`` and ``module_class`` (an ``nn.Module`` class at module level
    whose ``forward`` returns class logits and whose ``embed`` returns the
    ``embedding_dim`` features) and implement :meth:`build_input` (the unfitted input
    :meth:`make_input` returns) and :meth:`architecture_params`. Hyper-parameters every
    subclass takes: ``embedding_dim, n_workers, max_epochs, lr, batch_size,
    validation_fraction, patience, class_weight, device, random_state, verbose``;
    ``device="auto"`` takes the GPU where the fitting process has one and the CPU otherwise
    (resolved at each ``fit``, on the worker that fits: ``docs/cluster.md``).

    The fitted input's learned attributes (``image_size_``, ``vocabulary_``,
    ``mel_mean_``...) are also set on the encoder after ``fit`` (see its Notes: a fit is
    all-or-nothing).
    """

    module_class: type[torch.nn.Module]
    # Subclasses extend it with their own parameters' constraints (unlisted ones are not
    # checked), as scikit-learn's estimators do.
    _parameter_constraints: dict = COMMON_CONSTRAINTS

    # ------------------------------------------------------------------ public surface
    def make_input(self) -> ModalityInput:
        """A new, unfitted modality input configured by this encoder's parameters.

        Validates the parameters first. ``input.fit(cells)`` then learns from training
        cells and ``input.convert(cells)`` turns a batch of cells into the module's input.
        """
        self._validate_params()
        return self.build_input()

    def build_input(self) -> ModalityInput:
        """The unfitted input for the current parameters (subclasses implement it;
        callers use :meth:`make_input`, which validates the parameters first)."""
        raise NotImplementedError

    def architecture_params(self) -> dict:
        """The module's keyword arguments that come from this encoder's parameters."""
        raise NotImplementedError

    def make_module(self, input: ModalityInput, n_classes: int
                    ) -> tuple[type[torch.nn.Module], dict]:
        """The module class and its keyword arguments, for a fitted ``input``.

        Parameters
        ----------
        input : ModalityInput
            Fitted (it knows the channels, mel bands or vocabulary size).
        n_classes : int
            Width of the classification head (``forward``'s logits).

        Returns
        -------
        module_class, params : the class and the keywords skorch instantiates it with
        """
        return self.module_class, {**self.architecture_params(), **input.module_params(),
                                   "n_classes": n_classes}

    # ---------------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None):
        """Train the network (and its classification head) on one modality column.

        Rows whose cell is missing are left out of training. Cells that are file paths
        are decoded a batch at a time while training (in ``n_workers`` loader processes),
        so memory does not grow with the number of rows.

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of cells
        y : array-like of shape (n_samples,)
            Class labels (any type LabelEncoder accepts: ints, strings). A missing label
            (None, NaN) raises a ValueError naming its rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Each row's weight in the training loss (multiplied by its class's
            ``class_weight``). Finite and >= 0; a wrong length or a negative weight raises
            a ValueError.

        Returns
        -------
        self

        Notes
        -----
        ``fit`` (and ``fit_transform``) is all-or-nothing: a refit first removes the
        previous fit's attributes, and a fit that raises (a bad cell, an error in an epoch,
        ``KeyboardInterrupt``) leaves the encoder unfitted (``check_is_fitted`` raises),
        never an old network beside a new input. A ``KeyboardInterrupt`` (Ctrl-C) during
        training reaches the caller: skorch alone would swallow it and return a
        part-trained network.

        In training, a last batch of exactly one row is dropped (a different row each
        epoch, as batches are shuffled): batch normalisation cannot train on one row, which
        small images pooled down to 1x1 would otherwise hit. ``batch_size=1`` with batch
        normalisation raises a ValueError.
        """
        self._fit(X, y, sample_weight)
        return self

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then return the embedding of the training rows.

        The same as ``fit(X, y).transform(X)``; in-memory cells are converted only once.

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of cells
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Each row's weight in the training loss (see :meth:`fit`).

        Returns
        -------
        embedding : ndarray of shape (n_samples, embedding_dim), float32
            Rows with a missing cell are NaN.
        """
        dataset, present = self._fit(X, y, sample_weight)
        if dataset.reads_files():
            # The training dataset would decode every file again: transform does the same
            # once, without the training-time augmentation state.
            return self.transform(X)
        out = np.full((len(present), self.embedding_dim), np.nan, dtype=np.float32)
        out[present] = self._apply(dataset, "embed", self.embedding_dim)
        return out

    @atomic_fit
    def _fit(self, X, y, sample_weight=None) -> tuple[CellDataset, np.ndarray]:
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "it is trained with labels."
            )
        input_ = self.make_input()
        device = check_device(self.device)
        train, present = self._training_cells(X, y)
        weights = check_sample_weight(sample_weight, len(present))
        classes, y_encoded = encode_labels(y)
        y_encoded = y_encoded[present]
        dataset = CellDataset(Source.fit(input_, train, y=classes[y_encoded]), y=y_encoded)
        module, params = self.make_module(input_, len(classes))
        n_workers = resolve_workers(self.n_workers, dataset)
        net = train_net(self, module, module_params=params, X=dataset, y=y_encoded,
                        device=device, loader_params=loader_params(n_workers),
                        classes=classes,
                        sample_weight=None if weights is None else weights[present])
        self.classes_ = classes
        self._set_input(input_)
        self.net_ = net
        self._n_features_out = self.embedding_dim
        return dataset, present

    def _training_cells(self, X, y) -> tuple[ColumnCells, np.ndarray]:
        """The present training cells and the mask of present rows (all-missing: error)."""
        cells = self._read_column(X, y, reset=True)
        present = ~cells.missing_mask()
        if not present.any():
            raise ValueError(f"column {cells.name!r}: every {self.modality} cell is missing.")
        return cells.subset(np.flatnonzero(present)), present

    def _set_input(self, input_: ModalityInput) -> None:
        """Keep the fitted input, and show its learned attributes on the encoder too."""
        self.input_ = input_
        for name, value in vars(input_).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(self, name, value)

    # -------------------------------------------------------------------- inference
    def _apply(self, dataset: CellDataset, method: str, width: int) -> np.ndarray:
        return run_net(self.net_, method, dataset, width=width, batch_size=self.batch_size,
                       n_workers=self.n_workers)

    def _run(self, X, method: str, width: int) -> np.ndarray:
        check_is_fitted(self)
        cells: ColumnCells = self._read_column(X, reset=False)
        present = np.flatnonzero(~cells.missing_mask())
        out = np.full((len(cells), width), np.nan, dtype=np.float32)
        if len(present):
            # Converted batch by batch as the loader draws them: memory stays near one
            # batch of decoded inputs, not the whole column.
            dataset = CellDataset(Source(self.input_, cells.subset(present), convert_once=False))
            out[present] = self._apply(dataset, method, width)
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
                f"{type(self).__name__}: some rows have no {self.modality} (missing cells); "
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
