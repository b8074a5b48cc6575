"""JointFusion on real AV-digits: every fusion op, pipelines, missing modalities, bad input."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mmlearn.encoders import (
    AudioCNNEncoder,
    AudioMFCCEncoder,
    ImageCNNEncoder,
    ImagePixelEncoder,
    TextAttentionEncoder,
    TextRNNEncoder,
)
from mmlearn.fusion import JointFusion
from mmlearn.fusion.ops import FUSION_OPS, drop_modalities, make_fusion
from mmlearn.utils._sklearn_compat import InvalidParameterError

IMAGE = dict(width=8, depth=2, embedding_dim=16)
# SpecAugment costs more than the tiny network it feeds; these tests are about the mechanics.
AUDIO = dict(sample_rate=8000, n_mels=16, width=8, depth=2, embedding_dim=16, augment=False)
FAST = dict(fusion_dim=16, hidden_sizes=(32,), max_epochs=8, lr=3e-3, batch_size=16,
            validation_fraction=None, random_state=0)


def av_branches():
    return [("image", ImageCNNEncoder(**IMAGE), "image"),
            ("audio", AudioCNNEncoder(**AUDIO), "audio")]


def mfcc_branches():
    """A deep image branch and an MLP branch over MFCC statistics: quick to train."""
    return [("image", ImageCNNEncoder(**IMAGE), "image"),
            ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")]


def image_branches():
    """Two cheap branches on the image column: a CNN and an MLP over the raw pixels."""
    return [("cnn", ImageCNNEncoder(width=4, depth=1, embedding_dim=8), "image"),
            ("pixels", ImagePixelEncoder(), "image")]


@pytest.fixture(scope="module")
def split(av_small):
    X, y = av_small
    train = np.arange(len(y)) % 4 != 0
    return X[train], y[train], X[~train], y[~train]


@pytest.fixture(scope="module")
def fitted(split):
    X_train, y_train, _, _ = split
    return JointFusion(av_branches(), **FAST).fit(X_train, y_train)


def with_gaps(X, rate, columns, seed):
    """A copy of X where each of ``columns`` is None in a random ``rate`` of the rows."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    for column in columns:
        X.loc[rng.random(len(X)) < rate, column] = None
    return X


# ------------------------------------------------------------------------ learning

