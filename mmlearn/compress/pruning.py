"""Magnitude pruning of fitted networks: :func:`prune` and :func:`sparsity`.

Unstructured pruning zeros the smallest weights; structured pruning physically shrinks
layers whose outputs feed only the next layer of their ``Sequential``; an optional short
fine-tune on recorded network inputs recovers accuracy.
"""

from __future__ import annotations

import copy
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.utils.prune
from torch import nn

from mmlearn.compress.networks import (
    NetworkSlot,
    describe_estimator,
    find_networks,
    fitted_networks,
    has_weights,
    record_calls,
)
from mmlearn.compress.storage import layer_sizes, record_pruning

_RECURRENT = (nn.LSTM, nn.GRU)
_PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)
# Layers whose output channels line up with their input's (they pass each channel through).
_CHANNELWISE = (nn.ReLU, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.Dropout,
                nn.Identity)


def _weights(module: nn.Module) -> list[tuple[nn.Module, str]]:
    """The prunable weights: linear and convolution weights, and recurrent weight matrices."""
    out = []
    for layer in module.modules():
        if isinstance(layer, _PRUNABLE):
            out.append((layer, "weight"))
        elif isinstance(layer, _RECURRENT):
            out.extend((layer, name) for name, _ in layer.named_parameters()
                       if name.startswith("weight_"))
    return out


def sparsity(estimator: object) -> float:
    """The share of exactly-zero entries among the prunable weights of the networks.

    Parameters
    ----------
    estimator : object
        A fitted estimator holding at least one network.

    Returns
    -------
    float in [0, 1]
    """
    zeros = total = 0
    for slot in fitted_networks(estimator, "sparsity"):
        for layer, name in _weights(slot.module):
            weight = getattr(layer, name)
            zeros += int((weight == 0).sum())
            total += weight.numel()
    return zeros / total if total else 0.0


def _shrink_pair(first: nn.Module, norm: nn.Module | None, second: nn.Module,
                 amount: float) -> None:
    """Physically remove the ``amount`` share of ``first``'s output units (channels) with
    the smallest L2 norm, and the matching entries of ``norm`` and inputs of ``second``."""
    weight = first.weight.detach()
    n_out = weight.shape[0]
    n_keep = max(1, n_out - int(round(amount * n_out)))
    scores = weight.reshape(n_out, -1).norm(dim=1)
    if norm is not None:
        # A batch norm rescales each channel: judge the channel after it.
        scores = scores * (norm.weight.detach().abs() / torch.sqrt(norm.running_var + norm.eps))
    keep = torch.sort(torch.topk(scores, n_keep).indices).values
    with torch.no_grad():
        first.weight = nn.Parameter(first.weight[keep].clone())
        if first.bias is not None:
            first.bias = nn.Parameter(first.bias[keep].clone())
        if norm is not None:
            norm.weight = nn.Parameter(norm.weight[keep].clone())
            norm.bias = nn.Parameter(norm.bias[keep].clone())
            norm.running_mean = norm.running_mean[keep].clone()
            norm.running_var = norm.running_var[keep].clone()
            norm.num_features = n_keep
        second.weight = nn.Parameter(second.weight[:, keep].clone())
    if isinstance(first, nn.Linear):
        first.out_features = n_keep
    else:
        first.out_channels = n_keep
    if isinstance(second, nn.Linear):
        second.in_features = n_keep
    else:
        second.in_channels = n_keep


def _structured(module: nn.Module, amount: float) -> dict[str, dict[str, int]]:
    """Shrink every layer whose outputs feed only the next layer of the same
    ``Sequential`` (through batch norm, ReLU, pooling, dropout); returns the sizes of
    the layers it changed, by name (the plan :func:`record_pruning` keeps)."""
    shapes: dict[str, dict[str, int]] = {}
    for seq_name, seq in [(n, m) for n, m in module.named_modules()
                          if isinstance(m, nn.Sequential)]:
        # A Sequential built from a dict names its children: use those names.
        names, children = zip(*seq.named_children(), strict=True) if len(seq) else ((), ())
        names = [f"{seq_name}.{n}" if seq_name else n for n in names]
        for i, first in enumerate(children):
            if not isinstance(first, _PRUNABLE) or getattr(first, "groups", 1) != 1:
                continue
            norm, j = None, i + 1
            while j < len(children) and not isinstance(children[j], _PRUNABLE):
                child = children[j]
                if isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d) and norm is None:
                    norm = j
                elif has_weights(child) and not isinstance(child, _CHANNELWISE):
                    break  # a layer that may mix units: the pair is not separable
                j += 1
            if (j < len(children) and type(children[j]) is type(first)
                    and getattr(children[j], "groups", 1) == 1):
                _shrink_pair(first, None if norm is None else children[norm], children[j],
                             amount)
                for k in (i, j) if norm is None else (i, norm, j):
                    shapes.setdefault(names[k], {}).update(layer_sizes(children[k]))
    return shapes


