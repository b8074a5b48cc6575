"""File size and save/load time of ``mmlearn.io`` next to joblib, on AV-digits models.

Fits a few models on the AV-digits training rows (a classical EarlyFusion pipeline, an
ImageCNNEncoder, an AudioCNNEncoder and a JointFusion), saves each with
``mmlearn.io.save`` and with ``joblib.dump``, loads it back with both, checks that the
predictions are identical, and prints one table: file size in KiB and the median of five
save and five load times in milliseconds.

    python benchmarks/save_load.py
"""

import statistics
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mmlearn import io as mio
from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioCNNEncoder, AudioMFCCEncoder, ImageCNNEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion, JointFusion

FAST = dict(max_epochs=3, validation_fraction=None, random_state=0)


def models(X, y):
    yield "EarlyFusion + LogisticRegression", make_pipeline(
        EarlyFusion([("image", ImagePixelEncoder(), "image"),
                     ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")]),
        LogisticRegression(max_iter=500)).fit(X, y), X
    yield "ImageCNNEncoder", ImageCNNEncoder(**FAST).fit(X["image"], y), X["image"]
    yield "AudioCNNEncoder", AudioCNNEncoder(sample_rate=8000, **FAST).fit(X["audio"], y), \
        X["audio"]
    yield "JointFusion (CNN + MFCC)", JointFusion(
        [("image", ImageCNNEncoder(), "image"),
         ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")], **FAST).fit(X, y), X


def timed(fn, repeats=5):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, result


def main() -> None:
    torch.set_num_threads(1)
    data = load_av_digits()
    X, y = data.data[~data.test_mask], data.target[~data.test_mask]
    print(f"{'model':34s} {'format':8s} {'KiB':>8s} {'save ms':>8s} {'load ms':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, X_pred in models(X, y):
            expected = model.predict(X_pred)
            for fmt, dump, read in (
                    ("mmlearn", mio.save, mio.load),
                    ("joblib", joblib.dump, joblib.load)):
                path = Path(tmp) / f"model.{fmt}"
                save_ms, _ = timed(lambda dump=dump, path=path, model=model: dump(model, path))
                load_ms, loaded = timed(lambda read=read, path=path: read(path))
                assert np.array_equal(loaded.predict(X_pred), expected), (name, fmt)
                size = path.stat().st_size / 1024
                print(f"{name:34s} {fmt:8s} {size:8.1f} {save_ms:8.1f} {load_ms:8.1f}")


if __name__ == "__main__":
    main()
