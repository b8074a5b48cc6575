"""Intermediate fusion: one network whose branches are the encoders, trained end to end."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import ClassifierMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from mmlearn._columns import ColumnCells, batch_slices
from mmlearn._torch import TRAINING_CONSTRAINTS, check_device, encode_labels, train_classifier
from mmlearn.encoders._deep import DeepEncoder
from mmlearn.fusion._missing import describe_columns, missing_rows
from mmlearn.fusion._routing import ModalityRoutes
from mmlearn.fusion.ops import FUSION_OPS, JointNetwork, TabularMLP
from mmlearn.heads.mlp import check_hidden_sizes
from mmlearn.utils._sklearn_compat import (
    Interval,
    StrOptions,
    fit_context,
    num_samples,
    safe_indexing,
    validate_data,
)

__all__ = ["JointFusion"]


def _describe_cell(cell: object) -> str:
    if isinstance(cell, np.ndarray):
        return f"{cell.ndim}-D arrays (the first of shape {cell.shape})"
    if isinstance(cell, str):
        return f"strings that are not existing files (the first: {cell[:40]!r})"
    return f"{type(cell).__name__} values"


def _wrong_kind(modality: str, cell: object) -> str | None:
    """What is wrong with ``cell`` as a ``modality`` cell, or None if it looks right.

    Only the first present cell is sniffed: the data contract checks every cell when it is
    converted, but its messages ("expected a 1-D waveform") do not say that the column was
    routed to the wrong branch.
    """
    if modality == "text":
        return None if isinstance(cell, str) else _describe_cell(cell)
    if isinstance(cell, str | os.PathLike):
        return None if os.path.exists(cell) else _describe_cell(str(cell))
    if isinstance(cell, np.ndarray):
        if modality == "image" and cell.ndim == 1:
            return _describe_cell(cell) + ", like audio waveforms"
        if modality == "audio" and cell.ndim >= 2:
            return _describe_cell(cell) + ", like images"
    return None


class _Branch:
    """One route of a fitted JointFusion: how its column(s) become the network's input.

    A deep encoder (:class:`~mmlearn.encoders._deep.DeepEncoder`) contributes its module and
    its ``_prepare``; any other transformer (or ``"passthrough"``) is fitted here, and its
    standardised features feed a :class:`~mmlearn.fusion.ops.TabularMLP`.
    """

    def __init__(self, name: str, encoder: object, columns: object):
        self.name = name
        self.columns = columns
        self.deep = isinstance(encoder, DeepEncoder)
        self.encoder = encoder

    def where(self, part: object = None) -> str:
        """``JointFusion: branch 'name' (column 'col')``, the prefix of its error messages."""
        if part is not None:
            self.column_desc_ = describe_columns(part, repr(self.columns))
        return f"JointFusion: branch {self.name!r} (column {self.column_desc_})"

    def _error(self, exc: Exception) -> Exception:
        if str(exc).startswith("JointFusion"):
            return exc
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        return kind(f"{self.where()}: {exc}")

    # ------------------------------------------------------------------------ fitting
    def fit(self, part: object, y: np.ndarray, present: np.ndarray, *, fusion_dim: int,
            dropout: float) -> np.ndarray:
        """Fit on the present rows ``present``; returns the inputs of those rows."""
        self.where(part)
        try:
            inputs = (self._fit_deep(part, present) if self.deep
                      else self._fit_tabular(part, y, present, fusion_dim, dropout))
        except (ValueError, TypeError) as exc:
            raise self._error(exc) from exc
        self.tail_, self.dtype_ = inputs.shape[1:], inputs.dtype
        return inputs

    def _fit_deep(self, part: object, present: np.ndarray) -> np.ndarray:
        encoder = clone(self.encoder)
        encoder._validate_params()
        cells = encoder._read_column(part, reset=True)
        self._check_kind(encoder, cells, present)
        inputs = encoder._prepare(cells.subset(present), fitting=True)
        self.estimator_ = encoder
        self.spec_ = (type(encoder)._module, encoder._module_params(), encoder.embedding_dim)
        return inputs

    def _fit_tabular(self, part, y, present, fusion_dim, dropout) -> np.ndarray:
        if isinstance(self.encoder, str):
            if self.encoder != "passthrough":
                raise ValueError(
                    f"{self.where()}: an encoder must be an estimator or 'passthrough', "
                    f"got {self.encoder!r}."
                )
            estimator = "passthrough"
            features = self._passthrough(safe_indexing(part, present, axis=0))
        else:
            estimator = clone(self.encoder)
            rows = safe_indexing(part, present, axis=0)
            features = estimator.fit_transform(rows, safe_indexing(y, present))
        features = self._dense(features)
        self.estimator_ = estimator
        # NaN-aware: a transformer such as StandardScaler passes NaN cells through.
        with np.errstate(all="ignore"):
            mean = np.nanmean(features, axis=0, dtype=np.float64) if len(features) else 0.0
            scale = np.nanstd(features, axis=0, dtype=np.float64) if len(features) else 1.0
        mean = np.nan_to_num(np.atleast_1d(mean), nan=0.0)
        scale = np.nan_to_num(np.atleast_1d(scale), nan=1.0)
        # A constant feature carries no signal: centre it without amplifying float noise.
        scale[scale < 1e-8 * np.maximum(1.0, np.abs(mean))] = 1.0
        self.mean_, self.scale_ = mean.astype(np.float32), scale.astype(np.float32)
        self.spec_ = (TabularMLP, dict(n_features=features.shape[1], embedding_dim=fusion_dim,
                                       dropout=dropout), fusion_dim)
        return self._standardize(features)

    def _check_kind(self, encoder: DeepEncoder, cells: ColumnCells, present: np.ndarray):
        if not len(present):
            return
        problem = _wrong_kind(encoder._modality, cells.cells[present[0]])
        if problem:
            article = "an" if encoder._modality[0] in "aeiou" else "a"
            raise ValueError(
                f"JointFusion: branch {self.name!r} has {type(encoder).__name__}, {article} "
                f"{encoder._modality} encoder, but its column {cells.name!r} holds {problem}; "
                f"route a column of {encoder._modality} cells to it."
            )

    # ---------------------------------------------------------------------- inference
    def read(self, part: object) -> object:
        """What :meth:`encode` reads rows from: the column's cells, or the selection."""
        if not self.deep:
            return part
        try:
            cells = self.estimator_._read_column(part, reset=False)
        except (ValueError, TypeError) as exc:
            raise self._error(exc) from exc
        self._check_kind(self.estimator_, cells, np.flatnonzero(~cells.missing_mask()))
        return cells

    def encode(self, source: object, present: np.ndarray, n_rows: int) -> np.ndarray:
        """Network inputs of the rows ``present`` of ``source`` (all ``n_rows`` if none is).

        With no present row, ``n_rows`` rows of zeros: the network never feeds them to
        this branch.
        """
        if not len(present):
            return np.zeros((n_rows, *self.tail_), dtype=self.dtype_)
        try:
            if self.deep:
                return self.estimator_._prepare(source.subset(present), fitting=False)
            rows = safe_indexing(source, present, axis=0)
            features = (self._passthrough(rows) if isinstance(self.estimator_, str)
                        else self.estimator_.transform(rows))
            return self._standardize(self._dense(features))
        except (ValueError, TypeError) as exc:
            raise self._error(exc) from exc

    # ------------------------------------------------------------------------ helpers
    @staticmethod
    def _passthrough(rows: object) -> np.ndarray:
        return np.asarray(rows, dtype=np.float64).reshape(num_samples(rows), -1)

    def _dense(self, features: object) -> np.ndarray:
        features = features.toarray() if sp.issparse(features) else np.asarray(features)
        if features.ndim == 1:
            features = features[:, np.newaxis]
        features = features.astype(np.float32)
        if np.isinf(features).any():
            raise ValueError(f"{self.where()}: the encoder's features contain infinity.")
        return features

    def _standardize(self, features: np.ndarray) -> np.ndarray:
        if features.shape[1] != self.mean_.shape[0]:
            raise ValueError(
                f"{self.where()}: the encoder gives {features.shape[1]} features, "
                f"fit gave {self.mean_.shape[0]}."
            )
        scaled = (features - self.mean_) / self.scale_
        # Remaining NaN cells (a row with only some columns missing) get the training mean.
        return np.ascontiguousarray(np.nan_to_num(scaled, nan=0.0), dtype=np.float32)