def test_concat_learns_digits_as_classifier_and_transformer(fitted, split):
    _, _, X_test, y_test = split
    assert fitted.score(X_test, y_test) > 0.5  # chance is 0.1
    fused = fitted.transform(X_test)
    assert fused.shape == (len(y_test), 2 * FAST["fusion_dim"]) and fused.dtype == np.float32
    proba = fitted.predict_proba(X_test)
    assert proba.dtype == np.float32 and proba.shape == (len(y_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(fitted.predict(X_test), fitted.classes_[proba.argmax(axis=1)])
    assert fitted.get_feature_names_out()[:2].tolist() == ["jointfusion0", "jointfusion1"]
    assert fitted.feature_names_in_.tolist() == ["image", "audio"]
    assert [b.name for b in fitted.branches_] == ["image", "audio"]
    assert fitted.branches_[0].input_.image_size_ == (8, 8)


@pytest.mark.parametrize("fusion_op", FUSION_OPS)
def test_every_fusion_op_learns_with_missing_modalities(fusion_op, split):
    """30% of each modality missing in training, 50% of the audio at test: never a crash."""
    X_train, y_train, X_test, y_test = split
    gappy = with_gaps(X_train, 0.3, ["image", "audio"], seed=1)
    model = JointFusion(mfcc_branches(), fusion_op=fusion_op, **FAST).fit(gappy, y_train)
    assert model.score(X_test, y_test) > 0.35, fusion_op  # chance is 0.1
    half_audio = with_gaps(X_test, 0.5, ["audio"], seed=2)
    assert model.score(half_audio, y_test) > 0.35, fusion_op
    nothing = X_test.iloc[:3].copy()
    nothing.loc[:, ["image", "audio"]] = None
    nothing.loc[nothing.index[1], "image"] = X_test["image"].iloc[1]
    fused = model.transform(nothing)
    assert np.isfinite(fused).all()
    assert set(model.predict(nothing)) <= set(model.classes_)


def test_step_before_svc_matches_the_fitted_estimator(fitted, split):
    X_train, y_train, X_test, y_test = split
    pipe = make_pipeline(JointFusion(av_branches(), **FAST), StandardScaler(), SVC())
    pipe.fit(X_train, y_train)
    # Same parameters and seed: the pipeline's step is the very network of `fitted`.
    np.testing.assert_array_equal(pipe[0].transform(X_test), fitted.transform(X_test))
    assert pipe.score(X_test, y_test) > 0.5


def test_grid_search_over_fusion_op_as_final_step(split):
    X_train, y_train, X_test, _ = split
    pipe = Pipeline([("fusion", JointFusion(image_branches(), **{**FAST, "max_epochs": 3}))])
    grid = {"fusion__fusion_op": ["concat", "gated"], "fusion__cnn__width": [4]}
    search = GridSearchCV(pipe, grid, cv=2).fit(X_train, y_train)
    assert len(search.cv_results_["params"]) == 2
    assert search.best_estimator_["fusion"].fusion_op in ("concat", "gated")
    assert search.predict(X_test).shape == (len(X_test),)


def test_nested_params_and_routes():
    joint = JointFusion(av_branches(), fusion_op="sum")
    assert joint.get_params()["image__width"] == IMAGE["width"]
    joint.set_params(image__width=4, audio__n_mels=8)
    assert joint.encoders[0][1].width == 4 and joint.encoders[1][1].n_mels == 8
    assert [name for name, _, _ in joint.get_routes()] == ["image", "audio"]


# ------------------------------------------------------------- persistence, seeding

def test_clone_pickle_joblib_round_trip(fitted, split, tmp_path):
    _, _, X_test, _ = split
    expected, labels = fitted.transform(X_test), fitted.predict(X_test)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X_test), expected)
    np.testing.assert_array_equal(restored.predict(X_test), labels)
    joblib.dump(fitted, tmp_path / "joint.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "joint.joblib").predict(X_test), labels)
    fresh = clone(fitted)
    assert not hasattr(fresh, "net_") and not hasattr(fresh, "branches_")
    assert fresh.get_params()["fusion_op"] == "concat"


def test_same_seed_same_model_and_global_rng_untouched(split):
    X_train, y_train, X_test, _ = split
    kw = {**FAST, "max_epochs": 2, "fusion_op": "attention", "validation_fraction": 0.2}
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = JointFusion(image_branches(), **kw).fit(X_train, y_train)
    after = torch.rand(1)
    assert before == after  # fitting did not advance the caller's torch RNG
    a = first.transform(X_test)
    second = JointFusion(image_branches(), **kw)
    # fit_transform reuses the converted training inputs; the result is transform's.
    np.testing.assert_allclose(second.fit_transform(X_train, y_train),
                               first.transform(X_train), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(second.transform(X_test), a)
    c = JointFusion(image_branches(), **{**kw, "random_state": 1}).fit(X_train, y_train)
    assert not np.allclose(c.transform(X_test), a)


def test_set_output_pandas(fitted, split):
    _, _, X_test, _ = split
    model = pickle.loads(pickle.dumps(fitted)).set_output(transform="pandas")
    fused = model.transform(X_test)
    assert isinstance(fused, pd.DataFrame) and fused.columns[0] == "jointfusion0"
    assert fused.index.equals(X_test.index)


# ------------------------------------------------------------- other kinds of branch

@pytest.fixture(scope="module")
def synthetic():
    """Text, numeric and a text-free numeric column whose signal is the label."""
    rng = np.random.default_rng(0)
    y = np.repeat(["cat", "dog", "owl"], 30)
    words = {"cat": "meow purr", "dog": "woof bark", "owl": "hoot night"}
    X = pd.DataFrame({
        "text": [f"{words[label]} {rng.choice(['a', 'the'])}" for label in y],
        "x1": (y == "dog") * 2.0 + rng.normal(0, 0.3, y.size),
        "x2": rng.normal(0, 1, y.size),
    })
    return X, y


@pytest.mark.parametrize("text_encoder", [
    TextRNNEncoder(hidden_size=8, token_dim=8, embedding_dim=8, min_df=1),
    TextAttentionEncoder(n_heads=2, num_layers=1, feedforward_dim=16, token_dim=8,
                         embedding_dim=8, min_df=1),
], ids=["rnn", "attention"])
def test_text_and_tabular_mlp_branches_with_missing_cells(synthetic, text_encoder):
    X, y = synthetic
    X = X.copy()
    X.loc[X.index[::4], "text"] = None
    X.loc[X.index[1::4], ["x1", "x2"]] = np.nan  # the tabular modality missing
    X.loc[X.index[2], "x2"] = np.nan  # one cell only: imputed, not a missing modality
    model = JointFusion([("text", text_encoder, "text"), ("tab", StandardScaler(), ["x1", "x2"])],
                        fusion_op="gated", **{**FAST, "max_epochs": 30, "lr": 1e-2})
    model.fit(X, y)
    assert set(model.classes_) == {"cat", "dog", "owl"}
    assert model.score(X, y) > 0.8
    no_text = X.assign(text=None)
    assert np.isfinite(model.transform(no_text)).all()  # every text row a placeholder
    assert model.predict(no_text).shape == (len(y),)


def test_passthrough_and_sparse_tfidf_branches(synthetic):
    X, y = synthetic
    model = JointFusion([("words", TfidfVectorizer(), "text"), ("num", "passthrough", ["x1"])],
                        fusion_op="tensor", **{**FAST, "max_epochs": 30, "lr": 1e-2})
    assert model.fit(X, y).score(X, y) > 0.9
    assert model.branches_[1].estimator_ == "passthrough"


# ------------------------------------------------------------------- fusion modules

@pytest.mark.parametrize("fusion_op", FUSION_OPS)
def test_fusion_ops_ignore_absent_modalities(fusion_op):
    torch.manual_seed(0)
    op = make_fusion(fusion_op, 3, 8, n_heads=2, dropout=0.0, rank=3).eval()
    z = torch.randn(5, 3, 8)
    present = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 0, 0]]).bool()
    noisy = torch.where(present.unsqueeze(-1), z, torch.randn(5, 3, 8) * 100)
    with torch.no_grad():
        out, out_noisy = op(z, present), op(noisy, present)
    assert out.shape == (5, op.out_dim) and torch.isfinite(out).all()
    torch.testing.assert_close(out, out_noisy)  # what an absent slot holds never matters


