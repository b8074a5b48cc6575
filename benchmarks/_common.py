"""What the deep-encoder benchmarks share: real 32x32 images and a fair stopwatch."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from mmlearn._columns import as_cells, read_images
from mmlearn.datasets import load_emoji


def emoji_images(n: int | None = None, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Emoji images resized to ``size`` (RGB, float32 NHWC) and their categories.

    With ``n`` larger than the dataset the images are repeated, so a benchmark can ask for
    20,000 real images although the emoji set has 1,911.
    """
    bunch = load_emoji()
    images, _ = read_images(as_cells(bunch.data["image"], kind="image"),
                            size=(size, size), n_channels=3)
    y = np.asarray(bunch.target)
    if n is not None:
        rows = np.arange(n) % len(y)
        images, y = images[rows], y[rows]
    return np.ascontiguousarray(images), y


def alternate(runs: dict[str, Callable[[], object]], repeats: int = 3) -> dict[str, float]:
    """Median seconds of each run, the runs interleaved so that machine noise hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
