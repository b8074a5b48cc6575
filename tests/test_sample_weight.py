"""sample_weight in the deep estimators' fit, and its routing through Pipeline, EarlyFusion
and LateFusion."""

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from mmlearn.encoders import AudioMFCCEncoder, ImageCNNEncoder, ImagePixelEncoder, TextRNNEncoder
from mmlearn.fusion import EarlyFusion, JointFusion, LateFusion
from mmlearn.heads import MLPHead

HEAD = dict(hidden_sizes=(8,), max_epochs=5, lr=1e-2, validation_fraction=None,
            random_state=0)


@pytest.fixture(scope="module")
def digits(av_small):
    """The AV-digit pairs with the digit 0 as a rare class: 20 zeros against 80 others."""
    X, y = av_small
    rows = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y != 0)[:80]])
    return X.iloc[rows].reset_index(drop=True), (y[rows] == 0).astype(int)


@pytest.fixture(scope="module")
def pixels(digits):
    X, y = digits
    return ImagePixelEncoder(size=8).fit_transform(X["image"]), y


# ---------------------------------------------------------------------- deep estimators
def test_balanced_sample_weight_is_balanced_class_weight(pixels):
    X, y = pixels
    by_class = MLPHead(**HEAD, class_weight="balanced").fit(X, y)
    by_row = MLPHead(**HEAD).fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_allclose(by_row.predict_proba(X), by_class.predict_proba(X), atol=1e-5)
    # Weights change the fit.
    plain = MLPHead(**HEAD).fit(X, y)
    assert not np.allclose(plain.predict_proba(X), by_row.predict_proba(X), atol=1e-3)


def test_rows_of_weight_zero_are_not_learned(pixels):
    X, y = pixels
    weights = np.ones(len(y))
    weights[::3] = 0.0
    flipped = y.copy()
    flipped[::3] = 1 - flipped[::3]
    # Same rows, same batches (seeded): only the labels of rows that weigh nothing differ,
    # so the two fits are the same.
    head = MLPHead(**HEAD).fit(X, y, sample_weight=weights)
    other = MLPHead(**HEAD).fit(X, flipped, sample_weight=weights)
    np.testing.assert_allclose(head.predict_proba(X), other.predict_proba(X), atol=1e-6)
    unweighted = MLPHead(**HEAD).fit(X, flipped)
    assert not np.allclose(head.predict_proba(X), unweighted.predict_proba(X), atol=1e-3)


def _deep_fits(digits):
    X, y = digits
    rnn = TextRNNEncoder(token_dim=4, embedding_dim=4, hidden_size=4, min_df=1, max_epochs=1,
                         validation_fraction=None, random_state=0)
    texts = pd.Series(np.where(y == 1, "other digit", "zero"))
    joint = JointFusion([("image", ImagePixelEncoder(size=4), "image")], fusion_dim=4,
                        hidden_sizes=(), max_epochs=1, validation_fraction=None,
                        random_state=0)
    return [(MLPHead(**HEAD), ImagePixelEncoder(size=4).fit_transform(X["image"])),
            (rnn, texts), (joint, X[["image"]])]


@pytest.mark.parametrize("case", [0, 1, 2], ids=["MLPHead", "TextRNNEncoder", "JointFusion"])
def test_bad_sample_weight_is_an_error(digits, case):
    estimator, X = _deep_fits(digits)[case]
    y = digits[1]
    with pytest.raises(ValueError, match=r"sample_weight has shape \(3,\) but X has 100 rows"):
        estimator.fit(X, y, sample_weight=np.ones(3))
    negative = np.ones(len(y))
    negative[[4, 9]] = -1
    with pytest.raises(ValueError, match=r"sample_weight holds negative values at rows \[4, 9\]"):
        estimator.fit(X, y, sample_weight=negative)
    with pytest.raises(ValueError, match="sample_weight holds NaN or infinite values"):
        estimator.fit(X, y, sample_weight=np.full(len(y), np.nan))


def test_rows_missing_the_modality_keep_their_weights(digits):
    X, y = digits
    texts = pd.Series(np.where(y == 1, "other digit", "zero"), dtype=object)
    texts[[0, 50]] = None  # left out of training, with their weights
    weights = np.ones(len(y))
    weights[0] = -1  # checked against X's rows even though the row is left out
    rnn = TextRNNEncoder(token_dim=4, embedding_dim=4, hidden_size=4, min_df=1, max_epochs=1,
                         validation_fraction=None, random_state=0)
    with pytest.raises(ValueError, match="negative values at rows"):
        rnn.fit(texts, y, sample_weight=weights)
    weights[0] = 1
    assert rnn.fit(texts, y, sample_weight=weights).transform(texts).shape == (len(y), 4)


