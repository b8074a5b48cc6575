"""A neural classification head (a small MLP trained with skorch) for fused numeric features."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from mmlearn._nn.inference import predict_batches
from mmlearn._nn.layers import check_hidden_sizes, mlp_layers
from mmlearn._nn.standardize import fit_standardizer
from mmlearn._nn.training import (
    CLASS_WEIGHT_CONSTRAINTS,
    TRAINING_CONSTRAINTS,
    atomic_fit,
    check_device,
    check_sample_weight,
    encode_labels,
    train_net,
)
from mmlearn.utils._sklearn_compat import Interval, fit_context, validate_data

__all__ = ["MLPHead"]


class MLP(nn.Module):
    """Fully connected classifier: hidden ReLU layers with dropout, then class logits."""

    def __init__(self, n_features=1, n_classes=2, hidden_sizes=(128,), dropout=0.1):
        super().__init__()
        hidden_sizes = tuple(hidden_sizes)
        self.body = nn.Sequential(*mlp_layers(n_features, hidden_sizes, dropout))
        self.out = nn.Linear(hidden_sizes[-1] if hidden_sizes else n_features, n_classes)

    def forward(self, x):
        return self.out(self.body(x))


class MLPHead(ClassifierMixin, BaseEstimator):
    """A multi-layer perceptron classifier for numeric (e.g. fused) features, via skorch.

    The neural counterpart of ``SVC`` or ``KNeighborsClassifier`` as the final step after a
    fusion step: ``Pipeline([("fusion", EarlyFusion(...)), ("head", MLPHead())])``. It
    composes a skorch ``NeuralNetClassifier`` built in ``fit`` (so ``clone`` and refits start
    from fresh weights), trains it with AdamW and cross-entropy, and stops early on the loss
    of a seeded, stratified validation split, keeping the best epoch's weights.

    Parameters
    ----------
    hidden_sizes : sequence of int, default=(128,)
        Width of each hidden layer (ReLU, then dropout). ``()`` is a multinomial logistic
        regression.
    dropout : float, default=0.1
        Dropout after each hidden layer during training.
    standardize : bool, default=True
        Centre and scale each feature with the training rows' mean and standard deviation
        before the network (constant features are only centred). Fused features mix scales
        (pixels in [0, 1], standardised MFCCs, raw tabular columns), and gradient descent
        with one learning rate needs them comparable; set False if they already are.
    max_epochs : int, default=100
        Upper bound on training epochs.
    lr : float, default=1e-3
        AdamW learning rate.
    batch_size : int, default=64
        Rows per gradient step (and per batch at prediction).
    validation_fraction : float or None, default=0.1
        Share of the training rows held out (stratified, seeded by ``random_state``) to stop
        early. None, or too few rows per class for a stratified split, trains for
        ``max_epochs`` on every row.
    patience : int, default=10
        Epochs without improvement of the validation loss before stopping.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the training loss. ``"balanced"`` weighs each
        class by ``n_rows / (n_classes * count)`` over the training rows, so that a rare
        class counts as much as a common one; a dict maps labels to weights (a class it
        does not name keeps 1; a label that is not in ``y`` raises a ValueError). It
        multiplies ``fit``'s ``sample_weight``.
    device : str, default="cpu"
        A torch device such as "cuda". Predictions are computed on it in batches.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the validation split, without
        changing torch's global random state. An int gives reproducible fits on CPU.
    verbose : int, default=0
        1 prints skorch's per-epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNetClassifier
        The trained net; ``net_.history`` has the per-epoch losses.
    classes_ : ndarray of shape (n_classes,)
        Labels seen in fit, in the user's label space (strings work).
    mean_ : ndarray of shape (n_features_in_,), float32
        Per-feature training mean (zeros when ``standardize=False``).
    scale_ : ndarray of shape (n_features_in_,), float32
        Per-feature training standard deviation (ones when ``standardize=False``).
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Names of the features seen in fit, when X had string column names.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : scikit-learn's own MLP (no GPU, no skorch).
    mmlearn.fusion.EarlyFusion : Builds the fused features this head is meant for.

    Notes
    -----
    Inputs are validated by scikit-learn's ``validate_data`` (a dense 2-D array of finite
    numbers; sparse input is rejected) and fed to torch as float32. ``predict_proba``
    returns float32. A missing label (None, NaN) in ``y`` raises a ValueError naming its
    rows.

    ``fit`` is all-or-nothing: a refit first removes the previous fit's attributes, and a
    fit that raises leaves the head unfitted (``check_is_fitted`` raises), never an old
    network beside new statistics. A ``KeyboardInterrupt`` (Ctrl-C) during training
    reaches the caller, which skorch alone would swallow, returning a part-trained
    network; the head is then unfitted.

    Examples
    --------
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.pipeline import make_pipeline
    >>> from mmlearn.datasets import load_av_digits
    >>> from mmlearn.encoders import ImagePixelEncoder
    >>> from mmlearn.heads import MLPHead
    >>> X, y = load_av_digits(return_X_y=True)
    >>> X_tr, X_te, y_tr, y_te = train_test_split(X["image"], y, random_state=0)
    >>> model = make_pipeline(ImagePixelEncoder(), MLPHead(max_epochs=30, random_state=0))
    >>> model.fit(X_tr, y_tr).score(X_te, y_te) > 0.9
    True
    """

    _parameter_constraints: dict = {
        "hidden_sizes": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "standardize": ["boolean"],
        **TRAINING_CONSTRAINTS,
        **CLASS_WEIGHT_CONSTRAINTS,
    }

    def __init__(self, hidden_sizes=(128,), *, dropout=0.1, standardize=True, max_epochs=100,
                 lr=1e-3, batch_size=64, validation_fraction=0.1, patience=10,
                 class_weight=None, device="cpu", random_state=None, verbose=0):
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.standardize = standardize
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @atomic_fit
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on ``X`` (numeric features) and class labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numeric features.
        y : array-like of shape (n_samples,)
            Class labels (ints, strings, ...); at least 2 classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Each row's weight in the training loss (multiplied by its class's
            ``class_weight``). Finite and >= 0; a wrong length or a negative weight raises
            a ValueError. The standardisation statistics are not weighted.

        Returns
        -------
        self : MLPHead
        """
        hidden_sizes = check_hidden_sizes(self.hidden_sizes)
        device = check_device(self.device)
        # Labels first: a missing label gets a message naming its row.
        self.classes_, y_encoded = encode_labels(y)
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        weights = check_sample_weight(sample_weight, X.shape[0])
        if self.standardize:
            self.mean_, self.scale_ = fit_standardizer(X)
        else:
            self.mean_ = np.zeros(X.shape[1], dtype=np.float32)
            self.scale_ = np.ones(X.shape[1], dtype=np.float32)
        inputs = self._scaled(X)
        self.net_ = train_net(
            self, MLP,
            module_params=dict(n_features=X.shape[1], n_classes=len(self.classes_),
                               hidden_sizes=hidden_sizes, dropout=self.dropout),
            X=inputs, y=y_encoded, device=device, classes=self.classes_,
            sample_weight=weights)
        return self

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((X.astype(np.float32) - self.mean_) / self.scale_)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float32
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        module = self.net_.module_
        module.eval()
        logits = predict_batches(module, self._scaled(X), batch_size=self.batch_size,
                                 device=self.net_.device)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def predict(self, X):
        """Most probable class of each row, in the user's label space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # cuDNN/cuBLAS kernels are not bit-reproducible; CPU fits with an int seed are.
        tags.non_deterministic = self.device != "cpu"
        return tags
