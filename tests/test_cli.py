"""Tests of the ``mmlearn`` command: ``mmlearn bench`` end to end and its usage errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmlearn.bench import RESULT_COLUMNS
from mmlearn.cli import main
from mmlearn.datasets import load_clothing_reviews, load_emoji

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_outputs(out, n_candidates):
    assert {p.name for p in out.iterdir()} == {"results.csv", "results.json", "results.png"}
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns) == RESULT_COLUMNS
    assert len(csv) == n_candidates and csv["candidate"].is_unique
    assert csv["rank"].tolist() == list(range(1, n_candidates + 1))
    assert csv["accuracy_mean"].is_monotonic_decreasing
    assert ((csv["accuracy_mean"] >= 0) & (csv["accuracy_mean"] <= 1)).all()
    assert (out / "results.png").read_bytes()[:8] == PNG_SIGNATURE
    document = json.loads((out / "results.json").read_text())
    assert [r["candidate"] for r in document["results"]] == csv["candidate"].tolist()
    return csv, document["metadata"]


def test_bench_builtin_dataset(tmp_path, capsys):
    out = tmp_path / "results"
    status = main(["bench", "--dataset", "av_digits", "--max-samples", "200", "--cv", "2",
                   "--families", "classical", "--fusions", "early",
                   "--heads", "svc,knn,logreg", "--out", str(out)])
    assert status == 0
    captured = capsys.readouterr()
    csv, meta = _check_outputs(out, 10)
    assert set(csv["fusion"]) == {"image only", "audio only", "early", "majority class"}
    assert set(csv["head"]) == {"svc", "knn", "logreg", "majority"}
    assert meta["dataset"] == "av_digits" and meta["n_samples"] == 200
    assert meta["cv"] == 2 and meta["seed"] == 0 and meta["metric"] == "accuracy"
    lines = captured.out.splitlines()
    assert lines[0].startswith("av_digits: 200 samples, 10 classes, 2-fold StratifiedKFold")
    assert lines[1].startswith("ranked by accuracy (classes balanced")
    assert lines[2].split()[:6] == ["rank", "family", "fusion", "modalities", "head",
                                    "accuracy"]
    assert len(lines) == 3 + 10
    # The progress bar shows elapsed and remaining time: [elapsed<remaining].
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", captured.err)
    # The progress bar and the file list go to stderr, not into the table.
    assert "bench" in captured.err and "results.csv" in captured.err


def test_bench_user_parquet_with_image_paths_text_and_tabular(tmp_path, capsys):
    reviews, emoji = load_clothing_reviews(), load_emoji()
    rows = np.r_[np.flatnonzero(reviews.target == 1)[:24],
                 np.flatnonzero(reviews.target == 0)[:16]]
    frame = reviews.data.iloc[rows][["Title", "Age", "Department Name"]]
    frame = frame.reset_index(drop=True)
    (tmp_path / "images").mkdir()
    photos = []
    for i in range(len(frame)):
        Image.fromarray(emoji.data["image"].iloc[i]).save(tmp_path / "images" / f"{i}.png")
        photos.append(f"images/{i}.png")  # relative to the data file
    photos[3] = None  # a missing image is imputed, not an error
    frame["photo"] = photos
    frame["recommended"] = reviews.target[rows]
    assert frame["Title"].isna().any()  # real missing titles
    frame.to_parquet(tmp_path / "reviews.parquet")

    out = tmp_path / "out"
    status = main(["bench", str(tmp_path / "reviews.parquet"), "--target", "recommended",
                   "--text", "Title", "--tabular", "Age,Department Name", "--image", "photo",
                   "--image-size", "16", "--heads", "knn,logreg", "--cv", "2", "--quiet",
                   "--families", "classical", "--fusions", "early", "--out", str(out)])
    assert status == 0
    assert capsys.readouterr().err == ""
    csv, meta = _check_outputs(out, 9)
    assert set(csv["fusion"]) == {"image only", "text only", "tabular only", "early",
                                  "majority class"}
    assert csv.loc[csv["fusion"] == "early", "modalities"].eq("image+text+tabular").all()
    assert meta["modalities"] == {"photo": "image", "Title": "text", "Age": "tabular",
                                  "Department Name": "tabular"}


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"review": ["great", "poor", "fine", "bad"], "age": [30, 40, 50, 60],
                  "y": [1, 0, 1, 0]}).to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["missing.parquet", "--target", "y", "--text", "t"], "data file not found"),
        (["{table}", "--target", "y", "--text", "comment"], "'comment' not found"),
        (["{table}", "--target", "y", "--tabular", "age,height"], "'height' not found"),
        (["{table}", "--target", "y"], "no modality columns given"),
        (["{table}", "--target", "label", "--text", "review"], "target column 'label'"),
        (["{table}", "--text", "review"], "--target COLUMN is required"),
        (["--dataset", "emoji", "--image", "picture"], "'picture' not found"),
        (["--dataset", "emoji", "--target", "y"], "--target is for a data file"),
        (["--dataset", "emoji", "--heads", "svc,forest"], "unknown --heads forest"),
        (["--dataset", "emoji", "{table}"], "not both"),
        ([], "give a data file"),
        (["--dataset", "emoji", "--cv", "0"], "must be a positive integer"),
        (["--dataset", "emoji", "--image-size", "big"], "expected N or HxW"),
        (["{table}", "--target", "y", "--text", "review", "--cv", "3"], "n_splits=3"),
        (["--dataset", "emoji", "--metric", "f1"], "--metric: invalid choice: 'f1'"),
        (["--dataset", "emoji", "--preset", "huge"], "invalid choice: 'huge'"),
        (["--dataset", "emoji", "--save-best", "{missing}/model.mmlearn"],
         "--save-best: cannot write"),
        (["--dataset", "emoji", "--save-best", "{folder}"], "--save-best: '"),
        (["--dataset", "emoji", "--save-best", "{table}/model.mmlearn"],
         "is a file, not a folder"),
    ],
)
def test_bench_usage_errors(args, message, table, capsys, tmp_path):
    args = [a.replace("{table}", table).replace("{missing}", str(tmp_path / "no" / "such"))
            .replace("{folder}", str(tmp_path)) for a in args]
    with pytest.raises(SystemExit) as exc:
        main(["bench", *args, "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    # The documented prefix: the subcommand's own, as argparse prints its parse errors.
    assert "mmlearn bench: error: " in err


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "mmlearn", "bench", "--help"],
                          capture_output=True, text=True, check=True)
    assert "--dataset" in done.stdout and "--max-samples" in done.stdout


@pytest.fixture
def no_run(monkeypatch):
    """Make run_benchmark record its arguments and stop, so usage tests fit nothing."""
    import mmlearn.bench

    calls = []

    def record(data, **kwargs):
        calls.append(kwargs)
        raise SystemExit(0)

    monkeypatch.setattr(mmlearn.bench, "run_benchmark", record)
    return calls


def test_readme_command_runs_the_default_preset(no_run, tmp_path):
    from mmlearn.bench.grid import PRESETS

    with pytest.raises(SystemExit):
        main(["bench", "--dataset", "av_digits", "--quiet", "--out", str(tmp_path / "o")])
    default = PRESETS["default"]
    kwargs = no_run[-1]
    assert (kwargs["families"], kwargs["fusions"], kwargs["heads"]) == (
        list(default.families), list(default.fusions), list(default.heads))
    assert {"classical", "deep"} <= set(kwargs["families"])
    assert {"early", "late", "joint"} <= set(kwargs["fusions"])
    assert kwargs["skip"] == default.skip and kwargs["max_epochs"] == default.max_epochs
    assert kwargs["metric"] is None  # chosen from the classes' balance
    # An axis given on the command line replaces the preset's and is run in full.
    with pytest.raises(SystemExit):
        main(["bench", "--dataset", "av_digits", "--fusions", "late", "--quiet",
              "--out", str(tmp_path / "o"), "--metric", "roc_auc"])
    assert no_run[-1]["fusions"] == ["late"] and no_run[-1]["skip"] == ()
    assert no_run[-1]["families"] == list(default.families)
    assert no_run[-1]["metric"] == "roc_auc"
    # Other heads do not bring back the cells the preset leaves out.
    with pytest.raises(SystemExit):
        main(["bench", "--dataset", "av_digits", "--heads", "knn", "--quiet",
              "--out", str(tmp_path / "o")])
    assert no_run[-1]["heads"] == ["knn"] and no_run[-1]["skip"] == default.skip


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions that apply (not root)")
def test_save_best_unwritable_is_refused_before_the_run(no_run, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SystemExit) as exc:
            main(["bench", "--dataset", "av_digits", "--quiet", "--out", str(tmp_path / "o"),
                  "--save-best", str(locked / "model.mmlearn")])
    finally:
        locked.chmod(0o700)
    assert exc.value.code == 2 and not no_run
    assert "--save-best: cannot write" in capsys.readouterr().err
