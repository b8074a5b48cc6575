"""LateFusion on real AV-digit pairs: out-of-fold scores, workflows, missing modalities."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.compose import make_column_selector
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_predict,
    cross_val_score,
    train_test_split,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion, LateFusion
from mmlearn.fusion._dropout import sample_kept
from mmlearn.heads import VotingHead
from mmlearn.utils._sklearn_compat import InvalidParameterError

MFCC = [f"mfcc{i}" for i in range(80)]


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # On a loaded 2-core runner, OpenBLAS threads contending for the cores made each small
    # LogisticRegression fit ~30x slower (0.7 s instead of 0.02 s).
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def av_table(av_small):
    """The 200 pairs with the clips' MFCC statistics as 80 numeric columns, computed once:
    the audio modality as a list of columns, for tests about fusion mechanics."""
    X, y = av_small
    mfcc = AudioMFCCEncoder(sample_rate=8000).fit_transform(X["audio"])
    return pd.concat([X[["image"]], pd.DataFrame(mfcc, columns=MFCC)], axis=1), y


def image_model():
    return make_pipeline(ImagePixelEncoder(), LogisticRegression(max_iter=1000))


def mfcc_model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def table_fusion(**kwargs):
    """Image pixels and the MFCC table, each with its own LogisticRegression."""
    return LateFusion([("image", image_model(), "image"), ("audio", mfcc_model(), MFCC)],
                      **kwargs)


def av_fusion(**kwargs):
    """The full decision-level pipeline from the raw cells: encoders inside each estimator."""
    audio = make_pipeline(AudioMFCCEncoder(sample_rate=8000), LogisticRegression(max_iter=1000))
    return LateFusion([("image", image_model(), "image"), ("audio", audio, "audio")],
                      **kwargs)


def test_voting_and_stacking_pipelines_in_cross_val_score(av_table, tmp_path):
    X, y = av_table
    # memory: both heads reuse each fold's fitted LateFusion (same parameters, same rows).
    voting = Pipeline([("fusion", table_fusion(cv=3)), ("head", VotingHead())],
                      memory=str(tmp_path))
    stacking = clone(voting).set_params(head=LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    assert cross_val_score(voting, X, y, cv=cv).mean() > 0.9
    assert cross_val_score(stacking, X, y, cv=cv).mean() > 0.9


def test_fit_transform_is_out_of_fold(av_table):
    X, y = av_table
    fusion = table_fusion(cv=4)
    oof = fusion.fit_transform(X, y)
    assert oof.shape == (200, 20) and oof.dtype == np.float64
    folds = StratifiedKFold(4)  # what cv=4 means for class labels
    expected_image = cross_val_predict(image_model(), X["image"], y, cv=folds,
                                       method="predict_proba")
    expected_audio = cross_val_predict(mfcc_model(), X[MFCC], y, cv=folds,
                                       method="predict_proba")
    np.testing.assert_allclose(oof, np.hstack([expected_image, expected_audio]))
    # transform uses the estimators refit on every row: in-sample, more confident.
    in_sample = fusion.transform(X)
    assert not np.allclose(in_sample, oof)
    np.testing.assert_allclose(in_sample, clone(fusion).fit(X, y).transform(X))
    np.testing.assert_allclose(in_sample[:, :10],
                               image_model().fit(X["image"], y).predict_proba(X["image"]))
    assert list(fusion.named_estimators_) == ["image", "audio"]
    assert fusion.estimators_[1] is fusion.named_estimators_["audio"]


def test_string_labels_feature_names_and_pandas_output(av_table):
    X, y = av_table
    X = X.set_axis(np.arange(1000, 1200))  # the output keeps the user's row labels
    words = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])[y]
    fusion = table_fusion(cv=3).set_output(transform="pandas")
    out = fusion.fit_transform(X, words)
    assert list(fusion.classes_) == sorted(set(words))
    assert list(out.columns[:2]) == ["image__proba_eight", "image__proba_five"]
    assert out.columns[-1] == "audio__proba_zero"
    assert (out.index == X.index).all()
    assert fusion.transform(X.iloc[:5]).index.tolist() == list(range(1000, 1005))
    assert fusion.n_features_in_ == 81 and fusion.feature_names_in_[0] == "image"


def test_grid_search_over_the_fusion_level(av_table, tmp_path):
    X, y = av_table
    early = EarlyFusion([("image", ImagePixelEncoder(), "image"),
                         ("audio", StandardScaler(), MFCC)])
    late = table_fusion(cv=3)
    grid = [{"fusion": [early, late], "head": [LogisticRegression(max_iter=1000)]},
            {"fusion": [late], "head": [VotingHead(), VotingHead(voting="hard")]}]
    # memory: the three late-fusion candidates share each fold's LateFusion fit.
    pipe = Pipeline([("fusion", early), ("head", SVC())], memory=str(tmp_path))
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_score_ > 0.9
    # Nested parameters reach each modality's estimator.
    nested = GridSearchCV(Pipeline([("fusion", late), ("head", VotingHead())]),
                          {"fusion__image__logisticregression__C": [0.01, 1.0]}, cv=3)
    nested.fit(X, y)
    C = nested.best_estimator_.named_steps["fusion"].named_estimators_["image"][-1].C
    assert C == nested.best_params_["fusion__image__logisticregression__C"]


def test_clone_pickle_joblib_and_n_jobs(av_table, tmp_path):
    X, y = av_table
    pipe = Pipeline([("fusion", table_fusion(cv=3)), ("head", VotingHead())]).fit(X, y)
    expected = pipe.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pipe)).predict_proba(X), expected)
    joblib.dump(pipe, tmp_path / "late.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "late.joblib").predict_proba(X),
                                  expected)
    np.testing.assert_allclose(clone(pipe).fit(X, y).predict_proba(X), expected)
    # The per-modality, per-fold fits in parallel give the serial result (threads: starting
    # processes would cost more than the fits).
    with parallel_config(backend="threading"):
        parallel = table_fusion(cv=3, n_jobs=2).fit_transform(X, y)
    np.testing.assert_allclose(parallel, table_fusion(cv=3).fit_transform(X, y))


def test_missing_cells_in_training_and_at_test(av_small):
    X, y = av_small
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    rng = np.random.default_rng(0)
    X_tr = X_tr.copy()
    no_image = rng.random(len(X_tr)) < 0.3
    no_audio = rng.random(len(X_tr)) < 0.3
    X_tr.loc[no_image, "image"] = None
    X_tr.loc[no_audio, "audio"] = np.nan
    X_te = X_te.copy()
    X_te.loc[X_te.index[::2], "audio"] = None  # 50% of the test clips lost

    pipe = Pipeline([("fusion", av_fusion(cv=3)), ("head", VotingHead())]).fit(X_tr, y_tr)
    assert pipe.score(X_te, y_te) > 0.85
    fusion = pipe.named_steps["fusion"]
    # The audio estimator learned from the rows that have audio, and no other.
    alone = av_fusion().estimators[1][1].fit(X_tr["audio"][~no_audio], y_tr[~no_audio])
    fitted = fusion.named_estimators_["audio"]
    probe = X.loc[[0, 1], "audio"]
    np.testing.assert_allclose(fitted.predict_proba(probe), alone.predict_proba(probe))

    # Rows without a modality get a block with no preference, in fit and at transform,
    # and keep their place.
    oof = clone(fusion).fit_transform(X_tr, y_tr)
    assert oof.shape == (len(X_tr), 20)
    np.testing.assert_array_equal(oof[no_audio, 10:], 0.1)
    np.testing.assert_array_equal(oof[no_image, :10], 0.1)
    assert not np.allclose(oof[~no_audio, 10:], 0.1)
    out = fusion.transform(X_te)
    np.testing.assert_array_equal(out[::2, 10:], 0.1)
    np.testing.assert_allclose(out[1::2], fusion.transform(X_te.iloc[1::2]), atol=1e-6)


def test_decision_function_auto_fallback_and_binary_blocks(av_table):
    X, y = av_table
    svc = LateFusion([("image", image_model(), "image"),
                      ("audio", make_pipeline(StandardScaler(), SVC()), MFCC)], cv=3)
    with pytest.raises(ValueError, match="modality 'audio' \\(SVC\\) has no predict_proba; "
                                         "use method='decision_function', or method='auto'"):
        svc.fit(X, y)

    auto = clone(svc).set_params(method="auto")
    out = auto.fit_transform(X, y)
    assert auto.methods_ == {"image": "predict_proba", "audio": "decision_function"}
    assert auto.get_feature_names_out()[[9, 10]].tolist() == ["image__proba_9",
                                                              "audio__decision_0"]
    np.testing.assert_allclose(out[:, :10].sum(axis=1), 1.0, rtol=1e-6)

    # Binary decision_function (one score d for classes_[1]) becomes the block (-d, d).
    odd = np.where(y % 2 == 1, "odd", "even")
    binary = clone(svc).set_params(method="decision_function")
    X_gaps = X.copy()
    X_gaps.loc[:9, MFCC] = np.nan
    block = binary.fit(X_gaps, odd).transform(X_gaps)[:, 2:]
    d = binary.named_estimators_["audio"].decision_function(X[MFCC])
    np.testing.assert_allclose(block[10:], np.column_stack([-d, d])[10:])
    np.testing.assert_array_equal(block[:10], 0.0)  # missing audio: no preference


def test_a_class_absent_from_a_training_fold(av_table):
    X, y = av_table
    # Keep a single pair of digit 9: the fold that tests it trains without any 9.
    keep = np.r_[np.flatnonzero(y != 9), np.flatnonzero(y == 9)[:1]]
    X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    fusion = table_fusion(cv=3)
    with pytest.warns(UserWarning, match="least populated class in y has only 1 member"):
        out = fusion.fit_transform(X, y)
    assert out.shape == (181, 20)
    assert list(fusion.classes_) == list(range(10))
    lone = len(y) - 1
    assert out[lone, 9] == 0.0 and out[lone, 19] == 0.0  # its estimators never saw a 9
    np.testing.assert_allclose(out[:, :10].sum(axis=1), 1.0, rtol=1e-6)
    assert fusion.transform(X)[lone, 9] > 0  # the refit estimators did


def test_a_class_absent_from_the_rows_that_have_a_modality(av_table):
    X, y = av_table
    X = X.copy()
    X.loc[y == 3, MFCC] = np.nan  # no clip of a 3
    fusion = table_fusion(cv=3)
    out = fusion.fit_transform(X, y)
    assert list(fusion.named_estimators_["audio"].classes_) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    has_audio = y != 3
    np.testing.assert_array_equal(out[has_audio, 13], 0.0)
    np.testing.assert_array_equal(out[~has_audio, 10:], 0.1)
    np.testing.assert_allclose(out[has_audio, 10:].sum(axis=1), 1.0, rtol=1e-6)


def test_a_modality_missing_in_every_row(av_small):
    X, y = av_small
    with pytest.raises(ValueError, match="LateFusion: modality 'audio' \\(column 'audio'\\) is "
                                         "missing in every row \\(200\\)"):
        av_fusion(cv=3).fit(X.assign(audio=None), y)
    # Under either policy: "raise" names the rows, and there is nothing to learn from.
    with pytest.raises(ValueError, match="modality 'audio' \\(column 'audio'\\) is missing in "
                                         "200 rows"):
        av_fusion(cv=3, missing="raise").fit(X.assign(audio=None), y)


def test_too_few_rows_of_a_modality_for_a_fold(av_table):
    X, y = av_table
    X = X.copy()
    X.loc[y != 0, "image"] = None  # only the 20 images of a 0 are left
    with pytest.raises(ValueError, match="modality 'image' has 13 rows of only 1 class "
                                         "\\(\\[0\\]\\) in training fold 1 of 3"):
        table_fusion(cv=3).fit_transform(X, y)


@pytest.mark.parametrize("columns", ["picture", ["image", "picture"]])
def test_unknown_column(av_table, columns):
    X, y = av_table
    fusion = LateFusion([("image", image_model(), columns)])
    with pytest.raises(ValueError, match="modality 'image' uses column\\(s\\) \\['picture'\\]"):
        fusion.fit(X, y)


def test_columns_found_by_name_at_transform(av_table):
    X, y = av_table
    fusion = table_fusion(cv=3).fit(X, y)
    shuffled = X[X.columns[::-1]].assign(extra=1.0)  # reordered and extra columns are fine
    np.testing.assert_allclose(fusion.transform(shuffled), fusion.transform(X))
    with pytest.raises(ValueError, match="modality 'image' uses column\\(s\\) \\['image'\\]"):
        fusion.transform(X.drop(columns="image"))


def test_bad_input(av_table):
    X, y = av_table
    with pytest.raises(NotFittedError):
        table_fusion().transform(X)
    with pytest.raises(ValueError, match="requires y to be passed"):
        table_fusion().fit(X, None)
    with pytest.raises(ValueError, match="y has 5 rows but X has 200"):
        table_fusion().fit(X, y[:5])
    with pytest.raises(ValueError, match="X has 0 rows"):
        table_fusion().fit(X.iloc[:0], y[:0])
    with pytest.raises(ValueError, match="Unknown label type"):
        table_fusion().fit(X, y + 0.5)
    with pytest.raises(InvalidParameterError, match="'method' parameter"):
        table_fusion(method="predict").fit(X, y)
    with pytest.raises(ValueError, match="non-empty list of \\(name, estimator, columns\\)"):
        LateFusion([]).fit(X, y)
    with pytest.raises(ValueError, match="LateFusion: modality 'b' cannot select column\\(s\\) "
                                         "\\[3\\] from X's 2 feature\\(s\\)"):
        LateFusion([("a", LogisticRegression(), [0]),
                    ("b", LogisticRegression(), [3])]).fit(np.ones((10, 2)), [0, 1] * 5)
    with pytest.raises(ValueError, match="LateFusion: modality 'b' selects no column with "
                                         "\\[\\] from X's 2 feature\\(s\\)"):
        LateFusion([("a", LogisticRegression(), [0]),
                    ("b", LogisticRegression(), [])]).fit(np.ones((10, 2)), [0, 1] * 5)


@pytest.mark.parametrize(("param", "value"), [
    ("missing", "drop"), ("modality_dropout", 1.0), ("modality_dropout", -0.1),
    ("random_state", "seed"),
])
def test_bad_fusion_parameters(av_table, param, value):
    X, y = av_table
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter of LateFusion"):
        table_fusion(cv=3, **{param: value}).fit(X, y)


def test_missing_raise_names_the_modality_and_the_rows(av_small):
    X, y = av_small
    gaps = X.copy()
    gaps.loc[[4, 9, 30], "audio"] = None
    with pytest.raises(ValueError, match="LateFusion: modality 'audio' \\(column 'audio'\\) is "
                                         "missing in 3 rows \\(first: \\[4, 9, 30\\]\\) and "
                                         "missing='raise'"):
        av_fusion(cv=3, missing="raise").fit(gaps, y)
    # Fitted on complete rows, the policy holds at transform too; "impute" accepts them.
    strict = av_fusion(cv=3, missing="raise").fit(X, y)
    with pytest.raises(ValueError, match="modality 'audio' \\(column 'audio'\\) is missing in 3 "
                                         "rows"):
        strict.transform(gaps)
    lenient = clone(strict).set_params(missing="impute").fit(X, y)
    np.testing.assert_array_equal(lenient.transform(gaps)[[4, 9, 30], 10:], 0.1)


def test_missing_raise_on_a_list_of_columns(av_table):
    X, y = av_table
    X = X.copy()
    X.loc[7, MFCC] = np.nan        # the whole modality: missing
    X.loc[8, MFCC[:3]] = np.nan    # some cells only: present (its pipeline sees them)
    with pytest.raises(ValueError, match="modality 'audio' \\(column \\['mfcc0', .*\\) is missing "
                                         "in 1 rows \\(first: \\[7\\]\\)"):
        table_fusion(cv=3, missing="raise").fit(X, y)


def test_modality_dropout_hides_blocks_in_fit_transform_only(av_table):
    X, y = av_table
    X = X.copy()
    X.loc[:19, MFCC] = np.nan          # really missing audio: those rows keep their image
    plain = table_fusion(cv=3)
    expected = plain.fit_transform(X, y)
    fusion = table_fusion(cv=3, modality_dropout=0.3, random_state=0)
    out = fusion.fit_transform(X, y)

    present = np.column_stack([np.ones(200, bool), np.arange(200) >= 20])
    hidden = present & ~sample_kept(present, 0.3, 0)
    blocks = [slice(0, 10), slice(10, 20)]
    for j, block in enumerate(blocks):
        np.testing.assert_array_equal(out[hidden[:, j], block], 0.1)   # no preference
        shown = ~hidden[:, j]
        np.testing.assert_allclose(out[shown, block], expected[shown, block])
    assert 0.2 < hidden[:, 0].mean() < 0.4 and 0.2 < hidden[20:, 1].mean() < 0.4
    assert not hidden[:20, 0].any(), "a row without audio keeps its image"
    assert not (hidden[:, 0] & hidden[:, 1]).any(), "every row keeps one modality"
    # The estimators learned from every row: transform, which hides nothing, is unchanged.
    np.testing.assert_allclose(fusion.transform(X), plain.transform(X))
    # Seeded: the same rows again; another seed hides others.
    np.testing.assert_array_equal(clone(fusion).fit_transform(X, y), out)
    other = clone(fusion).set_params(random_state=1).fit_transform(X, y)
    assert not np.array_equal(other == 0.1, out == 0.1)


def test_modality_dropout_hides_decision_scores_with_the_zero_block(av_table):
    X, y = av_table
    fusion = LateFusion([("image", image_model(), "image"),
                         ("audio", make_pipeline(StandardScaler(), SVC()), MFCC)],
                        cv=3, method="auto", modality_dropout=0.5, random_state=0)
    out = fusion.fit_transform(X, y)
    audio_hidden = (out[:, 10:] == 0).all(axis=1)       # decision scores: the 0 block
    image_hidden = (out[:, :10] == 0.1).all(axis=1)     # probabilities: the uniform block
    assert 0.2 < audio_hidden.mean() < 0.5 and 0.2 < image_hidden.mean() < 0.5
    assert not (audio_hidden & image_hidden).any()


def test_modality_dropout_is_a_grid_searchable_parameter(av_table):
    X, y = av_table
    pipe = Pipeline([("fusion", table_fusion(cv=3, random_state=0)),
                     ("head", LogisticRegression(max_iter=1000))])
    search = GridSearchCV(pipe, {"fusion__modality_dropout": [0.0, 0.3]},
                          cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)
    assert search.cv_results_["mean_test_score"].min() > 0.9
    # Refit on every row: the head learned from rows whose blocks were hidden.
    best = search.best_estimator_.named_steps["fusion"]
    assert best.modality_dropout == search.best_params_["fusion__modality_dropout"]


def test_callable_column_selector(av_table):
    X, y = av_table
    by_list = table_fusion(cv=3).fit_transform(X, y)
    selector = LateFusion([("image", image_model(), "image"),
                           ("audio", mfcc_model(), make_column_selector(pattern="^mfcc"))],
                          cv=3)
    np.testing.assert_allclose(selector.fit_transform(X, y), by_list)
    np.testing.assert_allclose(selector.transform(X), table_fusion(cv=3).fit(X, y).transform(X))
