"""Shared fixtures: small real subsets of the shipped datasets."""

import os

# Idle OpenMP threads sleep instead of spinning: on a 2-core runner shared with other jobs,
# spinning torch threads made small networks train tens of times slower. Set before torch
# is first imported (by the test modules), since OpenMP reads it once.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Under pytest-xdist (``-n 2``, pyproject.toml) each worker process gets one thread, so that
# two workers' torch and BLAS threads do not contend for the same two cores.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from contextlib import contextmanager  # noqa: E402

import numpy as np  # noqa: E402
import pytest

from mmlearn.datasets import load_av_digits, load_emoji


@pytest.fixture(scope="session")
def av_digits():
    return load_av_digits()


@pytest.fixture(scope="session")
def av_small(av_digits):
    """200 AV-digit pairs, 20 per class: enough for every mechanic, fast to encode."""
    y = av_digits.target
    rows = np.concatenate([np.flatnonzero(y == k)[:20] for k in range(10)])
    return av_digits.data.iloc[rows].reset_index(drop=True), y[rows]


@pytest.fixture(scope="module")
def av_tiny(av_small):
    """60 AV-digit pairs, 6 per class: a cluster round trip or a declared-rate mechanic.

    One copy per test module, so that a module changing its frame changes no other's.
    """
    X, y = av_small
    rows = np.concatenate([np.flatnonzero(y == k)[:6] for k in range(10)])
    return X.iloc[rows].reset_index(drop=True), y[rows]


@contextmanager
def _torch_threads(n):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def torch_threads():
    """``with torch_threads(n):`` runs a block with ``n`` torch threads, then restores them.

    A reference run given a cluster worker's thread count, so that a float sum split over
    another number of threads cannot be what differs between the two runs.
    """
    return _torch_threads


@pytest.fixture(scope="session")
def emoji():
    return load_emoji()
