"""VotingHead: voting rules on tiny blocks, then after LateFusion on real AV-digit pairs."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import LateFusion
from mmlearn.heads import VotingHead
from mmlearn.utils._sklearn_compat import InvalidParameterError

# Three modalities x classes (a, b, c); row 2's second block and all of row 3 express no
# preference (what LateFusion gives a missing modality).
BLOCKS = np.array([
    [0.6, 0.3, 0.1, 0.2, 0.5, 0.3, 0.1, 0.5, 0.4],
    [0.1, 0.1, 0.8, 0.7, 0.2, 0.1, 0.6, 0.3, 0.1],
    [0.5, 0.4, 0.1, 1 / 3, 1 / 3, 1 / 3, 0.2, 0.2, 0.6],
    [1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3],
])
LABELS = ["a", "b", "c", "a"]
MFCC = [f"mfcc{i}" for i in range(80)]


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # OpenBLAS threads contending for a loaded 2-core runner slow small fits ~30x.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def test_soft_voting_is_the_mean_of_the_blocks_with_a_preference():
    head = VotingHead().fit(BLOCKS, LABELS)
    assert head.n_blocks_ == 3 and list(head.classes_) == ["a", "b", "c"]
    proba = head.predict_proba(BLOCKS)
    np.testing.assert_allclose(proba[0], [0.3, 1.3 / 3, 0.8 / 3])
    np.testing.assert_allclose(proba[2], [0.35, 0.3, 0.35])  # the flat block left out
    np.testing.assert_allclose(proba[3], [1 / 3] * 3)  # no preference anywhere: uniform
    assert head.predict(BLOCKS).tolist() == ["b", "a", "a", "a"]  # ties: first class


def test_hard_voting_counts_each_blocks_winner():
    head = VotingHead(voting="hard").fit(BLOCKS, LABELS)
    proba = head.predict_proba(BLOCKS)
    np.testing.assert_allclose(proba[0], [1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(proba[1], [2 / 3, 0, 1 / 3])
    np.testing.assert_allclose(proba[2], [0.5, 0, 0.5])
    np.testing.assert_allclose(proba[3], [1 / 3] * 3)
    assert head.predict(BLOCKS).tolist() == ["b", "a", "a", "a"]


def test_weights_per_block():
    soft = VotingHead(weights=[2, 1, 1]).fit(BLOCKS, LABELS)
    np.testing.assert_allclose(soft.predict_proba(BLOCKS)[0], [1.5 / 4, 1.6 / 4, 0.9 / 4])
    np.testing.assert_allclose(soft.predict_proba(BLOCKS)[2], [1.2 / 3, 1.0 / 3, 0.8 / 3])
    hard = VotingHead(voting="hard", weights=[0, 1, 3]).fit(BLOCKS, LABELS)
    assert hard.predict(BLOCKS).tolist() == ["b", "a", "c", "a"]
    # A zero weight silences a block: here only the first block decides.
    only_first = VotingHead(weights=[1, 0, 0]).fit(BLOCKS, LABELS)
    np.testing.assert_allclose(only_first.predict_proba(BLOCKS), [
        [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1], [1 / 3, 1 / 3, 1 / 3]])


def test_binary_blocks_and_pandas_input():
    X = pd.DataFrame([[0.9, 0.1, 0.4, 0.6], [0.2, 0.8, 0.5, 0.5]],
                     columns=["image__proba_no", "image__proba_yes",
                              "audio__proba_no", "audio__proba_yes"])
    head = VotingHead().fit(X, ["no", "yes"])
    assert head.n_blocks_ == 2 and head.feature_names_in_[0] == "image__proba_no"
    np.testing.assert_allclose(head.predict_proba(X), [[0.65, 0.35], [0.2, 0.8]])


def test_bad_input():
    with pytest.raises(ValueError, match="X has 8 feature\\(s\\), not a whole number of blocks of "
                                         "one column per class \\(3 classes\\)"):
        VotingHead().fit(BLOCKS[:, :8], LABELS)
    with pytest.raises(ValueError, match="weights has 2 values but X has 3 blocks"):
        VotingHead(weights=[1, 2]).fit(BLOCKS, LABELS)
    with pytest.raises(ValueError, match="non-negative and not all zero; got \\[1.0, -1.0, 0.0"):
        VotingHead(weights=[1, -1, 0]).fit(BLOCKS, LABELS)
    with pytest.raises(ValueError, match="not all zero"):
        VotingHead(weights=[0, 0, 0]).fit(BLOCKS, LABELS)
    with pytest.raises(ValueError, match="at least 2 classes"):
        VotingHead().fit(BLOCKS, ["a"] * 4)
    with pytest.raises(InvalidParameterError, match="'voting' parameter"):
        VotingHead(voting="majority").fit(BLOCKS, LABELS)
    with pytest.raises(NotFittedError):
        VotingHead().predict(BLOCKS)
    head = VotingHead().fit(BLOCKS, LABELS)
    with pytest.raises(ValueError, match="X has 6 features, but VotingHead is expecting 9"):
        head.predict(BLOCKS[:, :6])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        head.predict(np.full((1, 9), np.nan))


@pytest.fixture(scope="module")
def av_split(av_small):
    """Image cells + MFCC statistics of the 200 pairs, split 70/30 (stratified)."""
    X, y = av_small
    mfcc = AudioMFCCEncoder(sample_rate=8000).fit_transform(X["audio"])
    X = pd.concat([X[["image"]], pd.DataFrame(mfcc, columns=MFCC)], axis=1)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def late_fusion():
    return LateFusion([
        ("image", make_pipeline(ImagePixelEncoder(), LogisticRegression(max_iter=1000)),
         "image"),
        ("audio", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), MFCC),
    ], cv=3)


@pytest.fixture(scope="module")
def voting_model(av_split):
    X_tr, _, y_tr, _ = av_split
    return Pipeline([("fusion", late_fusion()), ("head", VotingHead())]).fit(X_tr, y_tr)


def test_voting_after_late_fusion_on_real_pairs(av_split, voting_model):
    X_tr, X_te, y_tr, y_te = av_split
    assert voting_model.score(X_te, y_te) > 0.9
    blocks = voting_model.named_steps["fusion"].transform(X_te)
    # Soft voting over two probability blocks is their mean.
    np.testing.assert_allclose(voting_model.predict_proba(X_te),
                               (blocks[:, :10] + blocks[:, 10:]) / 2)
    hard = clone(voting_model).set_params(head__voting="hard").fit(X_tr, y_tr)
    assert hard.score(X_te, y_te) > 0.85


def test_rows_missing_a_modality_are_decided_by_the_others(av_split, voting_model):
    _, X_te, _, y_te = av_split
    X_te = X_te.copy()
    X_te.loc[X_te.index[::2], MFCC] = np.nan
    pred = voting_model.predict(X_te)
    image = voting_model.named_steps["fusion"].named_estimators_["image"]
    np.testing.assert_array_equal(pred[::2], image.predict(X_te["image"].iloc[::2]))
    assert (pred == y_te).mean() > 0.85
    X_te["image"] = None  # no modality left: uniform, first class
    np.testing.assert_allclose(voting_model.predict_proba(X_te)[::2], 0.1)


def test_clone_and_pickle(voting_model, av_split):
    _, X_te, _, _ = av_split
    again = pickle.loads(pickle.dumps(voting_model))
    np.testing.assert_array_equal(again.predict_proba(X_te), voting_model.predict_proba(X_te))
    head = voting_model.named_steps["head"]
    assert clone(head).get_params() == head.get_params()
