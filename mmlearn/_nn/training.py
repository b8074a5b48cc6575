"""The shared skorch glue: seeding, device, labels, building and using ``net_`` in fit.

Every neural estimator of mmlearn (deep encoders, MLPHead) composes a skorch
``NeuralNetClassifier`` built inside ``fit`` rather than subclassing one, so that it behaves
like a scikit-learn estimator (``clone`` sees only hyper-parameters; a refit starts from new
weights; ``classes_`` are the user's labels).
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
    "check_device",
    "encode_labels",
    "seeded",
    "build_net",
    "train_classifier",
    "predict_batches",
    "TRAINING_CONSTRAINTS",
]

# The training hyper-parameters every skorch-backed estimator of mmlearn takes (the
# classifiers' are read by :func:`train_classifier`).
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


def build_net(
    module: type[torch.nn.Module],
    *,
    module_params: dict,
    n_samples: int,
    y: np.ndarray,
    seed: int,
    max_epochs: int,
    lr: float,
    batch_size: int,
    validation_fraction: float | None,
    patience: int,
    device: str,
    verbose: int,
    optimizer: type = torch.optim.AdamW,
):
    """A skorch classifier for ``module`` with seeded early stopping.

    Early stopping watches the loss of a stratified, seeded validation split when
    ``validation_fraction`` is set and every class has enough samples for it; otherwise the
    net trains for ``max_epochs`` on everything.
    """
    from skorch import NeuralNetClassifier
    from skorch.callbacks import EarlyStopping
    from skorch.dataset import ValidSplit

    counts = np.bincount(y)
    n_valid = int(round((validation_fraction or 0) * n_samples))
    use_valid = bool(validation_fraction) and n_valid >= counts.size and counts.min() >= 2
    callbacks = []
    if use_valid:
        callbacks.append(("early_stopping", EarlyStopping(
            monitor="valid_loss", patience=patience, load_best=True)))
    return NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=optimizer,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=min(batch_size, n_samples),
        train_split=ValidSplit(validation_fraction, stratified=True, random_state=seed)
        if use_valid else None,
        callbacks=callbacks,
        iterator_train__shuffle=True,
        device=device,
        verbose=verbose,
        warm_start=False,
        **{f"module__{k}": v for k, v in module_params.items()},
    )


def train_classifier(owner, module: type[torch.nn.Module], *, module_params: dict, X,
                     y: np.ndarray, device: str):
    """Build :func:`build_net` from ``owner``'s training hyper-parameters and fit it on X, y.

    ``owner`` is the estimator (its ``max_epochs, lr, batch_size, validation_fraction,
    patience, verbose, random_state``); torch is seeded from ``random_state`` inside the
    call only. Returns the fitted skorch net.
    """
    seed = seed_from(owner.random_state)
    with seeded(seed, device):
        net = build_net(
            module,
            module_params=module_params,
            n_samples=len(y),
            y=y,
            seed=seed,
            max_epochs=owner.max_epochs,
            lr=owner.lr,
            batch_size=owner.batch_size,
            validation_fraction=owner.validation_fraction,
            patience=owner.patience,
            device=device,
            verbose=owner.verbose,
        )
        net.fit(X, y)
    return net


def predict_batches(fn, X: np.ndarray, *, batch_size: int, device: str) -> np.ndarray:
    """Apply ``fn`` (tensor -> tensor) to ``X`` in batches under inference mode, as float32."""
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            batch = torch.as_tensor(X[start:start + batch_size]).to(device)
            outputs.append(fn(batch).float().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), dtype=np.float32)
