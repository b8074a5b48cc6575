"""Emoji category, image only, 5-fold accuracy: frozen EfficientNet-Lite0 against pixels.

Both candidates end in the same standardisation and logistic regression on the same folds.
A frozen encoder learns nothing from the rows, so the images are embedded once, outside the
folds. Last line: the accuracy the pretrained features add over raw pixels.

    python benchmarks/emoji_pretrained_image.py
"""

import time

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmlearn.datasets import load_emoji
from mmlearn.encoders import ImagePixelEncoder, PretrainedImageEncoder


def main() -> None:
    X, y = load_emoji(return_X_y=True)
    images = X["image"]
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    head = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    start = time.perf_counter()
    features = PretrainedImageEncoder().fit_transform(images)
    print(f"embedding {len(images)} images: {time.perf_counter() - start:.0f} s")
    pretrained = cross_val_score(head, features, y, cv=cv)
    pixels = cross_val_score(make_pipeline(ImagePixelEncoder(size=32), StandardScaler(),
                                           LogisticRegression(max_iter=2000)), images, y, cv=cv)
    print(f"ImagePixelEncoder(size=32) + LogisticRegression: "
          f"{pixels.mean():.3f} +- {pixels.std():.3f}")
    print(f"PretrainedImageEncoder() + LogisticRegression:   "
          f"{pretrained.mean():.3f} +- {pretrained.std():.3f}")
    print(f"accuracy, pretrained - pixels: {pretrained.mean() - pixels.mean():+.3f}")


if __name__ == "__main__":
    main()