def test_modality_dropout_never_empties_a_row():
    torch.manual_seed(0)
    present = torch.rand(2000, 3) < 0.7
    kept = drop_modalities(present, 0.5)
    assert not (kept & ~present).any()
    assert (kept.any(dim=1) == present.any(dim=1)).all()
    assert 0.4 < kept.sum() / present.sum() < 0.75
    assert drop_modalities(present, 0.0) is present


# ------------------------------------------------------------------------ bad input

def test_bad_input(split):
    X_train, y_train, X_test, _ = split
    small = {**FAST, "max_epochs": 1}
    with pytest.raises(InvalidParameterError, match="fusion_op"):
        JointFusion(av_branches(), fusion_op="mean").fit(X_train, y_train)
    with pytest.raises(ValueError, match="fusion_dim=10 must be divisible by n_heads=4"):
        JointFusion(av_branches(), fusion_op="attention", fusion_dim=10).fit(X_train, y_train)
    with pytest.raises(NotFittedError):
        JointFusion(av_branches()).transform(X_test)
    with pytest.raises(ValueError, match="y has 1 class"):
        JointFusion(av_branches(), **small).fit(X_train, np.zeros(len(y_train)))
    with pytest.raises(ValueError, match="requires y to be passed"):
        JointFusion(av_branches(), **small).fit(X_train)
    with pytest.raises(ValueError, match="y has 3 rows but X has"):
        JointFusion(av_branches(), **small).fit(X_train, [0, 1, 2])
    with pytest.raises(ValueError, match="X has 0 rows"):
        JointFusion(av_branches(), **small).fit(X_train.iloc[:0], y_train[:0])
    renamed = [("image", ImageCNNEncoder(), "image"), ("audio", AudioCNNEncoder(), "sound")]
    with pytest.raises(ValueError, match=r"modality 'audio' uses column\(s\) \['sound'\] not "
                                         r"found in X; X has columns \['image', 'audio'\]"):
        JointFusion(renamed, **small).fit(X_train, y_train)
    no_audio = X_train.assign(audio=None)
    with pytest.raises(ValueError, match="branch 'audio' \\(column 'audio'\\): the modality is "
                                         "missing in every row"):
        JointFusion(av_branches(), **small).fit(no_audio, y_train)
    with pytest.raises(ValueError, match="branch 'x' .*image encoder reads one column"):
        JointFusion([("x", ImageCNNEncoder(), ["image", "audio"])], **small).fit(X_train, y_train)


