"""Batched forward passes of a fitted module under ``torch.inference_mode``."""

from __future__ import annotations

import numpy as np
import torch

from mmlearn._nn.data import CellDataset, iterate, resolve_workers

__all__ = ["run_module", "run_net", "predict_batches"]


# Batches a GPU may compute ahead of the copy back: enough to hide the CPU's conversion of
# the next batch, few enough to keep their outputs' memory small.
_BATCHES_IN_FLIGHT = 8


def run_module(fn, dataset: CellDataset, *, width: int, batch_size: int, device: str,
               n_workers: int = 0) -> np.ndarray:
    """``fn`` (a module method) over every row of ``dataset``, in order, as float32.

    Parameters
    ----------
    fn : callable
        Takes a batch tensor (or, for dict batches, keyword tensors) and returns
        ``(batch, width)``.
    dataset : CellDataset
    width : int
        Output columns (the shape of an empty result).
    batch_size, n_workers : int
        Rows per forward pass; loader worker processes.
    device : str

    Returns
    -------
    ndarray of shape (len(dataset), width), float32
    """
    out = np.empty((len(dataset), width), dtype=np.float32)
    on_gpu = torch.device(device).type == "cuda"
    pending: list[torch.Tensor] = []
    start = 0

    def copy_back() -> None:
        nonlocal start
        for result in pending:
            stop = start + len(result)
            out[start:stop] = result.float().cpu().numpy()
            start = stop
        pending.clear()

    with torch.inference_mode():
        for X, _ in iterate(dataset, batch_size=batch_size, n_workers=n_workers):
            if isinstance(X, dict):
                result = fn(**{key: _to(value, device, on_gpu) for key, value in X.items()})
            else:
                result = fn(_to(X, device, on_gpu))
            pending.append(result)
            # Copying a result back waits for the GPU; every few batches rather than after
            # each, the CPU converts the next batches while the GPU computes.
            if not on_gpu or len(pending) == _BATCHES_IN_FLIGHT:
                copy_back()
        copy_back()
    return out


def _to(tensor: torch.Tensor, device, on_gpu: bool) -> torch.Tensor:
    # Through page-locked memory, the copy to the GPU need not wait for its running work.
    return tensor.pin_memory().to(device, non_blocking=True) if on_gpu else tensor.to(device)


def run_net(net, method: str, dataset: CellDataset, *, width: int, batch_size: int,
            n_workers: int | None) -> np.ndarray:
    """The fitted skorch ``net``'s module ``method`` (``"embed"``, ``"forward"``) over
    ``dataset``, in eval mode, on the net's device; ``n_workers`` as the estimator's
    parameter (None chooses, see :func:`~mmlearn._nn.data.resolve_workers`)."""
    module = net.module_
    module.eval()
    return run_module(getattr(module, method), dataset, width=width, batch_size=batch_size,
                      device=net.device, n_workers=resolve_workers(n_workers, dataset))


def predict_batches(fn, X: np.ndarray, *, batch_size: int, device: str) -> np.ndarray:
    """``fn`` (tensor -> tensor) over the rows of an array, in batches, as float32."""
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            batch = torch.as_tensor(X[start:start + batch_size]).to(device)
            outputs.append(fn(batch).float().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), dtype=np.float32)
