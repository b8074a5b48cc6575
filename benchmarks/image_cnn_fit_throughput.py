"""Fit throughput of ImageCNNEncoder against a plain PyTorch training loop, same process.

Both train the same ``ImageCNN`` module on the same 1,911 real emoji images (32x32 RGB), with
the same batch size, epochs, optimiser (AdamW) and loss, on CPU; the encoder also goes
through mmlearn's data contract and skorch. Runs are interleaved and the median of 3 is
kept. The last line is the ratio of throughputs (mmlearn / plain PyTorch; 1.0 = no overhead).

    python benchmarks/image_cnn_fit_throughput.py
"""

import numpy as np
import torch
from _common import alternate, emoji_images, plain_train
from sklearn.preprocessing import LabelEncoder

from mmlearn.encoders import ImageCNNEncoder
from mmlearn.encoders.image_cnn import ImageCNN

EPOCHS, BATCH, LR = 3, 64, 1e-3


def plain_pytorch_fit(images: np.ndarray, y: np.ndarray) -> torch.nn.Module:
    torch.manual_seed(0)
    labels = torch.as_tensor(LabelEncoder().fit_transform(y))
    inputs = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    module = ImageCNN(in_channels=3, n_classes=int(labels.max()) + 1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs, labels),
                                         batch_size=BATCH, shuffle=True)
    return plain_train(module, loader, epochs=EPOCHS, lr=LR)


def main() -> None:
    images, y = emoji_images()
    encoder = ImageCNNEncoder(max_epochs=EPOCHS, batch_size=BATCH, lr=LR,
                              validation_fraction=None, random_state=0)
    plain_pytorch_fit(images[:256], y[:256])  # warm-up: first-call allocations and kernels
    times = alternate({"mmlearn": lambda: encoder.fit(images, y),
                       "plain PyTorch": lambda: plain_pytorch_fit(images, y)})
    n = len(y) * EPOCHS
    for name, seconds in times.items():
        print(f"{name:14s} {seconds:6.2f} s  {n / seconds:8.0f} images/s")
    print(f"fit throughput ratio (mmlearn / plain PyTorch): "
          f"{times['plain PyTorch'] / times['mmlearn']:.3f}")


if __name__ == "__main__":
    main()
