"""
Missing modalities: accuracy as the audio goes missing
======================================================

A model trained on complete image + audio pairs meets rows whose audio was lost. How fast
does its accuracy fall as the missing fraction grows, and does it stay above a model that
never used the audio? Each fusion step has its own rule for a missing modality
(``EarlyFusion`` imputes the training mean of its features, ``LateFusion`` followed by
:class:`mmlearn.heads.VotingHead` lets the present modalities vote); ``modality_dropout``
trains the head on rows with a modality hidden, so it learns to do without it.

A small subset of AV-digits keeps the build short (400 training and 200 test pairs); the
5-fold measurement on all 1,797 pairs, joint fusion included, is
``python benchmarks/av_digits_missing_modalities.py`` (see the user guide page *Missing
modalities*).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion, LateFusion
from mmlearn.heads import VotingHead


def image_features():
    return make_pipeline(ImagePixelEncoder(), StandardScaler())


def audio_features():
    return make_pipeline(AudioMFCCEncoder(sample_rate=8000), StandardScaler())


def logreg():
    return LogisticRegression(max_iter=1000)


# %%
# Four models, trained on complete pairs
# --------------------------------------
X, y = load_av_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X.iloc[:600], y[:600], test_size=200, stratify=y[:600], random_state=0)
models = {
    "early fusion": Pipeline([
        ("fusion", EarlyFusion([("image", image_features(), "image"),
                                ("audio", audio_features(), "audio")])),
        ("head", logreg())]),
    "early fusion, modality_dropout=0.3": Pipeline([
        ("fusion", EarlyFusion([("image", image_features(), "image"),
                                ("audio", audio_features(), "audio")],
                               modality_dropout=0.3, random_state=0)),
        ("head", logreg())]),
    "late fusion + VotingHead": Pipeline([
        ("fusion", LateFusion([("image", make_pipeline(image_features(), logreg()), "image"),
                               ("audio", make_pipeline(audio_features(), logreg()), "audio")],
                              cv=3)),
        ("head", VotingHead())]),
}
for model in models.values():
    model.fit(X_train, y_train)
image_only = make_pipeline(image_features(), logreg()).fit(X_train[["image"]], y_train)
image_only_accuracy = image_only.score(X_test[["image"]], y_test)

# %%
# Blank a growing fraction of the test audio
# ------------------------------------------
# The same rows are blanked for every model (one seeded order of the test rows).
fractions = np.linspace(0, 1, 6)
order = np.random.default_rng(0).permutation(len(X_test))
curves = {name: [] for name in models}
for fraction in fractions:
    X_gaps = X_test.copy()
    blanked = order[:int(round(fraction * len(X_test)))]
    X_gaps.iloc[blanked, X_gaps.columns.get_loc("audio")] = None
    for name, model in models.items():
        curves[name].append(model.score(X_gaps, y_test))

for name, accuracy in curves.items():
    print(f"{name:36s}", " ".join(f"{a:.3f}" for a in accuracy))
print(f"{'image only':36s} {image_only_accuracy:.3f}")

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
for (name, accuracy), marker in zip(curves.items(), "osD", strict=True):
    ax.plot(fractions, accuracy, marker=marker, label=name)
ax.axhline(image_only_accuracy, color="grey", linestyle="--", label="image only")
ax.set_xlabel("fraction of test rows without audio")
ax.set_ylabel("test accuracy")
ax.set_title(f"AV-digits, {len(X_train)} train / {len(X_test)} test pairs")
ax.legend(loc="lower left")
plt.show()
