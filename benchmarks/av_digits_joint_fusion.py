"""AV-digits: JointFusion (ImageCNN + AudioCNN branches) accuracy, 5-fold stratified CV.

For each fusion op, one JointFusion with default settings (early stopping on 10% of each
training fold) is fitted per fold of StratifiedKFold(5, shuffle=True, random_state=0), and
scored on the fold's test rows twice: complete, and with the audio cell of a seeded 50% of
them set to None. The reference row is the image branch alone (a one-branch JointFusion,
same settings). One line per model as it finishes; the last line is the best op's
complete-data accuracy.

    python benchmarks/av_digits_joint_fusion.py [op,op,...]      # default: concat,attention
"""

import sys
import time

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioCNNEncoder, ImageCNNEncoder
from mmlearn.fusion import JointFusion


def evaluate(model, X, y, cv) -> tuple[np.ndarray, np.ndarray]:
    full, gaps = [], []
    for fold, (train, test) in enumerate(cv.split(X, y)):
        fitted = clone(model).fit(X.iloc[train], y[train])
        X_test = X.iloc[test].copy()
        full.append(fitted.score(X_test, y[test]))
        hide = np.random.default_rng(fold).random(len(test)) < 0.5
        X_test.loc[X_test.index[hide], "audio"] = None
        gaps.append(fitted.score(X_test, y[test]))
    return np.asarray(full), np.asarray(gaps)


def main() -> None:
    ops = sys.argv[1].split(",") if len(sys.argv) > 1 else ["concat", "attention"]
    bunch = load_av_digits()
    X, y = bunch.data, bunch.target
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    image = ("image", ImageCNNEncoder(), "image")
    audio = ("audio", AudioCNNEncoder(sample_rate=bunch.sample_rate), "audio")
    models = {"image only": JointFusion([image], random_state=0)}
    models.update({op: JointFusion([image, audio], fusion_op=op, random_state=0) for op in ops})
    best = {}
    for name, model in models.items():
        start = time.perf_counter()
        full, gaps = evaluate(model, X, y, cv)
        if name != "image only":
            best[name] = full.mean()
        print(f"{name:11s} 5-fold CV accuracy {full.mean():.4f} +- {full.std():.4f}   "
              f"50% of test audio missing {gaps.mean():.4f} +- {gaps.std():.4f}   "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    op = max(best, key=best.get)
    print(f"best fusion op: {op}, 5-fold CV accuracy {best[op]:.4f}")


if __name__ == "__main__":
    main()
