"""AV-digits: MLPHead against SVC after the same EarlyFusion, same folds.

5-fold stratified CV (shuffled, seed 0) over all 1,797 pairs:
``EarlyFusion(ImagePixelEncoder() + AudioMFCCEncoder(sample_rate=8000))`` then ``SVC()`` or
``MLPHead(random_state=0)``; per-fold accuracies and the mean fit time per fold of each. The
last line is the MLP head's fit time over the SVC's (measured in the same process).

    python benchmarks/av_digits_mlp_head.py
"""

import torch
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion
from mmlearn.heads import MLPHead


def main() -> None:
    torch.set_num_threads(2)
    bunch = load_av_digits()
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    fit_seconds = {}
    for name, head in [("SVC()", SVC()), ("MLPHead(random_state=0)", MLPHead(random_state=0))]:
        fusion = EarlyFusion([("image", ImagePixelEncoder(), "image"),
                              ("audio", AudioMFCCEncoder(sample_rate=bunch.sample_rate),
                               "audio")])
        result = cross_validate(Pipeline([("fusion", fusion), ("head", head)]),
                                bunch.data, bunch.target, cv=cv)
        scores = result["test_score"]
        fit_seconds[name] = result["fit_time"].mean()
        print(f"EarlyFusion + {name:25s} {scores.mean():.4f} +- {scores.std():.4f}   "
              f"folds {' '.join(f'{s:.4f}' for s in scores)}")
    print(f"fit time per fold, MLPHead / SVC: "
          f"{fit_seconds['MLPHead(random_state=0)'] / fit_seconds['SVC()']:.1f}")


if __name__ == "__main__":
    main()
