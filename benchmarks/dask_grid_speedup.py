"""One deep grid with n_jobs=1 and on a 2-worker Dask LocalCluster, in the same process.

The grid: ``EarlyFusion(ImageCNNEncoder(width=w))`` for 2 widths x 3 heads (logistic
regression, KNN, SVC) x 5 folds of AV-digits images, through ``GridSearchCV``: 30 fits.
Both searches run the same grid on the same folds, on the same machine.

0. Start-up, untimed in the ratio and printed apart: this process and the workers import
   what a first fit imports (``mmlearn.bench.cluster.warm_up_process``: mmlearn's
   estimators, torch's training code), so that neither side's timed run pays for it; the
   cluster is started, checked, thread-limited and warmed by
   ``mmlearn.bench.cluster.open_cluster``.
1. ``n_jobs=1`` in this process, torch with one thread: the share each worker gets on a
   2-core machine, so that the ratio is the engine's parallel efficiency, not torch's
   threads. ``n_jobs=1`` with torch on both cores is measured too and printed before.
2. The same search under ``mmlearn.bench.cluster.joblib_backend`` (joblib's Dask backend,
   each task's nested joblib calls kept in its worker) on a
   ``LocalCluster(n_workers=2, threads_per_worker=1)``. Printed with it: the tasks' own
   compute seconds (GridSearchCV's fit and score times, summed) on each side, and how
   busy the two workers were (compute seconds / (2 x wall time)): what the ratio loses to
   slower tasks on busy cores versus idle workers.
3. The engine's overhead per task: the grid's fits submitted straight to the cluster, two at
   a time (one per worker, so no task waits for a free worker), each recording its own
   compute time; overhead = round trip seen by the client - compute time in the worker
   (submission, scheduling, sending the estimator, sending the fitted result back). Printed
   as a share of the median task time.

It prints whether the two searches' test scores are equal, then the overhead, and, last,
the speed-up t(n_jobs=1) / t(cluster). Run it on a quiet machine: with other work on the
cores, the ratio measures that work.

    python benchmarks/dask_grid_speedup.py            # the full grid
    python benchmarks/dask_grid_speedup.py --quick    # 300 rows, 2 folds, 1 epoch: a check
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mmlearn.bench.cluster import joblib_backend, open_cluster, warm_up_process
from mmlearn.datasets import load_av_digits
from mmlearn.encoders import ImageCNNEncoder
from mmlearn.fusion import EarlyFusion


def make_search(*, epochs: int, folds: int) -> GridSearchCV:
    def fusion(width):
        return EarlyFusion([("image", ImageCNNEncoder(width=width, max_epochs=epochs,
                                                      validation_fraction=None,
                                                      random_state=0), "image")])

    pipe = Pipeline([("fusion", fusion(8)), ("scale", StandardScaler()),
                     ("head", LogisticRegression(max_iter=500))])
    grid = {"fusion": [fusion(8), fusion(16)],
            "head": [LogisticRegression(max_iter=500), KNeighborsClassifier(), SVC()]}
    # refit=False: the best candidate's refit would run in this process in both searches.
    return GridSearchCV(pipe, grid, cv=StratifiedKFold(folds, shuffle=True, random_state=0),
                        refit=False)


def timed_fit(estimator, X, y, train, test):
    """One grid task: fit on ``train``, score ``test``; returns (score, compute seconds)."""
    start = time.perf_counter()
    score = estimator.fit(X.iloc[train], y[train]).score(X.iloc[test], y[test])
    return score, time.perf_counter() - start


def engine_overhead(client, search, X, y) -> tuple[list[float], list[float]]:
    """Round trip minus compute for each grid task, at most one task per worker at once."""
    from distributed import as_completed

    tasks = [(clone(search.estimator).set_params(**params), train, test)
             for params in ParameterGrid(search.param_grid)
             for train, test in search.cv.split(X, y)]
    X_, y_ = client.scatter([X, y], broadcast=True)
    slots = sum(client.nthreads().values())
    submitted, overhead, compute = {}, [], []
    pending = as_completed(loop=client.loop)

    def submit(task):
        future = client.submit(timed_fit, task[0], X_, y_, task[1], task[2], pure=False)
        submitted[future.key] = time.perf_counter()
        pending.add(future)

    queue = list(tasks)
    for _ in range(min(slots, len(queue))):
        submit(queue.pop(0))
    for future in pending:
        _, seconds = future.result()
        overhead.append(time.perf_counter() - submitted.pop(future.key) - seconds)
        compute.append(seconds)
        if queue:
            submit(queue.pop(0))
    return overhead, compute


def task_seconds(search) -> float:
    """The search's fits and scores, summed over candidates and folds, as it measured them."""
    results, folds = search.cv_results_, search.n_splits_
    return float(np.sum(results["mean_fit_time"] + results["mean_score_time"]) * folds)


def fit_timed(search, X, y) -> float:
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="300 rows, 2 folds, 1 epoch: checks the script, measures nothing")
    args = parser.parse_args()
    X, y = load_av_digits(return_X_y=True)
    X = X[["image"]]
    epochs, folds = (1, 2) if args.quick else (8, 5)
    if args.quick:
        X, y = X.iloc[:300], y[:300]
    fits = len(ParameterGrid(make_search(epochs=1, folds=2).param_grid)) * folds

    print(f"start-up (not in the ratio): this process's first-fit imports "
          f"{warm_up_process():.1f} s")
    torch.set_num_threads(2)
    t_threaded = fit_timed(make_search(epochs=epochs, folds=folds), X, y)
    torch.set_num_threads(1)
    local = make_search(epochs=epochs, folds=folds)
    t_local = fit_timed(local, X, y)

    start = time.perf_counter()
    with open_cluster("local:2", threads=1) as client, joblib_backend(client):
        print(f"start-up (not in the ratio): 2-worker LocalCluster started, checked and "
              f"warmed up in {time.perf_counter() - start:.1f} s")
        remote = make_search(epochs=epochs, folds=folds).set_params(n_jobs=-1)
        t_remote = fit_timed(remote, X, y)
        overhead, compute = engine_overhead(client, remote, X, y)

    print(f"n_jobs=1, torch 2 threads: {t_threaded:7.1f} s, {fits} fits "
          f"(speed-up of the cluster over it: {t_threaded / t_remote:.2f})")
    print(f"n_jobs=1, torch 1 thread:  {t_local:7.1f} s; its tasks' compute "
          f"{task_seconds(local):.1f} s")
    busy = task_seconds(remote) / (2 * t_remote)
    print(f"2-worker LocalCluster:     {t_remote:7.1f} s; its tasks' compute "
          f"{task_seconds(remote):.1f} s, workers busy {100 * busy:.0f} % of the time")
    keys = [k for k in local.cv_results_ if k.endswith("test_score")]
    equal = all(np.array_equal(local.cv_results_[k], remote.cv_results_[k]) for k in keys)
    print(f"scores equal to n_jobs=1 (split, mean, std and rank of the test score): {equal}")
    median_task = statistics.median(compute)
    print(f"median task {median_task:.2f} s; engine overhead per task (submit to start, "
          f"result back): median {statistics.median(overhead) * 1000:.0f} ms = "
          f"{100 * statistics.median(overhead) / median_task:.1f} % of the median task")
    print(f"dask 2-worker speed-up over n_jobs=1 (torch 1 thread): {t_local / t_remote:.2f}")


if __name__ == "__main__":
    main()