def _rows(call: tuple[str, tuple, dict]) -> int:
    _, args, kwargs = call
    return len(args[0] if args else next(iter(kwargs.values())))


def _fine_tune(estimator: object, slots: list[NetworkSlot], X, y, *, epochs: int, lr: float,
               seed: int) -> None:
    """A few epochs of the networks' own loss on the recorded inputs of ``X``; the pruning
    masks keep pruned weights at zero."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise ValueError(f"prune(fine_tune=...): {describe_estimator(estimator)} has no classes_; "
                         "only classifiers can be fine-tuned on (X, y).")
    y = np.asarray(y)
    targets = np.searchsorted(classes, y)
    if np.any(targets >= len(classes)) or np.any(classes[np.minimum(targets, len(classes) - 1)]
                                                 != y):
        raise ValueError("prune(fine_tune=(X, y)): y holds labels the estimator was not "
                         "fitted on.")
    calls = record_calls(estimator, X)
    for slot, network_calls in zip(slots, calls, strict=True):
        if any(method != "forward" for method, _, _ in network_calls):
            raise ValueError(
                f"prune(fine_tune=(X, y)): the network at {slot.where} gives features to a "
                "later step, which fine-tuning it would invalidate; prune and fine-tune that "
                "step (a deep encoder, MLPHead, JointFusion) on its own, then refit the rest."
            )
        sizes = [_rows(call) for call in network_calls]
        if sum(sizes) != len(targets):
            raise ValueError(
                f"prune(fine_tune=(X, y)): the network at {slot.where} received {sum(sizes)} "
                f"rows for {len(targets)} labels (rows with a missing cell are not given to "
                "a single-modality network); fine-tune on rows without missing cells."
            )
        starts = np.cumsum([0, *sizes])
        module = slot.module
        optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad],
                                      lr=lr)
        # Seeded batch order and dropout, without moving the caller's torch generator.
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            module.train()
            for _ in range(epochs):
                for b in torch.randperm(len(network_calls)).tolist():
                    _, args, kwargs = network_calls[b]
                    # Recorded under inference mode: clone to tensors autograd can use.
                    args = tuple(a.clone() for a in args)
                    kwargs = {k: v.clone() for k, v in kwargs.items()}
                    batch_y = torch.as_tensor(targets[starts[b]:starts[b + 1]])
                    if len(batch_y) < 2:
                        continue  # batch norm cannot train on one row
                    loss = nn.functional.cross_entropy(module(*args, **kwargs), batch_y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        module.eval()


def prune(estimator, amount: float, *, structured: bool = False, fine_tune=None,
          epochs: int = 3, lr: float = 1e-4, random_state: int | None = 0):
    """A copy of a fitted estimator with the smallest weights of its networks removed.

    Parameters
    ----------
    estimator : estimator
        Fitted; a deep encoder, ``MLPHead``, ``JointFusion``, or a pipeline / fusion step
        containing them. It is not changed.
    amount : float in [0, 1)
        ``structured=False``: the share of all prunable weights (linear, convolution and
        recurrent weight matrices, pooled over each network) set to zero, smallest
        magnitude first (global L1 pruning, :func:`torch.nn.utils.prune.global_unstructured`).
        The zeros are stored densely: the model is not faster and not smaller on disk
        (compress the file, or quantise), it is a measure of redundancy.
        ``structured=True``: the share of output channels (convolutions) or units
        (linear layers) removed from every layer whose outputs feed only the next layer
        of the same ``Sequential`` (through batch norm, ReLU, pooling): the smallest L2
        norm first (scaled by the batch norm's gain), and the layers physically shrink,
        which is what makes inference faster. Layers that feed the embedding keep their
        width, so ``transform``'s output size does not change.
    fine_tune : tuple (X, y), optional
        Training rows to fine-tune on after pruning, with the network's own loss
        (cross-entropy on its classes): a short pass recovers most of the accuracy lost.
        Pruned weights stay zero (unstructured) or removed (structured). Classifiers only.
    epochs : int, default=3
        Fine-tuning epochs.
    lr : float, default=1e-4
        Fine-tuning AdamW learning rate.
    random_state : int or None, default=0
        Seeds the fine-tune's batch order.

    Returns
    -------
    pruned : estimator
        A new estimator of the same class; it pickles and saves with
        :func:`mmlearn.io.save`. Unstructured pruning keeps the network's shapes (its
        zeros are saved as plain weights); structured pruning records the new sizes of
        the layers it shrank (:func:`~mmlearn.compress.storage.pruning_plan`), from which
        :func:`mmlearn.io.load` rebuilds the same shapes. A structured-pruned model
        quantised afterwards pickles but does not save with :mod:`mmlearn.io`.

    Raises
    ------
    NotFittedError
        When ``estimator`` is not fitted.
    TypeError
        When it holds no torch network (naming its class or its steps).
    ValueError
        For ``amount`` outside [0, 1), ``structured=True`` on networks with no layer
        that can shrink, or ``fine_tune`` labels the estimator does not know.

    Examples
    --------
    >>> from mmlearn.datasets import load_av_digits
    >>> from mmlearn.heads import MLPHead
    >>> from mmlearn.compress import prune, sparsity
    >>> X, y = load_av_digits(return_X_y=True)
    >>> pixels = X["image"].map(lambda a: a.ravel()).tolist()
    >>> head = MLPHead(max_epochs=5, random_state=0).fit(pixels[:300], y[:300])
    >>> round(sparsity(prune(head, 0.5)), 2)
    0.5
    """
    if not isinstance(amount, Real) or isinstance(amount, bool) or not 0 <= amount < 1:
        raise ValueError(f"amount must be a float in [0, 1), got {amount!r}.")
    if not isinstance(epochs, Integral) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}.")
    if fine_tune is not None and (not isinstance(fine_tune, tuple) or len(fine_tune) != 2):
        raise ValueError("fine_tune must be a tuple (X, y) of training rows and labels, got "
                         f"{type(fine_tune).__name__}.")
    fitted_networks(estimator, "prune")
    out = copy.deepcopy(estimator)
    slots = find_networks(out)
    for slot in slots:
        if "int8" in getattr(slot.module, "mmlearn_compressed", ""):
            raise ValueError(f"prune: the network at {slot.where} is quantised; prune the "
                             "float model, then quantise it.")
    if structured:
        shrunk = 0
        for slot in slots:
            shapes = _structured(slot.module, amount)
            if shapes:
                slot.module.mmlearn_compressed = "structured pruning"
                record_pruning(slot.module, shapes)
            shrunk += len(shapes)
        if shrunk == 0:
            raise ValueError(
                f"prune(structured=True): {describe_estimator(estimator)} has no layer that feeds "
                "only another layer of its own block, so nothing can shrink; use "
                "structured=False."
            )
    else:
        for slot in slots:
            weights = _weights(slot.module)
            if weights and amount > 0:
                torch.nn.utils.prune.global_unstructured(
                    weights, pruning_method=torch.nn.utils.prune.L1Unstructured, amount=amount)
    if fine_tune is not None:
        seed = 0 if random_state is None else int(random_state)
        _fine_tune(out, slots, *fine_tune, epochs=epochs, lr=lr, seed=seed)
    for slot in slots:
        for layer, name in _weights(slot.module):
            if torch.nn.utils.prune.is_pruned(layer) and hasattr(layer, name + "_orig"):
                # Make the zeros permanent: a plain parameter again, no mask, no hook.
                torch.nn.utils.prune.remove(layer, name)
        slot.module.eval()
    return out
