"""Finding the torch networks inside a fitted estimator, and recording what they receive.

:func:`find_networks`, :func:`network_bytes` and :func:`network_inputs` are re-exported
by :mod:`mmlearn.compress`. :func:`fitted_networks`, :func:`describe_estimator`,
:func:`run_estimator`, :func:`record_calls` and :func:`has_weights` are the helpers the
quantisation and pruning modules share.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn


@dataclass
class NetworkSlot:
    """One torch network inside a fitted estimator, and every place that holds it.

    Attributes
    ----------
    where : str
        A readable path to it, such as ``"estimator.steps[0][1].net_.module_"``.
    module : torch.nn.Module
    holders : list of (object, str)
        ``(owner, attribute)`` pairs (or ``(dict, key)``) that reference the module; a
        fine-tuned pretrained encoder keeps its net's module under a second name.
    """

    where: str
    module: nn.Module
    holders: list = field(default_factory=list)

    def replace(self, module: nn.Module) -> None:
        """Put ``module`` in every place that held the network."""
        for owner, key in self.holders:
            if isinstance(owner, dict):
                owner[key] = module
            else:
                setattr(owner, key, module)
        self.module = module


def has_weights(module: nn.Module) -> bool:
    """Whether ``module`` holds any parameter or buffer (a loss or a ReLU does not)."""
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def find_networks(estimator: object) -> list[NetworkSlot]:
    """Every trained torch network a fitted estimator holds, each once, in a stable order.

    The search follows the estimator's attributes (``steps``, ``transformers_``,
    ``estimators_``, ``net_``...), lists, tuples and dicts, and stops at torch modules. A
    module with no parameters and no buffers (a skorch net's loss) is not a network.

    Parameters
    ----------
    estimator : object
        A fitted estimator.

    Returns
    -------
    list of NetworkSlot

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mmlearn.compress import find_networks
    >>> find_networks(LogisticRegression())
    []
    """
    found: dict[int, NetworkSlot] = {}
    seen: set[int] = set()
    stack: list[tuple[str, object, object, object]] = [("estimator", estimator, None, None)]
    while stack:
        where, obj, owner, key = stack.pop()
        if isinstance(obj, nn.Module):
            if owner is not None and has_weights(obj):
                slot = found.setdefault(id(obj), NetworkSlot(where, obj))
                slot.holders.append((owner, key))
            continue
        if (obj is None or isinstance(obj, str | bytes | Real | type | np.generic
                                      | torch.Tensor | torch.optim.Optimizer)
                or id(obj) in seen):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            children = [(f"{where}[{k!r}]", v, obj, k) for k, v in obj.items()]
        elif isinstance(obj, list | tuple):
            children = [(f"{where}[{i}]", v, None, None) for i, v in enumerate(obj)]
        elif isinstance(obj, np.ndarray):
            children = ([(f"{where}[{i}]", v, None, None) for i, v in enumerate(obj.ravel())]
                        if obj.dtype == object else [])
        elif hasattr(obj, "__dict__"):
            children = [(f"{where}.{k}", v, obj, k) for k, v in vars(obj).items()]
        else:
            children = []
        # Reversed so that the first step's network is found first.
        stack.extend(reversed(children))
    return list(found.values())


def fitted_networks(estimator: object, caller: str) -> list[NetworkSlot]:
    """The networks of a fitted ``estimator``; a clear error when it is unfitted or has none."""
    check_is_fitted(estimator)
    slots = find_networks(estimator)
    if not slots:
        raise TypeError(
            f"{caller}: {describe_estimator(estimator)} holds no torch network; only deep "
            "encoders, MLPHead, JointFusion and the pretrained encoders (or a pipeline or fusion "
            "containing them) can be compressed or exported."
        )
    return slots


def describe_estimator(estimator: object) -> str:
    """The estimator's class, with its steps' names and classes for a pipeline."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list):
        inner = ", ".join(f"{name!r}: {type(step).__name__}" for name, step in steps)
        return f"{type(estimator).__name__} ({inner})"
    return type(estimator).__name__


def network_bytes(estimator: object) -> int:
    """The size in bytes of the networks' weights, as ``torch.save`` writes them.

    Int8 weights take a quarter of float32 ones; biases, embeddings (token tables) and
    batch-norm statistics keep their size.

    Parameters
    ----------
    estimator : object
        A fitted estimator holding at least one network.

    Returns
    -------
    int
    """
    total = 0
    for slot in fitted_networks(estimator, "network_bytes"):
        buffer = io.BytesIO()
        torch.save(slot.module.state_dict(), buffer)
        total += buffer.tell()
    return total



# --------------------------------------------------------------------- recording the inputs
class _Recorder(nn.Module):
    """Stands in for a network while the estimator runs: records what each call receives."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)

    def _record(self, method: str, args, kwargs):
        self.calls.append((method, tuple(a.detach().clone() for a in args),
                           {k: v.detach().clone() for k, v in kwargs.items()}))
        return getattr(self.inner, method)(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self._record("forward", args, kwargs)

    def embed(self, *args, **kwargs):
        return self._record("embed", args, kwargs)


def run_estimator(estimator: object, X: object) -> object:
    """Run every step of ``estimator`` on ``X`` through its public prediction surface."""
    for method in ("predict_proba", "transform", "predict"):
        if hasattr(estimator, method):
            return getattr(estimator, method)(X)
    raise TypeError(f"{type(estimator).__name__} has no predict_proba, transform or predict.")


def _join(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate batches along rows; trailing sizes that differ (text batches padded to
    their own longest text) are padded with zeros, the padding id."""
    tail = [max(t.shape[d] for t in tensors) for d in range(1, tensors[0].dim())]
    padded = []
    for t in tensors:
        pad: list[int] = []
        for d in reversed(range(1, t.dim())):
            pad += [0, tail[d - 1] - t.shape[d]]
        padded.append(nn.functional.pad(t, pad) if any(pad) else t)
    return torch.cat(padded)


def record_calls(estimator: object, X: object) -> list[list[tuple[str, tuple, dict]]]:
    """The calls each network of ``estimator`` (a copy: it is changed) gets when run on X."""
    slots = find_networks(estimator)
    recorders = []
    for slot in slots:
        recorder = _Recorder(slot.module)
        slot.replace(recorder)
        recorders.append(recorder)
    try:
        run_estimator(estimator, X)
    finally:
        for slot, recorder in zip(slots, recorders, strict=True):
            slot.replace(recorder.inner)
    return [r.calls for r in recorders]


def network_inputs(estimator: object, X: object) -> list[dict[str, np.ndarray]]:
    """The arrays each network of ``estimator`` receives for the rows of ``X``.

    These are the outputs of mmlearn's fitted inputs (decoded, resized images; masked
    log-mel spectrograms; token ids; standardised features), that is, where a network's
    own computation, and an exported ONNX graph, begins. Rows with a missing cell are not
    given to a single-modality network and so are absent here.

    Parameters
    ----------
    estimator : object
        A fitted estimator holding at least one network.
    X : object
        Rows in the estimator's input format (a DataFrame for a fusion step).

    Returns
    -------
    list of dict of str -> ndarray
        One dict per network (in :func:`find_networks` order): ``{"x": array}`` for a
        network that takes one tensor, the keyword names (``"x0"``, ``"x1"``,
        ``"present"``) for :class:`~mmlearn.fusion.JointFusion`'s.

    Examples
    --------
    >>> from mmlearn.datasets import load_av_digits
    >>> from mmlearn.encoders import ImageCNNEncoder
    >>> from mmlearn.compress import network_inputs
    >>> X, y = load_av_digits(return_X_y=True)
    >>> enc = ImageCNNEncoder(max_epochs=1, random_state=0).fit(X["image"][:60], y[:60])
    >>> network_inputs(enc, X["image"][:5])[0]["x"].shape
    (5, 1, 8, 8)
    """
    check_is_fitted(estimator)
    calls = record_calls(copy.deepcopy(estimator), X)
    out = []
    for network_calls in calls:
        if not network_calls:
            out.append({})
            continue
        _, args0, kwargs0 = network_calls[0]
        arrays = {}
        for i in range(len(args0)):
            arrays["x" if len(args0) == 1 else f"x{i}"] = _join([c[1][i] for c in network_calls])
        for key in kwargs0:
            arrays[key] = _join([c[2][key] for c in network_calls])
        out.append({k: v.numpy() for k, v in arrays.items()})
    return out

