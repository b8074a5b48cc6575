"""Clothing reviews (82 % recommended): macro-F1 of mmlearn against plain scikit-learn.

All 23,486 reviews, the fixed split ``train_test_split(X, y, test_size=0.2, stratify=y,
random_state=0)``, macro-F1 on the test part (4,698 reviews). Everything that is chosen
(grid, decision thresholds, stacking or not) is chosen on the training part only.

(a) the plain scikit-learn reference: TF-IDF (word 1-2-grams) of title + review text,
    one-hot categories, scaled numbers, ``LogisticRegression(class_weight="balanced")``;
(b) the best mmlearn pipeline. First ``GridSearchCV`` (3-fold macro-F1 on the training
    part) over an ``EarlyFusion`` of a TF-IDF per text column, the all-MiniLM sentence
    embeddings of the review text and of the title (``PretrainedTextEncoder``, frozen,
    shipped offline) at half weight or without them, the categories and the numbers, then
    a balanced logistic head (``C`` from a grid). Two refinements, each a scikit-learn
    tool used as a user would: the grid's choice with its decision threshold tuned for
    macro-F1 (``TunedThresholdClassifierCV``, the same 3 folds), and a stack
    (``LateFusion``'s out-of-fold scores of the grid's choice and of a from-scratch GRU
    text encoder, read by a logistic head whose threshold is tuned the same way, by 5-fold
    CV on those scores). The one with the better cross-validated macro-F1 is "mmlearn
    best"; the test part scores each once;
(c) deep candidate: ``MLPHead`` on the dense blocks (both embeddings, categories,
    numbers), early stopping on a validation split;
(d) deep candidate: ``TextRNNEncoder`` (the bench's deep text encoder) trained from
    scratch on title + review text, a reduced fixed budget of ``--rnn-epochs`` epochs.
    Each deep candidate is fitted unweighted and with ``class_weight="balanced"``, with the
    same seeds, at the default threshold (every training row) and with its threshold tuned
    for macro-F1 on a held-out quarter of the training part (``TunedThresholdClassifierCV``,
    ``cv=0.25, refit=False``). Balanced accuracy and the rare class's recall and precision
    show where each puts its threshold.

Fit seconds are those of the fits on the training part: the grid's refit, the whole
``TunedThresholdClassifierCV`` fit (its CV fits and refit) or the stack's whole fit.

The frozen sentence encoder learns nothing from the rows, so each review has one embedding
in every fold; with ``--memory DIR`` (the encoders' ``memory=``) each distinct text is
embedded once and kept in DIR, and the folds, the refits and later runs read it. Without
it, every fit embeds its rows again. Embedding the 23,486 review texts takes about an hour
on one CPU core (the first run fills DIR; reruns read it in seconds).

    OMP_NUM_THREADS=1 python benchmarks/clothing_macro_f1.py --memory DIR

``--rows N`` runs on the first N reviews only (a quick check of the script, not the
figure). The last line gives the figures, their fit seconds, every deep candidate's
unweighted -> balanced macro-F1 and the ratio of (b) to (a).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
)
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    TunedThresholdClassifierCV,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from mmlearn.datasets import load_clothing_reviews
from mmlearn.encoders import PretrainedTextEncoder, TextRNNEncoder
from mmlearn.fusion import EarlyFusion, LateFusion
from mmlearn.heads import MLPHead

TEXTS = ["Title", "Review Text"]
CATEGORIES = ["Division Name", "Department Name", "Class Name"]
NUMBERS = ["Age", "Positive Feedback Count"]
COLUMNS = TEXTS + CATEGORIES + NUMBERS
EMBEDDINGS = ("text_minilm", "title_minilm")


def title_and_text(X: pd.DataFrame) -> pd.Series:
    return X["Title"].fillna("") + " " + X["Review Text"].fillna("")


def title_then_text(X: pd.DataFrame) -> pd.DataFrame:
    """One text column for a sequence model: the title, a full stop, the review."""
    return (X["Title"].fillna("") + " . " + X["Review Text"].fillna("")).to_frame("text")


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


def rnn(class_weight, seed: int, epochs: int) -> Pipeline:
    """(d): the bench's deep text encoder, trained from scratch on title + review text.

    A small bidirectional GRU (32 units, 32-dimensional token vectors, the first 96 tokens)
    with a fixed budget of ``epochs`` epochs on every training row, a fraction of what
    early stopping would run to, so that the run stays within a CPU budget.
    """
    encoder = TextRNNEncoder(hidden_size=32, token_dim=32, embedding_dim=32, max_length=96,
                             batch_size=128, max_epochs=epochs, validation_fraction=None,
                             class_weight=class_weight, random_state=seed)
    return Pipeline([("join", FunctionTransformer(title_then_text)), ("rnn", encoder)])


def mlp(class_weight, seed: int, memory: str | None, max_epochs: int) -> Pipeline:
    """(c): MLPHead on the frozen MiniLM embeddings, categories and numbers."""
    head = MLPHead(hidden_sizes=(128,), max_epochs=max_epochs, batch_size=128, lr=1e-3,
                   patience=10, class_weight=class_weight, random_state=seed)
    return Pipeline([("fusion", dense_fusion(memory)), ("head", head)])


def tuned(model, seed: int) -> TunedThresholdClassifierCV:
    """``model`` with its decision threshold tuned for macro-F1 on a held-out quarter.

    A quarter of the training rows (stratified, seeded) is held out, ``model`` is fitted
    on the rest and the threshold that maximises the quarter's macro-F1 is kept
    (``refit=False``: one fit, as for the default threshold).
    """
    return TunedThresholdClassifierCV(model, scoring="f1_macro", cv=0.25, refit=False,
                                      random_state=seed)


def deep_runs(name: str, make, X_tr, y_tr, X_te, y_te,
              seeds: int) -> dict[tuple[str, object], list[float]]:
    """A deep candidate unweighted and balanced, at the default and at a tuned threshold.

    Each setting is fitted with ``seeds`` seeds (weights, shuffling, dropout, the
    validation split), the same seeds for both weightings, so a difference between them is
    not one seed's luck. Balanced accuracy and the rare class's recall and precision show
    where each model puts its threshold.
    """
    runs: dict[tuple[str, object], list[float]] = {}
    labels, counts = np.unique(y_tr, return_counts=True)
    rare = labels[np.argmin(counts)]
    for threshold in ("default threshold", "tuned threshold"):
        for class_weight in (None, "balanced"):
            scores, balanced, recall, precision, seconds, notes = [], [], [], [], [], []
            for seed in range(seeds):
                model = make(class_weight, seed)
                if threshold == "tuned threshold":
                    model = tuned(model, seed)
                seconds.append(timed_fit(model, X_tr, y_tr))
                predicted = model.predict(X_te)
                scores.append(f1_score(y_te, predicted, average="macro"))
                balanced.append(balanced_accuracy_score(y_te, predicted))
                recall.append(recall_score(y_te, predicted, pos_label=rare))
                precision.append(precision_score(y_te, predicted, pos_label=rare, zero_division=0))
                if threshold == "tuned threshold":
                    notes.append(f"{model.best_threshold_:.2f}")
            runs[threshold, class_weight] = scores
            where = f", thresholds {', '.join(notes)}" if notes else ""
            print(f"{name}, {threshold}, class_weight={class_weight!r}: macro-F1 "
                  f"{np.mean(scores):.4f} +- {np.std(scores):.4f} over {seeds} seeds "
                  f"({', '.join(f'{v:.4f}' for v in scores)}), balanced accuracy "
                  f"{np.mean(balanced):.4f}, rare class recall {np.mean(recall):.3f} "
                  f"precision {np.mean(precision):.3f}, fit {np.mean(seconds):.1f} s "
                  f"each{where}", flush=True)
    return runs


def unweighted_to_balanced(runs) -> str:
    return ", ".join(f"{threshold.split()[0]} {np.mean(runs[threshold, None]):.3f} -> "
                     f"{np.mean(runs[threshold, 'balanced']):.3f}"
                     for threshold in ("default threshold", "tuned threshold"))


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
    parser.add_argument("--rnn-epochs", type=int, default=3,
                        help="epochs of the from-scratch TextRNNEncoder")
    parser.add_argument("--rnn-seeds", type=int, default=2,
                        help="seeds per TextRNNEncoder setting")
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
    cv = StratifiedKFold(3, shuffle=True, random_state=0)

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
                  {**without, "head__C": [8.0]}]
    grid = GridSearchCV(model, candidates, scoring="f1_macro", cv=cv)
    start = time.perf_counter()
    grid.fit(X_tr, y_tr)
    search_seconds = time.perf_counter() - start
    for params, score in zip(grid.cv_results_["params"], grid.cv_results_["mean_test_score"],
                             strict=True):
        embeddings = ("without MiniLM" if any(v == "drop" for v in params.values())
                      else "with MiniLM (weight 0.5)")
        print(f"    CV macro-F1 {score:.4f}  {embeddings}, C={params['head__C']:g}")
    print(f"(b) grid's choice at the default threshold (CV {grid.best_score_:.4f}, search "
          f"{search_seconds:.0f} s): test macro-F1 {macro_f1(grid, X_te, y_te):.4f}, refit "
          f"{grid.refit_time_:.1f} s", flush=True)
    # Its decision threshold tuned for macro-F1 by the same 3-fold CV, then refitted.
    thresholded = TunedThresholdClassifierCV(clone(grid.best_estimator_), scoring="f1_macro",
                                             cv=cv)
    thresholded_seconds = timed_fit(thresholded, X_tr, y_tr)
    thresholded_f1 = macro_f1(thresholded, X_te, y_te)
    print(f"(b) the same, threshold tuned for macro-F1 (CV {thresholded.best_score_:.4f} at "
          f"{thresholded.best_threshold_:.2f}): test macro-F1 {thresholded_f1:.4f}, fit "
          f"{thresholded_seconds:.1f} s (3 CV fits + refit)", flush=True)

    # (b) stacked: LateFusion's out-of-fold scores of that pipeline and of a from-scratch
    # GRU, read by a logistic head whose threshold is tuned by 5-fold CV on those scores.
    stacked = Pipeline([
        ("late", LateFusion([("words", clone(grid.best_estimator_), COLUMNS),
                             ("gru", rnn("balanced", 0, args.rnn_epochs), COLUMNS)], cv=cv)),
        ("head", TunedThresholdClassifierCV(
            LogisticRegression(), scoring="f1_macro",
            cv=StratifiedKFold(5, shuffle=True, random_state=0))),
    ])
    stacked_seconds = timed_fit(stacked, X_tr, y_tr)
    stacked_f1 = macro_f1(stacked, X_te, y_te)
    stacked_cv = stacked.named_steps["head"].best_score_
    print(f"(b) stacked with a balanced GRU (CV {stacked_cv:.4f} at "
          f"{stacked.named_steps['head'].best_threshold_:.2f}): test macro-F1 "
          f"{stacked_f1:.4f}, fit {stacked_seconds:.1f} s", flush=True)
    if stacked_cv > thresholded.best_score_:
        best_name, best_f1, best_seconds = "stacked", stacked_f1, stacked_seconds
    else:
        best_name, best_f1, best_seconds = "tuned", thresholded_f1, thresholded_seconds
    print(f"(b) best by CV: {best_name}", flush=True)

    # (c), (d) deep candidates, unweighted and balanced, under the same budget
    mlp_runs = deep_runs("(c) MLPHead", lambda w, seed: mlp(w, seed, args.memory,
                                                            args.max_epochs),
                         X_tr, y_tr, X_te, y_te, args.seeds)
    rnn_runs = deep_runs("(d) TextRNNEncoder", lambda w, seed: rnn(w, seed, args.rnn_epochs),
                         X_tr, y_tr, X_te, y_te, args.rnn_seeds)

    print(f"clothing macro-F1: sklearn {ref_f1:.3f} ({ref_seconds:.0f} s) | mmlearn best "
          f"({best_name}) {best_f1:.3f} ({best_seconds:.0f} s) | unweighted -> balanced: "
          f"MLPHead {unweighted_to_balanced(mlp_runs)}; TextRNNEncoder "
          f"{unweighted_to_balanced(rnn_runs)} | mmlearn/sklearn {best_f1 / ref_f1:.3f}x")


if __name__ == "__main__":
    main()
