"""Transform throughput of ImageCNNEncoder against a plain ``torch.inference_mode`` loop.

Both embed 20,000 real emoji images (32x32 RGB, the 1,911 emoji repeated) with the same
fitted module and batch size on CPU; the encoder also goes through mmlearn's data contract
(one cell per row, missing-cell mask, chunked decoding). Runs are interleaved, median of 3.
The last line is the ratio of throughputs (mmlearn / plain PyTorch; 1.0 = no overhead).

    python benchmarks/image_cnn_transform_throughput.py
"""

import numpy as np
import torch
from _common import alternate, emoji_images

from mmlearn.encoders import ImageCNNEncoder

BATCH = 256


def plain_pytorch_transform(module: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    module.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(images), BATCH):
            batch = np.ascontiguousarray(images[start:start + BATCH].transpose(0, 3, 1, 2))
            outputs.append(module.embed(torch.from_numpy(batch)).numpy())
    return np.concatenate(outputs)


def main() -> None:
    train, y = emoji_images()
    encoder = ImageCNNEncoder(max_epochs=1, batch_size=BATCH, validation_fraction=None,
                              random_state=0).fit(train, y)
    images, _ = emoji_images(n=20_000)
    module = encoder.net_.module_
    np.testing.assert_allclose(encoder.transform(images[:512]),
                               plain_pytorch_transform(module, images[:512]), atol=1e-5)
    times = alternate({"mmlearn": lambda: encoder.transform(images),
                       "plain PyTorch": lambda: plain_pytorch_transform(module, images)})
    for name, seconds in times.items():
        print(f"{name:14s} {seconds:6.2f} s  {len(images) / seconds:8.0f} images/s")
    print(f"transform throughput ratio (mmlearn / plain PyTorch): "
          f"{times['plain PyTorch'] / times['mmlearn']:.3f}")


if __name__ == "__main__":
    main()
