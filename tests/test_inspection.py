"""mmlearn.inspection: modality importance and ablation, on AV-digits and with a spy model."""

import doctest

import joblib
import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch

from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion
from mmlearn.inspection import (
    modality_ablation,
    modality_importance,
    plot_modality_importance,
)
from mmlearn.inspection._ablation import set_missing
from mmlearn.inspection._modalities import resolve_modalities


def av_pipeline():
    fusion = EarlyFusion([("image", ImagePixelEncoder(), "image"),
                          ("audio", AudioMFCCEncoder(sample_rate=8000), "audio"),
                          ("noise", StandardScaler(), ["noise"])])
    return Pipeline([("fusion", fusion), ("head", LogisticRegression(max_iter=1000))])


@pytest.fixture(scope="module")
def av_split(av_small):
    """Train on the even rows of av_small, inspect on the odd ones (10 per class each).

    A column of pure noise joins image and audio: a modality the head cannot use.
    """
    X, y = av_small
    X = X.assign(noise=np.random.RandomState(0).randn(len(X)))
    return X.iloc[::2], y[::2], X.iloc[1::2], y[1::2]


@pytest.fixture(scope="module")
def av_fitted(av_split):
    X_train, y_train, _, _ = av_split
    return av_pipeline().fit(X_train, y_train)


def snapshot(X):
    """Each column's cells (and, for object columns, their identity), to prove X was left alone."""
    return X.index.copy(), X.dtypes.copy(), [
        [(id(c) if X[col].dtype == object else None,
          np.array(c, copy=True) if isinstance(c, np.ndarray) else c)
         for c in X[col]]
        for col in X.columns
    ]


def assert_unchanged(X, before):
    index, dtypes, columns = before
    assert X.index.equals(index) and X.dtypes.equals(dtypes)
    for col, cells in zip(X.columns, columns, strict=True):
        for cell, (ident, value) in zip(X[col], cells, strict=True):
            assert ident is None or id(cell) == ident
            np.testing.assert_equal(cell, value)  # NaN equals NaN here


# ------------------------------------------------------------------ real data: AV-digits

def test_importance_on_av_digits(av_split, av_fitted):
    _, _, X, y = av_split
    before = snapshot(X)
    result = modality_importance(av_fitted, X, y, n_repeats=2, random_state=0)
    # Read off the pipeline's EarlyFusion routes.
    assert result.modalities == ["image", "audio", "noise"]
    assert result.columns == {"image": ["image"], "audio": ["audio"], "noise": ["noise"]}
    assert result.importances.shape == (3, 2)
    assert result.importances_mean.shape == result.importances_std.shape == (3,)
    assert np.isfinite(result.importances).all()
    np.testing.assert_allclose(result.importances_mean, result.importances.mean(axis=1))
    assert result.baseline_score == pytest.approx(av_fitted.score(X, y))
    # Image and audio both carry the digit: shuffling either costs clearly; noise does not.
    assert (result.importances_mean[:2] > 0.1).all()
    assert abs(result.importances_mean[2]) < 0.05
    assert_unchanged(X, before)
    # Same seed, same numbers, whether modalities are scored one after the other or in
    # parallel (threads here: loky's process start-up costs more than this whole test).
    # Every modality and every n_repeats draws the same sequence of shuffles, so one
    # repeat over two of the modalities reproduces the first column of their rows.
    with joblib.parallel_backend("threading"):
        again = modality_importance(av_fitted, X, y, n_repeats=1, random_state=0, n_jobs=2,
                                    modalities={"sound": "audio", "noise": ["noise"]})
    np.testing.assert_array_equal(again.importances, result.importances[1:, :1])


def test_ablation_on_av_digits(av_split, av_fitted):
    _, _, X, y = av_split
    before = snapshot(X)
    multi = modality_ablation(av_fitted, X, y, scoring={"acc": "accuracy", "f1": "f1_macro"})
    assert set(multi) == {"acc", "f1"}
    result = multi["acc"]
    assert result.modalities == ["image", "audio", "noise"]
    assert result.baseline_score == pytest.approx(av_fitted.score(X, y))
    np.testing.assert_allclose(result.drops, result.baseline_score - result.scores)
    # Without the image (imputed by EarlyFusion) the model leans on audio alone, and loses.
    assert result.scores[0] < result.baseline_score - 0.05
    assert abs(result.drops[2]) < 0.05
    assert multi["f1"].drops.shape == (3,) and np.isfinite(multi["f1"].drops).all()
    assert_unchanged(X, before)


