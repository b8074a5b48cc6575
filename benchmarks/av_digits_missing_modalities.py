"""Early, late and joint fusion on AV-digits with modalities missing, against image only.

5-fold stratified CV (shuffled, seed 0) over the 1,797 image + audio pairs, every strategy
on the same folds and the same classical features (pixels and MFCC statistics, each
standardised), so the strategies differ only in how they fuse:

- early: ``EarlyFusion`` + ``LogisticRegression`` (also with ``modality_dropout=0.3``)
- late:  ``LateFusion`` of one ``LogisticRegression`` per modality + ``VotingHead`` (soft)
- joint: ``JointFusion`` with an MLP branch per modality, trained end to end

Three conditions: every cell present; 50% of the test fold's audio cells set to None
(the model trained on complete pairs); 30% of each modality's cells set to None in the
training fold (chosen independently, so some rows have neither), tested on complete pairs.
The reference is the image-only model (pixels + LogisticRegression) on the same folds.
The last line is the worst margin over strategies of (accuracy with 50% audio missing at
test - image-only accuracy); the target is >= -0.01.

    python benchmarks/av_digits_missing_modalities.py
"""

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion, JointFusion, LateFusion
from mmlearn.heads import VotingHead


def image_features():
    return make_pipeline(ImagePixelEncoder(), StandardScaler())


def audio_features():
    return make_pipeline(AudioMFCCEncoder(sample_rate=8000), StandardScaler())


def logreg():
    return LogisticRegression(max_iter=1000)


STRATEGIES = {
    "early": Pipeline([
        ("fusion", EarlyFusion([("image", image_features(), "image"),
                                ("audio", audio_features(), "audio")])),
        ("head", logreg())]),
    # The same, with modality dropout (rate chosen a priori, not tuned): the head also
    # trains on rows whose image or audio is hidden.
    "early, modality_dropout=0.3": Pipeline([
        ("fusion", EarlyFusion([("image", image_features(), "image"),
                                ("audio", audio_features(), "audio")],
                               modality_dropout=0.3, random_state=0)),
        ("head", logreg())]),
    "late": Pipeline([
        ("fusion", LateFusion([("image", make_pipeline(image_features(), logreg()), "image"),
                               ("audio", make_pipeline(audio_features(), logreg()), "audio")],
                              cv=3)),
        ("head", VotingHead())]),
    "joint": JointFusion([("image", image_features(), "image"),
                          ("audio", audio_features(), "audio")], random_state=0),
}
IMAGE_ONLY = make_pipeline(image_features(), logreg())


def blank(X, column, fraction, rng):
    """A copy of X with ``fraction`` of ``column``'s cells set to None (seeded)."""
    X = X.copy()
    rows = rng.choice(len(X), size=int(round(fraction * len(X))), replace=False)
    X.iloc[rows, X.columns.get_loc(column)] = None
    return X


X, y = load_av_digits(return_X_y=True)
folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
scores: dict[str, list[float]] = {}


def record(label, estimator, X_train, y_train, X_test, y_test):
    scores.setdefault(label, []).append(clone(estimator).fit(X_train, y_train)
                                        .score(X_test, y_test))


for k, (train, test) in enumerate(folds):
    rng = np.random.default_rng(k)
    X_train, X_test, y_train, y_test = X.iloc[train], X.iloc[test], y[train], y[test]
    record("image only", IMAGE_ONLY, X_train[["image"]], y_train, X_test[["image"]], y_test)
    X_test_gaps = blank(X_test, "audio", 0.5, rng)
    X_train_gaps = blank(blank(X_train, "image", 0.3, rng), "audio", 0.3, rng)
    for name, strategy in STRATEGIES.items():
        model = clone(strategy).fit(X_train, y_train)
        scores.setdefault(f"{name}", []).append(model.score(X_test, y_test))
        scores.setdefault(f"{name} | 50% audio missing at test", []).append(
            model.score(X_test_gaps, y_test))
        record(f"{name} | 30% of each missing in training", strategy, X_train_gaps, y_train,
               X_test, y_test)
    print(f"fold {k + 1}/5 done", flush=True)

width = max(map(len, scores))
for label, values in scores.items():
    print(f"{label:<{width}}  {np.mean(values):.4f} +- {np.std(values):.4f}")
image = np.mean(scores["image only"])
margins = {name: np.mean(scores[f"{name} | 50% audio missing at test"]) - image
           for name in STRATEGIES}
worst = min(margins, key=margins.get)
print(f"worst margin over image only with 50% audio missing at test: {margins[worst]:+.4f} "
      f"({worst})")