# -------------------------------------------------------------------------- routing
class Recorder(ClassifierMixin, BaseEstimator):
    """A classifier that keeps what fit received: X's row labels and the weights."""

    def fit(self, X, y, sample_weight=None):
        self.rows_ = np.asarray(X.index)
        self.sample_weight_ = sample_weight
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))


def _weights(n):
    return (np.arange(n) + 1.0) / n  # each row's weight tells which row it is


def test_late_fusion_passes_each_fold_its_rows_weights(digits):
    X, y = digits
    weights = _weights(len(y))
    fusion = LateFusion([("image", Recorder(), "image"), ("audio", Recorder(), "audio")], cv=3)
    fusion.fit_transform(X, y, sample_weight=weights)
    for est in fusion.estimators_:
        np.testing.assert_array_equal(est.sample_weight_, weights[est.rows_])
    # Per fold: patch in a recorder list to see the fold fits too.
    fitted = []

    class FoldRecorder(Recorder):
        def fit(self, X, y, sample_weight=None):
            fitted.append((np.asarray(X.index), sample_weight))
            return super().fit(X, y, sample_weight)

    LateFusion([("image", FoldRecorder(), "image")], cv=3).fit_transform(
        X, y, sample_weight=weights)
    assert len(fitted) == 4  # 3 folds + the refit on all rows
    for rows, received in fitted:
        np.testing.assert_array_equal(received, weights[rows])


def test_late_fusion_without_routing_errors(digits):
    X, y = digits
    pipe = make_pipeline(ImagePixelEncoder(size=4), LogisticRegression())
    with pytest.raises(TypeError, match=r"modality 'image' \(Pipeline\) does not take "
                                        "sample_weight"):
        LateFusion([("image", pipe, "image")], cv=3).fit(X, y, sample_weight=_weights(len(y)))
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) \['groups'\]"):
        LateFusion([("image", Recorder(), "image")], cv=3).fit(X, y, groups=np.ones(len(y)))
    with pytest.raises(ValueError, match=r"LateFusion: sample_weight has shape \(3,\) but X has "
                                         "100 rows"):
        LateFusion([("image", Recorder(), "image")], cv=3).fit(X, y, sample_weight=np.ones(3))


