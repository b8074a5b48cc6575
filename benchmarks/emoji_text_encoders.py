"""Emoji names -> category: TF-IDF + SVC against the deep text encoders, same folds.

Prints 5-fold stratified CV accuracy on the ``name`` column of the emoji dataset (1,911 short
names, 10 categories) for the classical pipeline TfidfVectorizer + SVC and for each deep
encoder, both as a feature extractor (its ``transform`` + SVC, fitted on the training fold)
and with its own classification head (``predict``). Every model uses its default
hyper-parameters (``random_state=0``). The last line is the best deep accuracy divided by the
classical one (> 1 means a deep encoder beats TF-IDF).

    OMP_NUM_THREADS=1 python benchmarks/emoji_text_encoders.py

(One torch thread is fastest for these small batches on a shared or 2-core machine.)
"""

import time

import numpy as np
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from mmlearn.datasets import load_emoji
from mmlearn.encoders.text_attention import TextAttentionEncoder
from mmlearn.encoders.text_rnn import TextRNNEncoder


def main() -> None:
    bunch = load_emoji()
    X, y = bunch.data["name"], bunch.target
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(X, y))
    scores: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}

    def record(name: str, score: float, elapsed: float) -> None:
        scores.setdefault(name, []).append(score)
        seconds.setdefault(name, []).append(elapsed)

    for train, test in folds:
        X_train, y_train, X_test, y_test = X.iloc[train], y[train], X.iloc[test], y[test]
        start = time.perf_counter()
        classical = make_pipeline(TfidfVectorizer(), SVC()).fit(X_train, y_train)
        record("TfidfVectorizer + SVC", classical.score(X_test, y_test),
               time.perf_counter() - start)
        for encoder in (TextRNNEncoder(random_state=0), TextAttentionEncoder(random_state=0)):
            name = type(encoder).__name__
            start = time.perf_counter()
            encoder = clone(encoder).fit(X_train, y_train)
            fitted = time.perf_counter() - start
            record(f"{name} (own head)", encoder.score(X_test, y_test), fitted)
            start = time.perf_counter()
            svc = SVC().fit(encoder.transform(X_train), y_train)
            record(f"{name} + SVC", svc.score(encoder.transform(X_test), y_test),
                   fitted + time.perf_counter() - start)

    print(f"emoji 'name' -> category, {len(y)} names, {len(np.unique(y))} classes, "
          "5-fold stratified CV accuracy")
    print(f"{'method':34s} {'mean':>7s} {'std':>7s} {'fit s/fold':>11s}")
    for name, values in scores.items():
        print(f"{name:34s} {np.mean(values):7.4f} {np.std(values):7.4f} "
              f"{np.mean(seconds[name]):11.1f}")
    classical = np.mean(scores["TfidfVectorizer + SVC"])
    best = max((n for n in scores if n != "TfidfVectorizer + SVC"),
               key=lambda n: np.mean(scores[n]))
    print(f"best deep ({best}) / classical accuracy: "
          f"{np.mean(scores[best]) / classical:.3f}")


if __name__ == "__main__":
    main()
