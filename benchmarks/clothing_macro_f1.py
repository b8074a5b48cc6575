"""Clothing reviews (82 % recommended): macro-F1 of mmlearn against plain scikit-learn.

All 23,486 reviews, the fixed split ``train_test_split(X, y, test_size=0.2, stratify=y,
random_state=0)``, macro-F1 on the test part (4,698 reviews). Three figures:

(a) the plain scikit-learn reference: TF-IDF (word 1-2-grams) of title + review text,
    one-hot categories, scaled numbers, ``LogisticRegression(class_weight="balanced")``;
(b) the best mmlearn pipeline, chosen by 3-fold cross-validated macro-F1 on the training
    part only (``GridSearchCV``): an ``EarlyFusion`` of a TF-IDF per text column, the
    all-MiniLM sentence embeddings of the review text and of the title
    (``PretrainedTextEncoder``, frozen, shipped offline), the categories and the numbers,
    with the embeddings at full or half weight or without them, then a balanced logistic
    head (``C`` from a grid). The test part is scored once, with the grid's choice
    refitted on the training part;
(c) deep candidates: ``MLPHead`` on the dense blocks (both embeddings, categories,
    numbers), unweighted and with ``class_weight="balanced"``, under the same budget and
    the same seeds: early stopping on a validation split (the same rows for both), then,
    for comparison, a fixed number of epochs on every training row without early
    stopping. Balanced accuracy and the rare class's recall and precision show where each
    head puts its threshold.

Fit seconds are those of the final fit on the training part (the grid's refit for (b)).

The frozen sentence encoder learns nothing from the rows, so each review has one embedding
in every fold; with ``--memory DIR`` (the encoders' ``memory=``) each distinct text is
embedded once and kept in DIR, and the folds, the refit and later runs read it. Without it,
every fit embeds its rows again. Embedding the 23,486 review texts takes about an hour on one
CPU core (the first run fills DIR; reruns read it in seconds).

    OMP_NUM_THREADS=1 python benchmarks/clothing_macro_f1.py --memory DIR

``--rows N`` runs on the first N reviews only (a quick check of the script, not the
figure). The last line gives the figures, their fit seconds and the ratio of (b) to (a).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
)
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
COLUMNS = TEXTS + CATEGORIES + NUMBERS
EMBEDDINGS = ("text_minilm", "title_minilm")


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
        ("head", LogisticRegression(class_weight="balanced", max_iter=3000)),
    ])


def minilm(memory: str | None) -> PretrainedTextEncoder:
    return PretrainedTextEncoder(batch_size=64, memory=memory)


def fusion(memory: str | None) -> EarlyFusion:
    """(b)'s features: TF-IDF per text column, both sentence embeddings, categories, numbers.

    The embeddings are unit vectors, as TF-IDF rows are; the grid also tries them at half
    that length (``weights``), which gives the words more say under the head's penalty.
    """
    def tfidf():
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)

    return EarlyFusion([
        ("title", tfidf(), "Title"),
        ("text", tfidf(), "Review Text"),
        ("text_minilm", minilm(memory), "Review Text"),
        ("title_minilm", minilm(memory), "Title"),
        ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
        ("numbers", StandardScaler(), NUMBERS),
    ])


def dense_fusion(memory: str | None) -> EarlyFusion:
    """(c)'s features, the dense blocks an MLP takes: embeddings, categories, numbers."""
    return EarlyFusion([
        ("text_minilm", minilm(memory), "Review Text"),
        ("title_minilm", minilm(memory), "Title"),
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


def deep_runs(X_tr, y_tr, X_te, y_te, memory: str | None, max_epochs: int,
              seeds: int) -> dict[tuple[str, object], list[float]]:
    """(c): MLPHead unweighted and balanced, with early stopping, then with a fixed budget.

    Each setting is fitted with ``seeds`` seeds (weights, shuffling, dropout and the
    validation split), the same seeds for both weightings, so a difference between them is
    not one seed's luck. The fixed budget is the largest best epoch of the early-stopped
    runs, for both weightings and without a validation split, so neither is cut short of
    what its validation curve asked for and both see every training row.
    """
    runs: dict[tuple[str, object], list[float]] = {}
    labels, counts = np.unique(y_tr, return_counts=True)
    rare = labels[np.argmin(counts)]
    best_epochs: list[int] = []
    for budget in ("early stopping", "fixed epochs"):
        for class_weight in (None, "balanced"):
            scores, balanced, recall, precision, seconds, notes = [], [], [], [], [], []
            for seed in range(seeds):
                if budget == "early stopping":
                    head = MLPHead(hidden_sizes=(128,), max_epochs=max_epochs,
                                   batch_size=128, lr=1e-3, patience=10,
                                   class_weight=class_weight, random_state=seed)
                else:
                    head = MLPHead(hidden_sizes=(128,), max_epochs=max(best_epochs),
                                   batch_size=128, lr=1e-3, validation_fraction=None,
                                   class_weight=class_weight, random_state=seed)
                model = Pipeline([("fusion", dense_fusion(memory)), ("head", head)])
                seconds.append(timed_fit(model, X_tr, y_tr))
                predicted = model.predict(X_te)
                scores.append(f1_score(y_te, predicted, average="macro"))
                balanced.append(balanced_accuracy_score(y_te, predicted))
                # Where the head puts its threshold: recall and precision of the rare class.
                recall.append(recall_score(y_te, predicted, pos_label=rare))
                precision.append(precision_score(y_te, predicted, pos_label=rare))
                history = model.named_steps["head"].net_.history
                if budget == "early stopping":
                    best = int(np.argmin(history[:, "valid_loss"])) + 1
                    best_epochs.append(best)
                    notes.append(f"{len(history)}/{best}")
                else:
                    notes.append(f"{len(history)}")
            runs[budget, class_weight] = scores
            what = "epochs run/best" if budget == "early stopping" else "epochs"
            print(f"(c) MLPHead, {budget}, class_weight={class_weight!r}: macro-F1 "
                  f"{np.mean(scores):.4f} +- {np.std(scores):.4f} over {seeds} seeds "
                  f"({', '.join(f'{v:.4f}' for v in scores)}), balanced accuracy "
                  f"{np.mean(balanced):.4f}, rare class recall {np.mean(recall):.3f} "
                  f"precision {np.mean(precision):.3f}, fit {np.mean(seconds):.1f} s each ({what} "
                  f"{', '.join(notes)})", flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", default=None,
                        help="folder keeping the MiniLM embeddings (PretrainedTextEncoder's "
                             "memory=) between folds, fits and runs")
    parser.add_argument("--rows", type=int, default=None,
                        help="use the first ROWS reviews only (a quick check, not the figure)")
    parser.add_argument("--max-epochs", type=int, default=100,
                        help="MLPHead's epoch limit under early stopping")
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds per MLPHead setting (mean and spread are printed)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    X, y = load_clothing_reviews(return_X_y=True)
    X, y = X[COLUMNS], np.asarray(y)
    if args.rows is not None:
        X, y = X.iloc[:args.rows], y[:args.rows]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y,
                                              random_state=0)
    print(f"{len(y)} reviews, {np.mean(y == 0):.1%} not recommended; train {len(y_tr)}, "
          f"test {len(y_te)}", flush=True)

    # (a) plain scikit-learn
    ref = reference()
    ref_seconds = timed_fit(ref, X_tr, y_tr)
    ref_f1 = macro_f1(ref, X_te, y_te)
    print(f"(a) scikit-learn reference: macro-F1 {ref_f1:.4f}, fit {ref_seconds:.1f} s",
          flush=True)

    # (b) mmlearn, chosen by cross-validation on the training part only
    model = Pipeline([("fusion", fusion(args.memory)),
                      ("head", LogisticRegression(class_weight="balanced", max_iter=3000))])
    halved = {name: 0.5 for name in EMBEDDINGS}
    without = {f"fusion__{name}": ["drop"] for name in EMBEDDINGS}
    candidates = [{"fusion__weights": [halved], "head__C": [4.0, 8.0]},
                  {"fusion__weights": [None], "head__C": [8.0]},
                  {**without, "head__C": [8.0]}]
    grid = GridSearchCV(model, candidates, scoring="f1_macro",
                        cv=StratifiedKFold(3, shuffle=True, random_state=0))
    start = time.perf_counter()
    grid.fit(X_tr, y_tr)
    search_seconds = time.perf_counter() - start
    best_seconds = grid.refit_time_
    best_f1 = macro_f1(grid, X_te, y_te)
    for params, score in zip(grid.cv_results_["params"], grid.cv_results_["mean_test_score"],
                             strict=True):
        if any(v == "drop" for v in params.values()):
            embeddings = "without MiniLM"
        else:
            weight = (params["fusion__weights"] or {}).get(EMBEDDINGS[0], 1.0)
            embeddings = f"with MiniLM (weight {weight:g})"
        print(f"    CV macro-F1 {score:.4f}  {embeddings}, C={params['head__C']:g}")
    print(f"(b) best mmlearn pipeline (CV {grid.best_score_:.4f}, search {search_seconds:.0f} "
          f"s): test macro-F1 {best_f1:.4f}, refit {best_seconds:.1f} s", flush=True)

    # (c) a deep head, unweighted and balanced, under the same budget
    deep = deep_runs(X_tr, y_tr, X_te, y_te, args.memory, args.max_epochs, args.seeds)

    early = [np.mean(deep["early stopping", w]) for w in (None, "balanced")]
    fixed = [np.mean(deep["fixed epochs", w]) for w in (None, "balanced")]
    print(f"clothing macro-F1: sklearn {ref_f1:.3f} ({ref_seconds:.0f} s) | mmlearn best "
          f"{best_f1:.3f} ({best_seconds:.0f} s) | MLPHead unweighted -> balanced: early "
          f"stopping {early[0]:.3f} -> {early[1]:.3f}, fixed epochs {fixed[0]:.3f} -> "
          f"{fixed[1]:.3f} | mmlearn/sklearn {best_f1 / ref_f1:.3f}x")


if __name__ == "__main__":
    main()
