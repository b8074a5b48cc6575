"""``mmlearn bench --save-best`` and ``mmlearn predict``: take the best model away, use it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from mmlearn.bench import load_builtin, run_benchmark
from mmlearn.bench.predict import model_columns, predict_table, refit_best
from mmlearn.cli import main
from mmlearn.datasets import load_clothing_reviews


@pytest.fixture(scope="module")
def reviews():
    X, y = load_clothing_reviews(return_X_y=True)
    rows = np.r_[np.flatnonzero(y == 1)[:48], np.flatnonzero(y == 0)[:16]]
    frame = X.iloc[rows][["Title", "Review Text", "Age", "Department Name"]]
    frame = frame.assign(recommended=y[rows])
    # A non-default index: predictions must be keyed by it.
    frame.index = [f"review-{i}" for i in rows]
    return frame


@pytest.fixture(scope="module")
def saved_model(reviews, tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    reviews.to_parquet(folder / "train.parquet")
    model = folder / "best.mmlearn"
    status = main(["bench", str(folder / "train.parquet"), "--target", "recommended",
                   "--text", "Review Text", "--tabular", "Age,Department Name",
                   "--families", "classical", "--fusions", "early", "--heads", "logreg",
                   "--cv", "2", "--quiet", "--out", str(folder / "out"),
                   "--save-best", str(model)])
    assert status == 0
    return model


def test_save_best_then_predict_keyed_by_the_input_index(saved_model, reviews, tmp_path,
                                                          capsys):
    results = pd.read_csv(saved_model.parent / "out" / "results.csv")
    new = reviews.drop(columns="recommended").iloc[::3]
    new.to_parquet(tmp_path / "new.parquet")
    out = tmp_path / "predictions.parquet"
    assert main(["predict", str(saved_model), str(tmp_path / "new.parquet"),
                 "--out", str(out)]) == 0
    assert f"wrote {len(new)} predictions" in capsys.readouterr().err
    predictions = pd.read_parquet(out)
    assert predictions.index.tolist() == new.index.tolist()
    assert list(predictions.columns) == ["prediction", "proba_0", "proba_1"]
    assert set(predictions["prediction"]) <= {0, 1}
    np.testing.assert_allclose(predictions[["proba_0", "proba_1"]].sum(axis=1), 1.0)
    # The saved model is the best candidate, on that candidate's columns only.
    from mmlearn.io import load

    model = load(saved_model)
    best = results.loc[0]
    expected = {"text": ["Review Text"], "tabular": ["Age", "Department Name"]}
    wanted = [c for m in best["modalities"].split("+") for c in expected.get(m, [])]
    assert sorted(model_columns(model)) == sorted(wanted or
                                                  ["Review Text", "Age", "Department Name"])
    # CSV output keeps the index as its first column.
    assert main(["predict", str(saved_model), str(tmp_path / "new.parquet"),
                 "--out", str(tmp_path / "p.csv")]) == 0
    csv = pd.read_csv(tmp_path / "p.csv", index_col=0)
    assert csv.index.tolist() == new.index.tolist()


def test_predict_names_the_absent_columns(saved_model, reviews, tmp_path, capsys):
    from mmlearn.io import load

    needed = model_columns(load(saved_model))
    reviews.drop(columns=needed).to_parquet(tmp_path / "cut.parquet")
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(saved_model), str(tmp_path / "cut.parquet"),
              "--out", str(tmp_path / "p.parquet")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"the model needs column(s) {needed[0]!r}" in err and "absent from the data" in err
    assert not (tmp_path / "p.parquet").exists()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("{data}", "not an mmlearn model file"),
        ("{tmp}/none.mmlearn", "model file not found"),
    ],
)
def test_predict_refuses_a_file_that_is_not_a_model(model, message, reviews, tmp_path,
                                                    capsys):
    reviews.to_parquet(tmp_path / "data.parquet")
    model = model.replace("{data}", str(tmp_path / "data.parquet")).replace(
        "{tmp}", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        main(["predict", model, str(tmp_path / "data.parquet"),
              "--out", str(tmp_path / "p.parquet")])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_predict_rejects_an_unknown_output_type(saved_model, reviews, tmp_path, capsys):
    reviews.to_parquet(tmp_path / "data.parquet")
    with pytest.raises(SystemExit):
        main(["predict", str(saved_model), str(tmp_path / "data.parquet"),
              "--out", str(tmp_path / "p.xlsx")])
    assert "unsupported file type '.xlsx'; use .parquet or .csv" in capsys.readouterr().err


def test_predict_table_without_probabilities_and_unfitted_on_frames():
    from sklearn.svm import SVC

    train = pd.DataFrame({"a": [0.0, 1.0, 0.1, 0.9], "b": [1.0, 0.0, 0.9, 0.2]})
    model = SVC().fit(train, [0, 1, 0, 1])
    out = predict_table(model, train.set_axis(list("wxyz")))
    assert list(out.columns) == ["prediction"] and out.index.tolist() == list("wxyz")
    with pytest.raises(TypeError, match="not fitted on a DataFrame"):
        predict_table(DummyClassifier().fit(np.zeros((2, 1)), [0, 1]), train)


def test_refit_best_uses_the_winning_candidate_and_its_columns():
    data = load_builtin("av_digits")
    results = run_benchmark(data, families=["classical"], heads=["logreg"], cv=2,
                            max_samples=80)
    model = refit_best(results, data)
    best = results.loc[0, "modalities"].split("+")
    assert model_columns(model) == [c for c in ("image", "audio") if c in best]
    assert model.predict(data.X[model_columns(model)].iloc[:3]).shape == (3,)
