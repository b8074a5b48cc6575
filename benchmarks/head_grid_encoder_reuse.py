"""A grid over 3 heads with a fixed deep EarlyFusion step, against one candidate alone.

``Pipeline(memory=...)`` stores each fold's fitted fusion step (and its features), so the
second and third heads load the CNN encoders' work instead of training them again. The
grid of 3 heads should then cost little more than one candidate (target: at most 1.5x;
recomputing everything costs 3x). Both searches use 3 stratified folds and refit the best
candidate on all rows. The data are a stratified subset of AV-digits (image + audio), the
encoders ``ImageCNNEncoder`` and ``AudioCNNEncoder``. ``--naive`` also times the 3-head grid
without the cache. The last line is t(3 heads, cached) / t(1 head).

    python benchmarks/head_grid_encoder_reuse.py [--n-samples 600] [--naive]
"""

import argparse
import tempfile
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioCNNEncoder, ImageCNNEncoder
from mmlearn.fusion import EarlyFusion


def pipeline(memory) -> Pipeline:
    fusion = EarlyFusion([
        ("image", ImageCNNEncoder(width=16, max_epochs=10, random_state=0), "image"),
        ("audio", AudioCNNEncoder(sample_rate=8000, max_epochs=10, random_state=0), "audio"),
    ])
    return Pipeline([("fusion", fusion), ("scale", StandardScaler()), ("head", SVC())],
                    memory=memory)


def timed_search(heads: list, memory) -> tuple[float, GridSearchCV]:
    search = GridSearchCV(pipeline(memory), {"head": heads},
                          cv=StratifiedKFold(3, shuffle=True, random_state=0))
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start, search


def three_heads() -> list:
    return [SVC(), KNeighborsClassifier(), LogisticRegression(max_iter=1000)]


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n-samples", type=int, default=600)
parser.add_argument("--naive", action="store_true", help="also time 3 heads without a cache")
args = parser.parse_args()

X_all, y_all = load_av_digits(return_X_y=True)
X, _, y, _ = train_test_split(X_all, y_all, train_size=args.n_samples, stratify=y_all,
                              random_state=0)

t_one, one = timed_search([SVC()], None)
print(f"1 head (svc), no cache:         {t_one:7.1f} s   mean accuracy "
      f"{one.cv_results_['mean_test_score'].round(4).tolist()}")
with tempfile.TemporaryDirectory() as cache:
    t_cached, cached = timed_search(three_heads(), cache)
print(f"3 heads (svc, knn, logreg), cache: {t_cached:7.1f} s   mean accuracy "
      f"{cached.cv_results_['mean_test_score'].round(4).tolist()}")
if args.naive:
    t_plain, plain = timed_search(three_heads(), None)
    same = np.array_equal(plain.cv_results_["mean_test_score"],
                          cached.cv_results_["mean_test_score"])
    print(f"3 heads, no cache:              {t_plain:7.1f} s   same scores as cached: {same}")
print(f"t(3 heads, cached) / t(1 head): {t_cached / t_one:.2f}")