# ------------------------------------------------------------- mechanics, with cheap models

class ScoreSpy(BaseEstimator):
    """Scores 0 and keeps every X it was asked to score."""

    def fit(self, X, y=None):
        self.seen_ = []
        return self

    def score(self, X, y=None):
        self.seen_.append(X.copy())
        return 0.0


def object_column(cells):
    column = np.empty(len(cells), dtype=object)
    column[:] = cells
    return column


@pytest.fixture
def cells_frame():
    rng = np.random.RandomState(0)
    n = 12
    return pd.DataFrame(
        {
            "image": object_column([rng.rand(3, 3) for _ in range(n)]),
            "image_id": np.arange(n) * 10,               # travels with "image"
            "audio": object_column([rng.randn(5 + k) for k in range(n)]),
            "text": [None if k == 2 else f"text {k}" for k in range(n)],
        },
        index=[f"row{k}" for k in range(n)],
    )


def test_a_modality_columns_are_permuted_together(cells_frame):
    X = cells_frame
    before = snapshot(X)
    spy = ScoreSpy().fit(X)
    modalities = {"vision": ["image", "image_id"], "sound": "audio", "text": ["text"]}
    result = modality_importance(spy, X, None, n_repeats=4, random_state=0,
                                 modalities=modalities)
    assert result.modalities == ["vision", "sound", "text"]
    assert len(spy.seen_) == 1 + 3 * 4
    row_of = {id(cell): k for k, cell in enumerate(X["image"])}
    vision = spy.seen_[1:5]
    for frame in vision:
        assert frame.index.equals(X.index) and list(frame.columns) == list(X.columns)
        assert (frame.dtypes == X.dtypes).all()
        order = np.array([row_of[id(cell)] for cell in frame["image"]])
        assert sorted(order) == list(range(len(X)))
        # The same permutation moved the image and its id; the other modalities stayed.
        np.testing.assert_array_equal(frame["image_id"].to_numpy(), order * 10)
        assert all(a is b for a, b in zip(frame["audio"], X["audio"], strict=True))
        assert frame["text"].equals(X["text"])
    assert any((np.array([row_of[id(c)] for c in f["image"]]) != np.arange(len(X))).any()
               for f in vision)
    for frame in spy.seen_[9:]:
        assert frame["text"].isna().sum() == 1
        assert sorted(frame["text"].dropna()) == sorted(X["text"].dropna())
    assert_unchanged(X, before)


def test_single_columns_match_sklearn_permutation_importance():
    rng = np.random.RandomState(0)
    y = np.arange(80) % 2
    X = pd.DataFrame({"a": y + 0.5 * rng.randn(80), "b": rng.randn(80),
                      "c": y - 0.8 * rng.randn(80)})
    model = LogisticRegression().fit(X, y)
    for scoring in (None, ["accuracy", "neg_log_loss"]):
        ours = modality_importance(model, X, y, scoring=scoring, n_repeats=4, random_state=3)
        theirs = permutation_importance(model, X, y, scoring=scoring, n_repeats=4,
                                        random_state=3)
        if scoring is None:
            ours, theirs = {"score": ours}, {"score": theirs}
        assert set(ours) == set(theirs)
        for metric, bunch in ours.items():
            assert bunch.modalities == ["a", "b", "c"]
            np.testing.assert_allclose(bunch.importances, theirs[metric].importances)
    other = modality_importance(model, X, y, n_repeats=4, random_state=4)
    assert not np.array_equal(other.importances, ours["accuracy"].importances)
    # A plain 2-D array: columns are positions.
    array_model = LogisticRegression().fit(X.to_numpy(), y)
    on_array = modality_importance(array_model, X.to_numpy(), y, n_repeats=2, random_state=0,
                                   modalities={"signal": [0, 2], "noise": 1})
    assert on_array.columns == {"signal": [0, 2], "noise": [1]}