def test_routing_reaches_the_requesting_estimators(digits):
    X, y = digits
    weights = _weights(len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        wants = Recorder().set_fit_request(sample_weight=True)
        ignores = Recorder().set_fit_request(sample_weight=False)
        # A Pipeline inside LateFusion: its classifier asks for the weights.
        audio = make_pipeline(_AudioLevels(),
                              LogisticRegression().set_fit_request(sample_weight=True))
        fusion = LateFusion([("image", wants, "image"), ("text", ignores, "image"),
                             ("audio", audio, "audio")], cv=3)
        head = MLPHead(**HEAD).set_fit_request(sample_weight=True)
        model = Pipeline([("fusion", fusion), ("head", head)])
        model.fit(X, y, sample_weight=weights)
        image, text, _ = model[0].estimators_
        np.testing.assert_array_equal(image.sample_weight_, weights[image.rows_])
        assert text.sample_weight_ is None
        # The head got them too: the same model whose head does not ask for them differs.
        unweighted_head = MLPHead(**HEAD).set_fit_request(sample_weight=False)
        other = Pipeline([("fusion", fusion), ("head", unweighted_head)])
        other.fit(X, y, sample_weight=weights)
        assert not np.allclose(model.predict_proba(X), other.predict_proba(X), atol=1e-4)


class _AudioLevels(BaseEstimator):
    """Waveforms -> their standard deviation and peak (a stand-in encoder with no weights
    to take)."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.array([[np.std(clip), np.max(np.abs(clip))] for clip in X])


def test_pipeline_routes_weights_to_a_deep_encoder_and_head(digits):
    X, y = digits
    texts = pd.Series(np.where(y == 1, "other digit", "zero"))
    bad = np.ones(len(y))
    bad[3] = -1
    rnn = dict(token_dim=4, embedding_dim=4, hidden_size=4, min_df=1, max_epochs=1,
               validation_fraction=None, random_state=0)
    # Without routing: the step__param form of Pipeline.
    model = Pipeline([("text", TextRNNEncoder(**rnn)), ("head", MLPHead(**HEAD))])
    with pytest.raises(ValueError, match=r"negative values at rows \[3\]"):
        model.fit(texts, y, text__sample_weight=bad)
    with pytest.raises(ValueError, match=r"negative values at rows \[3\]"):
        model.fit(texts, y, head__sample_weight=bad)
    with sklearn.config_context(enable_metadata_routing=True):
        encoder = TextRNNEncoder(**rnn).set_fit_request(sample_weight=True)
        head = MLPHead(**HEAD).set_fit_request(sample_weight=False)
        model = Pipeline([("text", encoder), ("head", head)])
        with pytest.raises(ValueError, match=r"negative values at rows \[3\]"):
            model.fit(texts, y, sample_weight=bad)
        assert model.fit(texts, y, sample_weight=np.ones(len(y))).predict(texts).shape == (100,)


def test_early_fusion_without_requests_leaves_weights_to_the_head(digits):
    X, y = digits
    weights = compute_sample_weight("balanced", y)
    fusion = EarlyFusion([("image", ImagePixelEncoder(size=4), "image")])
    with sklearn.config_context(enable_metadata_routing=True):
        model = Pipeline([("fusion", fusion),
                          ("head", MLPHead(**HEAD).set_fit_request(sample_weight=True))])
        routed = model.fit(X, y, sample_weight=weights).predict_proba(X)
    direct = MLPHead(**HEAD).fit(fusion.fit_transform(X), y, sample_weight=weights)
    np.testing.assert_allclose(routed, direct.predict_proba(fusion.transform(X)), atol=1e-5)


# ------------------------------------------------------------- routing into the encoders
def _weighted_pixels():
    """Pixels standardised with the weights it is given: a step that takes sample_weight."""
    return make_pipeline(ImagePixelEncoder(size=4),
                         StandardScaler().set_fit_request(sample_weight=True))


@pytest.fixture(scope="module")
def holes(digits):
    """The digits with two images missing, and weights that are zero on a third of the rows
    (one of the missing images among them, one not)."""
    X, y = digits
    X = X.copy()
    X.loc[[3, 7], "image"] = None
    weights = np.linspace(0.5, 2.0, len(y))
    weights[::3] = 0.0
    return X, y, weights


def test_early_fusion_rows_of_weight_zero_are_rows_left_out(holes):
    X, y, weights = holes
    kept = weights > 0
    with sklearn.config_context(enable_metadata_routing=True):
        # The audio encoder takes no sample_weight: it is fitted unweighted, without error.
        fusion = EarlyFusion([("image", _weighted_pixels(), "image"),
                              ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")])
        fusion.fit(X, y, sample_weight=weights)
        subset = EarlyFusion([("image", _weighted_pixels(), "image"),
                              ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")])
        subset.fit(X[kept], y[kept], sample_weight=weights[kept])
        unweighted = EarlyFusion([("image", _weighted_pixels(), "image")]).fit(X, y)
    scaler = fusion.named_transformers_["image"][-1]
    np.testing.assert_allclose(scaler.mean_, subset.named_transformers_["image"][-1].mean_)
    np.testing.assert_allclose(scaler.scale_, subset.named_transformers_["image"][-1].scale_)
    assert not np.allclose(scaler.mean_, unweighted.named_transformers_["image"][-1].mean_)
    # Rows missing the image left with their weights; the rest weighted as given.
    present = X["image"].notna().to_numpy()
    pixels = ImagePixelEncoder(size=4).fit_transform(X["image"][present])
    np.testing.assert_allclose(scaler.mean_, np.average(pixels, axis=0,
                                                        weights=weights[present]))
    # The unweighted audio encoder learned from every row, zero weight or not.
    audio = fusion.named_transformers_["audio"]
    np.testing.assert_allclose(
        audio.transform(X["audio"]),
        AudioMFCCEncoder(sample_rate=8000).fit(X["audio"]).transform(X["audio"]))


def test_early_fusion_routes_weights_to_a_deep_encoder(digits):
    X, y = digits
    weights = compute_sample_weight("balanced", y)
    cnn = dict(size=8, grayscale=True, width=4, depth=1, embedding_dim=4, max_epochs=2,
               lr=1e-2, validation_fraction=None, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        fusion = EarlyFusion([("image", ImageCNNEncoder(**cnn).set_fit_request(
            sample_weight=True), "image")])
        fused = fusion.fit_transform(X, y, sample_weight=weights)
    direct = ImageCNNEncoder(**cnn).fit_transform(X["image"], y, sample_weight=weights)
    np.testing.assert_allclose(fused, direct, atol=1e-6)
    assert not np.allclose(fused, ImageCNNEncoder(**cnn).fit_transform(X["image"], y),
                           atol=1e-4)


def test_pipeline_routes_weights_through_early_fusion_to_encoder_and_head(holes):
    X, y, weights = holes
    kept = weights > 0

    def model():
        return Pipeline([
            ("fusion", EarlyFusion([("image", _weighted_pixels(), "image")])),
            ("head", LogisticRegression(max_iter=500).set_fit_request(sample_weight=True)),
        ])

    with sklearn.config_context(enable_metadata_routing=True):
        weighted = model().fit(X, y, sample_weight=weights)
        subset = model().fit(X[kept], y[kept], sample_weight=weights[kept])
    np.testing.assert_allclose(weighted.predict_proba(X), subset.predict_proba(X), atol=1e-4)


def test_late_fusion_rows_of_weight_zero_are_rows_left_out(holes):
    X, y, weights = holes
    kept = weights > 0

    def fusion():
        image = make_pipeline(ImagePixelEncoder(size=4),
                              StandardScaler().set_fit_request(sample_weight=True),
                              LogisticRegression(max_iter=500).set_fit_request(sample_weight=True))
        return LateFusion([("image", image, "image")], cv=3)

    with sklearn.config_context(enable_metadata_routing=True):
        weighted = fusion().fit(X, y, sample_weight=weights)
        subset = fusion().fit(X[kept], y[kept], sample_weight=weights[kept])
    image, other = weighted.estimators_[0], subset.estimators_[0]
    np.testing.assert_allclose(image[1].mean_, other[1].mean_)
    np.testing.assert_allclose(image.predict_proba(X[["image"]].dropna()["image"]),
                               other.predict_proba(X[["image"]].dropna()["image"]),
                               atol=1e-4)


def test_early_fusion_bad_sample_weight_is_an_error(holes):
    X, y, weights = holes
    with pytest.raises(ValueError, match=r"EarlyFusion got \['sample_weight'\] in fit: .*"
                                         "needs metadata routing"):
        EarlyFusion([("image", ImagePixelEncoder(size=4), "image")]).fit(
            X, y, sample_weight=weights)
    negative = weights.copy()
    negative[[5, 8]] = -1.0
    with sklearn.config_context(enable_metadata_routing=True):
        routes = [("image", _weighted_pixels(), "image")]
        with pytest.raises(ValueError, match=r"EarlyFusion: sample_weight has shape \(3,\) but X "
                                             "has 100 rows"):
            EarlyFusion(routes).fit(X, y, sample_weight=np.ones(3))
        with pytest.raises(ValueError, match=r"EarlyFusion: sample_weight holds negative "
                                             r"values at rows \[5, 8\]"):
            EarlyFusion(routes).fit(X, y, sample_weight=negative)
        # In a Pipeline too, whether or not the head takes the weights.
        model = Pipeline([("fusion", EarlyFusion(routes)),
                          ("head", LogisticRegression().set_fit_request(sample_weight=False))])
        with pytest.raises(ValueError, match=r"EarlyFusion: sample_weight holds negative"):
            model.fit(X, y, sample_weight=negative)


def test_late_fusion_negative_sample_weight_is_an_error(holes):
    X, y, weights = holes
    negative = weights.copy()
    negative[[5, 8]] = -1.0
    with pytest.raises(ValueError, match=r"LateFusion: sample_weight holds negative values "
                                         r"at rows \[5, 8\]"):
        LateFusion([("image", Recorder(), "image")], cv=3).fit(X, y, sample_weight=negative)
    with sklearn.config_context(enable_metadata_routing=True):
        # Checked even when no estimator requested the weights.
        ignores = Recorder().set_fit_request(sample_weight=False)
        with pytest.raises(ValueError, match="LateFusion: sample_weight holds NaN"):
            LateFusion([("image", ignores, "image")], cv=3).fit(
                X, y, sample_weight=np.full(len(y), np.nan))
