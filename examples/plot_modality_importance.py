"""
Which modality does a fitted model rely on?
===========================================

Fits an early-fusion pipeline (image pixels + audio MFCCs -> logistic regression) on 300
AV-digit pairs, then asks two questions of it on 100 held-out pairs with
:func:`mmlearn.inspection.modality_importance` (shuffle a modality across rows: how much
does accuracy fall?) and :func:`mmlearn.inspection.modality_ablation` (remove it: what is
left?). See the user guide page *Modality importance and ablation*; the full-size
measurement is ``python benchmarks/av_digits_modality_importance.py``.
"""

import matplotlib.pyplot as plt
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion
from mmlearn.inspection import modality_ablation, modality_importance, plot_modality_importance

# %%
# Fit the model on a small stratified split
# -----------------------------------------
X, y = load_av_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X.iloc[:300], y[:300], test_size=100, stratify=y[:300], random_state=0)
fusion = EarlyFusion([("image", ImagePixelEncoder(), "image"),
                      ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")])
model = Pipeline([("fusion", fusion), ("head", LogisticRegression(max_iter=1000))])
model.fit(X_train, y_train)

# %%
# Shuffle each modality, then remove it
# -------------------------------------
# Shuffling keeps a plausible clip that belongs to another digit; removing it lets
# ``EarlyFusion`` impute the training mean, neutral evidence.
importance = modality_importance(model, X_test, y_test, n_repeats=5, random_state=0)
ablation = modality_ablation(model, X_test, y_test)
print("accuracy with every modality:", importance.baseline_score)
for k, name in enumerate(importance.modalities):
    print(f"{name}: importance {importance.importances_mean[k]:.3f}, "
          f"accuracy without it {ablation.scores[k]:.3f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 2.8), layout="constrained")
plot_modality_importance(importance, ax=left)
plot_modality_importance(ablation, ax=right)
plt.show()
