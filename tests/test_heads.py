"""MLPHead on real fused features: accuracy, labels, reproducibility, persistence, bad input."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion
from mmlearn.heads.mlp import MLPHead

FAST = dict(hidden_sizes=(32,), max_epochs=40, lr=3e-3, random_state=0)


def fusion():
    return EarlyFusion([("image", ImagePixelEncoder(), "image"),
                        ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")])


@pytest.fixture(scope="module")
def fused(av_small):
    """Fused pixel + MFCC features of the 200-pair subset, split 70/30 (stratified)."""
    X, y = av_small
    features = fusion().fit_transform(X)
    return train_test_split(features, y, test_size=0.3, stratify=y, random_state=0)


def test_pipeline_after_early_fusion_beats_chance(av_small):
    X, y = av_small
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    pipe = Pipeline([("fusion", fusion()), ("head", MLPHead(**FAST))]).fit(X_tr, y_tr)
    # 10 balanced classes: chance is 0.1; pixels + MFCC of 140 pairs reach far above it.
    assert pipe.score(X_te, y_te) > 0.7
    head = pipe.named_steps["head"]
    assert head.n_features_in_ == 64 + 80
    np.testing.assert_array_equal(head.classes_, np.arange(10))


def test_string_labels_and_probabilities(fused):
    X_tr, X_te, y_tr, y_te = fused
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"], dtype=object)
    head = MLPHead(**FAST).fit(X_tr, names[y_tr])
    assert sorted(head.classes_.tolist()) == sorted(names.tolist())
    predicted = head.predict(X_te)
    assert set(predicted) <= set(names) and np.mean(predicted == names[y_te]) > 0.7
    proba = head.predict_proba(X_te)
    assert proba.shape == (len(X_te), 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(head.classes_[proba.argmax(axis=1)], predicted)


def test_fixed_random_state_is_reproducible_and_leaves_torch_rng_alone(fused):
    X_tr, X_te, y_tr, _ = fused
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = MLPHead(**FAST).fit(X_tr, y_tr).predict_proba(X_te)
    np.testing.assert_array_equal(torch.rand(3), expected_next)
    second = MLPHead(**FAST).fit(X_tr, y_tr).predict_proba(X_te)
    np.testing.assert_array_equal(first, second)
    other = MLPHead(**{**FAST, "random_state": 1}).fit(X_tr, y_tr).predict_proba(X_te)
    assert not np.array_equal(first, other)


def test_early_stopping_on_validation_split(fused):
    X_tr, _, y_tr, _ = fused
    stopped = MLPHead(hidden_sizes=(32,), max_epochs=300, lr=1e-2, validation_fraction=0.2,
                      patience=3, random_state=0).fit(X_tr, y_tr)
    history = stopped.net_.history
    assert "valid_loss" in history[-1] and len(history) < 300
    full = MLPHead(hidden_sizes=(), max_epochs=7, validation_fraction=None,
                   random_state=0).fit(X_tr, y_tr)
    assert len(full.net_.history) == 7 and "valid_loss" not in full.net_.history[-1]


def test_standardize_makes_feature_scale_irrelevant(fused):
    X_tr, X_te, y_tr, _ = fused
    scale = np.where(np.arange(X_tr.shape[1]) % 2 == 0, 1000.0, 1.0)
    plain = MLPHead(**FAST).fit(X_tr, y_tr)
    scaled = MLPHead(**FAST).fit(X_tr * scale, y_tr)
    varying = X_tr.std(axis=0) > 0  # constant pixels keep scale 1 either way
    np.testing.assert_allclose((scaled.scale_ / plain.scale_)[varying], scale[varying],
                               rtol=1e-3)
    agreement = np.mean(plain.predict(X_te) == scaled.predict(X_te * scale))
    assert agreement > 0.95


def test_clone_and_pickle_round_trip(fused):
    X_tr, X_te, y_tr, _ = fused
    head = MLPHead(**FAST).fit(X_tr, y_tr)
    restored = pickle.loads(pickle.dumps(head))
    np.testing.assert_array_equal(restored.predict_proba(X_te), head.predict_proba(X_te))
    fresh = clone(head)
    assert fresh.get_params() == head.get_params() and not hasattr(fresh, "net_")


def test_bad_input_messages(fused):
    X_tr, X_te, y_tr, _ = fused
    with pytest.raises(NotFittedError):
        MLPHead().predict(X_te)
    with_nan = X_tr.copy()
    with_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MLPHead(**FAST).fit(with_nan, y_tr)
    with pytest.raises(ValueError, match="y has 1 class"):
        MLPHead(**FAST).fit(X_tr, np.zeros(len(X_tr)))
    with pytest.raises(ValueError, match="hidden_sizes must be a sequence of positive ints"):
        MLPHead(hidden_sizes=(16, 0)).fit(X_tr, y_tr)
    head = MLPHead(**{**FAST, "max_epochs": 2}).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="X has 3 features, but MLPHead is expecting 144"):
        head.predict(X_te[:, :3])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        head.predict(with_nan)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_cuda_without_gpu_says_so(fused):
    X_tr, _, y_tr, _ = fused
    with pytest.raises(ValueError, match="no CUDA GPU"):
        MLPHead(device="cuda").fit(X_tr, y_tr)
