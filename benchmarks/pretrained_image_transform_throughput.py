"""Frozen PretrainedImageEncoder.transform throughput against a plain ``torch.inference_mode``
loop over the same backbone.

Both embed the same real emoji images, resized to 224x224 RGB (the backbone's training
size), with the same fitted EfficientNet-Lite0 module and batch size, on the CPU with the
same number of torch threads. The encoder also goes through mmlearn's data contract (one
cell per row, the missing-cell mask, per-batch conversion to NCHW float32). Runs are
interleaved, median of 3. The last line is the ratio of throughputs (mmlearn / plain
PyTorch; 1.0 = no overhead).

    python benchmarks/pretrained_image_transform_throughput.py [n_images] [threads]
"""

import sys

import numpy as np
import torch
from _common import alternate, emoji_images

from mmlearn.encoders import PretrainedImageEncoder

BATCH = 32
SIZE = 224


def plain_pytorch_transform(module: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    module.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(images), BATCH):
            batch = np.ascontiguousarray(images[start:start + BATCH].transpose(0, 3, 1, 2))
            outputs.append(module.embed(torch.from_numpy(batch)).numpy())
    return np.concatenate(outputs)


def main() -> None:
    n_images = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    images, _ = emoji_images(n=n_images, size=SIZE)
    encoder = PretrainedImageEncoder(size=SIZE, batch_size=BATCH).fit(images[:BATCH])
    module = encoder.module_
    np.testing.assert_allclose(encoder.transform(images[:BATCH]),
                               plain_pytorch_transform(module, images[:BATCH]),
                               rtol=1e-4, atol=1e-5)
    times = alternate({"mmlearn": lambda: encoder.transform(images),
                       "plain PyTorch": lambda: plain_pytorch_transform(module, images)})
    print(f"{n_images} emoji images at {SIZE}x{SIZE}, batch {BATCH}, {threads} torch threads")
    for name, seconds in times.items():
        print(f"{name:14s} {seconds:7.2f} s  {n_images / seconds:7.1f} images/s")
    print(f"transform throughput ratio (mmlearn / plain PyTorch): "
          f"{times['plain PyTorch'] / times['mmlearn']:.3f}")


if __name__ == "__main__":
    main()