@pytest.mark.parametrize(("encoder", "column", "holds"), [
    (ImageCNNEncoder(), "audio", "1-D arrays .*like audio waveforms"),
    (AudioCNNEncoder(sample_rate=8000), "image", "2-D arrays .*like images"),
    (TextRNNEncoder(), "image", "2-D arrays"),
    (ImageCNNEncoder(), "words", "strings that are not existing files"),
])
def test_branch_given_a_column_of_the_wrong_kind(split, encoder, column, holds):
    X_train, y_train, _, _ = split
    X = X_train.assign(words="hello")
    name = type(encoder).__name__
    with pytest.raises(ValueError, match=f"branch 'wrong' has {name}, an? [a-z]+ encoder, but its "
                                         f"column '{column}' holds {holds}"):
        JointFusion([("wrong", encoder, column)], **FAST).fit(X, y_train)


def test_predict_input_checked_against_fit(fitted, split):
    _, _, X_test, _ = split
    with pytest.raises(ValueError, match="modality 'audio' uses column"):
        fitted.predict(X_test[["image"]])
    with pytest.raises(ValueError, match="branch 'image'.*holds 1-D arrays"):
        fitted.predict(X_test.assign(image=X_test["audio"]))


def test_tabular_branch_errors_name_the_branch(split):
    X_train, y_train, _, _ = split
    with pytest.raises(ValueError, match="JointFusion: branch 'tab' \\(column 'image'\\): "):
        JointFusion([("tab", StandardScaler(), ["image"])], **FAST).fit(X_train, y_train)
    with pytest.raises(ValueError, match="must be an estimator or 'passthrough', got 'drop'"):
        JointFusion([("tab", "drop", ["image"])], **FAST).fit(X_train, y_train)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_a_clear_error(split):
    X_train, y_train, _, _ = split
    with pytest.raises(ValueError, match="device='cuda' but torch finds no CUDA GPU"):
        JointFusion(av_branches(), device="cuda").fit(X_train, y_train)


def test_missing_raise_names_the_branch_and_rows(fitted, split):
    """missing="raise" refuses rows without a modality, in fit and at prediction."""
    X_train, y_train, X_test, _ = split
    gappy = X_train.copy()
    gappy.iloc[[3, 7], gappy.columns.get_loc("audio")] = None
    strict = JointFusion(mfcc_branches(), missing="raise", **{**FAST, "max_epochs": 1})
    with pytest.raises(ValueError, match=r"branch 'audio' \(column 'audio'\): the modality is "
                                         r"missing in 2 rows \(first: \[3, 7\]\)"):
        strict.fit(gappy, y_train)
    strict.fit(X_train, y_train)
    gappy_test = X_test.copy()
    gappy_test.iloc[[0], gappy_test.columns.get_loc("image")] = None
    with pytest.raises(ValueError, match="branch 'image'.*missing in 1 rows"):
        strict.predict(gappy_test)
    # The default imputes: the same rows are predicted.
    assert fitted.predict(gappy_test).shape == (len(gappy_test),)
