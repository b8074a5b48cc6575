"""AV-digits: EarlyFusion(ImageCNNEncoder + AudioCNNEncoder) + SVC, 5-fold stratified CV.

Each deep encoder is trained (supervised, with early stopping) on each training fold only;
its embedding is standardised and an SVC is fitted on the fused features. Prints each
modality alone and fused with the same head, then the source's own train/test split. The
last line is the fused 5-fold mean accuracy (the issue's target is >= 0.99).

    python benchmarks/av_digits_deep_fusion.py
"""

import time

from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioCNNEncoder, ImageCNNEncoder
from mmlearn.fusion import EarlyFusion


def pipeline(modalities, sample_rate):
    encoders = {
        "image": make_pipeline(ImageCNNEncoder(random_state=0), StandardScaler()),
        "audio": make_pipeline(AudioCNNEncoder(sample_rate=sample_rate, random_state=0),
                               StandardScaler()),
    }
    fusion = EarlyFusion([(m, encoders[m], m) for m in modalities])
    return Pipeline([("fusion", fusion), ("head", SVC())])


def main() -> None:
    bunch = load_av_digits()
    X, y, test = bunch.data, bunch.target, bunch.test_mask
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    means = {}
    for name, modalities in [("image CNN", ["image"]), ("audio CNN", ["audio"]),
                             ("early fusion", ["image", "audio"])]:
        start = time.perf_counter()
        pipe = pipeline(modalities, bunch.sample_rate)
        scores = cross_val_score(pipe, X, y, cv=cv)
        split = pipe.fit(X[~test], y[~test]).score(X[test], y[test])
        means[name] = scores.mean()
        print(f"{name:13s} 5-fold CV accuracy {scores.mean():.4f} +- {scores.std():.4f}   "
              f"source split ({test.sum()} test pairs) {split:.4f}   "
              f"{time.perf_counter() - start:.0f} s")
    print(f"EarlyFusion(ImageCNNEncoder + AudioCNNEncoder) + SVC, 5-fold mean accuracy: "
          f"{means['early fusion']:.4f}")


if __name__ == "__main__":
    main()
