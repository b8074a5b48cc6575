"""AV-digits: EarlyFusion(pixels + MFCC) + SVC against each modality alone, same folds.

Prints 5-fold stratified CV accuracy for image-only, audio-only and fused pipelines with the
same SVC head, then the source's own train/test split (FSDD takes 0-4 = test). The last line
is the fused accuracy minus the best single modality's (>= 0 means fusion is at least as good).

    python benchmarks/av_digits_early_fusion.py
"""

from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion


def pipeline(modalities, sample_rate):
    encoders = {"image": ImagePixelEncoder(), "audio": AudioMFCCEncoder(sample_rate=sample_rate)}
    fusion = EarlyFusion([(m, encoders[m], m) for m in modalities])
    return Pipeline([("fusion", fusion), ("head", SVC())])


def main() -> None:
    bunch = load_av_digits()
    X, y, test = bunch.data, bunch.target, bunch.test_mask
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    cv_means = {}
    for name, modalities in [("image only", ["image"]), ("audio only", ["audio"]),
                             ("early fusion", ["image", "audio"])]:
        pipe = pipeline(modalities, bunch.sample_rate)
        scores = cross_val_score(pipe, X, y, cv=cv)
        split = pipe.fit(X[~test], y[~test]).score(X[test], y[test])
        cv_means[name] = scores.mean()
        print(f"{name:13s} 5-fold CV accuracy {scores.mean():.4f} +- {scores.std():.4f}   "
              f"source split ({test.sum()} test pairs) {split:.4f}")
    best_single = max(cv_means["image only"], cv_means["audio only"])
    print(f"fused minus best single modality (5-fold CV): "
          f"{cv_means['early fusion'] - best_single:+.4f}")


if __name__ == "__main__":
    main()
