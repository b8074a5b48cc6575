"""Frozen PretrainedImageEncoder.transform throughput against a plain ``torch.inference_mode``
loop over the same backbone.

Both embed the same real emoji images, resized to 224x224 RGB (the backbone's training
size), with the same fitted EfficientNet-Lite0 module and batch size, on the CPU with the
same number of torch threads. The encoder also goes through mmlearn's data contract (one
cell per row, the missing-cell mask, per-batch conversion to NCHW float32). Runs are
interleaved, median of 3. The last line is the ratio of throughputs (mmlearn / plain
PyTorch; 1.0 = no overhead).

    python benchmarks/pretrained_image_transform_throughput.py [n_images] [threads]
        [--device cuda] [--batch-size 32]
"""

import argparse

import numpy as np
import torch
from _common import alternate, emoji_images

from mmlearn.encoders import PretrainedImageEncoder

SIZE = 224


def plain_pytorch_transform(module: torch.nn.Module, images: np.ndarray,
                            batch_size: int) -> np.ndarray:
    module.eval()
    device = next(module.parameters()).device
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = np.ascontiguousarray(images[start:start + batch_size].transpose(0, 3, 1, 2))
            # .cpu() waits for the device, so both sides are timed to finished results.
            outputs.append(module.embed(torch.from_numpy(batch).to(device)).cpu().numpy())
    return np.concatenate(outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_images", type=int, nargs="?", default=256)
    parser.add_argument("threads", type=int, nargs="?", default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    n_images, threads, batch = args.n_images, args.threads, args.batch_size
    torch.set_num_threads(threads)
    images, _ = emoji_images(n=n_images, size=SIZE)
    encoder = PretrainedImageEncoder(size=SIZE, batch_size=batch,
                                     device=args.device).fit(images[:batch])
    module = encoder.module_
    np.testing.assert_allclose(encoder.transform(images[:batch]),
                               plain_pytorch_transform(module, images[:batch], batch),
                               rtol=1e-4, atol=1e-4 if args.device != "cpu" else 1e-5)
    times = alternate({"mmlearn": lambda: encoder.transform(images),
                       "plain PyTorch": lambda: plain_pytorch_transform(module, images, batch)})
    print(f"{n_images} emoji images at {SIZE}x{SIZE}, batch {batch}, {threads} torch threads, "
          f"device {args.device}")
    for name, seconds in times.items():
        print(f"{name:14s} {seconds:7.2f} s  {n_images / seconds:7.1f} images/s")
    print(f"transform throughput ratio (mmlearn / plain PyTorch): "
          f"{times['plain PyTorch'] / times['mmlearn']:.3f}")


if __name__ == "__main__":
    main()
