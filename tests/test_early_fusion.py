"""EarlyFusion inside scikit-learn workflows, on real data."""

import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mmlearn.datasets import load_clothing_reviews
from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion
from mmlearn.fusion._dropout import dropout_mask, sample_kept
from mmlearn.utils._sklearn_compat import InvalidParameterError


def av_fusion(**kwargs):
    return EarlyFusion(
        [("image", ImagePixelEncoder(), "image"),
         ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")],
        **kwargs,
    )


@pytest.fixture(scope="module")
def reviews():
    X, y = load_clothing_reviews(return_X_y=True)
    # The first 400 rows hold real missing titles.
    return X.iloc[:400].reset_index(drop=True), y[:400]


def test_issue_example_grid_search_in_parallel(av_small):
    X, y = av_small
    pipe = Pipeline([("fusion", av_fusion()), ("head", SVC())])
    search = GridSearchCV(pipe, {"head__C": [1, 10], "fusion__image__size": [None, 4]},
                          cv=3, n_jobs=2).fit(X, y)
    assert search.best_score_ > 0.8
    serial = GridSearchCV(pipe, {"head__C": [1, 10], "fusion__image__size": [None, 4]},
                          cv=3, n_jobs=1).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"])


def test_cross_validate_clone_pickle_joblib(av_small, tmp_path):
    X, y = av_small
    pipe = Pipeline([("fusion", av_fusion()), ("head", SVC())])
    scores = cross_validate(pipe, X, y, cv=3)["test_score"]
    assert scores.mean() > 0.8
    fitted = clone(pipe).fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    joblib.dump(fitted, tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "pipe.joblib").predict(X),
                                  fitted.predict(X))


def test_feature_names_and_pandas_output(av_small):
    X, y = av_small
    fusion = av_fusion().set_output(transform="pandas")
    out = fusion.fit_transform(X, y)
    assert isinstance(out, pd.DataFrame) and out.shape == (len(X), 64 + 80)
    assert out.columns[0] == "image__imagepixelencoder0"
    assert out.columns[-1] == "audio__mfcc19_delta_std"
    assert (out.index == X.index).all()
    assert fusion.named_transformers_["audio"].n_features_out_ == 80


