"""AV-digits images: Autoencoder features against PCA's and the raw pixels, same folds.

5-fold stratified CV (shuffled, seed 0) over all 1,797 8×8 digit images:
``ImagePixelEncoder()``, then no reduction, ``PCA(16)``, ``Autoencoder(embedding_dim=16)``
(defaults, ``random_state=0``) or the same with ``standardize=True``, then ``SVC()``. The
last line is the autoencoder's mean accuracy minus PCA's (< 0: PCA is better here).

    python benchmarks/av_digits_autoencoder.py
"""

import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import Autoencoder, ImagePixelEncoder


def main() -> None:
    torch.set_num_threads(2)
    X, y = load_av_digits(return_X_y=True)
    images = X[["image"]]
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    reductions = {
        "pixels + SVC": None,
        "pixels + PCA(16) + SVC": PCA(16, random_state=0),
        "pixels + Autoencoder(embedding_dim=16) + SVC": Autoencoder(embedding_dim=16,
                                                                    random_state=0),
        "pixels + Autoencoder(16, standardize=True) + SVC": Autoencoder(
            embedding_dim=16, standardize=True, random_state=0),
    }
    means = {}
    for name, reduction in reductions.items():
        steps = [ImagePixelEncoder()] + ([reduction] if reduction is not None else []) + [SVC()]
        scores = cross_val_score(make_pipeline(*steps), images, y, cv=cv)
        means[name] = scores.mean()
        print(f"{name:48s} {scores.mean():.4f} +- {scores.std():.4f}")
    autoencoder = means["pixels + Autoencoder(embedding_dim=16) + SVC"]
    print(f"Autoencoder(16) minus PCA(16), mean accuracy: "
          f"{autoencoder - means['pixels + PCA(16) + SVC']:+.4f}")


if __name__ == "__main__":
    main()
