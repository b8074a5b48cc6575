"""Clothing reviews (82 % recommended): macro-F1 of mmlearn against plain scikit-learn.

All 23,486 reviews, the fixed split ``train_test_split(X, y, test_size=0.2, stratify=y,
random_state=0)``, macro-F1 on the test part (4,698 reviews). Three figures:

(a) the plain scikit-learn reference: TF-IDF (word 1-2-grams) of title + review text,
    one-hot categories, scaled numbers, ``LogisticRegression(class_weight="balanced")``;
(b) the best mmlearn pipeline, chosen by 3-fold cross-validated macro-F1 on the training
    part only (GridSearchCV): EarlyFusion of a TF-IDF per text column, the all-MiniLM
    sentence embedding of the title (``PretrainedTextEncoder``, shipped offline), the
    categories and the numbers, with or without the embedding, then a logistic head
    (``C`` 1, 4 or 8);
(c) a deep candidate, ``MLPHead`` on the dense blocks (embedding, categories, numbers),
    unweighted and with ``class_weight="balanced"``.

Fit seconds are those of the final fit on the training part (the grid's refit for (b)).
The frozen sentence encoder is run once over every row before the grid: it learns nothing
from the rows, so embedding a row gives the same vector inside or outside a fold. It is
slow on a CPU: the 23,486 titles take minutes, and the review texts, many times as many
word pieces, take hours on a shared 2-core machine, so only the title is embedded unless
``--minilm`` names more columns. ``--embedding-cache DIR``
keeps the embeddings in DIR (``minilm_<column>.npy``, written by this script) so that a
rerun reads them instead.

    OMP_NUM_THREADS=1 python benchmarks/clothing_macro_f1.py [--embedding-cache DIR]
        [--minilm Title --minilm "Review Text"]

The last line gives the three macro-F1 figures, their fit seconds and the ratio of (b)
to (a).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from mmlearn.datasets import load_clothing_reviews
from mmlearn.encoders import PretrainedTextEncoder
from mmlearn.fusion import EarlyFusion
from mmlearn.heads import MLPHead

TEXTS = ["Title", "Review Text"]
CATEGORIES = ["Division Name", "Department Name", "Class Name"]
NUMBERS = ["Age", "Positive Feedback Count"]


def title_and_text(X: pd.DataFrame) -> pd.Series:
    return X["Title"].fillna("") + " " + X["Review Text"].fillna("")


def reference() -> Pipeline:
    """(a): plain scikit-learn, as a user without mmlearn would write it."""
    return Pipeline([
        ("columns", ColumnTransformer([
            ("text", Pipeline([("join", FunctionTransformer(title_and_text)),
                               ("tfidf", TfidfVectorizer(ngram_range=(1, 2)))]),
             TEXTS),
            ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
            ("numbers", StandardScaler(), NUMBERS),
        ])),
        ("head", LogisticRegression(class_weight="balanced", max_iter=2000)),
    ])


def embeddings(X: pd.DataFrame, columns: list[str], cache: Path | None
               ) -> tuple[pd.DataFrame, float]:
    """The all-MiniLM embedding of each of ``columns`` as columns ``<column>__minilm<i>``."""
    parts, seconds = [], 0.0
    for column in columns:
        path = None if cache is None else cache / f"minilm_{column.replace(' ', '_')}.npy"
        if path is not None and path.exists():
            values = np.load(path)
        else:
            start = time.perf_counter()
            encoder = PretrainedTextEncoder(batch_size=64).fit(X[column])
            values = encoder.transform(X[column])
            seconds += time.perf_counter() - start
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, values)
        if values.shape[0] != len(X):
            raise ValueError(f"{path} holds {values.shape[0]} rows, not {len(X)}: remove it.")
        parts.append(pd.DataFrame(values, index=X.index,
                                  columns=[f"{column}__minilm{i}" for i in
                                           range(values.shape[1])]))
    return pd.concat(parts, axis=1), seconds


def embedding_columns(X: pd.DataFrame, column: str) -> list[str]:
    return [c for c in X.columns if c.startswith(f"{column}__minilm")]


def minilm_routes(X: pd.DataFrame, columns: list[str]) -> list[tuple]:
    # The identity step lets EarlyFusion impute the rows without the text (NaN embedding)
    # and mark them in an indicator column.
    return [(f"minilm_{i}", FunctionTransformer(), embedding_columns(X, column))
            for i, column in enumerate(columns)]


def fusion(X: pd.DataFrame, minilm: list[str]) -> EarlyFusion:
    """TF-IDF per text column, the sentence embeddings, categories, numbers."""
    def tfidf():
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)

    return EarlyFusion([
        ("title", tfidf(), "Title"),
        ("text", tfidf(), "Review Text"),
        *minilm_routes(X, minilm),
        ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
        ("numbers", StandardScaler(), NUMBERS),
    ])


def dense_fusion(X: pd.DataFrame, minilm: list[str]) -> EarlyFusion:
    """The dense blocks only (what an MLP head takes): embeddings, categories, numbers."""
    return EarlyFusion([
        *minilm_routes(X, minilm),
        ("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         CATEGORIES),
        ("numbers", StandardScaler(), NUMBERS),
    ], sparse_threshold=0.0)


def timed_fit(model, X, y) -> float:
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def macro_f1(model, X, y) -> float:
    return f1_score(y, model.predict(X), average="macro")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding-cache", type=Path, default=None,
                        help="folder keeping the MiniLM embeddings between runs")
    parser.add_argument("--minilm", action="append", choices=TEXTS, default=None,
                        help="a text column to embed with MiniLM (default: Title)")
    args = parser.parse_args()
    columns = args.minilm or ["Title"]
    torch.set_num_threads(1)

    X, y = load_clothing_reviews(return_X_y=True)
    y = np.asarray(y)
    minilm, embed_seconds = embeddings(X, columns, args.embedding_cache)
    X = pd.concat([X, minilm], axis=1)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y,
                                              random_state=0)
    print(f"{len(y)} reviews, {np.mean(y == 0):.1%} not recommended; train {len(y_tr)}, "
          f"test {len(y_te)}; MiniLM embeddings computed in this run: {embed_seconds:.0f} s")

    # (a) plain scikit-learn
    ref = reference()
    ref_seconds = timed_fit(ref, X_tr[TEXTS + CATEGORIES + NUMBERS], y_tr)
    ref_f1 = macro_f1(ref, X_te[TEXTS + CATEGORIES + NUMBERS], y_te)
    print(f"(a) scikit-learn reference: macro-F1 {ref_f1:.4f}, fit {ref_seconds:.1f} s",
          flush=True)

    # (b) mmlearn, chosen by cross-validation on the training part only
    model = Pipeline([("fusion", fusion(X, columns)),
                      ("head", LogisticRegression(class_weight="balanced", max_iter=3000))])
    C = [1.0, 4.0, 8.0]
    without = {f"fusion__minilm_{i}": ["drop"] for i in range(len(columns))}
    grid = GridSearchCV(model, [{"head__C": C}, {**without, "head__C": C}],
                        scoring="f1_macro", cv=StratifiedKFold(3, shuffle=True, random_state=0))
    grid.fit(X_tr, y_tr)
    best_seconds = grid.refit_time_
    best_f1 = macro_f1(grid, X_te, y_te)
    for params, score in zip(grid.cv_results_["params"], grid.cv_results_["mean_test_score"],
                             strict=True):
        dropped = any(v == "drop" for v in params.values())
        print(f"    CV macro-F1 {score:.4f}  {'without' if dropped else 'with'} MiniLM, "
              f"C={params['head__C']:g}")
    print(f"(b) best mmlearn pipeline (CV {grid.best_score_:.4f}): test macro-F1 "
          f"{best_f1:.4f}, refit {best_seconds:.1f} s", flush=True)

    # (c) a deep head, unweighted and balanced
    deep = {}
    for class_weight in (None, "balanced"):
        head = Pipeline([("fusion", dense_fusion(X, columns)),
                         ("head", MLPHead(hidden_sizes=(128,), max_epochs=30, lr=1e-3,
                                          class_weight=class_weight, random_state=0))])
        seconds = timed_fit(head, X_tr, y_tr)
        deep[class_weight] = (macro_f1(head, X_te, y_te), seconds)
        print(f"(c) MLPHead class_weight={class_weight!r}: macro-F1 "
              f"{deep[class_weight][0]:.4f}, fit {seconds:.1f} s", flush=True)

    print(f"clothing macro-F1: sklearn {ref_f1:.3f} ({ref_seconds:.0f} s) | mmlearn best "
          f"{best_f1:.3f} ({best_seconds:.0f} s) | MLPHead unweighted {deep[None][0]:.3f} "
          f"-> balanced {deep['balanced'][0]:.3f} | mmlearn/sklearn "
          f"{best_f1 / ref_f1:.3f}x")


if __name__ == "__main__":
    main()
