"""Spoken digits, unseen speakers: frozen PretrainedAudioEncoder + SVC against MFCC + SVC.

Free Spoken Digit Dataset (3,000 clips, 6 speakers), ``GroupKFold(6)`` by speaker: every
fold tests on one speaker the models never heard. Each fold fits

- ``AudioMFCCEncoder + StandardScaler + SVC`` (the classical baseline),
- ``PretrainedAudioEncoder + StandardScaler + SVC``: the shipped ImageNet EfficientNet-Lite0,
  frozen, on log-mel spectrogram images (its input statistics are learned on the training
  speakers only, inside the pipeline).

``--every N`` keeps every N-th clip (a faster, smaller run). Encoders use their defaults
except ``--size`` (the spectrogram image size; the encoder's
default is 224, the backbone's training size). Prints a per-speaker table, the means, and
as the last line the pretrained encoder's mean accuracy with its ratio to MFCC + SVC's
(> 1 means the pretrained encoder is better). Torch runs on ``--threads`` threads.

    python benchmarks/spoken_digits_pretrained_audio.py [--size 224] [--every 1] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.base import clone
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mmlearn.datasets import load_spoken_digits
from mmlearn.encoders import AudioMFCCEncoder, PretrainedAudioEncoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every", type=int, default=1,
                        help="keep every N-th clip (all speakers and digits stay; faster)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    bunch = load_spoken_digits()
    rows = slice(None, None, args.every)
    X, y, speakers = bunch.data[["audio"]].iloc[rows], bunch.target[rows], bunch.groups[rows]
    print(f"{len(X)} clips")
    mfcc = make_pipeline(AudioMFCCEncoder(), StandardScaler(), SVC())
    pretrained = make_pipeline(PretrainedAudioEncoder(size=args.size, device=args.device),
                               StandardScaler(), SVC())
    print(f"PretrainedAudioEncoder parameters: {pretrained[0].get_params()}")
    print(f"{'test speaker':14s}{'MFCC+SVC':>10s}{'Pretrained+SVC':>16s}{'seconds':>9s}")
    rows = []
    for train, test in GroupKFold(n_splits=6).split(X, y, speakers):
        mfcc_acc = clone(mfcc).fit(X.iloc[train], y[train]).score(X.iloc[test], y[test])
        start = time.perf_counter()
        model = clone(pretrained).fit(X.iloc[train], y[train])
        acc = model.score(X.iloc[test], y[test])
        seconds = time.perf_counter() - start
        rows.append((mfcc_acc, acc))
        print(f"{speakers[test[0]]:14s}{mfcc_acc:10.3f}{acc:16.3f}{seconds:9.0f}", flush=True)
    scores = np.asarray(rows)
    mean, std = scores.mean(axis=0), scores.std(axis=0)
    print(f"{'mean':14s}{mean[0]:10.3f}{mean[1]:16.3f}")
    print(f"{'std':14s}{std[0]:10.3f}{std[1]:16.3f}")
    print(f"PretrainedAudioEncoder(size={args.size}) + SVC speaker-held-out accuracy: "
          f"{mean[1]:.3f} ({mean[1] / mean[0]:.3f} x MFCC + SVC's {mean[0]:.3f})")


if __name__ == "__main__":
    main()
