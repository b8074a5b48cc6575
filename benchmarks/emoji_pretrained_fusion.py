"""Emoji category from image + name, 5-fold: frozen pretrained encoders alone and fused.

Every candidate is scored on the same five shuffled, stratified folds (seed 0) and ends in the
same kind of head: a logistic regression whose C is chosen by an inner 5-fold cross-validation
on the outer training rows (``LogisticRegressionCV``, ten values of C from 1e-4 to 1e4). The
encoders are frozen (EfficientNet-Lite0 at 224 pixels, all-MiniLM-L6-v2) and share one
embedding cache (``memory=``): each image and each name is embedded once for the whole run,
however many folds and candidates use it.

- image alone, name alone: encoder, ``StandardScaler``, head.
- early fusion: each modality's standardised embeddings, each block scaled on the training
  rows to a mean squared row norm of 1 (``EarlyFusion(weights="balanced")``), so that 1,280
  image features and 384 text features have the same say; then the head. For comparison,
  the same without the block scaling (``weights=None``: the image block's norm is about
  sqrt(1280 / 384) = 1.8 times the text block's).
- late fusion: each single-modality model gives out-of-fold class probabilities
  (``LateFusion``, inner 5-fold), then soft voting (``VotingHead``: their mean) or stacking
  (the head trained on the 2 x 10 probabilities).

Each fused candidate is compared with each single modality by Nadeau and Bengio's corrected
resampled t-test on the paired fold scores (accuracy; macro-F1 is printed beside it). Last
line: the best fused accuracy minus the best single-modality accuracy.

    python benchmarks/emoji_pretrained_fusion.py [CACHE_FOLDER [TORCH_THREADS]]

CACHE_FOLDER keeps the embeddings between runs (default: a temporary folder, removed at the
end); TORCH_THREADS defaults to 1. Embedding the 1,911 images at 224 pixels takes minutes on a
CPU; the heads' inner cross-validations take minutes more.
"""

import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmlearn.bench.stats import corrected_t_test
from mmlearn.datasets import load_emoji
from mmlearn.encoders import PretrainedImageEncoder, PretrainedTextEncoder
from mmlearn.fusion import EarlyFusion, LateFusion
from mmlearn.heads import VotingHead

N_FOLDS = 5


def head() -> LogisticRegressionCV:
    """L2 logistic regression, C chosen by accuracy over an inner stratified 5-fold CV."""
    return LogisticRegressionCV(Cs=10, cv=N_FOLDS, l1_ratios=(0.0,), scoring="accuracy",
                                max_iter=2000, use_legacy_attributes=False)


def candidates(memory: str) -> tuple[dict, LateFusion, dict]:
    """Single-modality and early-fusion pipelines; the late fusion and its two heads."""
    image = make_pipeline(PretrainedImageEncoder(memory=memory), StandardScaler())
    text = make_pipeline(PretrainedTextEncoder(memory=memory), StandardScaler())
    # A one-modality EarlyFusion only picks its column out of the image + name frame.
    image_only = make_pipeline(EarlyFusion([("image", image, "image")]), head())
    text_only = make_pipeline(EarlyFusion([("name", text, "name")]), head())
    both = [("image", image, "image"), ("name", text, "name")]
    early = make_pipeline(EarlyFusion(both, weights="balanced"), head())
    unscaled = make_pipeline(EarlyFusion(both), head())
    late = LateFusion([("image", make_pipeline(image, head()), "image"),
                       ("name", make_pipeline(text, head()), "name")], cv=N_FOLDS)
    pipelines = {"image alone": image_only, "name alone": text_only,
                 "early fusion (balanced blocks)": early,
                 "early fusion (unscaled blocks)": unscaled}
    late_heads = {"late fusion, soft voting": VotingHead(),
                  "late fusion, stacking": head()}
    return pipelines, late, late_heads


def main() -> None:
    memory = sys.argv[1] if len(sys.argv) > 1 else None
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    # The "Component" category has 5 emoji: an outer training fold holds 4, fewer than the
    # inner 5 folds, and scikit-learn warns about it at every inner split.
    warnings.filterwarnings("ignore", message="The least populated class")
    X, y = load_emoji(return_X_y=True)
    X = X[["image", "name"]]
    folds = list(StratifiedKFold(N_FOLDS, shuffle=True, random_state=0).split(X, y))
    with tempfile.TemporaryDirectory() as scratch:
        pipelines, late, late_heads = candidates(memory or scratch)
        names = [*pipelines, *late_heads]
        scores = {name: [] for name in names}
        macro_f1 = {name: [] for name in names}
        seconds = dict.fromkeys(names, 0.0)
        for k, (train, test) in enumerate(folds):
            X_train, X_test, y_train, y_test = X.iloc[train], X.iloc[test], y[train], y[test]
            for name, pipeline in pipelines.items():
                start = time.perf_counter()
                predicted = clone(pipeline).fit(X_train, y_train).predict(X_test)
                scores[name].append(accuracy_score(y_test, predicted))
                macro_f1[name].append(f1_score(y_test, predicted, average="macro"))
                seconds[name] += time.perf_counter() - start
            # Both late heads read the same out-of-fold probabilities: fit the fusion once,
            # as a Pipeline(fusion, head) would for each head.
            start = time.perf_counter()
            fusion = clone(late)
            train_blocks = fusion.fit_transform(X_train, y_train)
            test_blocks = fusion.transform(X_test)
            shared = time.perf_counter() - start
            for name, late_head in late_heads.items():
                start = time.perf_counter()
                predicted = clone(late_head).fit(train_blocks, y_train).predict(test_blocks)
                scores[name].append(accuracy_score(y_test, predicted))
                macro_f1[name].append(f1_score(y_test, predicted, average="macro"))
                seconds[name] += shared + time.perf_counter() - start
            print(f"fold {k + 1}/{N_FOLDS}: " + "  ".join(
                f"{scores[name][-1]:.3f}" for name in names), flush=True)

    print(f"\nemoji category from image + name: {len(y)} rows, {N_FOLDS}-fold stratified CV "
          f"(seed 0), LogisticRegressionCV heads; accuracy +- std over the folds")
    for name in names:
        s = np.asarray(scores[name])
        print(f"{name:32s} {s.mean():.4f} +- {s.std():.4f}   folds "
              f"{' '.join(f'{v:.3f}' for v in s)}   macro-F1 {np.mean(macro_f1[name]):.4f}"
              f"   ({seconds[name]:.0f} s)")
    single = ["image alone", "name alone"]
    fused = [name for name in names if name not in single]
    ratio = 1 / (N_FOLDS - 1)
    print("\nfused - single, corrected resampled t-test on the paired fold scores:")
    for name in fused:
        for alone in single:
            diff = np.subtract(scores[name], scores[alone])
            t, p = corrected_t_test(scores[name], scores[alone], test_train_ratio=ratio)
            print(f"  {name:32s} - {alone:12s} {diff.mean():+.4f} +- {diff.std():.4f}   "
                  f"t={t:+.2f}  p={p:.3f}")
    best_single = max(single, key=lambda name: np.mean(scores[name]))
    best_fused = max(fused, key=lambda name: np.mean(scores[name]))
    t, p = corrected_t_test(scores[best_fused], scores[best_single], test_train_ratio=ratio)
    print(f"accuracy, best fused ({best_fused}) - best single ({best_single}): "
          f"{np.mean(scores[best_fused]) - np.mean(scores[best_single]):+.4f} (p={p:.3f})")


if __name__ == "__main__":
    main()