def test_modalities_are_read_from_the_fusion_step():
    X = pd.DataFrame({"image": [np.eye(2)] * 3, "age": [1.0, 2, 3], "height": [4.0, 5, 6],
                      "id": [7, 8, 9]})
    fusion = EarlyFusion([("image", ImagePixelEncoder(), "image"),
                          ("tab", StandardScaler(), ["age", "height"]),
                          ("unused", "drop", ["id"])])
    pipe = Pipeline([("fusion", fusion), ("head", LogisticRegression())])
    expected = {"image": [0], "tab": [1, 2]}
    assert resolve_modalities(pipe, X, None) == expected
    assert resolve_modalities(Pipeline([("inner", pipe)]), X, None) == expected
    assert resolve_modalities(Bunch(best_estimator_=pipe), X, None) == expected
    assert resolve_modalities(LogisticRegression(), X, None) == {
        "image": [0], "age": [1], "height": [2], "id": [3]}
    assert resolve_modalities(pipe, X, {"both": ["age", "image"]}) == {"both": [1, 0]}


def test_set_missing_uses_each_dtype_missing_value():
    X = pd.DataFrame({
        "obj": pd.Series([np.zeros(2), np.ones(2)], dtype=object),
        "int": [1, 2], "float": [1.0, 2.0], "nullable": pd.array([1, 2], dtype="Int64"),
        "cat": pd.Categorical(["a", "b"]), "str": pd.array(["x", "y"], dtype="string"),
        "flag": [True, False],
    })
    out = set_missing(X, list(range(X.shape[1])))
    assert out.isna().all().all()
    assert list(out["obj"]) == [None, None]
    assert out["nullable"].dtype == "Int64" and out["cat"].dtype == X["cat"].dtype
    assert X.notna().all().all()  # the input is untouched


def test_ablation_names_the_modality_an_estimator_cannot_score_without():
    y = np.arange(20) % 2
    X = pd.DataFrame({"signal": y + 0.1, "other": np.ones(20)})
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="modality 'signal'") as info:
        modality_ablation(model, X, y)
    assert "NaN" in str(info.value.__cause__)


# ------------------------------------------------------------------------------ bad input

def test_bad_input(av_split, av_fitted):
    _, _, X, y = av_split
    with pytest.raises(ValueError, match=r"modality 'sound'.*\['voice'\] not found"):
        modality_importance(av_fitted, X, y, modalities={"sound": "voice"})
    with pytest.raises(ValueError, match=r"\['voice'\] not found"):
        modality_ablation(av_fitted, X, y, modalities={"sound": ["audio", "voice"]})
    with pytest.raises(NotFittedError):
        modality_importance(av_pipeline(), X, y)
    with pytest.raises(NotFittedError):
        modality_ablation(av_pipeline(), X, y)
    with pytest.raises(ValueError, match="y has 5 rows but X has 100"):
        modality_importance(av_fitted, X, y[:5])
    with pytest.raises(ValueError, match="y has 5 rows but X has 100"):
        modality_ablation(av_fitted, X, y[:5])
    with pytest.raises(ValueError, match="n_repeats"):
        modality_importance(av_fitted, X, y, n_repeats=0)


# ------------------------------------------------------------------------------ plot, docs

def test_plot_importance_and_ablation(tmp_path):
    matplotlib.use("Agg")
    importance = Bunch(importances_mean=np.array([0.3, 0.1]),
                       importances_std=np.array([0.02, 0.01]),
                       importances=np.zeros((2, 3)), baseline_score=0.9,
                       modalities=["image", "audio"])
    ax = plot_modality_importance(importance)
    assert len(ax.patches) == 2
    assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["image", "audio"]
    ax.figure.savefig(tmp_path / "importance.png")
    ablation = Bunch(baseline_score=0.9, scores=np.array([0.6, 0.8]),
                     drops=np.array([0.3, 0.1]), modalities=["image", "audio"])
    ax = plot_modality_importance(ablation, ax=ax.figure.add_subplot(2, 1, 2))
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.3, 0.1])
    with pytest.raises(TypeError, match="one result per metric"):
        plot_modality_importance({"accuracy": importance, "f1": importance})


@pytest.mark.parametrize("function", [modality_importance, modality_ablation,
                                      plot_modality_importance])
def test_docstring_examples_run(function):
    matplotlib.use("Agg")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(function, function.__name__, globs={}):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
