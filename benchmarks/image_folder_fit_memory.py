"""Fit ImageCNNEncoder from a folder of JPEGs: memory does not grow with the number of files,
and the data path keeps up with a plain PyTorch loop.

The script writes ``--n-large`` real-looking 128x128 JPEGs (the shipped emoji and digit
images with random crops and colour changes, seeded; ``_common.write_image_folder``) to a
temporary folder, then:

1. **Memory.** Fits ``ImageCNNEncoder(size=128, max_epochs=1, validation_fraction=None,
   random_state=0)`` from a pandas Series of the first ``--n-small`` paths, then of all
   ``--n-large`` paths, each in a fresh Python process, so that each peak is that run's
   own. The figure is the growth of the fitting process's peak resident memory above its
   level just before ``fit`` (the kernel's ``ru_maxrss`` when the fit raised it, else a
   sampler thread's peak). The loader's worker processes are separate processes: their
   peak unique memory (USS, which leaves out the pages they share with the parent) is
   printed beside it. Targets: growth(large) - growth(small) <= 150 MB and growth(large)
   <= 1.5 GB, the main process and its workers each.
2. **Throughput.** On the first ``--throughput-n`` files, one epoch of
   ``ImageCNNEncoder.fit`` from the paths against a plain PyTorch loop: a ``Dataset`` whose
   ``__getitem__`` decodes one file (PIL, resize, float32, CHW), a ``DataLoader`` with the
   same batch size, shuffling and worker count, the same ``ImageCNN`` module, AdamW and
   cross-entropy. Runs are interleaved after a warm-up; the median of ``--repeats`` is
   kept. Target: ratio (mmlearn / plain PyTorch) >= 0.90.

Both parts use ``width=4`` by default (``--width``; the encoder's default is 32): on a
2-core CPU the default width trains a few dozen images per second at 128x128, too slow
for 40,000 files. The width changes the network's cost, not how the files are read, and
memory is what the large runs measure; a small network also makes the data path a larger
share of the throughput run, which is the stricter test. torch uses ``--threads`` threads
(default: all cores) in every process, and idle OpenMP threads sleep
(``OMP_WAIT_POLICY=PASSIVE``) unless the environment says otherwise.

The last line carries the three figures; ``--n-small/--n-large/--throughput-n`` make
quick runs::

    python benchmarks/image_folder_fit_memory.py
    python benchmarks/image_folder_fit_memory.py --n-small 500 --n-large 2000 --throughput-n 300
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

# Idle OpenMP threads sleep instead of spinning (as in tests/conftest.py): on a small machine
# shared with other jobs, spinning threads slow both sides of every comparison erratically.
# Set before torch is imported; the fit processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

MB = 2**20
BATCH = 64
LR = 1e-3
SIZE = 128


# ---------------------------------------------------------------------------- memory

class PeakMemory:
    """Peak resident memory of this process above its level on entry, and the peak unique
    memory of its child processes (the DataLoader's workers), while the block runs."""

    def __init__(self, interval: float = 0.002, children_every: int = 25):
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._children_every = children_every
        self._done = threading.Event()
        self.peak = self.workers_peak = 0
        self.max_workers = 0

    def _children_uss(self) -> tuple[int, int]:
        import psutil

        total = count = 0
        for child in self._process.children(recursive=True):
            try:
                total += child.memory_full_info().uss
                count += 1
            except psutil.Error:  # a worker that exited between listing and reading
                pass
        return total, count

    def _sample(self) -> None:
        tick = 0
        while not self._done.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            if tick % self._children_every == 0:
                uss, count = self._children_uss()
                self.workers_peak = max(self.workers_peak, uss)
                self.max_workers = max(self.max_workers, count)
            tick += 1
            time.sleep(self._interval)

    def __enter__(self) -> PeakMemory:
        gc.collect()
        self.start = self._process.memory_info().rss
        self._maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak = self.start
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        # ru_maxrss is exact (the kernel tracks it) but covers the process's whole life: it
        # is the fit's peak only if the fit raised it. Otherwise the sampler's peak stands.
        if maxrss > self._maxrss_before:
            self.peak = max(self.peak, maxrss)
        self.growth = self.peak - self.start


def measure_fit(folder: str, n: int, width: int, threads: int) -> dict:
    """Fit from the first ``n`` paths of ``folder``; the memory figures as a dict."""
    import pandas as pd
    import torch

    from mmlearn.encoders import ImageCNNEncoder

    torch.set_num_threads(threads)
    paths = pd.Series(sorted(os.path.join(folder, f) for f in os.listdir(folder)
                             if f.endswith(".jpg"))[:n], name="image")
    y = np.load(os.path.join(folder, "labels.npy"), allow_pickle=False)[:n]
    if len(paths) != n:
        raise ValueError(f"{folder} holds {len(paths)} JPEGs, fewer than the {n} asked for.")
    encoder = ImageCNNEncoder(size=SIZE, width=width, max_epochs=1, validation_fraction=None,
                              batch_size=BATCH, lr=LR, random_state=0)
    start = time.perf_counter()
    with PeakMemory() as memory:
        encoder.fit(paths, y)
    seconds = time.perf_counter() - start
    return {"n": n, "growth_mb": memory.growth / MB, "workers_mb": memory.workers_peak / MB,
            "n_workers": memory.max_workers, "baseline_mb": memory.start / MB,
            "seconds": seconds}


def run_fit_process(folder: str, n: int, width: int, threads: int) -> dict:
    """:func:`measure_fit` in a fresh interpreter (its peak is its own)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, __file__, "--measure-fit", folder, "--n", str(n), "--width",
         str(width), "--threads", str(threads)],
        capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"the fit of {n} files failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------ throughput

def plain_dataset(paths: list[str], labels: np.ndarray):
    """A plain map-style ``Dataset``: one file decoded per ``__getitem__``."""
    import torch
    from PIL import Image

    class ImageFiles(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int):
            with Image.open(paths[i]) as img:
                img = img.convert("RGB")
                if img.size != (SIZE, SIZE):
                    img = img.resize((SIZE, SIZE), Image.Resampling.BILINEAR)
                x = np.asarray(img, dtype=np.float32) / np.float32(255)
            return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), int(labels[i])

    return ImageFiles()


def plain_pytorch_fit(dataset, n_classes: int, *, width: int, workers: int):
    """One epoch of the textbook loop over ``dataset``."""
    import torch
    from _common import plain_train

    from mmlearn.encoders.image_cnn import ImageCNN

    torch.manual_seed(0)
    module = ImageCNN(in_channels=3, n_classes=n_classes, width=width)
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True,
                                         num_workers=workers)
    return plain_train(module, loader, epochs=1, lr=LR)


def measure_throughput(paths: list[str], labels: np.ndarray, *, width: int, workers: int,
                       threads: int, repeats: int) -> dict[str, float]:
    """Median seconds of one epoch for mmlearn and the plain loop, interleaved."""
    import pandas as pd
    import torch
    from _common import alternate
    from sklearn.preprocessing import LabelEncoder

    from mmlearn.encoders import ImageCNNEncoder

    torch.set_num_threads(threads)
    codes = LabelEncoder().fit_transform(labels)
    dataset = plain_dataset(paths, codes)
    series = pd.Series(paths, name="image")
    encoder = ImageCNNEncoder(size=SIZE, width=width, max_epochs=1, validation_fraction=None,
                              batch_size=BATCH, lr=LR, n_workers=workers, random_state=0)
    n_classes = int(codes.max()) + 1
    # Warm-up: first-call allocations, kernels and the page cache of the files.
    warm = paths[:4 * BATCH]
    plain_pytorch_fit(plain_dataset(warm, codes), n_classes, width=width, workers=workers)
    ImageCNNEncoder(size=SIZE, width=width, max_epochs=1, validation_fraction=None,
                    n_workers=workers, random_state=0).fit(pd.Series(warm), labels[:len(warm)])
    return alternate({
        "mmlearn": lambda: encoder.fit(series, labels),
        "plain PyTorch": lambda: plain_pytorch_fit(dataset, n_classes, width=width,
                                                   workers=workers),
    }, repeats=repeats)


# ------------------------------------------------------------------------------ main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-small", type=int, default=10_000)
    parser.add_argument("--n-large", type=int, default=40_000)
    parser.add_argument("--throughput-n", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None,
                        help="loader workers of the throughput runs (default: what "
                             "n_workers=None chooses for paths, one per spare core, at most 4)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--folder", default=None,
                        help="reuse (or fill) this folder instead of a temporary one")
    parser.add_argument("--measure-fit", metavar="FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_fit:
        print(json.dumps(measure_fit(args.measure_fit, args.n, args.width, args.threads)))
        return
    workers = (max(0, min(4, (os.cpu_count() or 1) - 1)) if args.workers is None
               else args.workers)
    n_files = max(args.n_small, args.n_large, args.throughput_n)

    with tempfile.TemporaryDirectory(prefix="mmlearn-images-") as tmp:
        folder = args.folder or tmp
        os.makedirs(folder, exist_ok=True)
        paths, labels = _image_folder(folder, n_files)
        print(f"{n_files} JPEGs of {SIZE}x{SIZE} in {folder}; width={args.width}, "
              f"batch {BATCH}, torch threads {args.threads}", flush=True)

        runs = {}
        for n in (args.n_small, args.n_large):
            runs[n] = run = run_fit_process(folder, n, args.width, args.threads)
            print(f"fit {n:>6} files: peak RSS growth {run['growth_mb']:7.1f} MB "
                  f"(before fit {run['baseline_mb']:.0f} MB); {run['n_workers']} loader "
                  f"worker(s), peak USS {run['workers_mb']:6.1f} MB; {run['seconds']:.0f} s",
                  flush=True)

        times = measure_throughput(paths[:args.throughput_n], labels[:args.throughput_n],
                                   width=args.width, workers=workers, threads=args.threads,
                                   repeats=args.repeats)
    for name, seconds in times.items():
        print(f"{name:14s} {seconds:7.2f} s  {args.throughput_n / seconds:7.1f} images/s "
              f"({args.throughput_n} files, {workers} worker(s), median of {args.repeats})")
    small, large = runs[args.n_small], runs[args.n_large]
    print(f"workers' peak USS {args.n_small}={small['workers_mb']:.0f} MB, "
          f"{args.n_large}={large['workers_mb']:.0f} MB, "
          f"diff={large['workers_mb'] - small['workers_mb']:.0f} MB")
    ratio = times["plain PyTorch"] / times["mmlearn"]
    print(f"growth {args.n_small}={small['growth_mb']:.0f} MB, "
          f"{args.n_large}={large['growth_mb']:.0f} MB, "
          f"diff={large['growth_mb'] - small['growth_mb']:.0f} MB; "
          f"fit throughput ratio (mmlearn / plain PyTorch): {ratio:.3f}")


def _image_folder(folder: str, n: int) -> tuple[list[str], np.ndarray]:
    """The first ``n`` JPEGs of ``folder`` and their labels, written if not there yet."""
    from _common import write_image_folder

    labels_file = os.path.join(folder, "labels.npy")
    if os.path.exists(labels_file):
        labels = np.load(labels_file, allow_pickle=False)
        paths = [os.path.join(folder, f"{i:06d}.jpg") for i in range(n)]
        if len(labels) >= n and all(os.path.exists(p) for p in paths):
            return paths, labels[:n]
    start = time.perf_counter()
    paths, labels = write_image_folder(folder, n, size=SIZE, seed=0)
    np.save(labels_file, labels.astype(str))
    print(f"wrote {n} JPEGs in {time.perf_counter() - start:.0f} s", flush=True)
    return paths, labels


if __name__ == "__main__":
    main()
