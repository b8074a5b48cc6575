"""The one seeded skorch build-and-fit of mmlearn, and what every fit needs around it.

Every neural estimator of mmlearn (deep encoders, JointFusion, MLPHead, Autoencoder)
composes a skorch net built inside ``fit`` rather than subclassing one, so that it behaves
like a scikit-learn estimator (``clone`` sees only hyper-parameters; a refit starts from new
weights; ``classes_`` are the user's labels). :func:`train_net` builds and fits it, seeded
without touching torch's global random state, from arrays or from a
:class:`~mmlearn._nn.data.CellDataset` that decodes batches lazily.

Every such ``fit`` is atomic (:func:`atomic_fit`): the fitted attributes of a previous fit
are removed when a new one starts, and whatever a failed fit set is removed before its
error reaches the caller, so an estimator is either completely fitted by its last ``fit``
or not fitted at all. A ``KeyboardInterrupt`` during training reaches the caller (skorch
alone would swallow it and return a part-trained net), with the estimator unfitted.

Class imbalance is handled here once for every classifier: an owner's ``class_weight``
(``None``, ``"balanced"`` or a dict label -> weight) and ``fit``'s ``sample_weight`` become
one weight per training row (:func:`row_weights`), and the net's cross-entropy is then the
weighted mean over each batch, in training and in the validation loss early stopping reads.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from skorch.utils import to_tensor

from mmlearn._nn.data import TrainLoader
from mmlearn._nn.device import check_device  # "auto" resolves there
from mmlearn.utils._sklearn_compat import Interval, StrOptions
from mmlearn.utils.sample_weight import check_sample_weight

__all__ = [
    "CLASS_WEIGHT_CONSTRAINTS",
    "TRAINING_CONSTRAINTS",
    "WeightedNetClassifier",
    "atomic_fit",
    "check_device",
    "check_sample_weight",
    "class_weights",
    "clear_fitted",
    "encode_labels",
    "row_weights",
    "seed_from",
    "seeded",
    "train_net",
]

# The training hyper-parameters every skorch-backed estimator of mmlearn takes.
TRAINING_CONSTRAINTS: dict = {
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "validation_fraction": [None, Interval(Real, 0, 1, closed="neither")],
    "patience": [Interval(Integral, 1, None, closed="left")],
    "device": [str],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}

# The loss weighting every supervised skorch-backed estimator of mmlearn takes (not the
# Autoencoder: it has no classes). Its values are checked against y in fit (class_weights).
CLASS_WEIGHT_CONSTRAINTS: dict = {
    "class_weight": [None, StrOptions({"balanced"}), dict],
}


# Private fitted state that does not end in "_" (scikit-learn's feature-names-out mixin).
_PRIVATE_FITTED = ("_n_features_out",)


def clear_fitted(estimator: object) -> None:
    """Remove every fitted attribute of ``estimator``; its parameters stay.

    Fitted attributes are the public instance attributes whose name ends in ``_`` (the
    scikit-learn convention that ``check_is_fitted`` reads), plus ``_n_features_out``.
    """
    params = set(estimator.get_params(deep=False))
    for name in list(vars(estimator)):
        fitted = (name.endswith("_") and not name.startswith("__")) or name in _PRIVATE_FITTED
        if fitted and name not in params:
            delattr(estimator, name)


def atomic_fit(fit_method: Callable) -> Callable:
    """Make a ``fit`` method all-or-nothing.

    The decorated method starts from an unfitted estimator (the attributes of a previous
    fit are removed first, so a refit never mixes old and new state) and, if it raises
    anything, ``KeyboardInterrupt`` included, every attribute it had set is removed before
    the exception propagates: ``check_is_fitted`` then raises ``NotFittedError``. Put it
    above ``fit_context`` so that a refit with invalid parameters also leaves the
    estimator unfitted.
    """

    @functools.wraps(fit_method)
    def wrapper(estimator, *args, **kwargs):
        clear_fitted(estimator)
        try:
            return fit_method(estimator, *args, **kwargs)
        except BaseException:
            clear_fitted(estimator)
            raise

    return wrapper


def _check_no_missing_labels(y: object) -> None:
    """A ValueError naming the rows of ``y`` that hold None or NaN."""
    values = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.dtype.kind not in "fcO":
        return  # other shapes and dtypes are column_or_1d's to judge
    missing = np.asarray(pd.isna(values), dtype=bool)
    if not missing.any():
        return
    rows = np.flatnonzero(missing)
    index = getattr(y, "index", None)
    where = "row labels" if index is not None else "rows"
    shown = list(index[rows[:10]]) if index is not None else rows[:10].tolist()
    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
    raise ValueError(
        f"y has {len(rows)} missing label(s) (None or NaN) at {where} {shown}{more}: every "
        "training row needs a class label. Drop those rows or fill them in before fit."
    )


def encode_labels(y: object) -> tuple[np.ndarray, np.ndarray]:
    """Integer-encode classification targets; returns ``(classes_, y_encoded as int64)``.

    Raises a ValueError naming the rows when ``y`` holds missing labels (None, NaN, pandas
    NA), and when it has fewer than 2 classes.
    """
    _check_no_missing_labels(y)
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    encoder = LabelEncoder().fit(y)
    if encoder.classes_.size == 0:
        raise ValueError("y is empty (0 samples): a classifier needs labelled rows.")
    if encoder.classes_.size < 2:
        raise ValueError(
            f"y has 1 class ({encoder.classes_[0]!r}); a classifier needs at least 2."
        )
    return encoder.classes_, encoder.transform(y).astype(np.int64)


def class_weights(class_weight: object, classes: np.ndarray,
                  y_encoded: np.ndarray) -> np.ndarray | None:
    """One loss weight per class (in ``classes``' order), or None for ``class_weight=None``.

    Parameters
    ----------
    class_weight : None, "balanced" or dict
        ``"balanced"``: ``n_rows / (n_classes * count(class))`` over the training rows, as
        scikit-learn's ``compute_class_weight`` computes it. A dict maps labels (in the
        user's label space) to weights; a class it does not name keeps weight 1.
    classes : ndarray of shape (n_classes,)
        The fitted labels; ``y_encoded`` indexes them.
    y_encoded : ndarray of int
        The training rows' encoded labels.

    Returns
    -------
    weights : ndarray of shape (n_classes,), float64, or None

    Raises
    ------
    ValueError
        When the dict names labels that are not in ``y`` (the message names them) or gives
        a weight that is not a finite number >= 0.
    """
    if class_weight is None:
        return None
    seen = np.unique(y_encoded)
    weights = np.ones(len(classes))
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict, got {class_weight!r}.")
        # Classes absent from the training rows (a fold, rows missing the modality) have no
        # loss to weigh: they keep 1.
        weights[seen] = compute_class_weight("balanced", classes=seen, y=y_encoded)
        return weights
    if not isinstance(class_weight, Mapping):
        raise ValueError(f"class_weight must be None, 'balanced' or a dict of label -> "
                         f"weight, got {type(class_weight).__name__}.")
    position = {label: i for i, label in enumerate(classes.tolist())}
    unknown = [label for label in class_weight if label not in position]
    if unknown:
        raise ValueError(
            f"class_weight names label(s) {unknown} that are not in y; y's classes are "
            f"{classes.tolist()}."
        )
    encoded = {}
    for label, weight in class_weight.items():
        if (isinstance(weight, bool | np.bool_) or not isinstance(weight, Real)
                or not np.isfinite(weight) or weight < 0):
            raise ValueError(f"class_weight[{label!r}] must be a finite number >= 0, got "
                             f"{weight!r}.")
        encoded[position[label]] = float(weight)
    # compute_class_weight takes the classes of these rows only: a dict may also weigh a
    # class of y that none of them holds, which keeps its weight without being used.
    present = {i: weight for i, weight in encoded.items() if i in set(seen.tolist())}
    weights[seen] = compute_class_weight(present, classes=seen, y=y_encoded)
    return weights


def row_weights(class_weight: object, classes: np.ndarray, y_encoded: np.ndarray,
                sample_weight: np.ndarray | None = None) -> np.ndarray | None:
    """The loss weight of each training row: class weight x sample weight, mean 1.

    Dividing by the mean keeps the loss on the unweighted scale, so the learning rate
    means the same with and without weights; rows of weight 0 do not count.

    Parameters
    ----------
    class_weight : None, "balanced" or dict
        See :func:`class_weights`.
    classes : ndarray of shape (n_classes,)
    y_encoded : ndarray of int, shape (n_rows,)
    sample_weight : ndarray of shape (n_rows,) or None
        Already checked (:func:`check_sample_weight`) and restricted to the training rows.

    Returns
    -------
    weights : ndarray of shape (n_rows,), float32, or None when nothing is weighted

    Raises
    ------
    ValueError
        When every training row has weight 0 (nothing would be learned).
    """
    per_class = class_weights(class_weight, classes, y_encoded)
    if per_class is None and sample_weight is None:
        return None
    weights = np.ones(len(y_encoded)) if per_class is None else per_class[y_encoded]
    if sample_weight is not None:
        weights = weights * np.asarray(sample_weight, dtype=np.float64)
    total = weights.sum()
    if not total > 0:
        raise ValueError(
            "every training row has weight zero (class_weight x sample_weight): the network "
            "would learn nothing. Give some rows a positive weight."
        )
    return (weights * (len(weights) / total)).astype(np.float32)


def seed_from(random_state: object) -> int:
    """A torch seed drawn from a scikit-learn ``random_state``."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """Seed torch inside the block only: the caller's global RNG state is restored after."""
    devices = [torch.device(device)] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _validation_split(y: np.ndarray | None, n_samples: int, fraction: float | None,
                      seed: int, classify: bool):
    """skorch's ``train_split``: a seeded split when it leaves enough rows, else None.

    Classification stratifies by class and needs two rows of every class and a validation
    set that can hold one of each; reconstruction needs one row on each side.
    """
    from skorch.dataset import ValidSplit

    if not fraction:
        return None
    n_valid = int(round(fraction * n_samples))
    if classify:
        counts = np.bincount(y)
        usable = n_valid >= counts.size and counts.min() >= 2
    else:
        usable = 1 <= n_valid < n_samples
    return ValidSplit(fraction, stratified=classify, random_state=seed) if usable else None


class _Progress(Callback):
    """Counts the epochs that ran to their end (skorch swallows a KeyboardInterrupt, so
    this count is how :func:`train_net` tells a finished fit from an interrupted one)."""

    def initialize(self):
        self.epochs_done_ = 0
        return self

    def on_train_begin(self, net, **kwargs):
        self.epochs_done_ = 0

    def on_epoch_end(self, net, **kwargs):
        self.epochs_done_ += 1


# Where a weighted fit's batch input carries each row's loss weight (skorch's recipe for
# sample weights: they travel in X, so batches, shuffling and the validation split keep
# them with their rows), and its input when the module takes one tensor.
_WEIGHT_KEY = "sample_weight"
_INPUT_KEY = "input"


class _WeightedRows(torch.utils.data.Dataset):
    """A dataset drawn a batch at a time (``__getitems__``), whose batch inputs also carry
    each row's loss weight."""

    def __init__(self, dataset, weights: np.ndarray):
        self.dataset = dataset
        self.weights = torch.from_numpy(np.asarray(weights, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.dataset)

    def _add(self, X, rows):
        X = dict(X) if isinstance(X, Mapping) else {_INPUT_KEY: X}
        X[_WEIGHT_KEY] = self.weights[rows]
        return X

    def __getitems__(self, indices):
        batch = self.dataset.__getitems__(indices)
        if not isinstance(batch, tuple):
            return batch  # a conversion error carried to the loader, which raises it
        X, y = batch
        return self._add(X, torch.as_tensor(np.asarray(indices, dtype=np.int64))), y

    def __getitem__(self, index: int):
        X, y = self.dataset[index]
        return self._add(X, index), y


def _weighted_input(X, weights: np.ndarray):
    """``X`` with each row's loss weight beside it, in a form skorch slices by row."""
    if isinstance(X, torch.utils.data.Dataset):
        return _WeightedRows(X, weights)
    if isinstance(X, Mapping):
        return {**X, _WEIGHT_KEY: weights}
    return {_INPUT_KEY: X, _WEIGHT_KEY: weights}


class WeightedNetClassifier(NeuralNetClassifier):
    """A skorch classifier whose cross-entropy weighs each row (class x sample weight).

    :func:`train_net` builds it when an estimator's ``class_weight`` or ``fit``'s
    ``sample_weight`` is set: the batch input then carries the rows' weights, which the
    loss reads and the module never sees. Without them (prediction, or a net used
    directly), it is a plain ``NeuralNetClassifier``.
    """

    def infer(self, x, **fit_params):
        if isinstance(x, Mapping) and _WEIGHT_KEY in x:
            x = {key: value for key, value in x.items() if key != _WEIGHT_KEY}
            if set(x) == {_INPUT_KEY}:
                x = x[_INPUT_KEY]
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not (isinstance(X, Mapping) and _WEIGHT_KEY in X):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        y_true = to_tensor(y_true, device=self.device)
        weights = to_tensor(X[_WEIGHT_KEY], device=self.device).to(y_pred.dtype)
        losses = torch.nn.functional.cross_entropy(y_pred, y_true, reduction="none")
        return (losses * weights).mean()


# torch's message when batch normalisation trains on a batch of one row.
_ONE_ROW_BATCH = "Expected more than 1 value per channel when training"


def train_net(owner, module: type[torch.nn.Module], *, module_params: dict, X, y,
              device: str, task: str = "classify", loader_params: dict | None = None,
              classes: np.ndarray | None = None, sample_weight: np.ndarray | None = None):
    """Build a seeded skorch net for ``module`` from ``owner``'s hyper-parameters; fit it.

    Parameters
    ----------
    owner : estimator
        Its ``max_epochs, lr, batch_size, validation_fraction, patience, verbose,
        random_state`` are used; torch is seeded from ``random_state`` inside the call only.
    module : nn.Module class
        Instantiated by skorch with ``module_params`` (a class, not an instance: a cloned
        instance would carry trained weights across folds).
    X : ndarray, dict of tensors, or torch Dataset
        A :class:`~mmlearn._nn.data.CellDataset` yields ready batches (it brings its own
        ``loader_params``).
    y : ndarray
        Encoded class labels (``task="classify"``; used for the stratified validation
        split also when ``X`` is a dataset that yields them), or the reconstruction target.
    task : {"classify", "reconstruct"}
        Cross-entropy on class logits, or mean squared error against ``y``.
    loader_params : dict, optional
        Extra ``DataLoader`` arguments for the training and validation iterators.
    classes : ndarray of shape (n_classes,), optional
        The labels ``y`` encodes; needed when ``owner.class_weight`` is a dict (its keys
        are labels).
    sample_weight : ndarray of shape (n_samples,), optional
        Checked weights of the training rows (:func:`check_sample_weight`). With
        ``owner.class_weight`` (read when the owner has one), it makes each row's weight
        in the cross-entropy (:func:`row_weights`); classification only.

    Returns
    -------
    net : skorch.NeuralNetClassifier or skorch.NeuralNetRegressor, fitted

    Raises
    ------
    KeyboardInterrupt
        When training is interrupted (Ctrl-C) before its last epoch. skorch's own ``fit``
        catches the interrupt and returns the part-trained net; this function tells an
        interrupt from early stopping (which skorch also signals by raising it) and
        raises it again. Callers decorate their ``fit`` with :func:`atomic_fit`, so the
        estimator is then left unfitted.
    ValueError
        When every training batch has one row (``batch_size=1``) and the module uses batch
        normalisation. A last batch of one row is dropped instead
        (:class:`~mmlearn._nn.data.TrainLoader`). When ``class_weight`` names labels not
        in ``y`` or holds a weight that is not a finite number >= 0, or when every row
        has weight 0.
    """
    from skorch import NeuralNetRegressor
    from skorch.callbacks import EarlyStopping

    classify = task == "classify"
    weights = None
    if classify:
        if classes is None:
            classes = np.arange(int(np.max(y)) + 1 if len(y) else 0)
        weights = row_weights(getattr(owner, "class_weight", None), np.asarray(classes),
                              np.asarray(y), sample_weight)
    seed = seed_from(owner.random_state)
    n_samples = len(y)
    split = _validation_split(y if classify else None, n_samples,
                              owner.validation_fraction, seed, classify)
    # First in the list: it counts an epoch before early stopping may end the loop.
    progress = _Progress()
    callbacks = [("progress", progress)]
    early_stopping = None
    if split is not None:
        early_stopping = EarlyStopping(monitor="valid_loss", patience=owner.patience,
                                       load_best=True)
        callbacks.append(("early_stopping", early_stopping))
    loader_params = dict(loader_params or {})
    iterators = {}
    for name in ("iterator_train", "iterator_valid"):
        iterators.update({f"{name}__{key}": value for key, value in loader_params.items()
                          if key != "iterator"})
    # Training never draws a batch of one row (batch norm cannot train on it); the
    # validation loader runs in eval mode and keeps every row.
    iterators["iterator_train"] = TrainLoader
    if "iterator" in loader_params:
        iterators["iterator_valid"] = loader_params["iterator"]
    if "sampler" not in loader_params:
        iterators["iterator_train__shuffle"] = True
    net_class = NeuralNetClassifier if classify else NeuralNetRegressor
    if weights is not None:
        net_class = WeightedNetClassifier
        X = _weighted_input(X, weights)
    with seeded(seed, device):
        net = net_class(
            module,
            criterion=torch.nn.CrossEntropyLoss if classify else torch.nn.MSELoss,
            optimizer=torch.optim.AdamW,
            lr=owner.lr,
            max_epochs=owner.max_epochs,
            batch_size=min(owner.batch_size, n_samples),
            train_split=split,
            callbacks=callbacks,
            device=device,
            verbose=owner.verbose,
            warm_start=False,
            **iterators,
            **{f"module__{k}": v for k, v in module_params.items()},
        )
        try:
            net.fit(X, y)
        except ValueError as exc:
            if _ONE_ROW_BATCH not in str(exc):
                raise
            if n_samples < 2:
                raise ValueError(
                    f"{type(owner).__name__}: only {n_samples} training row (rows missing "
                    "the modality are left out), and batch normalisation cannot train on "
                    "one row; give it at least 2 rows with the modality."
                ) from exc
            raise ValueError(
                f"{type(owner).__name__}: batch_size={owner.batch_size} gives training "
                "batches of one row, and batch normalisation cannot train on one row; "
                "use batch_size >= 2."
            ) from exc
    done = progress.epochs_done_
    stopped_early = (early_stopping is not None
                     and early_stopping.misses_ >= early_stopping.patience)
    if done < owner.max_epochs and not stopped_early:
        raise KeyboardInterrupt(
            f"{type(owner).__name__}.fit was interrupted after {done} of "
            f"{owner.max_epochs} epochs; the estimator is left unfitted."
        )
    return net
