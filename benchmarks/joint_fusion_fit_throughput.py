"""Fit throughput of JointFusion against a plain PyTorch loop over the same network, same process.

Both train the same two-branch ``JointNetwork`` (ImageCNN + AudioCNN branches, concat
fusion, MLP head) on the 1,797 AV-digit pairs, with the same batch size, epochs, optimiser
(AdamW), loss and modality dropout, no validation split, on CPU. JointFusion's fit starts
from the DataFrame of cells, so it also converts them to the network's input arrays (8x8
images, log-mel spectrograms of the 8 kHz clips). The plain loop is timed twice: from the
ready arrays (converted once beforehand), and converting the cells with the same code
first, which is what training from the same cells costs. Runs are interleaved and the
median of 3 is kept. The last two lines are throughput ratios (mmlearn / plain PyTorch;
1.0 = no overhead); the last one compares against ready arrays (converted beforehand).

    python benchmarks/joint_fusion_fit_throughput.py
"""

import time

import numpy as np
import torch
from _common import alternate
from sklearn.base import clone
from sklearn.preprocessing import LabelEncoder

from mmlearn._columns import as_cells
from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioCNNEncoder, ImageCNNEncoder
from mmlearn.fusion import JointFusion
from mmlearn.fusion.ops import JointNetwork

EPOCHS, BATCH, LR = 3, 64, 1e-3
NET = dict(fusion_op="concat", fusion_dim=64, hidden_sizes=(64,), dropout=0.1,
           modality_dropout=0.1)
ENCODERS = [("image", ImageCNNEncoder(), "image"),
            ("audio", AudioCNNEncoder(sample_rate=8000), "audio")]


def network_inputs(X) -> tuple[list[np.ndarray], list[tuple]]:
    """Each branch's input array and (module class, params, embedding size), as fit makes them."""
    arrays, specs = [], []
    for _, encoder, column in ENCODERS:
        encoder = clone(encoder)
        cells = as_cells(X[column], kind=encoder.modality)
        fitted = encoder.make_input().fit(cells)
        arrays.append(fitted.convert(cells))
        module, params = encoder.make_module(fitted, n_classes=10)
        specs.append((module, params, encoder.embedding_dim))
    return arrays, specs


def plain_pytorch_fit(arrays: list[np.ndarray], specs: list[tuple], y: np.ndarray):
    torch.manual_seed(0)
    labels = torch.as_tensor(LabelEncoder().fit_transform(y))
    present = torch.ones(len(labels), len(arrays), dtype=torch.bool)
    module = JointNetwork(branches=specs, n_classes=int(labels.max()) + 1, **NET)
    optimizer = torch.optim.AdamW(module.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    dataset = torch.utils.data.TensorDataset(present, *map(torch.from_numpy, arrays), labels)
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
    module.train()
    for _ in range(EPOCHS):
        for mask, *xs, yb in loader:
            optimizer.zero_grad()
            logits = module(mask, **{f"x{m}": x for m, x in enumerate(xs)})
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
    return module


def main() -> None:
    X, y = load_av_digits(return_X_y=True)
    joint = JointFusion(ENCODERS, **NET, max_epochs=EPOCHS, batch_size=BATCH, lr=LR,
                        validation_fraction=None, random_state=0)
    network_inputs(X[:64])  # warm-up: librosa's first call compiles its kernels
    start = time.perf_counter()
    arrays, specs = network_inputs(X)
    print(f"converting the cells to arrays once: {time.perf_counter() - start:.2f} s")
    plain_pytorch_fit([a[:256] for a in arrays], specs, y[:256])  # warm-up: allocations, kernels
    times = alternate({
        "mmlearn": lambda: joint.fit(X, y),
        "plain": lambda: plain_pytorch_fit(arrays, specs, y),
        "plain + conversion": lambda: plain_pytorch_fit(*network_inputs(X), y),
    })
    n = len(y) * EPOCHS
    labels = {"mmlearn": "mmlearn JointFusion.fit (from cells)",
              "plain": "plain PyTorch (ready arrays)",
              "plain + conversion": "plain PyTorch (from cells, same conversion)"}
    for name, seconds in times.items():
        print(f"{labels[name]:44s} {seconds:6.2f} s  {n / seconds:6.0f} samples/s")
    print(f"fit throughput ratio (mmlearn / plain PyTorch from the same cells): "
          f"{times['plain + conversion'] / times['mmlearn']:.3f}")
    print(f"fit throughput ratio (mmlearn / plain PyTorch from ready arrays): "
          f"{times['plain'] / times['mmlearn']:.3f}")


if __name__ == "__main__":
    main()
