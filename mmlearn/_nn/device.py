"""Where a network trains: the one place a ``device`` parameter becomes a torch device.

Every neural estimator of mmlearn takes a ``device`` parameter (``"cpu"``, ``"cuda"``,
``"cuda:1"``, ... or ``"auto"``) and resolves it here when ``fit`` starts, in the process
that fits: under a Dask cluster that is the worker, so ``device="auto"`` takes the GPU of a
worker that has one (the one ``CUDA_VISIBLE_DEVICES`` shows it) and the CPU of one that does
not, with the same estimator and the same parameters. The parameter itself is never
changed: a clone sent to another worker resolves it again there.

A network fitted on a GPU loads where there is none: skorch maps a pickled net's tensors to
the CPU when CUDA is not available (with a warning), and :func:`mmlearn.io.load` does the
same for the secure format (``docs/cluster.md``).
"""

from __future__ import annotations

import torch

__all__ = ["AUTO", "check_device", "resolve_device"]

# The device value that picks the GPU when this process has one.
AUTO = "auto"


def resolve_device(device: str) -> str:
    """The torch device ``device`` names here: ``"auto"`` becomes ``"cuda"`` or ``"cpu"``.

    Parameters
    ----------
    device : str
        ``"auto"``, or a torch device string, returned unchanged.

    Returns
    -------
    device : str
        ``"cuda"`` when ``device="auto"`` and torch finds a CUDA GPU in this process,
        ``"cpu"`` when it finds none; any other value unchanged.

    Examples
    --------
    >>> import torch
    >>> resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    True
    >>> resolve_device("cpu")
    'cpu'
    """
    if device == AUTO:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def check_device(device: str) -> str:
    """Resolve ``device`` (:func:`resolve_device`); raise if torch cannot use the result.

    Parameters
    ----------
    device : str
        ``"auto"`` or a torch device string.

    Returns
    -------
    device : str
        The torch device to train and predict on.

    Raises
    ------
    TypeError
        If ``device`` is not a string.
    ValueError
        If it names a CUDA device and torch finds no GPU, or is not a torch device.

    Examples
    --------
    >>> check_device("cpu")
    'cpu'
    >>> check_device("gpu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: device='gpu' is not a torch device: ...
    """
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu', 'cuda' or 'auto', got "
                        f"{device!r}.")
    resolved = resolve_device(device)
    if resolved.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but torch finds no CUDA GPU on this machine; "
                         "use device='cpu', or device='auto' to take a GPU only where "
                         "there is one.")
    try:
        torch.device(resolved)
    except RuntimeError as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from exc
    return resolved