def test_weights_scale_each_modality(av_small):
    X, y = av_small
    plain = av_fusion().fit_transform(X)
    weighted = av_fusion(weights={"audio": 0.5}).fit_transform(X)
    np.testing.assert_allclose(weighted[:, :64], plain[:, :64])
    np.testing.assert_allclose(weighted[:, 64:], 0.5 * plain[:, 64:], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown modalities \\['sound'\\]"):
        av_fusion(weights={"sound": 2.0}).fit(X)


def _mean_square_norm(block) -> float:
    block = block.toarray() if sp.issparse(block) else np.asarray(block)
    return float(np.square(block).sum(axis=1).mean())


def test_balanced_weights_give_each_block_unit_mean_square_norm(av_small):
    X, y = av_small
    fusion = av_fusion(weights="balanced")
    features = fusion.fit_transform(X, y)
    blocks = fusion.column_transformer_.output_indices_
    # Pixels in [0, 1] and standardised MFCC statistics differ in norm before balancing.
    plain = av_fusion().fit_transform(X, y)
    assert _mean_square_norm(plain[:, blocks["audio"]]) > 3 * _mean_square_norm(
        plain[:, blocks["image"]])
    for name in ("image", "audio"):
        assert _mean_square_norm(features[:, blocks[name]]) == pytest.approx(1.0)
        np.testing.assert_allclose(features[:, blocks[name]],
                                   plain[:, blocks[name]] * fusion.block_scales_[name],
                                   rtol=1e-5)
    # The scales are learned in fit: transform applies them, it does not re-balance.
    half = fusion.transform(X.iloc[:50])
    np.testing.assert_allclose(half, features[:50], rtol=1e-6)


def test_balanced_weights_keep_sparse_text_sparse_and_pandas_output():
    X = pd.DataFrame({"text": ["red apple", "green apple", "red car", "blue car"] * 5,
                      "n": np.arange(20.0)})
    fusion = EarlyFusion([("text", TfidfVectorizer(), "text"),
                          ("num", StandardScaler(), ["n"])], weights="balanced",
                         sparse_threshold=1.0)
    features = fusion.fit_transform(X)
    assert sp.issparse(features)
    blocks = fusion.column_transformer_.output_indices_
    assert _mean_square_norm(features[:, blocks["text"]]) == pytest.approx(1.0)
    assert _mean_square_norm(features[:, blocks["num"]]) == pytest.approx(1.0)
    frame = fusion.set_output(transform="pandas").fit_transform(X)
    np.testing.assert_allclose(frame.to_numpy(), features.toarray())
    with pytest.raises(ValueError, match="weights"):
        EarlyFusion([("text", TfidfVectorizer(), "text")], weights="equal").fit(X)


def test_missing_modality_imputed_with_indicator(av_small):
    X, y = av_small
    X = X.copy()
    X.loc[[0, 5, 7], "audio"] = None
    fusion = av_fusion()
    out = fusion.fit_transform(X, y)
    names = fusion.get_feature_names_out()
    assert names[-1] == "audio__missing" and out.shape[1] == 64 + 80 + 1
    assert out[[0, 5, 7], -1].tolist() == [1, 1, 1] and out[1, -1] == 0
    audio = out[:, 64:-1]
    # Imputed rows hold the training mean of the present rows' features.
    present = np.delete(audio, [0, 5, 7], axis=0)
    np.testing.assert_allclose(audio[0], present.mean(axis=0), atol=1e-5)
    # Rows keep their order: the present rows equal the encoder on those rows alone.
    enc = AudioMFCCEncoder(sample_rate=8000).fit(X["audio"].drop(index=[0, 5, 7]))
    np.testing.assert_allclose(audio[1], enc.transform(X["audio"].iloc[[1]])[0], atol=1e-5)
    # Missing only at predict time: imputed, no crash.
    X_test = X.copy()
    X_test.loc[:, "image"] = None
    assert np.isfinite(fusion.transform(X_test)).all()


def test_modality_dropout_hides_modalities_in_fit_transform_only(av_small):
    X, y = av_small
    X = X.copy()
    X.iloc[:10, X.columns.get_loc("audio")] = None      # really missing: never "kept"
    fusion = av_fusion(modality_dropout=0.3, random_state=0)
    features = fusion.fit_transform(X, y)
    names = list(fusion.get_feature_names_out())
    image_flag = features[:, names.index("image__missing")]
    audio_flag = features[:, names.index("audio__missing")]
    hidden_audio = audio_flag[10:].mean()
    assert 0.15 < image_flag.mean() < 0.35 and 0.15 < hidden_audio < 0.4
    assert audio_flag[:10].all() and not image_flag[:10].any(), "rows without audio keep image"
    assert not (image_flag * audio_flag).any(), "every row keeps one modality"
    # Hidden blocks hold the imputed value: the training mean of the encoder's features.
    steps = fusion.column_transformer_.named_transformers_
    blocks = fusion.column_transformer_.output_indices_
    hidden = audio_flag[10:] == 1
    np.testing.assert_allclose(features[10:][hidden][:, blocks["audio"]][:, :-1],
                               np.broadcast_to(steps["audio"].fill_, (hidden.sum(), 80)),
                               rtol=1e-6)
    # transform hides nothing, and equals fit_transform where nothing was hidden.
    again = fusion.transform(X)
    assert not again[10:, names.index("audio__missing")].any()
    assert not again[:, names.index("image__missing")].any()
    shown = (image_flag == 0) & (audio_flag == 0)
    np.testing.assert_allclose(again[shown], features[shown], rtol=1e-6)
    # Seeded: the same rows are hidden again; another seed hides others.
    np.testing.assert_array_equal(clone(fusion).fit_transform(X, y), features)
    other = av_fusion(modality_dropout=0.3, random_state=1).fit_transform(X, y)
    assert not np.array_equal(other[:, names.index("image__missing")], image_flag)


def test_modality_dropout_on_sparse_text_zeroes_hidden_rows():
    X = pd.DataFrame({"text": ["red apple", "green apple", "red car", "blue car"] * 10,
                      "n": np.arange(40.0)})
    fusion = EarlyFusion([("text", TfidfVectorizer(), "text"),
                          ("num", StandardScaler(), ["n"])], sparse_threshold=1.0,
                         modality_dropout=0.4, random_state=0)
    features = fusion.fit_transform(X)
    assert sp.issparse(features)
    blocks = fusion.column_transformer_.output_indices_
    text = features[:, blocks["text"]].toarray()
    hidden = text[:, -1] == 1
    assert 0 < hidden.sum() < 40
    assert not text[hidden, :-1].any() and (text[~hidden, :-1].sum(axis=1) > 0).all()


def test_modality_dropout_zero_changes_nothing(av_small):
    X, y = av_small
    np.testing.assert_array_equal(av_fusion(modality_dropout=0.0).fit_transform(X, y),
                                  av_fusion().fit_transform(X, y))
    with pytest.raises(ValueError, match="modality_dropout"):
        av_fusion(modality_dropout=1.0).fit(X, y)


def test_modality_dropout_hides_what_the_shared_rule_draws(av_small):
    X, y = av_small
    X = X.copy()
    X.loc[[2, 3, 50], "image"] = None
    fusion = av_fusion(modality_dropout=0.4, random_state=7)
    features = fusion.fit_transform(X, y)
    names = list(fusion.get_feature_names_out())
    flags = features[:, [names.index("image__missing"), names.index("audio__missing")]]
    present = np.column_stack([~X["image"].isna().to_numpy(), np.ones(len(X), bool)])
    # Missing rows, and the rows the seeded draws hide: one rule for every fusion step.
    np.testing.assert_array_equal(flags == 1, ~sample_kept(present, 0.4, 7))


@pytest.mark.parametrize(("param", "value"), [
    ("missing", "drop"), ("modality_dropout", 1.0), ("modality_dropout", -0.5),
    ("random_state", "seed"),
])
def test_bad_fusion_parameters(av_small, param, value):
    X, y = av_small
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter of EarlyFusion"):
        av_fusion(**{param: value}).fit(X, y)


def test_missing_raise_policy_names_modality(av_small):
    X, y = av_small
    X = X.copy()
    X.loc[3, "audio"] = np.nan
    with pytest.raises(ValueError, match="EarlyFusion: modality 'audio' \\(column 'audio'\\) is "
                                         "missing in 1 rows \\(first: \\[3\\]\\)"):
        av_fusion(missing="raise").fit(X, y)


def test_modality_missing_in_every_row(av_small):
    X, y = av_small
    X = X.assign(audio=None)
    with pytest.raises(ValueError, match="modality 'audio'.*missing in every row"):
        av_fusion().fit(X, y)


def test_text_with_real_missing_values_and_tabular(reviews):
    X, y = reviews
    assert X["Title"].isna().any()
    fusion = EarlyFusion([
        ("title", TfidfVectorizer(), "Title"),
        ("review", TfidfVectorizer(min_df=2), "Review Text"),
        ("tab", StandardScaler(), ["Age", "Positive Feedback Count"]),
    ])
    out = fusion.fit_transform(X, y)
    assert sp.issparse(out)
    names = list(fusion.get_feature_names_out())
    assert "title__missing" in names and names[-1] == "tab__Positive Feedback Count"
    missing_title = X["Title"].isna().to_numpy()
    title_cols = [i for i, n in enumerate(names) if n.startswith("title__")][:-1]
    assert out[missing_title][:, title_cols].nnz == 0  # missing text = no words
    pipe = Pipeline([("fusion", fusion), ("head", LogisticRegression(max_iter=1000))])
    assert cross_validate(pipe, X, y, cv=3)["test_score"].mean() > 0.7


@pytest.mark.parametrize("columns", ["picture", ["image", "picture"]])
def test_unknown_column(av_small, columns):
    X, y = av_small
    fusion = EarlyFusion([("image", ImagePixelEncoder(), columns)])
    with pytest.raises(ValueError, match="modality 'image' uses column\\(s\\) \\['picture'\\]"):
        fusion.fit(X, y)


def test_column_missing_at_predict_time(av_small):
    X, y = av_small
    fusion = av_fusion().fit(X, y)
    with pytest.raises(ValueError, match="modality 'audio' uses column\\(s\\) \\['audio'\\]"):
        fusion.transform(X.drop(columns="audio"))


def test_wrong_kind_of_column(av_small):
    X, y = av_small
    X = X.assign(caption=["a digit"] * len(X))
    fusion = EarlyFusion([("image", ImagePixelEncoder(), "caption")])
    with pytest.raises(ValueError, match="column 'caption', row 0: cannot read image file"):
        fusion.fit(X, y)


def test_bad_rows_and_targets(av_small):
    X, y = av_small
    with pytest.raises(ValueError, match="X has 0 rows"):
        av_fusion().fit(X.iloc[:0], y[:0])
    with pytest.raises(ValueError, match="y has 5 rows but X has 200"):
        av_fusion().fit(X, y[:5])
    with pytest.raises(NotFittedError):
        av_fusion().transform(X)
    with pytest.raises(TypeError, match="expects a pandas DataFrame"):
        av_fusion().fit({"image": X["image"]}, y)
    single = Pipeline([("fusion", av_fusion()), ("head", SVC())])
    with pytest.raises(ValueError, match="class"):
        single.fit(X, np.zeros(len(X)))


def test_nan_pixels_in_a_cell(av_small):
    X, y = av_small
    X = X.copy()
    bad = X["image"].iloc[2].copy()
    bad[0, 0] = np.nan
    X.at[2, "image"] = bad
    with pytest.raises(ValueError, match="column 'image', row 2: image has NaN"):
        av_fusion().fit(X, y)


def test_error_rows_are_the_users_rows_after_missing_rows_are_set_aside(av_small):
    X, y = av_small
    X = X.copy()
    X.loc[0, "audio"] = None
    X.at[5, "audio"] = np.zeros(0, dtype=np.float32)
    with pytest.raises(ValueError, match="column 'audio', row 5: zero-length"):
        av_fusion().fit(X, y)


# ------------------------------------------------- the shared modality dropout rule

def test_dropout_rule_gives_the_same_mask_on_numpy_and_torch():
    torch = pytest.importorskip("torch")
    from mmlearn.fusion.ops import drop_modalities

    rng = np.random.RandomState(0)
    present = rng.random_sample((3000, 4)) < 0.6
    hide, pick = rng.random_sample((2, 3000, 4))
    for rate in (0.1, 0.5, 0.9):
        on_numpy = dropout_mask(present, rate, hide, pick)
        on_torch = dropout_mask(torch.from_numpy(present), rate, torch.from_numpy(hide),
                                torch.from_numpy(pick))
        assert isinstance(on_numpy, np.ndarray) and on_torch.dtype == torch.bool
        np.testing.assert_array_equal(on_torch.numpy(), on_numpy)
    # JointFusion's per-batch dropout is the same rule on torch's draws: hide, then pick.
    generator = torch.Generator().manual_seed(3)
    kept = drop_modalities(torch.from_numpy(present), 0.5, generator=generator)
    generator.manual_seed(3)
    hide_t = torch.rand(present.shape, generator=generator)
    pick_t = torch.rand(present.shape, generator=generator)
    np.testing.assert_array_equal(
        kept.numpy(), dropout_mask(present, 0.5, hide_t.numpy(), pick_t.numpy()))


def test_dropout_rule_keeps_one_present_modality_chosen_at_random():
    rng = np.random.RandomState(0)
    present = rng.random_sample((4000, 3)) < 0.7
    kept = sample_kept(present, 0.5, rng)
    assert not (kept & ~present).any(), "an absent modality never comes back"
    np.testing.assert_array_equal(kept.any(axis=1), present.any(axis=1))
    assert 0.45 < kept.sum() / present.sum() < 0.7
    assert sample_kept(present, 0.0, 0) is present
    # At a rate near 1 nearly every row is emptied and one modality restored: uniformly
    # among the present ones, never an absent one.
    every = np.ones((6000, 3), bool)
    every[:, 1] = False
    restored = sample_kept(every, 0.999, 0)
    assert (restored.sum(axis=1) >= 1).all() and not restored[:, 1].any()
    assert 0.45 < restored[:, 0].mean() < 0.55
    with pytest.raises(ValueError, match="draws have shapes \\(2, 3\\)"):
        dropout_mask(every, 0.5, np.zeros((2, 3)), np.zeros((2, 3)))


def test_early_fusion_imports_no_torch():
    # The package's __init__ imports JointFusion (torch); early and late fusion, and the
    # modules they share with it, must not.
    code = textwrap.dedent("""
        import pathlib, sys, types
        import mmlearn
        package = types.ModuleType("mmlearn.fusion")
        package.__path__ = [str(pathlib.Path(mmlearn.__file__).parent / "fusion")]
        sys.modules["mmlearn.fusion"] = package
        import mmlearn.fusion.early, mmlearn.fusion.late
        assert "torch" not in sys.modules, "importing early/late fusion imported torch"
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
