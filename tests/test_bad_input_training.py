"""Bad input and failures while training, on real AV-digits (issue 12, items 6, 7, 8, 11).

Every skorch-backed estimator (the deep encoders, JointFusion, MLPHead, Autoencoder) is
either fully fitted by its last ``fit`` or not fitted at all; an interrupt reaches the
caller; a last training batch of one row does not break batch normalisation; a missing
label is reported with its row.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from mmlearn.encoders import Autoencoder, ImageCNNEncoder
from mmlearn.encoders.autoencoder import MLPAutoencoder
from mmlearn.encoders.image_cnn import ImageCNN
from mmlearn.fusion import JointFusion
from mmlearn.fusion.ops import JointNetwork
from mmlearn.heads import MLPHead
from mmlearn.heads.mlp import MLP

# 120 rows in batches of 32: 4 training batches an epoch, so the 5th is in epoch 2.
N_ROWS = 120
TRAIN = dict(max_epochs=3, batch_size=32, validation_fraction=None, random_state=0)


@pytest.fixture(scope="module")
def data(av_small):
    X, y = av_small
    return X.iloc[:N_ROWS].reset_index(drop=True), y[:N_ROWS]


def pixels(X):
    return np.stack([cell.ravel() for cell in X["image"]]).astype(np.float32)


# (name, estimator factory, module class whose forward trains, fit arguments)
CASES = {
    "image_cnn": (lambda: ImageCNNEncoder(width=8, depth=2, embedding_dim=16, **TRAIN),
                  ImageCNN, lambda X, y: (X["image"], y)),
    "joint_fusion": (lambda: JointFusion(
                         [("image", ImageCNNEncoder(width=8, depth=2, embedding_dim=16),
                           "image")],
                         fusion_dim=16, hidden_sizes=(16,), **TRAIN),
                     JointNetwork, lambda X, y: (X[["image"]], y)),
    "mlp_head": (lambda: MLPHead(hidden_sizes=(16,), **TRAIN), MLP,
                 lambda X, y: (pixels(X), y)),
    "autoencoder": (lambda: Autoencoder(hidden_sizes=(16,), embedding_dim=4, **TRAIN),
                    MLPAutoencoder, lambda X, y: (pixels(X), None)),
}


def fail_in_second_epoch(monkeypatch, module_class, error):
    """Make the module's training forward raise ``error`` on the first batch of epoch 2."""
    original = module_class.forward
    calls = {"n": 0}

    def forward(self, *args, **kwargs):
        if self.training:
            calls["n"] += 1
            if calls["n"] == 5:
                raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(module_class, "forward", forward)
    return calls


def assert_unfitted(estimator):
    with pytest.raises(NotFittedError):
        check_is_fitted(estimator)
    leftovers = [name for name in vars(estimator)
                 if name.endswith("_") and not name.startswith("__")]
    assert leftovers == [], f"a failed fit left {leftovers} behind"


# ---------------------------------------------------------------- 6. atomic fits
@pytest.mark.parametrize("name", CASES)
def test_failed_first_fit_leaves_nothing(name, data, monkeypatch):
    make, module_class, args = CASES[name]
    estimator = make()
    calls = fail_in_second_epoch(monkeypatch, module_class, RuntimeError("boom in epoch 2"))
    with pytest.raises(RuntimeError, match="boom in epoch 2"):
        estimator.fit(*args(*data))
    assert calls["n"] == 5
    assert_unfitted(estimator)


@pytest.mark.parametrize("name", CASES)
def test_failed_refit_leaves_estimator_unfitted(name, data, monkeypatch):
    make, module_class, args = CASES[name]
    estimator = make().fit(*args(*data))
    check_is_fitted(estimator)
    old_net = estimator.net_
    fail_in_second_epoch(monkeypatch, module_class, RuntimeError("boom in epoch 2"))
    with pytest.raises(RuntimeError, match="boom in epoch 2"):
        estimator.fit(*args(*data))
    # Never the old net beside the new inputs: nothing at all.
    assert_unfitted(estimator)
    monkeypatch.undo()
    estimator.fit(*args(*data))
    check_is_fitted(estimator)
    assert estimator.net_ is not old_net


def test_failed_refit_on_bad_input_leaves_encoder_unfitted(data):
    X, y = data
    encoder = CASES["image_cnn"][0]().fit(X["image"], y)
    bad = X["image"].copy()
    bad.iloc[7] = "not an image"
    with pytest.raises((ValueError, TypeError)):
        encoder.fit(bad, y)
    assert_unfitted(encoder)


