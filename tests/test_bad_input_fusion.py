"""Bad input to the fusion steps, the benchmark and CrossModalAligner: clear errors, no
silently wrong results (issue 12, items 4, 5, 10, 12, 14 and 15), on real data subsets."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mmlearn.bench import run_benchmark, write_results
from mmlearn.cli import main
from mmlearn.crossmodal import CrossModalAligner
from mmlearn.datasets import load_av_digits, load_clothing_reviews, load_emoji
from mmlearn.encoders import ImagePixelEncoder
from mmlearn.fusion import EarlyFusion, LateFusion


@pytest.fixture(scope="module")
def av():
    X, y = load_av_digits(return_X_y=True)
    return X.iloc[:60].reset_index(drop=True), y[:60]


@pytest.fixture(scope="module")
def reviews():
    X, y = load_clothing_reviews(return_X_y=True)
    return X.iloc[:80].reset_index(drop=True), np.asarray(y[:80])


@pytest.fixture(scope="module")
def emoji():
    bunch = load_emoji()
    return bunch.data.iloc[:40].reset_index(drop=True)


def _image_fusion(**kwargs):
    return EarlyFusion([("image", ImagePixelEncoder(), "image"),
                        ("extra", StandardScaler(), ["n"])], **kwargs)


# ------------------------------------------------------- item 4: EarlyFusion weights

@pytest.mark.parametrize("weight", [np.nan, np.inf, -np.inf, -0.5, "2", None, True])
def test_early_fusion_rejects_weights_that_are_not_finite_non_negative_numbers(av, weight):
    X, _ = av
    X = X.assign(n=np.arange(len(X), dtype=float))
    with pytest.raises(ValueError, match=r"EarlyFusion: weights\['image'\] must be a finite "
                                         r"number >= 0"):
        _image_fusion(weights={"image": weight, "extra": 1.0}).fit(X)


def test_early_fusion_weights_name_only_its_modalities(av):
    X, _ = av
    with pytest.raises(ValueError, match=r"unknown modalities \['sound'\].*'extra', 'image'"):
        _image_fusion(weights={"sound": 1.0}).fit(X.assign(n=1.0))


def test_early_fusion_zero_weight_silences_a_modality(av):
    X, _ = av
    X = X.assign(n=np.arange(len(X), dtype=float))
    fusion = _image_fusion(weights={"image": 0.0})
    features = fusion.fit_transform(X)
    image = fusion.column_transformer_.output_indices_["image"]
    assert np.isfinite(features).all()
    assert not features[:, image].any() and features[:, -1].any()


# -------------------------------------------- item 10: estimators failing on their cells

def test_early_fusion_names_modality_column_and_cells_when_text_gets_numbers(reviews):
    X, _ = reviews
    fusion = EarlyFusion([("text", TfidfVectorizer(), "Age")])
    with pytest.raises(TypeError, match=r"EarlyFusion: modality 'text' \(column 'Age'\) holds "
                                        r"int64 values .*'int' object has no attribute"):
        fusion.fit(X)


def test_early_fusion_names_the_cells_when_text_gets_arrays(av):
    X, _ = av
    fusion = EarlyFusion([("words", TfidfVectorizer(), "audio")])
    with pytest.raises(TypeError, match=r"modality 'words' \(column 'audio'\) holds cells of "
                                        r"type ndarray \(60\) \(e\.g\. float\w* array"):
        fusion.fit(X)


def test_early_fusion_wraps_transform_errors_too(reviews):
    X, _ = reviews
    fusion = EarlyFusion([("title", TfidfVectorizer(), "Title")]).fit(X)
    bad = X.assign(Title=X["Age"].astype(object))
    with pytest.raises(TypeError, match=r"modality 'title' \(column 'Title'\) holds cells of "
                                        r"type int .*transform failed"):
        fusion.transform(bad)


def test_early_fusion_wraps_any_estimators_value_error_with_its_route(reviews):
    # Not special-cased on TfidfVectorizer: any estimator's failure names its route.
    X, _ = reviews
    to_float = FunctionTransformer(lambda part: part.to_numpy(dtype=float))
    fusion = EarlyFusion([("dept", to_float, ["Department Name"])])
    with pytest.raises(ValueError, match=r"modality 'dept' \(column 'Department Name'\) holds "
                                         r"cells of type str .*could not convert"):
        fusion.fit(X)


def test_late_fusion_names_modality_column_and_cells(reviews):
    X, y = reviews
    fusion = LateFusion([("text", make_pipeline(TfidfVectorizer(), LogisticRegression()),
                          "Age")], cv=2)
    with pytest.raises(TypeError, match=r"LateFusion: modality 'text' \(column 'Age'\) holds "
                                        r"int64 values"):
        fusion.fit_transform(X, y)


def _reviews_csv(tmp_path, reviews, target=None):
    X, y = reviews
    frame = X[["Title", "Age"]].copy()
    frame["y"] = y if target is None else target
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _single_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("mmlearn")]
    assert len(lines) == 1, err
    return lines[0]


def test_bench_cli_text_column_of_numbers_is_a_one_line_error(tmp_path, reviews, capsys,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["bench", _reviews_csv(tmp_path, reviews), "--target", "y", "--text", "Age",
              "--heads", "knn", "--cv", "2", "--quiet"])
    assert exc.value.code == 2
    line = _single_error_line(capsys)
    assert "text column 'Age' holds int64 values" in line and "--tabular" in line
    assert not (tmp_path / "bench-results").exists()


def test_run_benchmark_checks_text_cells_before_fitting(reviews):
    X, y = reviews
    with pytest.raises(ValueError, match=r"text column 'Age' holds int64 values: row 0"):
        run_benchmark(X, y=y, modalities={"Title": "text", "Age": "text"}, cv=2)


# ------------------------------------------------- item 5: targets a benchmark cannot use

def test_run_benchmark_refuses_a_single_class_target(reviews):
    X, y = reviews
    keep = y == 1
    with pytest.raises(ValueError, match=r"the target has a single class \(1, all \d+ rows\)"):
        run_benchmark(X[keep], y=y[keep], modalities={"Title": "text"}, heads=["knn"], cv=2)


def test_bench_cli_single_class_exits_non_zero_with_one_line(tmp_path, reviews, capsys):
    path = _reviews_csv(tmp_path, reviews, target="yes")
    with pytest.raises(SystemExit) as exc:
        main(["bench", path, "--target", "y", "--text", "Title", "--heads", "knn", "--cv", "2",
              "--quiet", "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert "single class ('yes', all 80 rows)" in _single_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_run_benchmark_names_classes_with_fewer_rows_than_folds(reviews):
    X, y = reviews
    rows = np.r_[np.flatnonzero(y == 1)[:20], np.flatnonzero(y == 0)[:2]]
    with pytest.raises(ValueError, match=r"1 class\(es\) with fewer rows than the 3 stratified "
                                         r"folds \(n_splits=3\): 0 \(2 rows\).*to 2 or fewer"):
        run_benchmark(X.iloc[rows], y=y[rows], modalities={"Title": "text"}, heads=["knn"],
                      cv=3)


def test_run_benchmark_names_rows_without_a_label(reviews):
    X, y = reviews
    labels = y.astype(object)
    labels[[4, 9]] = None
    with pytest.raises(ValueError, match=r"missing \(None/NaN\) in 2 rows \(first: \[4, 9\]\)"):
        run_benchmark(X, y=labels, modalities={"Title": "text"}, heads=["knn"], cv=2)


# -------------------------------------------------- item 15: --out checked before the run

def _fail_if_run(*args, **kwargs):
    raise AssertionError("the benchmark ran although --out cannot be written")


def _existing_file(tmp_path):
    out = tmp_path / "results"
    out.write_text("not a folder")
    return out


def _folder_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "results"


@pytest.mark.parametrize(
    ("make_out", "message"),
    [
        (_existing_file, "is an existing file, not a folder"),
        (_folder_under_a_file, "is a file, not a folder"),
    ],
)
def test_bench_cli_checks_out_before_running(tmp_path, reviews, capsys, monkeypatch, make_out,
                                             message):
    import mmlearn.bench

    monkeypatch.setattr(mmlearn.bench, "run_benchmark", _fail_if_run)
    out = make_out(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["bench", _reviews_csv(tmp_path, reviews), "--target", "y", "--text", "Title",
              "--quiet", "--out", str(out)])
    assert exc.value.code == 2
    line = _single_error_line(capsys)
    assert "--out" in line and message in line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions that apply (not root)")
def test_bench_cli_rejects_an_unwritable_out_folder(tmp_path, reviews, capsys, monkeypatch):
    import mmlearn.bench

    monkeypatch.setattr(mmlearn.bench, "run_benchmark", _fail_if_run)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SystemExit):
            main(["bench", _reviews_csv(tmp_path, reviews), "--target", "y", "--text",
                  "Title", "--quiet", "--out", str(locked)])
    finally:
        locked.chmod(0o700)
    assert "not writable" in _single_error_line(capsys)


def test_write_results_writes_nothing_when_a_file_is_blocked(tmp_path):
    results = pd.DataFrame([dict(
        rank=1, family="classical", fusion="early", modalities="image", head="knn",
        accuracy_mean=0.9, accuracy_std=0.0, f1_macro_mean=0.9, f1_macro_std=0.0,
        fit_seconds=1.0, predict_seconds=0.1, candidate="c")])
    (tmp_path / "results.png").mkdir()
    with pytest.raises(IsADirectoryError, match="results.png"):
        write_results(results, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.png"]


# ---------------------------------------------------- item 12: MultiIndex columns

@pytest.mark.parametrize("kind", ["early", "late"])
def test_fusion_rejects_multiindex_columns(av, kind):
    X, y = av
    X = X.copy()
    X.columns = pd.MultiIndex.from_tuples([("media", "image"), ("media", "audio")])
    if kind == "early":
        fusion = EarlyFusion([("image", ImagePixelEncoder(), ("media", "image"))])
        name = "EarlyFusion"
    else:
        fusion = LateFusion([("image", make_pipeline(ImagePixelEncoder(), LogisticRegression()),
                              ("media", "image"))], cv=2)
        name = "LateFusion"
    with pytest.raises(ValueError, match=rf"{name}: X has MultiIndex columns \(2 levels.*"
                                         rf"does not support.*Flatten"):
        fusion.fit_transform(X, y)


# -------------------------------------------- item 14: CrossModalAligner's missing cells

def _aligner():
    return CrossModalAligner(
        2, x_encoder=make_pipeline(ImagePixelEncoder(size=8), TruncatedSVD(4, random_state=0)),
        y_encoder=make_pipeline(TfidfVectorizer(), TruncatedSVD(4, random_state=0)))


@pytest.mark.parametrize("missing", [None, np.nan])
def test_aligner_names_the_view_and_rows_of_a_missing_image(emoji, missing):
    images = emoji["image"].copy()
    images[[3, 17]] = missing
    with pytest.raises(ValueError, match=r"CrossModalAligner: X \(the first view\) has a "
                                         r"missing cell \(None/NaN\) in 2 row\(s\) "
                                         r"\(positions \[3, 17\]\)"):
        _aligner().fit(images, emoji["name"])


@pytest.mark.parametrize("missing", [None, np.nan])
def test_aligner_names_the_view_and_rows_of_a_missing_text(emoji, missing):
    names = emoji["name"].copy()
    names[5] = missing
    with pytest.raises(ValueError, match=r"y \(the second view\) has a missing cell "
                                         r"\(None/NaN\) in 1 row\(s\) \(positions \[5\]\)"):
        _aligner().fit(emoji["image"], names)


def test_aligner_checks_missing_cells_at_transform(emoji):
    aligner = _aligner().fit(emoji["image"], emoji["name"])
    images, names = emoji["image"].copy(), emoji["name"].copy()
    images[1], names[2] = None, None
    with pytest.raises(ValueError, match=r"X \(the first view\).*positions \[1\]"):
        aligner.transform(images)
    with pytest.raises(ValueError, match=r"y \(the second view\).*positions \[2\]"):
        aligner.transform_y(names)


def test_aligner_names_the_rows_of_nan_in_numeric_views(emoji):
    pixels = ImagePixelEncoder(size=6).fit_transform(emoji["image"])
    words = TfidfVectorizer().fit_transform(emoji["name"]).toarray()[:, :20]
    bad = pixels.copy()
    bad[7, 0] = np.nan
    with pytest.raises(ValueError, match=r"Input X contains NaN in 1 row\(s\) "
                                         r"\(positions \[7\]\) of the first view"):
        CrossModalAligner(2).fit(bad, words)
    bad = words.copy()
    bad[[0, 30], 3] = np.nan
    with pytest.raises(ValueError, match=r"Input y contains NaN in 2 row\(s\) "
                                         r"\(positions \[0, 30\]\) of the second view"):
        CrossModalAligner(2).fit(pixels, bad)
