"""Sparsity against accuracy: magnitude pruning of ImageCNNEncoder on AV-digits, 5-fold.

For each fold, one ImageCNNEncoder is fitted on the AV-digit images (the image modality;
the audio CNN has no layer structured pruning can shrink, and a shared machine did not
allow 5-fold JointFusion fits with fine-tunes), then pruned at several amounts, each
followed by a 2-epoch fine-tune on the fold's training rows:

- unstructured: global L1 magnitude pruning of all linear and convolution weights (zeros
  stored densely: no speed-up is expected);
- structured: the first conv block's output channels (and the second block's matching
  inputs) are physically removed.

It prints the mean accuracy and its change against the unpruned model, the sparsity
(share of zero weights; structured pruning removes weights instead) and ``predict_proba``
throughput against the unpruned model (one
thread, same rows and batch, interleaved, median of 3). The last line gives the highest
unstructured sparsity whose accuracy is within 0.5 points of the unpruned model, and the
throughput ratio there. The machine is shared: ratios are meaningful, absolute times not.

    python benchmarks/prune_accuracy.py
"""

import numpy as np
import torch
from _common import alternate
from sklearn.model_selection import StratifiedKFold

from mmlearn.compress import network_bytes, prune, sparsity
from mmlearn.datasets import load_av_digits
from mmlearn.encoders import ImageCNNEncoder

UNSTRUCTURED = (0.3, 0.5, 0.7, 0.8, 0.9)
STRUCTURED = (0.25, 0.5, 0.75)


def throughput_ratio(model, pruned, rows) -> float:
    times = alternate({"base": lambda: model.predict_proba(rows),
                       "pruned": lambda: pruned.predict_proba(rows)})
    return times["base"] / times["pruned"]


def main() -> None:
    torch.set_num_threads(1)
    X, y = load_av_digits(return_X_y=True)
    X = X["image"]
    settings = [("none", 0.0)] + [("unstructured", a) for a in UNSTRUCTURED] + [
        ("structured", a) for a in STRUCTURED]
    acc = {s: [] for s in settings}
    zeros = {s: [] for s in settings}
    speed = {s: [] for s in settings}
    size = {s: [] for s in settings}
    for k, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)):
        model = ImageCNNEncoder(max_epochs=20, random_state=k).fit(X.iloc[tr], y[tr])
        train = (X.iloc[tr], y[tr])
        for kind, amount in settings:
            if kind == "none":
                pruned = model
            else:
                pruned = prune(model, amount, structured=kind == "structured",
                               fine_tune=train, epochs=2, random_state=k)
            acc[kind, amount].append(pruned.score(X.iloc[te], y[te]))
            zeros[kind, amount].append(sparsity(pruned))
            size[kind, amount].append(network_bytes(pruned) / network_bytes(model))
            if k == 0:  # throughput on one fold is enough: it does not depend on the data
                speed[kind, amount] = throughput_ratio(model, pruned, X.iloc[te])
    base = np.mean(acc["none", 0.0])
    best = None
    for setting in settings:
        kind, amount = setting
        change = 100 * (np.mean(acc[setting]) - base)
        print(f"{kind:12s} amount {amount:4.2f}  sparsity {np.mean(zeros[setting]):.3f}  "
              f"accuracy {np.mean(acc[setting]):.4f} ({change:+.2f} points)  "
              f"size {np.mean(size[setting]):.2f}  throughput x{speed[setting]:.2f}")
        if kind == "unstructured" and change >= -0.5:
            best = setting
    if best is None:
        print("no unstructured sparsity tried keeps AV-digits accuracy within 0.5 points")
    else:
        print(f"highest unstructured sparsity within 0.5 points of AV-digits accuracy: "
              f"{np.mean(zeros[best]):.2f} (amount {best[1]}), throughput pruned / unpruned "
              f"{speed[best]:.2f}")


if __name__ == "__main__":
    main()
