"""class_weight on every supervised deep estimator: the weighted loss, its effect, bad input."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import recall_score
from sklearn.model_selection import TunedThresholdClassifierCV
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight

from mmlearn._nn.training import WeightedNetClassifier, row_weights
from mmlearn.datasets import load_clothing_reviews
from mmlearn.encoders import (
    AudioCNNEncoder,
    ImageCNNEncoder,
    PretrainedImageEncoder,
    TextAttentionEncoder,
    TextRNNEncoder,
)
from mmlearn.fusion import JointFusion
from mmlearn.heads import MLPHead

HEAD = dict(hidden_sizes=(16,), max_epochs=10, lr=1e-2, batch_size=128,
            validation_fraction=None, random_state=0)


@pytest.fixture(scope="module")
def reviews():
    """1,200 clothing reviews (19 % not recommended) as 20 SVD components of their TF-IDF,
    the first 800 for training."""
    X, y = load_clothing_reviews(return_X_y=True)
    texts = X["Review Text"].fillna("").iloc[:1200]
    features = TruncatedSVD(20, random_state=0).fit_transform(
        TfidfVectorizer(min_df=2).fit_transform(texts))
    y = np.asarray(y)[:1200]
    return features[:800], y[:800], features[800:], y[800:]


# ------------------------------------------------------------------------- mechanics
def test_weighted_loss_is_hand_weighted_cross_entropy():
    net = WeightedNetClassifier(torch.nn.Linear, module__in_features=3, module__out_features=3,
                                criterion=torch.nn.CrossEntropyLoss)
    net.initialize()
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [0.0, 1.0, 3.0],
                           [1.0, -2.0, 0.0]])
    y = torch.tensor([0, 1, 2, 1])
    weights = torch.tensor([0.5, 2.0, 1.0, 0.0])
    loss = net.get_loss(logits, y, X={"input": torch.zeros(4, 3), "sample_weight": weights})
    log_p = torch.log_softmax(logits, dim=1)[torch.arange(4), y]
    assert loss.item() == pytest.approx(float(-(weights * log_p).mean()), rel=1e-6)
    # Without weights in the batch it is the plain mean cross-entropy.
    plain = net.get_loss(logits, y, X=torch.zeros(4, 3))
    assert plain.item() == pytest.approx(float(-log_p.mean()), rel=1e-6)


def test_balanced_row_weights_follow_compute_class_weight():
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
    weights = row_weights("balanced", np.array(["a", "b", "c"]), y)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y)[y]
    # Normalised to mean 1, in proportion to scikit-learn's class weights.
    np.testing.assert_allclose(weights, expected / expected.mean(), rtol=1e-6)
    dict_weights = row_weights({"c": 4.0}, np.array(["a", "b", "c"]), y)
    np.testing.assert_allclose(dict_weights / dict_weights[0], [1] * 8 + [4], rtol=1e-6)
    assert row_weights(None, np.array([0, 1, 2]), y) is None


def test_equal_class_weights_reproduce_the_unweighted_fit(reviews):
    X_tr, y_tr, X_te, _ = reviews
    plain = MLPHead(**HEAD).fit(X_tr, y_tr).predict_proba(X_te)
    equal = MLPHead(**HEAD, class_weight={0: 3.0, 1: 3.0}).fit(X_tr, y_tr).predict_proba(X_te)
    np.testing.assert_allclose(equal, plain, atol=1e-4)


# ------------------------------------------------------------------------------ effect
def test_balanced_weights_raise_minority_recall(reviews):
    X_tr, y_tr, X_te, y_te = reviews
    assert np.mean(y_tr == 0) < 0.25  # "not recommended" is the minority class
    recall = {}
    for class_weight in (None, "balanced"):
        head = MLPHead(**HEAD, class_weight=class_weight).fit(X_tr, y_tr)
        recall[class_weight] = recall_score(y_te, head.predict(X_te), pos_label=0)
    assert recall["balanced"] > recall[None] + 0.1


def test_string_labels_and_a_dict_of_them(reviews):
    X_tr, y_tr, X_te, y_te = reviews
    labels = np.where(y_tr == 1, "yes", "no")
    weighted = MLPHead(**HEAD, class_weight={"no": 5.0}).fit(X_tr, labels)
    plain = MLPHead(**HEAD).fit(X_tr, labels)
    # Weighing "no" up makes the head say "no" more often.
    assert (weighted.predict(X_te) == "no").sum() > (plain.predict(X_te) == "no").sum()


def test_scikit_learn_tunes_a_weighted_heads_threshold(reviews):
    # docs/imbalanced.md tunes the decision threshold of weighted heads for macro-F1 with
    # TunedThresholdClassifierCV: it reads classes_ and predict_proba's column order.
    X_tr, y_tr, X_te, _ = reviews
    labels = np.where(y_tr == 1, "yes", "no")
    tuned = TunedThresholdClassifierCV(MLPHead(**HEAD, class_weight="balanced"),
                                       scoring="f1_macro", cv=0.25, refit=False,
                                       random_state=0).fit(X_tr, labels)
    assert 0.0 < tuned.best_threshold_ < 1.0
    head = tuned.estimator_
    assert list(head.classes_) == ["no", "yes"]
    says_yes = head.predict_proba(X_te)[:, 1] >= tuned.best_threshold_
    np.testing.assert_array_equal(tuned.predict(X_te), np.where(says_yes, "yes", "no"))
    # The tuned threshold is not the default one, so it changes some answers.
    assert (tuned.predict(X_te) != head.predict(X_te)).any()


# ------------------------------------------------------------------ every estimator
IMAGES = np.random.RandomState(0).rand(12, 8, 8)
CLIPS = np.random.RandomState(0).randn(12, 800)
TEXTS = ["a good dress", "too small", "lovely fit", "returned it", "great colour",
         "bad seams"] * 2
LABELS = np.array([1, 0] * 6)


def _fits():
    """(estimator factory, X) for every supervised deep estimator, tiny and fast."""
    small = dict(max_epochs=1, validation_fraction=None, random_state=0)
    text = dict(token_dim=4, embedding_dim=4, min_df=1, **small)
    return [
        (lambda cw: ImageCNNEncoder(width=2, depth=1, embedding_dim=4, class_weight=cw,
                                    **small), IMAGES),
        (lambda cw: AudioCNNEncoder(sample_rate=8000, n_fft=64, n_mels=4, width=2, depth=1,
                                    embedding_dim=4, class_weight=cw, **small), CLIPS),
        (lambda cw: TextRNNEncoder(hidden_size=4, class_weight=cw, **text), TEXTS),
        (lambda cw: TextAttentionEncoder(n_heads=1, num_layers=1, feedforward_dim=4,
                                         class_weight=cw, **text), TEXTS),
        (lambda cw: PretrainedImageEncoder(size=8, trainable_layers=1, class_weight=cw,
                                           **small), IMAGES),
        (lambda cw: MLPHead(hidden_sizes=(4,), class_weight=cw, **small),
         IMAGES.reshape(12, -1)),
        (lambda cw: JointFusion([("all", StandardScaler(), slice(0, None))], fusion_dim=4,
                                hidden_sizes=(), class_weight=cw, **small),
         IMAGES.reshape(12, -1)),
    ]


FITS = _fits()
IDS = ["ImageCNNEncoder", "AudioCNNEncoder", "TextRNNEncoder", "TextAttentionEncoder",
       "PretrainedImageEncoder", "MLPHead", "JointFusion"]


@pytest.mark.parametrize("make, X", FITS, ids=IDS)
def test_every_deep_estimator_trains_with_balanced_weights(make, X):
    estimator = make("balanced")
    assert estimator.get_params()["class_weight"] == "balanced"
    estimator.fit(X, LABELS)
    assert isinstance(estimator.net_, WeightedNetClassifier)
    assert make(None).fit(X, LABELS).net_.__class__ is not WeightedNetClassifier


@pytest.mark.parametrize("make, X", FITS, ids=IDS)
def test_dict_naming_an_unknown_label_is_an_error(make, X):
    with pytest.raises(ValueError, match=r"class_weight names label\(s\) \[7\] that are "
                                         r"not in y"):
        make({1: 2.0, 7: 1.0}).fit(X, LABELS)


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf"), "heavy"])
def test_bad_weight_in_the_dict_is_an_error(weight):
    X = IMAGES.reshape(12, -1)
    with pytest.raises(ValueError, match=r"class_weight\[1\] must be a finite number >= 0"):
        MLPHead(hidden_sizes=(4,), max_epochs=1, class_weight={1: weight}).fit(X, LABELS)


def test_unknown_class_weight_string_is_a_parameter_error():
    with pytest.raises(ValueError, match="class_weight"):
        MLPHead(max_epochs=1, class_weight="balance").fit(IMAGES.reshape(12, -1), LABELS)


def test_all_zero_weights_are_an_error():
    with pytest.raises(ValueError, match="every training row has weight zero"):
        MLPHead(max_epochs=1, class_weight={0: 0, 1: 0}).fit(IMAGES.reshape(12, -1), LABELS)
