"""ImageCNNEncoder on real images: learning, determinism, pickling, missing cells, bad input."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from mmlearn.encoders import AudioMFCCEncoder, ImageCNNEncoder
from mmlearn.fusion import EarlyFusion

FAST = dict(width=8, depth=2, embedding_dim=16, max_epochs=15, lr=3e-3, random_state=0)


@pytest.fixture(scope="module")
def split(av_small):
    X, y = av_small
    train = np.arange(len(y)) % 4 != 0
    return X[train], y[train], X[~train], y[~train]


@pytest.fixture(scope="module")
def fitted(split):
    X_train, y_train, _, _ = split
    return ImageCNNEncoder(**FAST).fit(X_train[["image"]], y_train)


def test_learns_digits_above_chance(fitted, split):
    _, _, X_test, y_test = split
    emb = fitted.transform(X_test[["image"]])
    assert emb.shape == (len(y_test), 16) and emb.dtype == np.float32
    assert fitted.score(X_test[["image"]], y_test) > 0.6  # chance is 0.1
    assert fitted.get_feature_names_out().tolist()[:2] == ["imagecnnencoder0", "imagecnnencoder1"]
    # The embedding carries the classes: a linear SVM on it does as well as the net's head.
    X_train, y_train, _, _ = split
    svc = SVC(kernel="linear").fit(fitted.transform(X_train[["image"]]), y_train)
    assert svc.score(emb, y_test) > 0.6


def test_early_stopping_keeps_a_seeded_validation_split(fitted):
    history = fitted.net_.history
    assert "valid_loss" in history[0]
    assert len(history) <= FAST["max_epochs"]


def test_same_seed_same_model_and_global_rng_untouched(split):
    X_train, y_train, X_test, _ = split
    kw = {**FAST, "max_epochs": 2}
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = ImageCNNEncoder(**kw).fit(X_train["image"], y_train).transform(X_test["image"])
    after = torch.rand(1)
    b = ImageCNNEncoder(**kw).fit(X_train["image"], y_train).transform(X_test["image"])
    np.testing.assert_array_equal(a, b)
    assert before == after  # fitting did not advance the caller's torch RNG
    c = ImageCNNEncoder(**{**kw, "random_state": 1}).fit(X_train["image"], y_train)
    assert not np.allclose(c.transform(X_test["image"]), a)


def test_string_labels_and_predict(split):
    X_train, y_train, X_test, _ = split
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"], dtype=object)
    enc = ImageCNNEncoder(**{**FAST, "max_epochs": 2}).fit(X_train["image"], names[y_train])
    assert set(enc.classes_) == set(names)
    assert set(enc.predict(X_test["image"])) <= set(names)
    proba = enc.predict_proba(X_test["image"])
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def test_clone_pickle_joblib_round_trip(fitted, split, tmp_path):
    _, _, X_test, _ = split
    expected = fitted.transform(X_test[["image"]])
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X_test[["image"]]), expected)
    joblib.dump(fitted, tmp_path / "cnn.joblib")
    loaded = joblib.load(tmp_path / "cnn.joblib")
    np.testing.assert_array_equal(loaded.transform(X_test[["image"]]), expected)
    fresh = clone(fitted)
    assert not hasattr(fresh, "net_") and fresh.get_params() == fitted.get_params()


def test_missing_images_give_nan_rows_and_are_left_out_of_training(split):
    X_train, y_train, X_test, _ = split
    images = X_train["image"].copy()
    images.iloc[[0, 5]] = None
    enc = ImageCNNEncoder(**{**FAST, "max_epochs": 2}).fit(images, y_train)
    out = enc.transform(images)
    assert np.isnan(out[[0, 5]]).all() and not np.isnan(np.delete(out, [0, 5], axis=0)).any()
    with pytest.raises(ValueError, match="missing cells"):
        enc.predict(images)
    with pytest.raises(ValueError, match="every image cell is missing"):
        ImageCNNEncoder().fit(pd.Series([None, None], name="image"), [0, 1])


def test_in_early_fusion_pipeline(split):
    X_train, y_train, X_test, y_test = split
    pipe = make_pipeline(
        EarlyFusion([("image", ImageCNNEncoder(**FAST), "image"),
                     ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")]),
        SVC(),
    )
    assert pipe.fit(X_train, y_train).score(X_test, y_test) > 0.8


def test_rgba_and_grayscale_mixes_are_converted(emoji):
    images = emoji.data["image"].iloc[:40].tolist()
    images[1] = images[1][..., :3]  # RGB among RGBA
    images[2] = images[2].mean(axis=2).astype(np.uint8)  # grayscale (H, W)
    y = emoji.target[:40]
    enc = ImageCNNEncoder(size=16, width=4, depth=1, embedding_dim=8, max_epochs=1,
                          validation_fraction=None, random_state=0).fit(images, y)
    assert enc.n_channels_ == 3 and enc.image_size_ == (16, 16)
    assert enc.transform(images).shape == (40, 8)
    gray = ImageCNNEncoder(size=16, grayscale=True, width=4, depth=1, embedding_dim=8,
                           max_epochs=1, validation_fraction=None, random_state=0)
    assert gray.fit(images, y).n_channels_ == 1


def test_size_differs_from_fitted_size(split, emoji):
    X_train, y_train, _, _ = split
    enc = ImageCNNEncoder(**{**FAST, "max_epochs": 1}).fit(X_train[["image"]], y_train)
    bigger = pd.DataFrame({"image": [emoji.data["image"].iloc[0]]})
    with pytest.raises(ValueError, match="column 'image'.*differ from the fitted size"):
        enc.transform(bigger)
    resizing = ImageCNNEncoder(size=8, **{**FAST, "max_epochs": 1})
    resizing.fit(X_train[["image"]], y_train)
    assert resizing.transform(bigger).shape == (1, FAST["embedding_dim"])


def test_one_by_one_images_work():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    values = np.clip(y + rng.normal(0, 0.1, 40), 0.0, 1.0)  # intensities in [0, 1]
    images = [np.full((1, 1), v, dtype=np.float32) for v in values]
    enc = ImageCNNEncoder(width=4, depth=3, embedding_dim=4, max_epochs=30, lr=1e-2,
                          validation_fraction=None, random_state=0).fit(images, y)
    assert enc.transform(images).shape == (40, 4)
    assert enc.score(images, y) > 0.9


def test_bad_input(split):
    X_train, y_train, _, _ = split
    with pytest.raises(ValueError, match="1 class"):
        ImageCNNEncoder(max_epochs=1).fit(X_train["image"], np.zeros(len(y_train)))
    with pytest.raises(NotFittedError):
        ImageCNNEncoder().transform(X_train["image"])
    with pytest.raises(ValueError, match="column 'image', row 0: cannot read image file 'a'"):
        ImageCNNEncoder(max_epochs=1).fit(pd.Series(["a", "b"], name="image"), [0, 1])
    with pytest.raises(ValueError, match="y has 3 rows but column 'image' has"):
        ImageCNNEncoder(max_epochs=1).fit(X_train["image"], [0, 1, 2])
    nan_image = X_train["image"].copy()
    nan_image.iloc[1] = np.full((8, 8), np.nan)
    with pytest.raises(ValueError, match="column 'image'"):
        ImageCNNEncoder(max_epochs=1).fit(nan_image, y_train)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_a_clear_error(split):
    X_train, y_train, _, _ = split
    with pytest.raises(ValueError, match="device='cuda' but torch finds no CUDA GPU"):
        ImageCNNEncoder(max_epochs=1, device="cuda").fit(X_train["image"], y_train)
