"""GridSearchCV(n_jobs=2) against n_jobs=1 over an ImageCNNEncoder pipeline, same process.

A grid of 2 encoder widths x 3 folds (6 fits of a CNN encoder + SVC on the 1,797 AV-digits
images). With two joblib workers on a 2-core machine, each worker's torch must use one
thread, or the workers oversubscribe the cores and n_jobs=2 ends up slower than n_jobs=1.
n_jobs=1 runs first and n_jobs=2 second, so its time includes starting the workers (and
importing torch in them). The last line is the speed-up t(n_jobs=1) / t(n_jobs=2) (>= 1.0:
n_jobs=2 is not slower).

    python benchmarks/grid_search_n_jobs.py
"""

import os
import time

import torch
from joblib import Parallel, delayed
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import ImageCNNEncoder


def main() -> None:
    X, y = load_av_digits(return_X_y=True)
    pipe = Pipeline([("encoder", ImageCNNEncoder(max_epochs=8, validation_fraction=None,
                                                  random_state=0)),
                     ("head", SVC())])
    grid = {"encoder__width": [16, 32]}
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    seconds, scores = {}, {}
    for n_jobs in (1, 2):
        search = GridSearchCV(pipe, grid, cv=cv, n_jobs=n_jobs)
        start = time.perf_counter()
        search.fit(X[["image"]], y)
        seconds[n_jobs] = time.perf_counter() - start
        scores[n_jobs] = search.cv_results_["mean_test_score"]
        print(f"n_jobs={n_jobs}: {seconds[n_jobs]:6.1f} s, mean test scores "
              f"{[round(float(s), 4) for s in scores[n_jobs]]}")
    threads = Parallel(n_jobs=2)(delayed(torch.get_num_threads)() for _ in range(2))
    print(f"{os.cpu_count()} cores; torch threads: main process {torch.get_num_threads()}, "
          f"joblib workers {threads}")
    print(f"n_jobs=2 speed-up over n_jobs=1: {seconds[1] / seconds[2]:.2f}")


if __name__ == "__main__":
    main()
