"""Spoken digits, unseen speakers: AudioMFCCEncoder + SVC against AudioCNNEncoder (+ SVC).

Free Spoken Digit Dataset (3,000 clips, 6 speakers), ``GroupKFold(6)`` by speaker: every
fold tests on one speaker the models never heard. Each fold fits

- ``AudioMFCCEncoder + SVC`` (the classical baseline),
- ``AudioCNNEncoder`` once, scored two ways: ``+ SVC`` on its embedding (what a pipeline
  ``[AudioCNNEncoder, SVC]`` does) and the network's own ``predict``.

Encoders use their default hyper-parameters (only ``sample_rate`` is set, to the data's).
Prints a per-speaker table, the means, and as the last line the ratio of the mean
accuracies of CNN + SVC and MFCC + SVC (> 1 means the CNN is better). On 2 busy CPU cores
it takes about 12 minutes (``OMP_NUM_THREADS=1`` is faster when other jobs share the cores);
``--device cuda`` is much faster.

    python benchmarks/spoken_digits_speakers.py [--device cuda] [--random-state 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from mmlearn.datasets import load_spoken_digits
from mmlearn.encoders import AudioCNNEncoder, AudioMFCCEncoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args()

    bunch = load_spoken_digits()
    X, y, speakers = bunch.data["audio"], bunch.target, bunch.groups
    mfcc = make_pipeline(AudioMFCCEncoder(sample_rate=bunch.sample_rate), SVC())
    cnn = AudioCNNEncoder(sample_rate=bunch.sample_rate, device=args.device,
                          random_state=args.random_state)
    print(f"AudioCNNEncoder parameters: {cnn.get_params()}")
    print(f"{'test speaker':14s}{'MFCC+SVC':>10s}{'CNN+SVC':>10s}{'CNN':>10s}"
          f"{'epochs':>8s}{'CNN fit s':>11s}")
    rows = []
    for train, test in GroupKFold(n_splits=6).split(X, y, speakers):
        mfcc_acc = clone(mfcc).fit(X.iloc[train], y[train]).score(X.iloc[test], y[test])
        start = time.perf_counter()
        encoder = clone(cnn).fit(X.iloc[train], y[train])
        seconds = time.perf_counter() - start
        head = SVC().fit(encoder.transform(X.iloc[train]), y[train])
        svc_acc = head.score(encoder.transform(X.iloc[test]), y[test])
        own_acc = float(np.mean(encoder.predict(X.iloc[test]) == y[test]))
        rows.append((mfcc_acc, svc_acc, own_acc))
        print(f"{speakers[test[0]]:14s}{mfcc_acc:10.3f}{svc_acc:10.3f}{own_acc:10.3f}"
              f"{len(encoder.net_.history):8d}{seconds:11.0f}", flush=True)
    scores = np.asarray(rows)
    mean, std = scores.mean(axis=0), scores.std(axis=0)
    print(f"{'mean':14s}" + "".join(f"{m:10.3f}" for m in mean))
    print(f"{'std':14s}" + "".join(f"{s:10.3f}" for s in std))
    print(f"CNN+SVC / MFCC+SVC accuracy ratio: {mean[1] / mean[0]:.3f}")


if __name__ == "__main__":
    main()
