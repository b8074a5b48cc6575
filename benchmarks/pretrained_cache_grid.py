"""A grid search over 3 heads x 5 folds on a frozen pretrained backbone with the embedding
cache, against one pass that embeds the dataset once.

Real emoji images (a stratified subset of the 9 categories that have more than 5 emoji) at
the backbone's 224x224.
The baseline is ``PretrainedImageEncoder().fit_transform(images)``: the least any
evaluation must pay. The grid is ``GridSearchCV(Pipeline([encoder(memory=folder), head]),
{"head": [standardised LogisticRegression, linear SVC, 5-NN]}, cv=5)`` with refit, starting from an
empty cache folder, on the CPU with the same number of torch threads. Without the cache it
would embed every image 16 times (15 fits and the refit). The last line is the ratio of
times (grid with cache / one embedding pass; 1.0 = the grid costs nothing beyond one pass),
in CPU time of this process: on a machine shared with other jobs the wall-clock time of two
phases run one after the other depends on what else runs in each, while the process's CPU
time does not (on an idle machine the two ratios agree); both are printed.

    python benchmarks/pretrained_cache_grid.py [n_images] [threads]
"""

import sys
import tempfile
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mmlearn.datasets import load_emoji
from mmlearn.encoders import PretrainedImageEncoder


def main() -> None:
    n_images = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    emoji = load_emoji()
    # A stratified subset of the 9 categories that have more than 5 emoji.
    usable = np.flatnonzero(emoji.target != "Component")
    rows, _ = train_test_split(usable, train_size=n_images, stratify=emoji.target[usable],
                               random_state=0)
    X, y = emoji.data[["image"]].iloc[np.sort(rows)], emoji.target[np.sort(rows)]

    start, cpu = time.perf_counter(), time.process_time()
    features = PretrainedImageEncoder().fit_transform(X)
    once, once_cpu = time.perf_counter() - start, time.process_time() - cpu

    heads = [make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
             SVC(kernel="linear"), KNeighborsClassifier(5)]
    with tempfile.TemporaryDirectory() as folder:
        pipe = Pipeline([("encoder", PretrainedImageEncoder(memory=folder)), ("head", heads[0])])
        grid = GridSearchCV(pipe, {"head": heads}, cv=StratifiedKFold(5, shuffle=True,
                                                                        random_state=0))
        start, cpu = time.perf_counter(), time.process_time()
        grid.fit(X, y)
        searched, searched_cpu = time.perf_counter() - start, time.process_time() - cpu
    # The heads alone, on the features computed once: what any grid pays beyond embedding.
    heads_grid = GridSearchCV(Pipeline([("head", heads[0])]), {"head": heads}, cv=grid.cv)
    start, cpu = time.perf_counter(), time.process_time()
    heads_grid.fit(features, y)
    heads_only, heads_cpu = time.perf_counter() - start, time.process_time() - cpu

    print(f"{n_images} emoji images at 224x224, {threads} torch threads")
    for head, score in zip(heads, grid.cv_results_["mean_test_score"], strict=True):
        name = type(head[-1] if isinstance(head, Pipeline) else head).__name__
        print(f"  {name:22s} 5-fold accuracy {score:.3f}")
    print(f"one embedding pass (fit_transform, no cache): {once:7.2f} s wall, "
          f"{once_cpu:7.2f} s CPU")
    print(f"GridSearchCV 3 heads x 5 folds + refit, cache: {searched:7.2f} s wall, "
          f"{searched_cpu:7.2f} s CPU")
    print(f"the same grid's heads alone on those features:  {heads_only:7.2f} s wall, "
          f"{heads_cpu:7.2f} s CPU")
    print(f"floor (one pass + heads) / one pass, CPU time: {(once_cpu + heads_cpu) / once_cpu:.3f}")
    print(f"wall-clock ratio: {searched / once:.3f}")
    print(f"grid with cache / one embedding pass (CPU time of this process): "
          f"{searched_cpu / once_cpu:.3f}")


if __name__ == "__main__":
    main()