def _scatter(inputs: np.ndarray, present: np.ndarray, n_rows: int) -> np.ndarray:
    full = np.zeros((n_rows, *inputs.shape[1:]), dtype=inputs.dtype)
    full[present] = inputs
    return full


class JointFusion(ClassNamePrefixFeaturesOutMixin, ClassifierMixin, TransformerMixin,
                  ModalityRoutes):
    """Intermediate fusion: one network of per-modality branches, trained end to end.

    Each route's encoder becomes a branch of a single PyTorch network: a deep encoder
    (:class:`~mmlearn.encoders.ImageCNNEncoder`, :class:`~mmlearn.encoders.AudioCNNEncoder`,
    :class:`~mmlearn.encoders.TextRNNEncoder`, :class:`~mmlearn.encoders.TextAttentionEncoder`)
    contributes its own module (its architecture parameters: ``width``, ``depth``,
    ``embedding_dim``, ``augment`` ...) and its input conversion, learned on the training
    rows (image size, vocabulary, log-mel statistics); any other scikit-learn transformer
    (``StandardScaler`` on tabular columns, ``TfidfVectorizer``,
    :class:`~mmlearn.encoders.ImagePixelEncoder`) or ``"passthrough"`` is fitted on the
    training rows, and its standardised features feed a small MLP branch. Every branch's
    embedding is projected to ``fusion_dim`` (linear + layer norm), the projections are
    joined by ``fusion_op``, and an MLP head classifies the fused vector. Branches, fusion
    and head are trained jointly (skorch, AdamW, cross-entropy, early stopping on a seeded
    stratified validation split).

    It is a classifier (``predict``, ``predict_proba``, ``score``) and a transformer:
    ``transform`` returns the fused vector (before the head), so it can end a pipeline or
    be its fusion step followed by an SVC, a k-NN or an MLPHead.

    Parameters
    ----------
    encoders : list of (name, encoder, columns)
        ``columns`` is a column name, a list of names, integer indices, a slice or a
        callable, as in ColumnTransformer. A deep encoder reads one column; its own training
        parameters (``max_epochs``, ``lr``, ``batch_size``, ``validation_fraction``,
        ``patience``, ``device``, ``random_state``, ``verbose``) are not used: this
        estimator's are.
    fusion_op : {"concat", "sum", "attention", "gated", "tensor"}, default="concat"
        How the projected embeddings ``z_m`` (``fusion_dim`` each) are joined:

        - ``"concat"``: ``[z_1; ...; z_M]``; an absent modality is a learned "missing"
          vector. Output size ``M * fusion_dim``.
        - ``"sum"``: ``sum_m z_m`` over the present modalities.
        - ``"attention"``: one token per modality (plus a learned modality-type vector),
          a Transformer encoder layer whose key padding mask hides absent modalities, then
          the mean over the present tokens.
        - ``"gated"``: ``sum_m sigmoid(W_m [z; present]) * tanh(z_m)`` over the present
          modalities (a gated multimodal unit).
        - ``"tensor"``: low-rank tensor fusion (Liu et al., 2018),
          ``sum_r w_r prod_m ([z_m; 1] W_m^(r)) + b``; an absent modality keeps only its
          constant term.
    fusion_dim : int, default=64
        Size each branch's embedding is projected to.
    hidden_sizes : sequence of int, default=(64,)
        Hidden layers of the classification head (ReLU, dropout); ``()`` is linear.
    dropout : float, default=0.1
        Dropout in the head, the tabular branches and the attention op.
    modality_dropout : float, default=0.1
        During training, each present modality of each row is hidden at this rate (never
        all of a row's present modalities), so that the network learns to predict from any
        subset, which is what rows with missing modalities give it.
    n_heads : int, default=4
        Attention heads of ``fusion_op="attention"``; must divide ``fusion_dim``.
    rank : int, default=4
        Rank of the factors of ``fusion_op="tensor"``.
    max_epochs : int, default=30
    lr : float, default=1e-3
        AdamW learning rate.
    batch_size : int, default=64
        Rows per gradient step, and per batch at prediction.
    validation_fraction : float or None, default=0.1
        Share of the training rows held out (stratified, seeded) for early stopping; None
        trains for ``max_epochs`` on all rows.
    patience : int, default=5
        Epochs without a lower validation loss before stopping (best weights are kept).
    device : str, default="cpu"
        A torch device such as "cuda".
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, shuffling, dropout, augmentation, modality dropout and
        the validation split, without touching torch's global random state.
    verbose : int, default=0
        1 prints skorch's per-epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNetClassifier
        The trained net; ``net_.module_`` is the :class:`~mmlearn.fusion.ops.JointNetwork`.
    classes_ : ndarray of shape (n_classes,)
        Labels seen in fit, in the user's label space.
    branches_ : list
        One fitted branch per route, in order; ``branches_[i].estimator_`` is the route's
        fitted encoder clone (or transformer, or ``"passthrough"``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X is a DataFrame with string column names.

    See Also
    --------
    EarlyFusion : feature-level fusion of separately fitted encoders.
    mmlearn.fusion.ops : the fusion modules.

    Notes
    -----
    **Missing modalities.** A row misses a modality when every cell of the route's columns
    is None/NaN. Branches run only on the rows that have their modality; the fusion op
    ignores the others (see ``fusion_op``). A modality missing in every training row raises
    a ValueError. A row missing every modality is predicted from the fusion of nothing
    (concat: the learned missing vectors; sum, gated, attention: zeros; tensor: the constant
    terms), which the network never sees in training: its prediction is a fallback, not an
    estimate. NaN cells left in a tabular branch's features (a row with only some of its
    columns missing) get the training mean.

    ``transform`` and ``predict_proba`` return float32, computed in batches under
    ``torch.inference_mode``. On CPU, a fixed ``random_state`` gives identical fits. Sparse
    features (TF-IDF) are made dense for the network.

    Examples
    --------
    >>> from mmlearn.datasets import load_av_digits
    >>> from mmlearn.encoders import AudioMFCCEncoder, ImageCNNEncoder
    >>> from mmlearn.fusion import JointFusion
    >>> X, y = load_av_digits(return_X_y=True)
    >>> joint = JointFusion([("image", ImageCNNEncoder(width=8), "image"),
    ...                      ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")],
    ...                     fusion_op="gated", max_epochs=3, random_state=0)
    >>> joint.fit(X[:300], y[:300]).transform(X[300:305]).shape
    (5, 64)
    >>> joint.predict(X[300:305]).shape
    (5,)
    """

    _routes_attr = "encoders"
    _parameter_constraints: dict = {
        "encoders": [list, tuple],
        "fusion_op": [StrOptions(set(FUSION_OPS))],
        "fusion_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_sizes": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "modality_dropout": [Interval(Real, 0, 1, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "rank": [Interval(Integral, 1, None, closed="left")],
        **TRAINING_CONSTRAINTS,
    }

    def __init__(self, encoders, *, fusion_op="concat", fusion_dim=64, hidden_sizes=(64,),
                 dropout=0.1, modality_dropout=0.1, n_heads=4, rank=4, max_epochs=30, lr=1e-3,
                 batch_size=64, validation_fraction=0.1, patience=5, device="cpu",
                 random_state=None, verbose=0):
        self.encoders = encoders
        self.fusion_op = fusion_op
        self.fusion_dim = fusion_dim
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.modality_dropout = modality_dropout
        self.n_heads = n_heads
        self.rank = rank
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------------- input
    def _read_table(self, X: object, *, reset: bool) -> object:
        self._check_columns(X)
        if not isinstance(X, pd.DataFrame):
            try:
                X = np.asarray(X)
            except ValueError:
                X = np.asarray(X, dtype=object)
        validate_data(self, X, skip_check_array=True, reset=reset)
        if num_samples(X) == 0:
            raise ValueError("JointFusion: X has 0 rows; need at least 1 sample.")
        return X

    def _select(self, X: object, name: str, columns: object) -> object:
        if callable(columns):
            columns = columns(X)
        try:
            return safe_indexing(X, columns, axis=1)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ValueError(
                f"JointFusion: branch {name!r} cannot select columns {columns!r} from X: {exc}"
            ) from exc

    # --------------------------------------------------------------------------- fit
    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit each branch's input conversion, then train the whole network.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
            One column per modality (a 2-D array with integer column indices also works).
        y : array-like of shape (n_samples,)
            Class labels (ints, strings, ...); at least 2 classes.

        Returns
        -------
        self : JointFusion
        """
        self._fit(X, y)
        return self

    @fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None):
        """Fit, then return the fused vectors of the training rows.

        The same as ``fit(X, y).transform(X)``, without converting the cells (decoding
        images, computing spectrograms) a second time.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
        y : array-like of shape (n_samples,)

        Returns
        -------
        fused : ndarray of shape (n_samples, n_features_out), float32
        """
        inputs = self._fit(X, y)
        out = np.empty((len(inputs["present"]), self._n_features_out), dtype=np.float32)
        self._forward(inputs, "embed", out)
        return out

    def _fit(self, X, y) -> dict[str, np.ndarray]:
        """Fit everything; returns the network's input arrays of the training rows."""
        if y is None:
            raise ValueError(
                "JointFusion requires y to be passed, but the target y is None: the network "
                "is trained with labels."
            )
        device = check_device(self.device)
        hidden_sizes = check_hidden_sizes(self.hidden_sizes)
        if self.fusion_op == "attention" and self.fusion_dim % self.n_heads:
            raise ValueError(
                f"fusion_dim={self.fusion_dim} must be divisible by n_heads={self.n_heads} "
                "for fusion_op='attention': each head gets fusion_dim / n_heads dimensions."
            )
        self._validate_routes()
        X = self._read_table(X, reset=True)
        n = num_samples(X)
        if num_samples(y) != n:
            raise ValueError(f"JointFusion: y has {num_samples(y)} rows but X has {n}.")
        self.classes_, y_encoded = encode_labels(y)

        branches, inputs, present = [], {}, []
        for m, (name, encoder, columns) in enumerate(self.encoders):
            part = self._select(X, name, columns)
            absent = missing_rows(part)
            branch = _Branch(name, encoder, columns)
            if absent.all():
                raise ValueError(
                    f"{branch.where(part)}: the modality is missing in every training row "
                    f"({n}); nothing to learn from: drop this branch or supply some values."
                )
            rows = np.flatnonzero(~absent)
            # The user's labels as a 1-D array, for supervised transformers (a target encoder).
            fitted = branch.fit(part, self.classes_[y_encoded], rows, fusion_dim=self.fusion_dim,
                                dropout=self.dropout)
            inputs[f"x{m}"] = _scatter(fitted, rows, n)
            present.append(~absent)
            branches.append(branch)
        inputs["present"] = np.stack(present, axis=1)
        self.branches_ = branches

        # Tensors (zero-copy views): skorch's data loader then indexes and stacks them
        # without converting every sample from NumPy, a few percent of a CPU epoch.
        self.net_ = train_classifier(
            self, JointNetwork,
            module_params=dict(
                branches=[b.spec_ for b in branches], n_classes=len(self.classes_),
                fusion_op=self.fusion_op, fusion_dim=self.fusion_dim,
                hidden_sizes=hidden_sizes, dropout=self.dropout,
                modality_dropout=self.modality_dropout, n_heads=self.n_heads,
                rank=self.rank),
            X={key: torch.from_numpy(value) for key, value in inputs.items()},
            y=y_encoded, device=device)
        self._n_features_out = self.net_.module_.fusion.out_dim
        return inputs

    def _forward(self, arrays: dict[str, np.ndarray], method: str, out: np.ndarray) -> None:
        """Write the module's ``method`` of every row of ``arrays`` into ``out``, in batches."""
        module = self.net_.module_
        module.eval()
        fn = getattr(module, method)
        device = self.net_.device
        with torch.inference_mode():
            for batch in batch_slices(len(out), self.batch_size):
                tensors = {key: torch.as_tensor(value[batch]).to(device)
                           for key, value in arrays.items()}
                out[batch] = fn(**tensors).float().cpu().numpy()

    # --------------------------------------------------------------------- inference
    def _run(self, X, method: str, width: int) -> np.ndarray:
        check_is_fitted(self)
        X = self._read_table(X, reset=False)
        n = num_samples(X)
        sources, absent = [], []
        for branch in self.branches_:
            part = self._select(X, branch.name, branch.columns)
            absent.append(missing_rows(part))
            sources.append(branch.read(part))
        present = np.stack([~a for a in absent], axis=1)
        out = np.empty((n, width), dtype=np.float32)
        # Inputs are converted a chunk of rows at a time, so peak memory stays near one
        # chunk of decoded images/spectrograms rather than the whole table.
        for rows in batch_slices(n, max(self.batch_size, 1024)):
            size = rows.stop - rows.start
            arrays = {"present": present[rows]}
            for m, (branch, source) in enumerate(zip(self.branches_, sources, strict=True)):
                here = np.flatnonzero(present[rows, m])
                encoded = branch.encode(source, rows.start + here, size)
                arrays[f"x{m}"] = _scatter(encoded, here, size) if len(here) else encoded
            self._forward(arrays, method, out[rows])
        return out

    def transform(self, X):
        """The fused vector of each row (the head's input).

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)

        Returns
        -------
        fused : ndarray of shape (n_samples, n_features_out), float32
            ``n_features_out`` is ``len(encoders) * fusion_dim`` for ``"concat"``, else
            ``fusion_dim``.
        """
        check_is_fitted(self)
        return self._run(X, "embed", self._n_features_out)

    def predict_proba(self, X):
        """Class probabilities from the network's head.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float32
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        logits = self._run(X, "forward", len(self.classes_))
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def predict(self, X):
        """Most probable class of each row, in the user's label space.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = []
        # cuDNN/cuBLAS kernels are not bit-reproducible; CPU fits with an int seed are.
        tags.non_deterministic = self.device != "cpu"
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_")
