"""Run a benchmark: every candidate cross-validated on the same folds.

:func:`run_benchmark` reads top-down as its steps: resolve the data, make the folds, build
the candidates, evaluate every (candidate, fold) in parallel, summarise, describe the run.
Nothing is kept between runs or between tasks: each task (one candidate on one fold)
warms itself up and records its cache corrections in its own :class:`TimingLedger`, so a
joblib worker process holds no benchmark state once its task returns.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import numpy as np
import pandas as pd
from joblib import Memory, Parallel, delayed, parallel_config
from joblib.parallel import get_active_backend
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_validate

from mmlearn.bench._cache import TimingLedger
from mmlearn.bench.data import (
    BenchData,
    check_cells,
    load_builtin,
    select_modalities,
    subsample,
)
from mmlearn.bench.grid import (
    DEFAULT_HEADS,
    HEADS,
    Candidate,
    EncoderOptions,
    build_candidates,
)
from mmlearn.bench.metrics import ALWAYS_MEASURED, choose_metric, score_predictions
from mmlearn.bench.stats import compare_to_best, mean_confidence_interval

__all__ = ["run_benchmark", "RESULT_COLUMNS"]

RESULT_COLUMNS = [
    "rank", "family", "fusion", "modalities", "head",
    "accuracy_mean", "accuracy_std", "balanced_accuracy_mean", "balanced_accuracy_std",
    "macro_f1_mean", "macro_f1_std", "ci_low", "ci_high", "p_vs_best", "tied_with_best",
    "fit_seconds", "predict_seconds", "candidate",
]
# Candidates not statistically distinguishable from the best: corrected t-test p >= this.
ALPHA = 0.05


def run_benchmark(
    data: str | BenchData | pd.DataFrame,
    *,
    y=None,
    modalities: Mapping[str, str] | None = None,
    families: Sequence[str] = ("classical",),
    fusions: Sequence[str] = ("early",),
    heads: Sequence[str] = DEFAULT_HEADS,
    cv: int = 5,
    seed: int = 0,
    groups=None,
    max_samples: int | None = None,
    sample_rate: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    n_jobs: int | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    metric: str | None = None,
    baseline: bool = True,
    skip: Sequence[tuple[str, str]] = (),
    max_epochs: int | None = None,
) -> pd.DataFrame:
    """Cross-validate every candidate of the grid on the same folds and rank them.

    Parameters
    ----------
    data : str, BenchData or DataFrame
        A built-in dataset name (``"av_digits"``, ``"spoken_digits"``, ``"emoji"``,
        ``"clothing_reviews"``), a :class:`BenchData`, or a DataFrame with ``y`` and
        ``modalities``.
    y : array-like, default=None
        Labels, when ``data`` is a DataFrame.
    modalities : dict of str -> str, default=None
        Column -> modality. Required with a DataFrame; otherwise restricts the columns used.
    families, fusions, heads : sequence of str
        Grid axes; see :func:`mmlearn.bench.build_candidates`.
    cv : int, default=5
        Number of folds (``StratifiedKFold(shuffle=True, random_state=seed)``).
    seed : int, default=0
        Seeds the folds, the subsample and the heads.
    groups : bool or array-like, default=None
        ``True`` uses the dataset's groups (e.g. speaker), an array gives them; folds then
        come from ``StratifiedGroupKFold``, so no group is in both train and test.
    max_samples : int, default=None
        Evaluate on a stratified random subset of this many rows.
    sample_rate : int, default=None
        Audio sample rate in Hz; default: the dataset's, else the encoder's default.
    image_size : int or (H, W), default=None
        Resize images; default: keep their common size.
    n_jobs : int, default=None
        (candidate, fold) evaluations run in parallel.
    cache : bool, default=True
        Share encoder results between candidates (timings still count the encoders: see
        ``docs/bench.md``).
    cache_dir : str or path, default=None
        Where the run's cache folder is made (and removed after the run); default: the
        system's temporary folder. On a cluster, a folder every worker mounts at the same
        path, so that workers share encoder results (``docs/cluster.md``).
    progress : bool, default=False
        Show a progress bar on stderr (elapsed and estimated remaining time).
    metric : {"accuracy", "balanced_accuracy", "macro_f1", "roc_auc"}, default=None
        The metric that ranks the candidates and that the confidence intervals and the
        comparison with the best are about. None: ``"macro_f1"`` when the classes are
        imbalanced (the smallest has fewer than half the rows of the largest), else
        ``"accuracy"`` (:func:`mmlearn.bench.metrics.choose_metric`).
    baseline : bool, default=True
        Add a majority-class candidate (``DummyClassifier``), the score to beat.
    skip : sequence of (family, fusion), default=()
        Fused cells to leave out; see :func:`mmlearn.bench.build_candidates`.
    max_epochs : int, default=None
        Cap every deep model's ``max_epochs``; see :class:`mmlearn.bench.Preset`.

    Returns
    -------
    results : DataFrame
        One row per candidate, best first by ``metric``: :data:`RESULT_COLUMNS`
        (``roc_auc_mean`` and ``roc_auc_std`` too when ranking by it), plus the per-fold
        ``<metric>_folds`` lists. ``ci_low``/``ci_high`` bound the 95 % confidence
        interval of the ranking metric's mean, ``p_vs_best`` is the corrected resampled
        t-test's p-value against the best candidate and ``tied_with_best`` says whether
        it is at least 0.05 (no detectable difference; :mod:`mmlearn.bench.stats`).
        ``results.attrs["metadata"]`` describes the run, its ``metric`` included.

    Examples
    --------
    >>> from mmlearn.bench import run_benchmark
    >>> results = run_benchmark("av_digits", heads=["logreg"], cv=2, max_samples=100)
    >>> results[["rank", "fusion", "modalities"]].shape
    (4, 3)
    >>> results.attrs["metadata"]["metric"]
    'accuracy'
    """
    bench = _resolve_data(data, y=y, modalities=modalities, groups=groups,
                          max_samples=max_samples, seed=seed)
    _check_target(bench, cv, subsampled=max_samples is not None)
    check_cells(bench)
    metric, metric_reason = choose_metric(bench.y, metric)
    measured = ALWAYS_MEASURED + (("roc_auc",) if metric == "roc_auc" else ())
    splitter, folds = _make_folds(bench, cv, seed)
    options = EncoderOptions(sample_rate=sample_rate or bench.sample_rate,
                             image_size=image_size, random_state=seed)

    started = time.perf_counter()
    # The encoder cache lives as long as the run: only this run's candidates share it.
    with tempfile.TemporaryDirectory(prefix="mmlearn-bench-", dir=cache_dir) as folder:
        memory = Memory(folder, verbose=0) if cache else None
        if cache:
            from mmlearn.bench.cluster import check_cache_folder

            check_cache_folder(folder)  # under joblib's Dask backend: warns if not shared
        candidates = build_candidates(bench.modalities, families=families, fusions=fusions,
                                      heads=heads, options=options, memory=memory,
                                      skip=skip, max_epochs=max_epochs, baseline=baseline)
        scores = _evaluate_all(candidates, bench.X, bench.y, folds, n_jobs=n_jobs,
                               progress=progress, metrics=measured)
    table = _summarise(candidates, scores, folds=folds, metrics=measured, metric=metric)
    settings = {"cv": cv, "seed": seed, "max_samples": max_samples,
                "sample_rate": options.sample_rate, "image_size": image_size,
                "n_jobs": n_jobs, "cache": cache, "metric": metric,
                "metric_reason": metric_reason, "families": list(families),
                "fusions": list(fusions), "heads": list(heads),
                "skip": [list(cell) for cell in skip], "max_epochs": max_epochs}
    table.attrs["metadata"] = _metadata(bench, splitter, settings,
                                        n_candidates=len(candidates), started=started)
    return table


# ---------------------------------------------------------------- step 1: the data

def _resolve_data(data, *, y, modalities, groups, max_samples: int | None,
                  seed: int) -> BenchData:
    """Return the rows, labels, modality columns and groups the run evaluates.

    Loads a built-in dataset or wraps a DataFrame, keeps the requested modality columns,
    resolves ``groups`` (``True``: the dataset's own; an array: those; otherwise none)
    and takes the seeded stratified subsample.
    """
    bench = _as_data(data, y, modalities)
    if modalities is not None and not isinstance(data, pd.DataFrame):
        bench = select_modalities(bench, modalities)
    if groups is True:
        if bench.groups is None:
            raise ValueError(f"dataset {bench.name!r} has no groups; pass them as an array.")
    elif groups is None or groups is False:
        bench = replace(bench, groups=None)
    else:
        bench = replace(bench, groups=np.asarray(groups))
    return subsample(bench, max_samples, random_state=seed)


def _as_data(data, y, modalities) -> BenchData:
    """Wrap ``data`` (a built-in name, a BenchData or a DataFrame) as a BenchData."""
    if isinstance(data, BenchData):
        return data
    if isinstance(data, str):
        return load_builtin(data)
    if isinstance(data, pd.DataFrame):
        if y is None or modalities is None:
            raise ValueError("with a DataFrame, pass y and modalities (column -> modality).")
        return BenchData(data, np.asarray(y), dict(modalities), "DataFrame")
    raise TypeError(
        f"data must be a built-in dataset name, a BenchData or a DataFrame, got "
        f"{type(data).__name__}."
    )


def _check_target(bench: BenchData, cv: int, *, subsampled: bool) -> None:
    """Raise a ValueError unless every class can be in every test fold.

    Before anything is fitted: a target of one class would score every candidate 1.000
    (each head predicts the only label there is), and a class with fewer rows than folds
    leaves some test folds without it (StratifiedKFold only warns).
    """
    if cv < 2:
        raise ValueError(f"cv={cv}: cross-validation needs at least 2 folds.")
    labels = pd.Series(np.asarray(bench.y, dtype=object).ravel())
    where = f"{bench.name}: the target"
    if subsampled:
        where += f" (in the subsample of {len(labels)} rows)"
    absent = labels.isna().to_numpy()
    if absent.any():
        rows = np.flatnonzero(absent)[:5].tolist()
        raise ValueError(
            f"{where} is missing (None/NaN) in {int(absent.sum())} rows (first: {rows}); "
            "drop those rows or give them a label."
        )
    counts = labels.value_counts(sort=True)
    if len(counts) < 2:
        raise ValueError(
            f"{where} has a single class ({counts.index[0]!r}, all {len(labels)} rows): "
            "there is nothing to classify, and every candidate would score 1.000. A "
            "benchmark needs at least 2 classes; check the target column."
        )
    rare = counts[counts < cv]
    if len(rare):
        shown = ", ".join(f"{label!r} ({n} row{'s' if n > 1 else ''})"
                          for label, n in rare.iloc[::-1].head(5).items())
        fewest = int(rare.min())
        fix = (f"lower cv (--cv) to {fewest} or fewer, or drop those classes" if fewest >= 2
               else "drop or merge those classes, or add rows")
        raise ValueError(
            f"{where} has {len(rare)} class(es) with fewer rows than the {cv} stratified "
            f"folds (n_splits={cv}): {shown}. Every class needs at least {cv} rows, one per "
            f"test fold; {fix}."
        )


# --------------------------------------------------------------- step 2: the folds

def _make_folds(bench: BenchData, cv: int, seed: int) -> tuple[object, list]:
    """Return the splitter and its ``(train, test)`` index pairs, shared by every candidate.

    ``StratifiedKFold``, or ``StratifiedGroupKFold`` when the data has groups, so that no
    group is in both train and test.
    """
    if bench.groups is None:
        splitter = StratifiedKFold(cv, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedGroupKFold(cv, shuffle=True, random_state=seed)
    return splitter, list(splitter.split(bench.X, bench.y, bench.groups))


# (Step 3, the candidates, is mmlearn.bench.build_candidates.)

# ------------------------------------------------------------ step 4: the evaluation

def _evaluate_all(candidates: list[Candidate], X: pd.DataFrame, y: np.ndarray,
                  folds: list, *, n_jobs: int | None, progress: bool,
                  metrics: Sequence[str] = ALWAYS_MEASURED) -> dict:
    """Evaluate every candidate on every fold, one joblib task per (candidate, fold).

    Returns
    -------
    scores : dict
        ``(candidate index, fold index) -> {<each of metrics>, "fit_seconds",
        "predict_seconds"}``.
    """
    tasks = [
        delayed(_evaluate_one)(i, f, cand, X, y, train, test, metrics=metrics)
        for i, cand in enumerate(candidates)
        for f, (train, test) in enumerate(folds)
    ]
    scores = {}
    from mmlearn.bench.cluster import broadcast

    # Under Dask, every worker holds the shared arguments, so a worker that dies loses no
    # data and its tasks are rerun elsewhere (a no-op under other joblib backends).
    shared = [X, y, *candidates, *(rows for fold in folds for rows in fold)]
    with _progress_bar(len(tasks), enabled=progress) as bar, broadcast(*shared):
        # Results as they complete, for the progress bar; a backend that cannot return
        # them so (Ray's) returns them all at the end.
        backend, _ = get_active_backend()
        unordered = getattr(backend, "supports_return_generator", True)
        parallel = Parallel(n_jobs=n_jobs,
                            return_as="generator_unordered" if unordered else "list")
        for index, fold, result in parallel(tasks):
            scores[index, fold] = result
            bar.update(1)
    return scores


def _evaluate_one(index: int, fold: int, cand: Candidate, X: pd.DataFrame, y: np.ndarray,
                  train: np.ndarray, test: np.ndarray,
                  metrics: Sequence[str] = ALWAYS_MEASURED) -> tuple[int, int, dict]:
    """Fit one candidate on one fold's training rows and score its test rows.

    Runs in whichever process joblib gives the task. The candidate is warmed up first, then
    cross-validated on the fold while a fresh :class:`TimingLedger` records, so that cache
    hits are charged the time their results took to compute.
    """
    # One task, one process: under joblib's Dask backend, the joblib calls nested in a task
    # (cross_validate's, a ColumnTransformer's) would otherwise go back to the cluster.
    with parallel_config(backend="sequential"):
        _warm_up(cand, X, y)
        ledger = TimingLedger()
        with ledger.recording():
            out = cross_validate(cand.estimator, X, y, cv=[(train, test)],
                                 scoring=partial(_score, ledger=ledger, metrics=metrics),
                                 return_train_score=False, error_score="raise")
    return index, fold, {
        **{m: float(out[f"test_{m}"][0]) for m in metrics},
        "fit_seconds": float(out["fit_time"][0] + out["test_fit_correction"][0]),
        "predict_seconds": float(out["score_time"][0] + out["test_predict_correction"][0]),
    }


def _score(estimator, X, y, *, ledger: TimingLedger,
           metrics: Sequence[str] = ALWAYS_MEASURED) -> dict[str, float]:
    """The metrics, and the ledger's fit and predict corrections."""
    # cross_validate calls this right after fit, in the same thread: the ledger holds the
    # fit's cache correction now, and the predict's after predict.
    fit_correction = ledger.seconds
    predicted = estimator.predict(X)
    return {
        **score_predictions(estimator, X, y, predicted, metrics),
        "fit_correction": fit_correction,
        "predict_correction": ledger.seconds - fit_correction,
    }


# Rows an encoder warms up on, and epochs a deep encoder or head trains for then.
_WARM_UP_ROWS = 8
_WARM_UP_EPOCHS = 1


def _warm_up(cand: Candidate, X: pd.DataFrame, y: np.ndarray) -> None:
    """Fit the candidate's head and encoders once on a few rows, untimed.

    The first call of an encoder in a process pays one-time costs (importing librosa and
    compiling its numba kernels, importing torch; lazy scipy imports for a head) that would
    otherwise be charged to whichever candidate happens to run first in that process.
    """
    # Every task warms up, not once per process: remembering which encoders a process has
    # warmed would be process-global state, which under joblib's process workers lives in
    # the workers and outlives the run. Once those costs are paid, a warm-up (a few rows;
    # deep models train for one epoch) takes milliseconds, and it is never timed.
    if cand.head in HEADS:
        rng = np.random.default_rng(0)
        _one_epoch(HEADS[cand.head](0)).fit(rng.normal(size=(20, 3)), np.arange(20) % 2)
    for _, encoder, columns in cand.routes:
        cells = X[columns]
        present = cells.notna().to_numpy()
        rows = np.flatnonzero(present if present.ndim == 1 else present.any(axis=1))
        rows = rows[:_WARM_UP_ROWS]
        try:
            _one_epoch(clone(encoder)).fit_transform(cells.iloc[rows], y[rows])
        except Exception:
            # Best effort only: a real problem resurfaces, with context, in the timed fit.
            pass


def _one_epoch(estimator):
    """``estimator`` with every ``max_epochs`` parameter, nested ones too, set to one."""
    epochs = {key: _WARM_UP_EPOCHS for key in estimator.get_params()
              if key.rsplit("__", 1)[-1] == "max_epochs"}
    return estimator.set_params(**epochs)


def _progress_bar(total: int, *, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="bench", unit="fit", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True)


# ------------------------------------------------------- steps 5 and 6: the results

def _summarise(candidates: list[Candidate], scores: dict, *, folds: list,
               metrics: Sequence[str], metric: str) -> pd.DataFrame:
    """One row per candidate, best first by ``metric``: each metric's mean and standard
    deviation over folds, the confidence interval of ``metric``'s mean and its
    comparison with the best candidate."""
    n_folds = len(folds)
    rows = []
    for index, cand in enumerate(candidates):
        per_fold = [scores[index, f] for f in range(n_folds)]
        row = {"family": cand.family, "fusion": cand.fusion,
               "modalities": "+".join(cand.modalities) or "none", "head": cand.head}
        for m in metrics:
            values = np.array([r[m] for r in per_fold])
            row[f"{m}_mean"], row[f"{m}_std"] = values.mean(), values.std()
            row[f"{m}_folds"] = values.tolist()
        row["fit_seconds"] = np.mean([r["fit_seconds"] for r in per_fold])
        row["predict_seconds"] = np.mean([r["predict_seconds"] for r in per_fold])
        row["candidate"] = cand.name
        rows.append(row)
    table = pd.DataFrame(rows)
    # Stable sort: ties keep grid order (single modalities before fusion, heads as given).
    order = [f"{metric}_mean"] + [f"{m}_mean" for m in metrics if m != metric]
    table = table.sort_values(order, ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    # Folds of one splitter have (nearly) equal sizes: one ratio serves them all.
    ratio = float(np.mean([len(test) / len(train) for train, test in folds]))
    fold_scores = np.array(table[f"{metric}_folds"].tolist())
    # Every metric lies in [0, 1]; so does the interval shown for it.
    intervals = [np.clip(mean_confidence_interval(s, test_train_ratio=ratio), 0, 1)
                 for s in fold_scores]
    _, p_values, tied = compare_to_best(fold_scores, test_train_ratio=ratio, alpha=ALPHA)
    at = table.columns.get_loc("fit_seconds")
    table.insert(at, "ci_low", [low for low, _ in intervals])
    table.insert(at + 1, "ci_high", [high for _, high in intervals])
    table.insert(at + 2, "p_vs_best", p_values)
    table.insert(at + 3, "tied_with_best", tied)
    lists = [c for c in table.columns if c.endswith("_folds")]
    return table[[c for c in table.columns if c not in lists] + lists]


def _metadata(bench: BenchData, splitter, settings: dict, *, n_candidates: int,
              started: float) -> dict:
    """What ``results.attrs["metadata"]`` says about the run (listed in docs/bench.md)."""
    return {
        "dataset": bench.name,
        "n_samples": len(bench.y),
        "n_classes": int(np.unique(bench.y).size),
        "modalities": bench.modalities,
        "cv": settings["cv"],
        "splitter": type(splitter).__name__,
        "seed": settings["seed"],
        "max_samples": settings["max_samples"],
        "sample_rate": settings["sample_rate"],
        "image_size": settings["image_size"],
        "n_jobs": settings["n_jobs"],
        "cache": settings["cache"],
        "families": settings["families"],
        "fusions": settings["fusions"],
        "heads": settings["heads"],
        "skip": settings["skip"],
        "max_epochs": settings["max_epochs"],
        "metric": settings["metric"],
        "metric_reason": settings["metric_reason"],
        "alpha": ALPHA,
        "n_candidates": n_candidates,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    import joblib
    import sklearn

    import mmlearn

    return {
        "mmlearn": mmlearn.__version__, "scikit-learn": sklearn.__version__,
        "numpy": np.__version__, "pandas": pd.__version__, "joblib": joblib.__version__,
        "python": platform.python_version(),
    }
