"""Peak RSS growth while ImageCNNEncoder transforms 20,000 images of 32x32.

The images (the 1,911 real emoji, resized to 32x32 RGB and repeated) are in memory before
the measurement starts; what is measured is the growth of the process's resident memory
above that level during ``transform``, sampled every millisecond, for mmlearn and for a
plain ``torch.inference_mode`` loop over the same module. The target is growth <= output
size + 300 MB. The last line gives both growths and mmlearn's growth as a share of that
budget (<= 1.0 meets it).

    python benchmarks/image_cnn_transform_memory.py
"""

import gc
import threading
import time
from collections.abc import Callable

import numpy as np
import psutil
from _common import emoji_images
from image_cnn_transform_throughput import BATCH, plain_pytorch_transform

from mmlearn.encoders import ImageCNNEncoder

MB = 2**20


def peak_rss_growth(run: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    """Peak resident memory above the starting level while ``run`` executes, in bytes."""
    gc.collect()
    process = psutil.Process()
    start = process.memory_info().rss
    peak = start
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        out = run()
    finally:
        done.set()
        sampler.join()
    return max(peak, process.memory_info().rss) - start, out


def main() -> None:
    train, y = emoji_images()
    encoder = ImageCNNEncoder(batch_size=BATCH, max_epochs=1, validation_fraction=None,
                              random_state=0).fit(train, y)
    images, _ = emoji_images(n=20_000)
    encoder.transform(images[:BATCH])  # warm-up: allocator and kernels
    del train
    module = encoder.net_.module_
    plain, plain_out = peak_rss_growth(lambda: plain_pytorch_transform(module, images))
    del plain_out
    growth, out = peak_rss_growth(lambda: encoder.transform(images))
    budget = out.nbytes + 300 * MB
    print(f"input {images.nbytes / MB:.0f} MB, output {out.nbytes / MB:.1f} MB "
          f"{out.shape}, budget {budget / MB:.0f} MB")
    print(f"peak RSS growth: mmlearn {growth / MB:.0f} MB, plain PyTorch {plain / MB:.0f} MB; "
          f"mmlearn / budget = {growth / budget:.2f}")


if __name__ == "__main__":
    main()
