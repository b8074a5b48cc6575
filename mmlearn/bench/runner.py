"""Run a benchmark: every candidate cross-validated on the same folds."""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from joblib import Memory, Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_validate

from mmlearn.bench._cache import read_ledger, reset_ledger
from mmlearn.bench.data import BenchData, load_builtin, select_modalities, subsample
from mmlearn.bench.grid import DEFAULT_HEADS, HEADS, EncoderOptions, build_candidates

__all__ = ["run_benchmark", "RESULT_COLUMNS"]

RESULT_COLUMNS = [
    "rank", "family", "fusion", "modalities", "head",
    "accuracy_mean", "accuracy_std", "f1_macro_mean", "f1_macro_std",
    "fit_seconds", "predict_seconds", "candidate",
]


def _score(estimator, X, y) -> dict[str, float]:
    # Called by cross_validate right after fit, in the same process: the ledger holds the
    # fit's cache correction now, and the predict's after predict.
    fit_correction = read_ledger()
    predicted = estimator.predict(X)
    return {
        "accuracy": accuracy_score(y, predicted),
        "f1_macro": f1_score(y, predicted, average="macro"),
        "fit_correction": fit_correction,
        "predict_correction": read_ledger() - fit_correction,
    }


# (family, route name) and ("head", head) pairs already warmed up in this process.
_WARMED: set = set()


def _warm_up(cand, X: pd.DataFrame, y: np.ndarray) -> None:
    """Fit each encoder and head once on a few rows, untimed, before its first timed fit.

    The first call of an encoder in a process pays one-time costs (importing librosa and
    compiling its numba kernels: over a second; lazy scipy imports for a head) that would
    otherwise be charged to whichever candidate happens to run first.
    """
    if cand.head in HEADS and ("head", cand.head) not in _WARMED:
        _WARMED.add(("head", cand.head))
        rng = np.random.default_rng(0)
        HEADS[cand.head](0).fit(rng.normal(size=(20, 3)), np.arange(20) % 2)
    family = cand.family
    for name, encoder, columns in cand.routes:
        if (family, name) in _WARMED:
            continue
        _WARMED.add((family, name))
        cells = X[columns]
        present = cells.notna().to_numpy()
        rows = np.flatnonzero(present if present.ndim == 1 else present.any(axis=1))[:8]
        try:
            clone(encoder).fit_transform(cells.iloc[rows], y[rows])
        except Exception:
            # Best effort only: a real problem resurfaces, with context, in the timed fit.
            pass


def _evaluate(index: int, fold: int, cand, X, y, train, test) -> tuple[int, int, dict]:
    _warm_up(cand, X, y)
    estimator = cand.estimator
    reset_ledger()
    out = cross_validate(estimator, X, y, cv=[(train, test)], scoring=_score,
                         return_train_score=False, error_score="raise")
    return index, fold, {
        "accuracy": float(out["test_accuracy"][0]),
        "f1_macro": float(out["test_f1_macro"][0]),
        "fit_seconds": float(out["fit_time"][0] + out["test_fit_correction"][0]),
        "predict_seconds": float(out["score_time"][0] + out["test_predict_correction"][0]),
    }


def _as_data(data, y, modalities) -> BenchData:
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


def _splitter(n_splits: int, seed: int, groups):
    if groups is None:
        return StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)


def _versions() -> dict[str, str]:
    import joblib
    import sklearn

    import mmlearn

    return {
        "mmlearn": mmlearn.__version__, "scikit-learn": sklearn.__version__,
        "numpy": np.__version__, "pandas": pd.__version__, "joblib": joblib.__version__,
        "python": platform.python_version(),
    }


def _summarise(candidates, folds: dict) -> pd.DataFrame:
    rows = []
    for index, cand in enumerate(candidates):
        per_fold = [folds[index, f] for f in range(len(folds) // len(candidates))]
        acc = np.array([r["accuracy"] for r in per_fold])
        f1 = np.array([r["f1_macro"] for r in per_fold])
        rows.append({
            "family": cand.family, "fusion": cand.fusion,
            "modalities": "+".join(cand.modalities), "head": cand.head,
            "accuracy_mean": acc.mean(), "accuracy_std": acc.std(),
            "f1_macro_mean": f1.mean(), "f1_macro_std": f1.std(),
            "fit_seconds": np.mean([r["fit_seconds"] for r in per_fold]),
            "predict_seconds": np.mean([r["predict_seconds"] for r in per_fold]),
            "candidate": cand.name,
            "accuracy_folds": acc.tolist(), "f1_macro_folds": f1.tolist(),
        })
    table = pd.DataFrame(rows)
    # Stable sort: ties keep grid order (single modalities before fusion, heads as given).
    table = table.sort_values(["accuracy_mean", "f1_macro_mean"], ascending=False,
                              kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


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
    progress: bool = False,
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
    progress : bool, default=False
        Show a progress bar on stderr.

    Returns
    -------
    results : DataFrame
        One row per candidate, best first: ``rank, family, fusion, modalities, head,
        accuracy_mean, accuracy_std, f1_macro_mean, f1_macro_std, fit_seconds,
        predict_seconds, candidate``, plus the per-fold ``accuracy_folds`` and
        ``f1_macro_folds``. ``results.attrs["metadata"]`` describes the run.

    Examples
    --------
    >>> from mmlearn.bench import run_benchmark
    >>> results = run_benchmark("av_digits", heads=["logreg"], cv=2, max_samples=100)
    >>> results[["rank", "fusion", "modalities"]].shape
    (3, 3)
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
    bench = subsample(bench, max_samples, random_state=seed)
    groups = bench.groups
    X, labels = bench.X, bench.y
    splits = list(_splitter(cv, seed, groups).split(X, labels, groups))
    options = EncoderOptions(sample_rate=sample_rate or bench.sample_rate,
                             image_size=image_size, random_state=seed)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mmlearn-bench-") as folder:
        memory = Memory(folder, verbose=0) if cache else None
        candidates = build_candidates(bench.modalities, families=families, fusions=fusions,
                                      heads=heads, options=options, memory=memory)
        tasks = [
            delayed(_evaluate)(i, f, cand, X, labels, train, test)
            for i, cand in enumerate(candidates)
            for f, (train, test) in enumerate(splits)
        ]
        folds = {}
        with _progress_bar(len(tasks), enabled=progress) as bar:
            parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
            for index, fold, result in parallel(tasks):
                folds[index, fold] = result
                bar.update(1)
    table = _summarise(candidates, folds)
    table.attrs["metadata"] = {
        "dataset": bench.name,
        "n_samples": len(labels),
        "n_classes": int(np.unique(labels).size),
        "modalities": bench.modalities,
        "cv": cv,
        "splitter": type(_splitter(cv, seed, groups)).__name__,
        "seed": seed,
        "max_samples": max_samples,
        "sample_rate": options.sample_rate,
        "image_size": image_size,
        "n_jobs": n_jobs,
        "cache": cache,
        "n_candidates": len(candidates),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "versions": _versions(),
    }
    return table


def _progress_bar(total: int, *, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="bench", unit="fit", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True)
