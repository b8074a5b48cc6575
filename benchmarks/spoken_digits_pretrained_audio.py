"""Spoken digits, unseen speakers: PretrainedAudioEncoder + SVC against MFCC + SVC.

Free Spoken Digit Dataset (3,000 clips, 6 speakers), ``GroupKFold(6)`` by speaker: every
fold tests on one speaker the models never heard. Each fold fits

- ``AudioMFCCEncoder + StandardScaler + SVC`` (the classical baseline),
- ``PretrainedAudioEncoder + StandardScaler + SVC``: the shipped ImageNet EfficientNet-Lite0
  on spectrogram images, frozen (``--trainable-layers 0``, the default) or with its last
  ``--trainable-layers`` blocks fine-tuned on the training speakers (all 18: the whole
  backbone), at ``--lr`` for at most ``--max-epochs`` (early stopping on a seeded
  validation split of ``--validation-fraction`` of the training clips, the encoder's
  default 0.1; ``0`` trains on all of them for ``--max-epochs``). When fine-tuned, the
  network's own head is scored too. A frozen encoder keeps its embeddings in a temporary
  ``memory=`` folder, so each clip is embedded once, not once per fold (the results are
  the same).

Encoders use their defaults except the parameters above and ``--size`` (the spectrogram
image size; the encoder's default is 96). ``--every N`` keeps every N-th clip (all speakers
and digits stay; a faster, smaller run). Prints a per-speaker table with the pretrained
encoder's fit seconds, the means, and as the last line the pretrained encoder's mean
accuracy with its ratio to MFCC + SVC's on the same folds (> 1 means the pretrained encoder
is better). Torch runs on ``--threads`` threads.

    python benchmarks/spoken_digits_pretrained_audio.py [--trainable-layers 18 --lr 1e-3]
        [--max-epochs 10] [--validation-fraction 0.1] [--size 96] [--every 1]
        [--device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
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
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--trainable-layers", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--random-state", type=int, default=0)
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
    tuned = args.trainable_layers > 0
    folder = tempfile.TemporaryDirectory()
    encoder = PretrainedAudioEncoder(size=args.size, trainable_layers=args.trainable_layers,
                                     lr=args.lr, max_epochs=args.max_epochs,
                                     validation_fraction=args.validation_fraction or None,
                                     memory=None if tuned else folder.name,
                                     random_state=args.random_state, device=args.device)
    pretrained = make_pipeline(encoder, StandardScaler(), SVC())
    print(f"PretrainedAudioEncoder parameters: {encoder.get_params()}")
    print(f"{'test speaker':14s}{'MFCC+SVC':>10s}{'Pretrained+SVC':>16s}"
          f"{'own head':>10s}{'epochs':>8s}{'fit s':>8s}")
    scores = []
    for train, test in GroupKFold(n_splits=6).split(X, y, speakers):
        mfcc_acc = clone(mfcc).fit(X.iloc[train], y[train]).score(X.iloc[test], y[test])
        start = time.perf_counter()
        model = clone(pretrained).fit(X.iloc[train], y[train])
        seconds = time.perf_counter() - start
        acc = model.score(X.iloc[test], y[test])
        own = model[0].score(X.iloc[test], y[test]) if tuned else float("nan")
        epochs = len(model[0].net_.history) if tuned else 0
        scores.append((mfcc_acc, acc, own))
        size = model[0].module_.size
        print(f"{speakers[test[0]]:14s}{mfcc_acc:10.3f}{acc:16.3f}{own:10.3f}{epochs:8d}"
              f"{seconds:8.0f}", flush=True)
    folder.cleanup()
    table = np.asarray(scores)
    mean, std = table.mean(axis=0), table.std(axis=0)
    print(f"{'mean':14s}{mean[0]:10.3f}{mean[1]:16.3f}{mean[2]:10.3f}")
    print(f"{'std':14s}{std[0]:10.3f}{std[1]:16.3f}{std[2]:10.3f}")
    print(f"PretrainedAudioEncoder(trainable_layers={args.trainable_layers}, size="
          f"{size[0]}) + SVC speaker-held-out accuracy: {mean[1]:.3f} "
          f"({mean[1] / mean[0]:.3f} x MFCC + SVC's {mean[0]:.3f})")


if __name__ == "__main__":
    main()
