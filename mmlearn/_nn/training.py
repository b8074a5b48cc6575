"""The one seeded skorch build-and-fit of mmlearn, and what every fit needs around it.

Every neural estimator of mmlearn (deep encoders, JointFusion, MLPHead, Autoencoder)
composes a skorch net built inside ``fit`` rather than subclassing one, so that it behaves
like a scikit-learn estimator (``clone`` sees only hyper-parameters; a refit starts from new
weights; ``classes_`` are the user's labels). :func:`train_net` builds and fits it, seeded
without touching torch's global random state, from arrays or from a
:class:`~mmlearn._nn.data.CellDataset` that decodes batches lazily.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from mmlearn.utils._sklearn_compat import Interval

__all__ = [
    "TRAINING_CONSTRAINTS",
    "check_device",
    "encode_labels",
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


def check_device(device: str) -> str:
    """Return ``device`` if torch can use it, else raise a ValueError that says why."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but torch finds no CUDA GPU on this machine; "
                         "use device='cpu'.")
    try:
        torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from exc
    return device


def encode_labels(y: object) -> tuple[np.ndarray, np.ndarray]:
    """Integer-encode classification targets; returns ``(classes_, y_encoded as int64)``."""
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    encoder = LabelEncoder().fit(y)
    if encoder.classes_.size < 2:
        raise ValueError(
            f"y has 1 class ({encoder.classes_[0]!r}); a classifier needs at least 2."
        )
    return encoder.classes_, encoder.transform(y).astype(np.int64)


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


def train_net(owner, module: type[torch.nn.Module], *, module_params: dict, X, y,
              device: str, task: str = "classify", loader_params: dict | None = None):
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

    Returns
    -------
    net : skorch.NeuralNetClassifier or skorch.NeuralNetRegressor, fitted
    """
    from skorch import NeuralNetClassifier, NeuralNetRegressor
    from skorch.callbacks import EarlyStopping

    classify = task == "classify"
    seed = seed_from(owner.random_state)
    n_samples = len(y)
    split = _validation_split(y if classify else None, n_samples,
                              owner.validation_fraction, seed, classify)
    callbacks = []
    if split is not None:
        callbacks.append(("early_stopping", EarlyStopping(
            monitor="valid_loss", patience=owner.patience, load_best=True)))
    loader_params = dict(loader_params or {})
    iterators = {}
    for name in ("iterator_train", "iterator_valid"):
        iterators.update({f"{name}__{key}": value for key, value in loader_params.items()
                          if key != "iterator"})
        if "iterator" in loader_params:
            iterators[name] = loader_params["iterator"]
    if "sampler" not in loader_params:
        iterators["iterator_train__shuffle"] = True
    net_class = NeuralNetClassifier if classify else NeuralNetRegressor
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
        net.fit(X, y)
    return net
