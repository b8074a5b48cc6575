"""Autoencoder on real images: embeddings, reconstruction, reproducibility, fusion, bad input."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import SVC

from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.encoders.autoencoder import Autoencoder
from mmlearn.fusion import EarlyFusion

FAST = dict(hidden_sizes=(32,), embedding_dim=8, max_epochs=40, lr=5e-3, random_state=0)


@pytest.fixture(scope="module")
def pixels(av_small):
    """Flat 8x8 pixels of the 200-pair AV-digits subset, and the digit labels."""
    X, y = av_small
    return ImagePixelEncoder().fit_transform(X["image"]), y


@pytest.fixture(scope="module")
def fitted(pixels):
    return Autoencoder(**FAST).fit(pixels[0])


def test_embedding_shape_dtype_and_names(fitted, pixels):
    P, _ = pixels
    Z = fitted.transform(P)
    assert Z.shape == (len(P), 8) and Z.dtype == np.float32 and np.isfinite(Z).all()
    assert fitted.get_feature_names_out().tolist() == [f"autoencoder{i}" for i in range(8)]
    frame = clone(fitted).set_params(max_epochs=2).set_output(transform="pandas").fit(P)
    frame = frame.transform(P)
    assert isinstance(frame, pd.DataFrame) and frame.columns[0] == "autoencoder0"


def test_reconstruction_explains_most_of_the_variance(fitted, pixels):
    P, _ = pixels
    reconstruction = fitted.inverse_transform(fitted.transform(P))
    assert reconstruction.shape == P.shape and reconstruction.dtype == np.float32
    r2 = 1 - ((reconstruction - P) ** 2).sum() / ((P - P.mean(axis=0)) ** 2).sum()
    # 8 numbers for 64 pixels: far better than the mean image (r2 = 0).
    assert r2 > 0.5


def test_embedding_keeps_the_digit_without_labels(av_small):
    X, y = av_small
    X_tr, X_te, y_tr, y_te = train_test_split(X["image"], y, test_size=0.3, stratify=y,
                                              random_state=0)
    pipe = make_pipeline(ImagePixelEncoder(), Autoencoder(**FAST), SVC()).fit(X_tr, y_tr)
    # 10 classes (chance 0.1); the autoencoder never saw a label.
    assert pipe.score(X_te, y_te) > 0.6


def test_fit_ignores_y_and_is_reproducible(pixels):
    P, y = pixels
    short = {**FAST, "max_epochs": 5}
    first = Autoencoder(**short).fit(P)
    torch.manual_seed(7)
    expected_next = torch.rand(2)
    torch.manual_seed(7)
    again = Autoencoder(**short).fit(P, y)
    np.testing.assert_array_equal(torch.rand(2), expected_next)
    np.testing.assert_array_equal(again.transform(P), first.transform(P))
    other = Autoencoder(**{**short, "random_state": 1}).fit(P)
    assert not np.array_equal(other.transform(P), first.transform(P))


def test_early_stopping_denoising_and_linear_variant(pixels):
    P, _ = pixels
    stopped = Autoencoder(hidden_sizes=(16,), embedding_dim=4, max_epochs=500, lr=1e-2,
                          noise=0.3, dropout=0.1, patience=3, validation_fraction=0.2,
                          random_state=0).fit(P)
    history = stopped.net_.history
    assert "valid_loss" in history[-1] and len(history) < 500
    linear = Autoencoder(hidden_sizes=(), embedding_dim=4, max_epochs=3, standardize=True,
                         noise=0, validation_fraction=None, random_state=0).fit(P)
    assert len(linear.net_.history) == 3 and "valid_loss" not in linear.net_.history[-1]
    np.testing.assert_allclose(linear.mean_, P.mean(axis=0), atol=1e-6)
    assert linear.transform(P).shape == (len(P), 4)
    np.testing.assert_array_equal(stopped.mean_, 0)  # standardize=False: input scale kept


def test_inside_early_fusion_with_a_missing_image(av_small):
    X, y = av_small
    X, y = X.iloc[::2].reset_index(drop=True), y[::2]  # 100 pairs, 10 per digit
    X.loc[3, "image"] = None  # EarlyFusion fits the image branch without this row
    image = make_pipeline(ImagePixelEncoder(), Autoencoder(**{**FAST, "max_epochs": 30}))
    fusion = EarlyFusion([("image", image, "image"),
                          ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")])
    pipe = Pipeline([("fusion", fusion), ("head", SVC())]).fit(X, y)
    names = pipe.named_steps["fusion"].get_feature_names_out()
    assert names[0] == "image__autoencoder0" and "image__missing" in names
    assert pipe.score(X, y) > 0.8


def test_clone_and_pickle_round_trip(fitted, pixels):
    P, _ = pixels
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(P), fitted.transform(P))
    fresh = clone(fitted)
    assert fresh.get_params() == fitted.get_params() and not hasattr(fresh, "net_")


def test_bad_input_messages(fitted, pixels):
    P, _ = pixels
    with pytest.raises(NotFittedError):
        Autoencoder().transform(P)
    with_nan = P.copy()
    with_nan[5, 10] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        Autoencoder(**FAST).fit(with_nan)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fitted.transform(with_nan)
    with pytest.raises(ValueError, match="X has 5 features, but Autoencoder is expecting 64"):
        fitted.transform(P[:, :5])
    with pytest.raises(ValueError, match=r"expects embeddings of shape \(n_samples, 8\)"):
        fitted.inverse_transform(P)
    with pytest.raises(ValueError, match="hidden_sizes must be a sequence of positive ints"):
        Autoencoder(hidden_sizes=(8, -1)).fit(P)
    with pytest.raises(ValueError, match="embedding_dim"):
        Autoencoder(embedding_dim=0).fit(P)
