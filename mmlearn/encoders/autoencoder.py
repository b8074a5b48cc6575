"""Unsupervised representation learning: an MLP autoencoder whose bottleneck is the embedding."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted
from torch import nn

from mmlearn._nn.inference import predict_batches
from mmlearn._nn.layers import check_hidden_sizes, mlp_layers
from mmlearn._nn.standardize import fit_standardizer
from mmlearn._nn.training import TRAINING_CONSTRAINTS, atomic_fit, check_device, train_net
from mmlearn.utils._sklearn_compat import Interval, fit_context, validate_data

__all__ = ["Autoencoder"]


class MLPAutoencoder(nn.Module):
    """Encoder MLP -> linear bottleneck -> mirrored decoder MLP -> reconstruction.

    ``forward`` reconstructs its input; while training it first adds Gaussian noise of
    ``noise`` times each feature's ``feature_std`` (a denoising autoencoder). ``embed``
    gives the bottleneck; ``decode`` maps a bottleneck back to input space.
    """

    def __init__(self, n_features=1, hidden_sizes=(128,), embedding_dim=16, dropout=0.0,
                 noise=0.0, feature_std=None):
        super().__init__()
        hidden_sizes = tuple(hidden_sizes)
        last = hidden_sizes[-1] if hidden_sizes else n_features
        self.encoder = nn.Sequential(*mlp_layers(n_features, hidden_sizes, dropout),
                                     nn.Linear(last, embedding_dim))
        mirrored = hidden_sizes[::-1]
        self.decoder = nn.Sequential(*mlp_layers(embedding_dim, mirrored, dropout),
                                     nn.Linear(mirrored[-1] if mirrored else embedding_dim,
                                               n_features))
        self.noise = noise
        std = torch.ones(n_features) if feature_std is None else \
            torch.as_tensor(feature_std, dtype=torch.float32)
        self.register_buffer("feature_std", std)

    def embed(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        if self.training and self.noise > 0:
            x = x + (self.noise * self.feature_std) * torch.randn_like(x)
        return self.decoder(self.encoder(x))


class Autoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Learn a compact representation of numeric features without labels (autoencoder).

    An MLP encoder compresses each row to ``embedding_dim`` numbers and a mirrored decoder
    reconstructs the row from them; both are trained to minimise the mean squared
    reconstruction error (skorch ``NeuralNetRegressor`` whose target is the input), with
    early stopping on a seeded validation split. ``transform`` returns the bottleneck: a
    non-linear, PCA-like reduction for any numeric modality, e.g. flat pixels from
    :class:`~mmlearn.encoders.ImagePixelEncoder` in a Pipeline, MFCC statistics or a
    tabular block. ``fit`` ignores ``y``, so unlabelled rows can be used.

    Parameters
    ----------
    hidden_sizes : sequence of int, default=(128,)
        Widths of the encoder's hidden layers (the decoder mirrors them). ``()`` gives a
        linear autoencoder, which spans the same subspace as PCA.
    embedding_dim : int, default=16
        Size of the bottleneck, i.e. of ``transform``'s output.
    dropout : float, default=0.0
        Dropout after each hidden layer during training.
    noise : float, default=0.2
        Gaussian noise added to the input during training only, with standard deviation
        ``noise`` times each feature's training standard deviation (so it is scale-free and
        constant features get none): a denoising autoencoder, which learns more robust
        features and overfits less on small data. 0 turns it off. ``transform`` never adds
        noise.
    standardize : bool, default=False
        Centre and scale each feature with the training mean and standard deviation before
        the network (constant features are only centred), so every feature weighs the same
        in the reconstruction loss; ``inverse_transform`` undoes it. The default keeps the
        input's scale, as PCA does: right for features already on one scale (pixels in
        [0, 1] from ImagePixelEncoder, where standardising would amplify near-constant
        border pixels, or standardised MFCCs); set True for raw tabular columns of mixed
        units.
    max_epochs : int, default=200
        Upper bound on training epochs.
    lr : float, default=1e-3
        AdamW learning rate.
    batch_size : int, default=64
        Rows per gradient step and per batch at ``transform``.
    validation_fraction : float or None, default=0.1
        Share of the rows held out (seeded by ``random_state``) for early stopping on the
        reconstruction loss; None trains for ``max_epochs`` on every row.
    patience : int, default=10
        Epochs without improvement of the validation loss before stopping (the best
        epoch's weights are kept).
    device : str, default="cpu"
        A torch device such as "cuda".
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, noise, dropout and the validation split,
        without changing torch's global random state.
    verbose : int, default=0
        1 prints skorch's per-epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.history`` has the per-epoch losses.
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
    sklearn.decomposition.PCA : The linear baseline with the same interface.
    mmlearn.encoders.ImagePixelEncoder : Turns an image column into the numeric rows this needs.

    Notes
    -----
    Input is validated by scikit-learn's ``validate_data``: a dense 2-D array of finite
    numbers (NaN raises; in a fusion step, missing modalities never reach this encoder).
    Scale matters: with ``standardize=False`` (default) features with a larger spread
    dominate the reconstruction loss, as they dominate PCA's variance.
    ``transform`` returns float32 of shape ``(n_samples, embedding_dim)``, computed in
    batches under ``torch.inference_mode``.

    ``fit`` is all-or-nothing: a refit first removes the previous fit's attributes, and a
    fit that raises leaves the autoencoder unfitted (``check_is_fitted`` raises), never an
    old network beside new statistics. A ``KeyboardInterrupt`` (Ctrl-C) during training
    reaches the caller, which skorch alone would swallow, returning a part-trained
    network; the autoencoder is then unfitted.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from mmlearn.datasets import load_av_digits
    >>> from mmlearn.encoders import ImagePixelEncoder
    >>> from mmlearn.encoders.autoencoder import Autoencoder
    >>> X, y = load_av_digits(return_X_y=True)
    >>> enc = make_pipeline(ImagePixelEncoder(),
    ...                     Autoencoder(embedding_dim=8, max_epochs=5, random_state=0))
    >>> enc.fit_transform(X["image"][:300]).shape
    (300, 8)
    >>> enc[-1].get_feature_names_out()[:2].tolist()
    ['autoencoder0', 'autoencoder1']
    """

    _parameter_constraints: dict = {
        "hidden_sizes": [tuple, list],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "standardize": ["boolean"],
        **TRAINING_CONSTRAINTS,
    }

    def __init__(self, hidden_sizes=(128,), *, embedding_dim=16, dropout=0.0, noise=0.2,
                 standardize=False, max_epochs=200, lr=1e-3, batch_size=64,
                 validation_fraction=0.1, patience=10, device="cpu", random_state=None,
                 verbose=0):
        self.hidden_sizes = hidden_sizes
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.noise = noise
        self.standardize = standardize
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @atomic_fit
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder to reconstruct ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numeric features.
        y : ignored
            Not used; present for API consistency (unsupervised).

        Returns
        -------
        self : Autoencoder
        """
        hidden_sizes = check_hidden_sizes(self.hidden_sizes)
        device = check_device(self.device)
        X = validate_data(self, X, dtype=[np.float32, np.float64])
        if self.standardize:
            self.mean_, self.scale_ = fit_standardizer(X)
        else:
            self.mean_ = np.zeros(X.shape[1], dtype=np.float32)
            self.scale_ = np.ones(X.shape[1], dtype=np.float32)
        inputs = self._scaled(X)
        self.net_ = train_net(
            self, MLPAutoencoder,
            module_params=dict(n_features=X.shape[1], hidden_sizes=hidden_sizes,
                               embedding_dim=self.embedding_dim, dropout=self.dropout,
                               noise=self.noise, feature_std=inputs.std(axis=0).tolist()),
            X=inputs, y=inputs, device=device, task="reconstruct")
        self._n_features_out = self.embedding_dim
        return self

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((X.astype(np.float32) - self.mean_) / self.scale_)

    def _apply(self, fn_name: str, inputs: np.ndarray) -> np.ndarray:
        module = self.net_.module_
        module.eval()
        return predict_batches(getattr(module, fn_name), inputs, batch_size=self.batch_size,
                               device=self.net_.device)

    def transform(self, X):
        """Encode each row to its bottleneck embedding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        embedding : ndarray of shape (n_samples, embedding_dim), float32
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        return self._apply("embed", self._scaled(X))

    def inverse_transform(self, X):
        """Decode embeddings back to the input space (the reconstruction).

        Parameters
        ----------
        X : array-like of shape (n_samples, embedding_dim)
            Embeddings, e.g. the output of :meth:`transform`.

        Returns
        -------
        reconstruction : ndarray of shape (n_samples, n_features_in_), float32
        """
        check_is_fitted(self)
        # Embeddings are not the fitted input: check their width against the bottleneck,
        # not n_features_in_.
        Z = check_array(X, dtype=np.float32)
        if Z.shape[1] != self.embedding_dim:
            raise ValueError(
                f"inverse_transform expects embeddings of shape (n_samples, "
                f"{self.embedding_dim}), got shape {Z.shape}."
            )
        decoded = self._apply("decode", np.ascontiguousarray(Z))
        return decoded * self.scale_ + self.mean_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # cuDNN/cuBLAS kernels are not bit-reproducible; CPU fits with an int seed are.
        tags.non_deterministic = self.device != "cpu"
        # Output is float32 whatever the input dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
