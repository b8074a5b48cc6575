"""imbalanced-learn's samplers between mmlearn steps, in an imblearn Pipeline."""

import numpy as np
import pytest

pytest.importorskip(
    "imblearn", reason="imbalanced-learn is not installed (pip install 'mmlearn[test]')")

from imblearn.over_sampling import RandomOverSampler  # noqa: E402
from imblearn.pipeline import Pipeline  # noqa: E402
from imblearn.under_sampling import RandomUnderSampler  # noqa: E402

from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder, TextRNNEncoder  # noqa: E402
from mmlearn.fusion import EarlyFusion  # noqa: E402
from mmlearn.heads import MLPHead  # noqa: E402

HEAD = dict(hidden_sizes=(8,), max_epochs=5, lr=1e-2, validation_fraction=None,
            random_state=0)


@pytest.fixture(scope="module")
def rare_zeros(av_small):
    """AV-digit pairs where the digit 0 is rare: 10 zeros against 90 other digits."""
    X, y = av_small
    rows = np.concatenate([np.flatnonzero(y == 0)[:10], np.flatnonzero(y != 0)[:90]])
    return X.iloc[rows].reset_index(drop=True), np.where(y[rows] == 0, "zero", "other")


def fusion():
    return EarlyFusion([("image", ImagePixelEncoder(size=8), "image"),
                        ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")])


@pytest.mark.parametrize("sampler", [RandomUnderSampler(random_state=0),
                                     RandomOverSampler(random_state=0)],
                         ids=["under", "over"])
def test_sampler_between_fusion_and_head(rare_zeros, sampler):
    X, y = rare_zeros
    model = Pipeline([("fusion", fusion()), ("sampler", sampler), ("head", MLPHead(**HEAD))])
    model.fit(X, y)
    assert model.predict(X).shape == (100,)
    assert set(model.classes_) == {"other", "zero"}
    # The head was trained on the resampled rows: the same head fitted on what the
    # sampler returns for the fused features is the pipeline's head.
    features = fusion().fit_transform(X, y)
    X_res, y_res = sampler.fit_resample(features, y)
    assert (y_res == "zero").sum() == (y_res == "other").sum()
    head = MLPHead(**HEAD).fit(X_res, y_res)
    np.testing.assert_allclose(model.predict_proba(X), head.predict_proba(fusion().fit(
        X, y).transform(X)), atol=1e-5)


def test_sampler_after_a_deep_encoder(rare_zeros):
    X, y = rare_zeros
    texts = np.where(y == "zero", "the digit zero", "another digit")
    encoder = TextRNNEncoder(token_dim=4, embedding_dim=4, hidden_size=4, min_df=1,
                             max_epochs=2, validation_fraction=None, random_state=0)
    model = Pipeline([("text", encoder), ("sampler", RandomUnderSampler(random_state=0)),
                      ("head", MLPHead(**HEAD))])
    # Samplers act in fit only: every row gets a prediction.
    assert model.fit(texts, y).predict(texts).shape == (100,)
