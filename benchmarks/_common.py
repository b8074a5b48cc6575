"""What the deep-encoder benchmarks share: real images (in memory or as a folder of JPEGs)
and a fair stopwatch."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from mmlearn._columns import as_cells, read_images
from mmlearn.datasets import load_av_digits, load_emoji


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


def plain_train(module, loader, *, epochs: int, lr: float):
    """The plain PyTorch training loop the benchmarks compare with: AdamW, cross-entropy."""
    import torch

    optimizer = torch.optim.AdamW(module.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    module.train()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(module(xb), yb)
            loss.backward()
            optimizer.step()
    return module


def _source_images() -> tuple[list, list]:
    """The shipped emoji (RGBA composited on white) and digit images, as 8-bit RGB PIL
    images, with labels that say where each came from (``"emoji/Flags"``, ``"digit/3"``)."""
    from PIL import Image

    images, labels = [], []
    emoji = load_emoji()
    for cell, category in zip(emoji.data["image"], emoji.target, strict=True):
        rgba = Image.fromarray(np.asarray(cell, dtype=np.uint8), mode="RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        images.append(Image.alpha_composite(white, rgba).convert("RGB"))
        labels.append(f"emoji/{category}")
    digits = load_av_digits()
    for cell, digit in zip(digits.data["image"], digits.target, strict=True):
        # Ink in [0, 1) -> dark strokes on a light background, like a scanned digit.
        gray = (255 * (1.0 - np.clip(np.asarray(cell, dtype=np.float32), 0.0, 1.0)))
        images.append(Image.fromarray(gray.astype(np.uint8), mode="L").convert("RGB"))
        labels.append(f"digit/{digit}")
    return images, labels


def write_image_folder(folder: str | os.PathLike, n: int, *, size: int = 128, seed: int = 0,
                       quality: int = 90) -> tuple[list[str], np.ndarray]:
    """Write ``n`` real-looking ``size`` x ``size`` RGB JPEGs to ``folder``.

    Each file is one of the shipped emoji or digit images (drawn at random, seeded), with a
    random crop (60 to 100% of each side), resized to ``size``, then random brightness,
    contrast and saturation changes and a colour cast, so that no two files are the same
    and JPEG decoding costs what it costs on photos of that size.

    Parameters
    ----------
    folder : path
        An existing folder; files are named ``000000.jpg``, ``000001.jpg``...
    n : int
    size : int, default=128
    seed : int, default=0
    quality : int, default=90
        JPEG quality.

    Returns
    -------
    paths : list of str
        In file-name order.
    labels : ndarray of str
        The source image's label (``"emoji/<category>"`` or ``"digit/<k>"``).
    """
    from PIL import Image, ImageEnhance

    sources, source_labels = _source_images()
    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for i in range(n):
        k = int(rng.integers(len(sources)))
        img = sources[k]
        w, h = img.size
        cw, ch = (max(1, int(round(side * rng.uniform(0.6, 1.0)))) for side in (w, h))
        left, top = int(rng.integers(w - cw + 1)), int(rng.integers(h - ch + 1))
        img = img.crop((left, top, left + cw, top + ch)).resize(
            (size, size), Image.Resampling.BILINEAR)
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.7, 1.3))
        img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.7, 1.3))
        img = ImageEnhance.Color(img).enhance(rng.uniform(0.5, 1.5))
        cast = rng.uniform(0.85, 1.15, size=3)
        pixels = np.clip(np.asarray(img, dtype=np.float32) * cast, 0, 255).astype(np.uint8)
        path = os.path.join(os.fspath(folder), f"{i:06d}.jpg")
        Image.fromarray(pixels, mode="RGB").save(path, quality=quality)
        paths.append(path)
        labels.append(source_labels[k])
    return paths, np.asarray(labels)
