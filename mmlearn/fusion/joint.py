"""Intermediate fusion: one network whose branches are the encoders, trained end to end."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import (
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.utils.validation import check_is_fitted

from mmlearn._columns import ColumnCells, as_cells
from mmlearn._inputs.tabular import TableRows, TabularInput
from mmlearn._nn.data import CellDataset, Source, loader_params, resolve_workers
from mmlearn._nn.inference import run_net
from mmlearn._nn.layers import check_hidden_sizes
from mmlearn._nn.training import (
    CLASS_WEIGHT_CONSTRAINTS,
    TRAINING_CONSTRAINTS,
    atomic_fit,
    check_device,
    check_sample_weight,
    encode_labels,
    train_net,
)
from mmlearn.fusion._missing import check_missing, describe_columns
from mmlearn.fusion._routing import ModalityRoutes, fusion_constraints, select_columns
from mmlearn.fusion.ops import FUSION_OPS, JointNetwork, TabularMLP
from mmlearn.utils._sklearn_compat import (
    Interval,
    StrOptions,
    fit_context,
    num_samples,
    validate_data,
)

__all__ = ["JointFusion", "is_deep_encoder"]


def is_deep_encoder(encoder: object) -> bool:
    """Whether ``encoder`` plugs into a network as a branch of its own (deep encoders and
    third-party encoders with the same public surface: ``modality``, ``embedding_dim``,
    ``make_input()``, ``make_module(input, n_classes)``)."""
    return all(hasattr(encoder, name) for name in
               ("modality", "embedding_dim", "make_input", "make_module"))


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
    """One route of a fitted JointFusion: its fitted input, and the module that reads it.

    A deep encoder contributes its own input (``make_input()``) and module
    (``make_module()``); any other transformer (or ``"passthrough"``) becomes a
    :class:`~mmlearn._inputs.tabular.TabularInput` whose standardised features feed a
    :class:`~mmlearn.fusion.ops.TabularMLP`.
    """

    def __init__(self, name: str, encoder: object, columns: object):
        self.name = name
        self.columns = columns
        self.encoder = encoder
        self.deep = is_deep_encoder(encoder)

    def where(self, part: object = None) -> str:
        """``JointFusion: branch 'name' (column 'col')``, the prefix of its error messages."""
        if part is not None:
            self.column_desc_ = describe_columns(part, repr(self.columns))
        return f"JointFusion: branch {self.name!r} (column {self.column_desc_})"

    def error(self, exc: Exception) -> Exception:
        if str(exc).startswith("JointFusion"):
            return exc
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        return kind(f"{self.where()}: {exc}")

    def cells(self, part: object) -> ColumnCells | TableRows:
        """The rows of this branch's column(s), as its input reads them."""
        if not self.deep:
            return TableRows(part, self.column_desc_)
        try:
            cells = as_cells(part, kind=self.encoder.modality, default_name=self.name)
        except (ValueError, TypeError) as exc:
            raise self.error(exc) from exc
        present = np.flatnonzero(~cells.missing_mask())
        if len(present):
            problem = _wrong_kind(self.encoder.modality, cells.cells[present[0]])
            if problem:
                modality = self.encoder.modality
                article = "an" if modality[0] in "aeiou" else "a"
                raise ValueError(
                    f"JointFusion: branch {self.name!r} has {type(self.encoder).__name__}, "
                    f"{article} {modality} encoder, but its column {cells.name!r} holds "
                    f"{problem}; route a column of {modality} cells to it."
                )
        return cells

    def fit(self, part: object, y: np.ndarray, present: np.ndarray, *, n_classes: int,
            fusion_dim: int, dropout: float) -> Source:
        """Fit the input on the present rows; returns the branch's training source."""
        self.where(part)
        if self.deep:
            self.estimator_ = clone(self.encoder)
            input_ = self.estimator_.make_input()
        else:
            input_ = TabularInput(self.encoder)
        cells = self.cells(part)
        try:
            source = Source.fit(input_, cells, present, y)
        except (ValueError, TypeError) as exc:
            raise self.error(exc) from exc
        self.input_ = input_
        if self.deep:
            module, params = self.estimator_.make_module(input_, n_classes)
            self.spec_ = (module, params, self.estimator_.embedding_dim)
        else:
            self.estimator_ = input_.estimator_
            self.spec_ = (TabularMLP, dict(input_.module_params(), embedding_dim=fusion_dim,
                                           dropout=dropout), fusion_dim)
        return source

    def source(self, part: object, present: np.ndarray) -> Source:
        """The source of new rows, converted batch by batch as the loader draws them."""
        self.where(part)
        try:
            return Source(self.input_, self.cells(part), present, convert_once=False)
        except (ValueError, TypeError) as exc:
            raise self.error(exc) from exc


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
        ``patience``, ``class_weight``, ``device``, ``random_state``, ``verbose``) are not
        used: this estimator's are.
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
    missing : {"impute", "raise"}, default="impute"
        Rows that miss a modality (every cell of its columns None/NaN): ``"impute"``
        lets the fusion op ignore the absent branch (see Notes); ``"raise"`` raises a
        ``ValueError`` naming the modality and the first such rows, in fit and predict.
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
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the training loss. ``"balanced"`` weighs each
        class by ``n_rows / (n_classes * count)`` over the training rows, so that a rare
        class counts as much as a common one; a dict maps labels to weights (a class it
        does not name keeps 1; a label that is not in ``y`` raises a ValueError). It
        multiplies ``fit``'s ``sample_weight``.
    n_workers : int or None, default=None
        DataLoader worker processes that decode file cells (image/audio paths) while the
        network trains and predicts. None chooses 0 when every column is held in memory
        (converted once per fit) and one per spare core (at most 4) for file paths.
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
        One fitted branch per route, in order: ``branches_[i].input_`` is its fitted
        modality input (image size, vocabulary, log-mel statistics, or a transformer's
        standardised features) and ``branches_[i].estimator_`` the route's encoder clone
        (deep encoders: unfitted, its network lives in ``net_``) or fitted transformer
        (or ``"passthrough"``).
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
        **fusion_constraints("encoders"),
        "fusion_op": [StrOptions(set(FUSION_OPS))],
        "fusion_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_sizes": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "rank": [Interval(Integral, 1, None, closed="left")],
        "n_workers": [None, Interval(Integral, 0, None, closed="left")],
        **TRAINING_CONSTRAINTS,
        **CLASS_WEIGHT_CONSTRAINTS,
    }

    def __init__(self, encoders, *, fusion_op="concat", fusion_dim=64, hidden_sizes=(64,),
                 dropout=0.1, missing="impute", modality_dropout=0.1, n_heads=4, rank=4,
                 max_epochs=30, lr=1e-3, batch_size=64, validation_fraction=0.1, patience=5,
                 class_weight=None, n_workers=None, device="cpu", random_state=None,
                 verbose=0):
        self.encoders = encoders
        self.fusion_op = fusion_op
        self.fusion_dim = fusion_dim
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.missing = missing
        self.modality_dropout = modality_dropout
        self.n_heads = n_heads
        self.rank = rank
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.n_workers = n_workers
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
        if X.ndim == 2 and X.shape[1] == 0:
            raise ValueError(
                f"JointFusion: 0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
            )
        return X

    def _parts(self, X: object, routes, *, fitting: bool):
        """Each route's selected columns and the rows that miss its modality."""
        parts, absent = [], []
        for name, _, columns in routes:
            part = select_columns(X, columns, owner="JointFusion", name=name)
            where = (f"JointFusion: branch {name!r} "
                     f"(column {describe_columns(part, repr(columns))}): the modality")
            absent.append(check_missing(part, where=where, missing=self.missing,
                                        fitting=fitting))
            parts.append(part)
        return parts, np.stack([~a for a in absent], axis=1)

    # --------------------------------------------------------------------------- fit
    @atomic_fit
    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, sample_weight=None):
        """Fit each branch's input, then train the whole network.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
            One column per modality (a 2-D array with integer column indices also works).
        y : array-like of shape (n_samples,)
            Class labels (ints, strings, ...); at least 2 classes. A missing label (None,
            NaN) raises a ValueError naming its rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Each row's weight in the network's training loss (multiplied by its class's
            ``class_weight``). Finite and >= 0; a wrong length or a negative weight raises
            a ValueError. The branches' inputs (vocabularies, statistics, tabular
            transformers) are fitted unweighted.

        Returns
        -------
        self : JointFusion

        Notes
        -----
        ``fit`` (and ``fit_transform``) is all-or-nothing: a refit first removes the
        previous fit's attributes, and a fit that raises leaves the model unfitted
        (``check_is_fitted`` raises), never an old network beside new branches. A
        ``KeyboardInterrupt`` (Ctrl-C) during training reaches the caller: skorch alone
        would swallow it and return a part-trained network. A last training batch of
        exactly one row is dropped (a different row each epoch), since batch normalisation
        in a branch cannot train on one row.
        """
        self._fit(X, y, sample_weight)
        return self

    @atomic_fit
    @fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then return the fused vectors of the training rows.

        The same as ``fit(X, y).transform(X)``; columns held in memory are converted
        (images decoded, spectrograms computed) only once.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Each row's weight in the training loss (see :meth:`fit`).

        Returns
        -------
        fused : ndarray of shape (n_samples, n_features_out), float32
        """
        dataset = self._fit(X, y, sample_weight)
        if dataset.reads_files():
            return self.transform(X)
        return self._apply(dataset, "embed", self._n_features_out)

    def _fit(self, X, y, sample_weight=None) -> CellDataset:
        """Fit everything; returns the training dataset."""
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
        weights = check_sample_weight(sample_weight, n)
        classes, y_encoded = encode_labels(y)
        parts, present = self._parts(X, self.encoders, fitting=True)
        branches, sources = [], {}
        for m, ((name, encoder, columns), part) in enumerate(
                zip(self.encoders, parts, strict=True)):
            branch = _Branch(name, encoder, columns)
            # The user's labels, for supervised transformers (a target encoder).
            sources[f"x{m}"] = branch.fit(part, classes[y_encoded], present[:, m],
                                          n_classes=len(classes), fusion_dim=self.fusion_dim,
                                          dropout=self.dropout)
            branches.append(branch)
        dataset = CellDataset(sources, y=y_encoded, extra={"present": present})
        net = train_net(
            self, JointNetwork,
            module_params=dict(
                branches=[b.spec_ for b in branches], n_classes=len(classes),
                fusion_op=self.fusion_op, fusion_dim=self.fusion_dim,
                hidden_sizes=hidden_sizes, dropout=self.dropout,
                modality_dropout=self.modality_dropout, n_heads=self.n_heads,
                rank=self.rank),
            X=dataset, y=y_encoded, device=device,
            loader_params=loader_params(resolve_workers(self.n_workers, dataset)),
            classes=classes, sample_weight=weights)
        self.classes_ = classes
        self.branches_ = branches
        self.net_ = net
        self._n_features_out = net.module_.fusion.out_dim
        return dataset

    # --------------------------------------------------------------------- inference
    def _apply(self, dataset: CellDataset, method: str, width: int) -> np.ndarray:
        return run_net(self.net_, method, dataset, width=width, batch_size=self.batch_size,
                       n_workers=self.n_workers)

    def _run(self, X, method: str, width: int) -> np.ndarray:
        check_is_fitted(self)
        X = self._read_table(X, reset=False)
        routes = [(b.name, b.encoder, b.columns) for b in self.branches_]
        parts, present = self._parts(X, routes, fitting=False)
        sources = {}
        for m, (branch, part) in enumerate(zip(self.branches_, parts, strict=True)):
            # Converted batch by batch as the loader draws them: memory stays near one
            # batch of decoded inputs.
            sources[f"x{m}"] = branch.source(part, present[:, m])
        return self._apply(CellDataset(sources, extra={"present": present}), method, width)

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
