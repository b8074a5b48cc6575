"""Tests of mmlearn.bench: data loading, the grid, cached encoders, running and reports."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from joblib import Memory
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mmlearn.bench import (
    ENCODERS,
    RESULT_COLUMNS,
    BenchData,
    EncoderOptions,
    _cache,
    build_candidates,
    format_table,
    load_builtin,
    load_table,
    plot_results,
    run_benchmark,
    runner,
    subsample,
    write_results,
)
from mmlearn.bench._cache import CachedEncoder, TimingLedger
from mmlearn.datasets import load_spoken_digits

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def av_bench():
    return load_builtin("av_digits")


# ------------------------------------------------------------------------------ data

def test_load_builtin_unknown_name():
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_builtin("nope")


def test_subsample_is_stratified_seeded_and_ordered(av_bench):
    small = subsample(av_bench, 100, random_state=0)
    again = subsample(av_bench, 100, random_state=0)
    assert len(small.y) == 100 and small.X.shape == (100, 2)
    np.testing.assert_array_equal(small.y, again.y)
    assert set(np.bincount(small.y)) <= {9, 10, 11}
    assert subsample(av_bench, None) is av_bench
    assert subsample(av_bench, 10_000) is av_bench


def _write_table(tmp_path, frame, name="data.csv"):
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def test_load_table_checks_columns(tmp_path):
    frame = pd.DataFrame({"review": ["good", "bad", None], "age": [1, 2, 3], "y": [1, 0, 1]})
    path = _write_table(tmp_path, frame)
    data = load_table(path, target="y", text=["review"], tabular=["age"])
    assert data.modalities == {"review": "text", "age": "tabular"}
    assert isinstance(data.X["review"].iloc[0], str) and data.X["review"].isna().iloc[2]
    with pytest.raises(ValueError, match="target column 'label' not found"):
        load_table(path, target="label", text=["review"])
    with pytest.raises(ValueError, match="text column.*'comment' not found"):
        load_table(path, target="y", text=["comment"])
    with pytest.raises(ValueError, match="no modality columns"):
        load_table(path, target="y")
    with pytest.raises(ValueError, match="'y' is the target"):
        load_table(path, target="y", tabular=["y"])
    with pytest.raises(FileNotFoundError, match="not found"):
        load_table(tmp_path / "absent.csv", target="y", text=["review"])
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_table(tmp_path / "data.xlsx", target="y", text=["review"])


def test_load_table_resolves_paths_and_drops_unlabelled_rows(tmp_path):
    frame = pd.DataFrame({"clip": ["a.wav", "/abs/b.wav", None], "y": [1.0, None, 0.0]})
    path = _write_table(tmp_path, frame, "data.parquet")
    with pytest.warns(UserWarning, match="dropping 1 rows"):
        data = load_table(path, target="y", audio=["clip"])
    assert data.X["clip"].iloc[0] == str(tmp_path / "a.wav")
    assert data.X["clip"].isna().iloc[1]
    np.testing.assert_array_equal(data.y, [1.0, 0.0])


# ------------------------------------------------------------------------------ grid

def test_grid_singles_then_fusion_heads_innermost():
    cands = build_candidates({"image": "image", "audio": "audio"}, heads=["svc", "knn"])
    assert [(c.fusion, c.modalities, c.head) for c in cands] == [
        ("image only", ("image",), "svc"), ("image only", ("image",), "knn"),
        ("audio only", ("audio",), "svc"), ("audio only", ("audio",), "knn"),
        ("early", ("image", "audio"), "svc"), ("early", ("image", "audio"), "knn"),
    ]
    assert len({c.name for c in cands}) == len(cands)
    fusion = cands[-1].estimator.named_steps["fusion"]
    assert [name for name, _, _ in fusion.transformers] == ["image", "audio"]


def test_grid_one_modality_has_no_fused_candidate_and_one_tfidf_per_text_column():
    cands = build_candidates({"Title": "text", "Review Text": "text"}, heads=["logreg"])
    assert [c.name for c in cands] == ["classical / text only / text / logreg"]
    routes = cands[0].estimator.named_steps["fusion"].transformers
    assert [(name, cols) for name, _, cols in routes] == [
        ("text_title", "Title"), ("text_review_text", "Review Text")]
    assert all(isinstance(enc, TfidfVectorizer) for _, enc, _ in routes)


def test_grid_options_and_memory_reach_the_encoders(tmp_path):
    options = EncoderOptions(sample_rate=8000, image_size=(4, 6))
    cands = build_candidates({"im": "image", "au": "audio"}, heads=["svc"], options=options,
                             memory=Memory(tmp_path, verbose=0))
    fused = cands[-1].estimator.named_steps["fusion"].transformers
    assert all(isinstance(enc, CachedEncoder) for _, enc, _ in fused)
    assert fused[0][1].encoder[0].size == (4, 6)
    assert fused[1][1].encoder[0].sample_rate == 8000
    # The plain routes (for warm-up) are not wrapped.
    assert not any(isinstance(enc, CachedEncoder) for _, enc, _ in cands[-1].routes)


def test_grid_fusion_axis_builds_late_voting_and_joint(tmp_path):
    from mmlearn.encoders import AudioCNNEncoder, ImageCNNEncoder
    from mmlearn.fusion import JointFusion, LateFusion
    from mmlearn.heads import VotingHead

    cands = build_candidates({"image": "image", "audio": "audio"}, families=["deep"],
                             fusions=["late", "voting", "joint"], heads=["svc", "knn"],
                             memory=Memory(tmp_path, verbose=0))
    fused = [(c.fusion, c.head) for c in cands if len(c.modalities) == 2]
    # Voting brings its own head: one candidate, not one per head.
    assert fused == [("late", "svc"), ("late", "knn"), ("voting", "voting"),
                     ("joint", "svc"), ("joint", "knn")]
    late = cands[4].estimator
    assert isinstance(late.named_steps["fusion"], LateFusion)
    assert late.named_steps["head"].__class__.__name__ == "SVC"
    per_modality = late.named_steps["fusion"].estimators[0][1]
    assert isinstance(per_modality[0], CachedEncoder)
    assert per_modality[-1].__class__.__name__ == "LogisticRegression"
    assert isinstance(cands[6].estimator.named_steps["head"], VotingHead)
    joint = cands[7].estimator.named_steps["fusion"]
    assert isinstance(joint, CachedEncoder) and isinstance(joint.encoder, JointFusion)
    # The deep encoders' networks are the joint network's branches, not cached features.
    branches = [enc for _, enc, _ in joint.encoder.encoders]
    assert isinstance(branches[0], ImageCNNEncoder) and isinstance(branches[1], AudioCNNEncoder)


def test_run_benchmark_late_and_voting_on_the_same_folds(av_bench):
    results = run_benchmark(av_bench, fusions=["late", "voting"], heads=["logreg"], cv=2,
                            max_samples=120)
    fused = results[results["modalities"] == "image+audio"]
    assert sorted(fused["fusion"]) == ["late", "voting"]
    assert (fused["accuracy_mean"] > 0.5).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"heads": ["forest"]}, "unknown head 'forest'"),
        ({"families": ["quantum"]}, "unknown encoder family 'quantum'"),
        ({"fusions": ["medium"]}, "unknown fusion 'medium'"),
        ({"heads": []}, "unknown head"),
    ],
)
def test_grid_rejects_unknown_axis_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_candidates({"image": "image"}, **kwargs)


def test_grid_rejects_unknown_modality():
    with pytest.raises(ValueError, match="unknown modality"):
        build_candidates({"x": "video"})


# ------------------------------------------------------------------------------ cache

class SlowEncoder(TransformerMixin, BaseEstimator):
    """Takes ``delay`` seconds to fit, so the cache's time accounting can be checked.

    With ``log`` (a file path), each real fit appends its number of rows there, which also
    counts fits made in joblib's worker processes.
    """

    fits = 0  # counts real fits in this process, across instances (a cache hit does not fit)

    def __init__(self, delay=0.5, log=None):
        self.delay = delay
        self.log = log

    def fit(self, X, y=None):
        SlowEncoder.fits += 1
        if self.log is not None:
            with open(self.log, "a") as f:
                f.write(f"{len(X)}\n")
        time.sleep(self.delay)
        self.n_features_in_ = 1
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float).reshape(-1, 1) * 2


def test_cached_encoder_reuses_results_and_charges_their_compute_time(tmp_path):
    memory = Memory(tmp_path, verbose=0)
    X = np.arange(5.0)
    first = CachedEncoder(SlowEncoder(), memory=memory)
    with TimingLedger().recording() as ledger:
        out = first.fit_transform(X)
    # A miss: fitting took the real time, so nothing is added (only overhead removed).
    assert -0.5 < ledger.seconds <= 0.0
    assert ledger.seconds == first.fit_correction_

    second = clone(first)
    fits_before = SlowEncoder.fits
    with TimingLedger().recording() as ledger:
        start = time.perf_counter()
        np.testing.assert_array_equal(second.fit_transform(X), out)
        elapsed = time.perf_counter() - start
    assert SlowEncoder.fits == fits_before, "the second fit should load from the cache"
    # A hit: the ledger adds back what the skipped fit cost.
    assert elapsed + ledger.seconds == pytest.approx(first.fit_seconds_, abs=0.15)
    assert second.fit_correction_ == pytest.approx(ledger.seconds)
    assert second.fit_seconds_ == pytest.approx(first.fit_seconds_)
    np.testing.assert_array_equal(second.transform(X), X.reshape(-1, 1) * 2)


def test_ledger_records_only_inside_its_block(tmp_path):
    memory = Memory(tmp_path, verbose=0)
    X = np.arange(5.0)
    CachedEncoder(SlowEncoder(0.2), memory=memory).fit(X)  # fill the cache
    outer, inner = TimingLedger(), TimingLedger()
    with outer.recording():
        with inner.recording():
            CachedEncoder(SlowEncoder(0.2), memory=memory).fit(X)
        assert outer.seconds == 0.0 and inner.seconds > 0.15
        CachedEncoder(SlowEncoder(0.2), memory=memory).fit(X)
    assert outer.seconds > 0.15
    # Outside any block a hit still records its correction on itself, and charges nobody.
    encoder = CachedEncoder(SlowEncoder(0.2), memory=memory).fit(X)
    assert encoder.fit_correction_ > 0.15
    assert outer.seconds == pytest.approx(inner.seconds, abs=0.1)


def test_ledger_charges_the_clones_late_fusion_discards(tmp_path):
    # LateFusion fits clones of each modality's pipeline for its cross-fitting and keeps
    # only the refit: the corrections of the others exist only in the ledger.
    from mmlearn.fusion import LateFusion

    X = pd.DataFrame({"x": np.arange(30.0)})
    y = np.arange(30) % 2
    cached = CachedEncoder(SlowEncoder(0.2), memory=Memory(tmp_path, verbose=0))
    late = LateFusion([("x", make_pipeline(cached, LogisticRegression()), "x")], cv=2)
    clone(late).fit_transform(X, y)  # fills the cache: two cross-fits and the refit
    with TimingLedger().recording() as ledger:
        fitted = clone(late)
        fitted.fit_transform(X, y)
    kept = fitted.estimators_[0][0]
    assert kept.fit_correction_ == pytest.approx(0.2, abs=0.1)
    assert ledger.seconds == pytest.approx(3 * 0.2, abs=0.1)


def test_bench_modules_keep_no_module_level_mutable_state():
    # What a run learns (the cache corrections, what has been warmed up) belongs to the run
    # or the task: in a module it would outlive the run, in each joblib worker process.
    for module in (runner, _cache):
        tree = ast.parse(Path(module.__file__).read_text())
        assigned = [target.id for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
                    for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(target, ast.Name)]
        assert assigned, module.__name__
        for name in set(assigned) - {"__all__", "RESULT_COLUMNS"}:
            value = getattr(module, name)
            assert not isinstance(value, set | dict | list | bytearray | TimingLedger), (
                f"{module.__name__}.{name} is module-level mutable state"
            )


# ------------------------------------------------------------------------------ run

def test_run_benchmark_ranks_candidates_with_honest_columns(av_bench):
    results = run_benchmark(av_bench, heads=["knn", "logreg"], cv=3, max_samples=120)
    folds = ["accuracy_folds", "balanced_accuracy_folds", "macro_f1_folds"]
    assert list(results.columns) == RESULT_COLUMNS + folds
    assert len(results) == 7  # 6 candidates and the majority-class baseline
    assert results["rank"].tolist() == list(range(1, 8))
    assert results["accuracy_mean"].is_monotonic_decreasing
    assert results[folds].map(len).eq(3).all().all()
    assert (results["fit_seconds"] > 0).all() and (results["predict_seconds"] > 0).all()
    meta = results.attrs["metadata"]
    assert meta["n_samples"] == 120 and meta["cv"] == 3 and meta["sample_rate"] == 8000
    assert meta["splitter"] == "StratifiedKFold" and "scikit-learn" in meta["versions"]
    # 12 rows per class: balanced, so ranked by accuracy.
    assert meta["metric"] == "accuracy" and "balanced" in meta["metric_reason"]
    # The baseline predicts one class of ten: last, and far below everything else.
    base = results.iloc[-1]
    assert (base["family"], base["modalities"], base["head"]) == ("baseline", "none",
                                                                  "majority")
    assert base["accuracy_mean"] == pytest.approx(0.1, abs=0.02)
    assert base["balanced_accuracy_mean"] == pytest.approx(0.1)
    assert not base["tied_with_best"] and base["p_vs_best"] < 0.05
    # Intervals contain their means; the best is tied with itself.
    assert (results["ci_low"] <= results["accuracy_mean"]).all()
    assert (results["accuracy_mean"] <= results["ci_high"]).all()
    assert results.loc[0, "tied_with_best"] and results.loc[0, "p_vs_best"] == 1.0


def test_imbalanced_classes_rank_by_macro_f1_and_roc_auc_on_request():
    from mmlearn.datasets import load_clothing_reviews

    X, y = load_clothing_reviews(return_X_y=True)
    rows = np.r_[np.flatnonzero(y == 1)[:64], np.flatnonzero(y == 0)[:16]]
    X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    modalities = {"Title": "text", "Age": "tabular"}
    results = run_benchmark(X, y=y, modalities=modalities, heads=["logreg"], cv=2)
    meta = results.attrs["metadata"]
    assert meta["metric"] == "macro_f1"
    assert meta["metric_reason"] == "classes imbalanced: smallest/largest = 0.25 < 0.5"
    assert results["macro_f1_mean"].is_monotonic_decreasing
    # Always answering "recommended" is right 80 % of the time, and has macro-F1 0.444.
    base = results.set_index("family").loc["baseline"]
    assert base["accuracy_mean"] == pytest.approx(0.8)
    assert base["macro_f1_mean"] == pytest.approx(0.8 / 1.8)

    ranked = run_benchmark(X, y=y, modalities=modalities, heads=["logreg"], cv=2,
                           metric="roc_auc")
    assert ranked.attrs["metadata"]["metric"] == "roc_auc"
    assert ranked["roc_auc_mean"].is_monotonic_decreasing
    assert ranked.set_index("family").loc["baseline", "roc_auc_mean"] == 0.5
    assert ranked["roc_auc_folds"].map(len).eq(2).all()


def test_run_benchmark_rejects_an_unknown_metric(av_bench):
    with pytest.raises(ValueError, match="unknown metric 'f1'; choose from accuracy, "
                                         "balanced_accuracy, macro_f1, roc_auc"):
        run_benchmark(av_bench, heads=["knn"], cv=2, max_samples=40, metric="f1")


def test_cache_changes_timings_not_scores(av_bench):
    kwargs = dict(modalities={"audio": "audio"}, heads=["knn", "svc"], cv=2, max_samples=60,
                  baseline=False)
    cached = run_benchmark(av_bench, cache=True, **kwargs)
    plain = run_benchmark(av_bench, cache=False, **kwargs)
    pd.testing.assert_frame_equal(
        cached[["candidate", "accuracy_mean", "macro_f1_mean"]],
        plain[["candidate", "accuracy_mean", "macro_f1_mean"]],
    )
    # Both heads report the encoder's cost, though only the first one computed it.
    assert cached["fit_seconds"].min() > 0.3 * plain["fit_seconds"].min()


class ColdStartEncoder(TransformerMixin, BaseEstimator):
    """Its first fit in a process pays a one-time cost, as importing librosa does."""

    cold = True  # the test sets it back to True to stand for a fresh (worker) process

    def __init__(self, cost=0.6):
        self.cost = cost

    def fit(self, X, y=None):
        if ColdStartEncoder.cold:
            ColdStartEncoder.cold = False
            time.sleep(self.cost)
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float).reshape(len(X), -1)


def test_every_run_keeps_one_time_costs_out_of_the_timings(monkeypatch):
    monkeypatch.setitem(ENCODERS, "coldstart", {
        "tabular": lambda columns, options: [("tabular", ColdStartEncoder(), list(columns))],
    })
    X = pd.DataFrame({"x": np.arange(40.0)})
    y = np.arange(40) % 2
    for _ in range(2):
        # A second run (or another worker) must not trust what an earlier one warmed up.
        ColdStartEncoder.cold = True
        results = run_benchmark(X, y=y, modalities={"x": "tabular"}, families=["coldstart"],
                                heads=["knn"], cv=2, cache=False)
        assert ColdStartEncoder.cold is False
        assert results["fit_seconds"].max() < 0.3


def test_cache_corrections_are_per_task_in_process_workers(monkeypatch, tmp_path):
    delay, log = 0.3, tmp_path / "fits.txt"
    monkeypatch.setitem(ENCODERS, "slow", {
        "tabular": lambda columns, options: [
            ("tabular", SlowEncoder(delay, log=str(log)), list(columns))],
    })
    X = pd.DataFrame({"x": np.arange(40.0)})
    y = np.arange(40) % 2
    candidates = build_candidates({"x": "tabular"}, families=["slow"], heads=["knn", "logreg"],
                                  memory=Memory(tmp_path / "cache", verbose=0))
    first, second = np.arange(20), np.arange(20, 40)
    folds = [(first, second), (second, first)]

    def real_fits():  # warm-ups fit on a few rows, timed fits on a training fold
        return sum(int(n) > 8 for n in log.read_text().split())

    # The evaluation step itself, twice on one cache, so the second pass surely hits it.
    runs = [runner._evaluate_all(candidates, X, y, folds, n_jobs=2, progress=False)]
    fits = real_fits()
    assert 2 <= fits <= 4
    runs.append(runner._evaluate_all(candidates, X, y, folds, n_jobs=2, progress=False))
    assert real_fits() == fits, "the second pass should only load from the cache"
    for scores in runs:
        seconds = [s["fit_seconds"] for s in scores.values()]
        # Each task is charged the encoder's fit once, whether it computed or loaded it: a
        # ledger shared by tasks (or runs) would add up, one lost by a worker would be 0.
        assert min(seconds) > 0.9 * delay and max(seconds) < delay + 0.25


def test_run_benchmark_on_dataframe_and_groups(av_bench):
    X, y = av_bench.X, av_bench.y
    with pytest.raises(ValueError, match="pass y and modalities"):
        run_benchmark(X)
    results = run_benchmark(X, y=y, modalities={"image": "image"}, heads=["knn"], cv=3,
                            groups=av_bench.groups, max_samples=150)
    assert results.attrs["metadata"]["splitter"] == "StratifiedGroupKFold"
    assert results["candidate"].tolist() == ["classical / image only / image / knn",
                                             "baseline / majority class / none / majority"]
    with pytest.raises(ValueError, match="has no groups"):
        run_benchmark(BenchData(X, y, {"image": "image"}, "x"), groups=True, heads=["knn"])


def test_audio_paths_are_read_and_resampled(tmp_path):
    spoken = load_spoken_digits()
    rows = np.r_[np.flatnonzero(spoken.target == 0)[:8], np.flatnonzero(spoken.target == 1)[:8]]
    names = []
    for i, row in enumerate(rows):
        soundfile.write(tmp_path / f"clip{i}.wav", spoken.data["audio"].iloc[row], 8000)
        names.append(f"clip{i}.wav")
    path = _write_table(tmp_path, pd.DataFrame({"clip": names, "digit": spoken.target[rows]}))
    data = load_table(path, target="digit", audio=["clip"], sample_rate=16000)
    results = run_benchmark(data, heads=["knn"], cv=2)
    assert results.attrs["metadata"]["sample_rate"] == 16000
    assert results["accuracy_mean"].iloc[0] > 0.5


# ---------------------------------------------------------------------------- report

def _fake_results(n=3):
    rng = np.random.default_rng(0)
    acc = np.sort(rng.uniform(0.5, 1, n))[::-1]
    return pd.DataFrame({
        "rank": np.arange(1, n + 1), "family": ["classical"] * (n - 1) + ["baseline"],
        "fusion": ["early"] + ["image only"] * (n - 2) + ["majority class"],
        "modalities": ["image"] * (n - 1) + ["none"],
        "head": ["svc"] * (n - 1) + ["majority"], "accuracy_mean": acc, "accuracy_std": 0.01,
        "balanced_accuracy_mean": acc, "balanced_accuracy_std": 0.01, "macro_f1_mean": acc,
        "macro_f1_std": 0.01, "ci_low": acc - 0.02, "ci_high": acc + 0.02,
        "p_vs_best": [1.0] + [0.01] * (n - 1), "tied_with_best": [True] + [False] * (n - 1),
        "fit_seconds": 1.234, "predict_seconds": 0.5,
        "candidate": [f"c{i}" for i in range(n)], "accuracy_folds": [[a, a] for a in acc],
        "balanced_accuracy_folds": [[a, a] for a in acc],
        "macro_f1_folds": [[a, a] for a in acc],
    })


def test_format_table_is_aligned_with_every_column():
    results = _fake_results()
    text = format_table(results)
    lines = text.splitlines()
    assert lines[0].split() == ["rank", "family", "fusion", "modalities", "head", "accuracy",
                                "(95%", "CI)", "≈best", "bal.", "acc.", "macro-F1", "fit",
                                "s", "predict", "s"]
    assert len(lines) == 4
    assert len({line.index("1.23") for line in lines[1:]}) == 1
    low, high = results.loc[0, ["ci_low", "ci_high"]]
    assert f"[{low:.3f}, {high:.3f}]" in lines[1] and "1.23" in lines[1]
    assert " yes " in lines[1] and " yes " not in lines[2]
    # The ranking metric comes first and is not repeated.
    by_f1 = format_table(results, metric="macro_f1").splitlines()[0].split()
    assert by_f1[5] == "macro-F1" and "macro-F1" not in by_f1[6:] and "accuracy" in by_f1


def test_write_results_files(tmp_path):
    results = _fake_results()
    results.attrs["metadata"] = {"dataset": "toy", "n_samples": 10, "cv": 2,
                                 "splitter": "StratifiedKFold", "seed": np.int64(0)}
    paths = write_results(results, tmp_path / "out")
    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == RESULT_COLUMNS and len(csv) == 3
    document = json.loads(paths["json"].read_text())
    assert document["metadata"]["seed"] == 0
    assert document["results"][0]["accuracy_folds"] == results["accuracy_folds"][0]
    assert paths["png"].read_bytes()[:8] == PNG_SIGNATURE


def test_plot_results_many_candidates(tmp_path):
    path = plot_results(_fake_results(30), tmp_path / "chart.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_chart_axis_fits_the_data_and_front_is_pareto(tmp_path):
    from mmlearn.bench.report import _axis_range, _pareto

    # Candidates between 0.94 and 0.99: the axis spans about that, not 0 to 1; a far
    # baseline stays off scale, a near one joins the range.
    lo, hi = _axis_range(np.array([0.94, 0.95]), np.array([0.97, 0.99]), baseline=0.1)
    assert 0.9 < lo < 0.94 and 0.99 < hi <= 1.0
    lo, _ = _axis_range(np.array([0.94, 0.95]), np.array([0.97, 0.99]), baseline=0.935)
    assert lo < 0.935
    # (seconds, score): 2 is slower and worse than 0; 1 and 3 each buy score with time.
    front = _pareto(np.array([1.0, 5.0, 2.0, 50.0]), np.array([0.9, 0.95, 0.85, 0.99]))
    assert front.tolist() == [0, 1, 3]
    results = _fake_results(5)
    results.attrs["metadata"] = {"metric": "macro_f1"}
    assert plot_results(results, tmp_path / "c.png").read_bytes()[:8] == PNG_SIGNATURE


def test_default_preset_is_the_mission_and_full_is_everything():
    from mmlearn.bench.grid import FUSIONS, HEADS, PRESETS

    preset = PRESETS["default"]
    cands = build_candidates({"image": "image", "audio": "audio"}, **preset.axes(),
                             skip=preset.skip, max_epochs=preset.max_epochs, baseline=True)
    cells = {(c.family, c.fusion) for c in cands}
    assert cells == {("classical", "image only"), ("classical", "audio only"),
                     ("classical", "early"), ("classical", "late"), ("classical", "joint"),
                     ("deep", "image only"), ("deep", "audio only"), ("deep", "early"),
                     ("deep", "joint"), ("baseline", "majority class")}
    assert cands[-1].name == "baseline / majority class / none / majority"
    epochs = [v for c in cands for k, v in c.estimator.get_params().items()
              if k.endswith("max_epochs")]
    assert epochs and max(epochs) == preset.max_epochs
    full = PRESETS["full"].axes()
    assert full["families"] == tuple(ENCODERS) and full["fusions"] == tuple(FUSIONS)
    assert full["heads"] == tuple(HEADS) and PRESETS["full"].max_epochs is None