def test_refit_with_invalid_parameter_leaves_head_unfitted(data):
    X, y = data
    head = CASES["mlp_head"][0]().fit(pixels(X), y)
    head.set_params(lr=-1.0)
    with pytest.raises(ValueError, match="lr"):
        head.fit(pixels(X), y)
    assert_unfitted(head)


# ---------------------------------------------------------------- 7. KeyboardInterrupt
@pytest.mark.parametrize("name", CASES)
def test_keyboard_interrupt_propagates_and_leaves_unfitted(name, data, monkeypatch):
    make, module_class, args = CASES[name]
    estimator = make().fit(*args(*data))
    fail_in_second_epoch(monkeypatch, module_class, KeyboardInterrupt())
    # skorch alone swallows the interrupt and returns a part-trained net.
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(*args(*data))
    assert_unfitted(estimator)


def test_keyboard_interrupt_names_the_epoch(data, monkeypatch):
    X, y = data
    head = MLPHead(hidden_sizes=(16,), **{**TRAIN, "max_epochs": 10})
    fail_in_second_epoch(monkeypatch, MLP, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt, match="after 1 of 10 epochs"):
        head.fit(pixels(X), y)
    assert_unfitted(head)


def test_early_stopping_is_not_an_interrupt(data):
    # skorch's EarlyStopping ends training by raising KeyboardInterrupt too: that one is a
    # normal end of fit.
    X, y = data
    head = MLPHead(hidden_sizes=(16,), max_epochs=200, lr=0.05, patience=1,
                   validation_fraction=0.25, random_state=0).fit(pixels(X), y)
    check_is_fitted(head)
    assert len(head.net_.history) < 200
    assert head.score(pixels(X), y) > 0.5


# ------------------------------------------------- 8. small maps, one-row last batch
def test_deep_cnn_on_8x8_images_with_last_batch_of_one_row(data):
    X, y = data
    # 4 blocks pool 8x8 down to 1x1, where batch norm sees one value per channel in a
    # batch of one row: 113 rows in batches of 16 leave exactly one row over.
    n = 113
    assert n % 16 == 1
    encoder = ImageCNNEncoder(depth=4, width=8, embedding_dim=16, max_epochs=2,
                              batch_size=16, validation_fraction=None, random_state=0)
    Z = encoder.fit(X["image"][:n], y[:n]).transform(X["image"][:n])
    assert Z.shape == (n, 16)
    assert np.isfinite(Z).all()
    assert len(encoder.net_.history) == 2


def test_joint_fusion_with_last_batch_of_one_row(data):
    X, y = data
    n = 97
    assert n % 32 == 1
    fusion = JointFusion([("image", ImageCNNEncoder(width=8, depth=4, embedding_dim=16),
                           "image")],
                         fusion_dim=16, hidden_sizes=(16,), **{**TRAIN, "max_epochs": 2})
    fused = fusion.fit_transform(X[["image"]].iloc[:n], y[:n])
    assert fused.shape == (n, 16)


def test_batch_size_one_with_batch_norm_is_a_clear_error(data):
    X, y = data
    encoder = ImageCNNEncoder(width=8, depth=4, embedding_dim=16, max_epochs=1,
                              batch_size=1, validation_fraction=None, random_state=0)
    with pytest.raises(ValueError, match=r"batch_size=1 .*batch normalisation"):
        encoder.fit(X["image"][::6], y[::6])
    assert_unfitted(encoder)


# ------------------------------------------------------------- 11. missing labels
def labels_with_none(y):
    out = y.astype(object)
    out[3] = None
    out[17] = None
    return out


def labels_with_nan(y):
    out = y.astype(float)
    out[3] = np.nan
    out[17] = np.nan
    return out


@pytest.mark.parametrize("spoil", [labels_with_none, labels_with_nan])
@pytest.mark.parametrize("name", ["image_cnn", "joint_fusion", "mlp_head"])
def test_missing_label_names_its_rows(name, spoil, data):
    make, _, args = CASES[name]
    X, y = data
    features, _ = args(X, y)
    estimator = make()
    with pytest.raises(ValueError, match=r"2 missing label.*rows \[3, 17\]"):
        estimator.fit(features, spoil(y))
    assert_unfitted(estimator)


def test_missing_label_in_series_names_its_index(data):
    X, y = data
    labels = pd.Series(labels_with_none(y), index=[f"clip{i}" for i in range(len(y))])
    with pytest.raises(ValueError, match=r"row labels \['clip3', 'clip17'\]"):
        MLPHead(**TRAIN).fit(pixels(X), labels)


def test_pandas_na_label_is_missing(data):
    X, y = data
    labels = pd.array(y, dtype="Int64")
    labels[5] = pd.NA
    with pytest.raises(ValueError, match=r"missing label.*\[5\]"):
        MLPHead(**TRAIN).fit(pixels(X), labels)
