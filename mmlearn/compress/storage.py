"""Storing compressed networks as plain tensors, and rebuilding them from those.

:mod:`mmlearn.io` saves a network made by :func:`mmlearn.compress.quantize` as its float
class and arguments, its :func:`quantization_plan` (JSON) and its
:func:`quantized_tensors` (safetensors); :func:`load_quantized` rebuilds it exactly.

A network shrunk by structured pruning (``prune(..., structured=True)``) is saved the same
way: its float class and arguments, its :func:`pruning_plan` (JSON: the new sizes of the
layers that shrank, by name) and its ``state_dict`` (safetensors); :func:`load_pruned`
shrinks the newly built network to those sizes and loads the weights.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from mmlearn.compress.quantization import (
    QUANTIZED_CONV,
    mark_quantized,
    quantize_layers_dynamically,
    quiet_quantization,
    wrap_conv_runs,
)
from mmlearn.compress.weight_only import WEIGHT_ONLY_TYPES, replace_with_weight_only

_QUANTIZED_LINEAR = torch.ao.nn.quantized.dynamic.Linear
_QUANTIZED_RNN = (torch.ao.nn.quantized.dynamic.GRU, torch.ao.nn.quantized.dynamic.LSTM)
_STORED_LAYERS = (_QUANTIZED_LINEAR, *_QUANTIZED_RNN, *QUANTIZED_CONV)


def quantization_plan(module: nn.Module) -> dict | None:
    """How :func:`quantize` changed a network: which blocks it computes in int8
    (``"blocks"``), which layers it quantised dynamically (``"dynamic"``), by name; None
    for a network it did not quantise.

    With the network's float class and arguments, the plan rebuilds the same int8
    structure (:func:`load_quantized`); :mod:`mmlearn.io` stores it as JSON.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    dict or None
    """
    plan = getattr(module, "mmlearn_quantization", None)
    return None if plan is None else copy.deepcopy(plan)


def _layer_tensors(layer: nn.Module) -> dict[str, torch.Tensor]:
    """A quantised layer's weights (int8 tensors), biases and output scale, by name."""
    if isinstance(layer, _QUANTIZED_RNN):
        return {**layer.get_weight(), **layer.get_bias()}
    tensors = {"weight": layer.weight()}
    bias = layer.bias()
    if bias is not None:
        tensors["bias"] = bias
    if isinstance(layer, QUANTIZED_CONV):  # a dynamic layer's output is float: no scale
        tensors["scale"] = torch.tensor(float(layer.scale), dtype=torch.float64)
        tensors["zero_point"] = torch.tensor(int(layer.zero_point))
    return tensors


def quantized_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """A quantised network's state as plain tensors (no quantised tensor, no packed weight
    object): what a safetensors file can hold.

    An int8 weight ``w`` becomes ``w.int`` (its integer values), ``w.scale`` and
    ``w.zero_point`` (and ``w.axis`` for per-channel scales); the float parts keep their
    ``state_dict`` names. :func:`load_quantized` reverses it exactly.

    Parameters
    ----------
    module : torch.nn.Module
        A network returned by :func:`quantize` (inside the quantised estimator).

    Returns
    -------
    dict of str -> torch.Tensor
    """
    out: dict[str, torch.Tensor] = {}
    prefixes = []
    for name, layer in module.named_modules():
        if isinstance(layer, _STORED_LAYERS):
            prefixes.append(_key(name, ""))
            for key, value in _layer_tensors(layer).items():
                _put(out, _key(name, key), value)
    for key, value in module.state_dict().items():
        if key.startswith(tuple(prefixes)):
            continue
        if not isinstance(value, torch.Tensor) or value.is_quantized:
            raise TypeError(f"quantized_tensors: {key} is a {type(value).__name__} outside "
                            "the layers mmlearn.compress quantises; it cannot be stored.")
        out[key] = value
    return {k: v.detach().contiguous() for k, v in out.items()}


def _key(layer: str, name: str) -> str:
    """A state_dict key: the layer's name (empty for the network itself), a dot, the name."""
    return f"{layer}.{name}" if layer else name


def _put(out: dict, key: str, value: torch.Tensor) -> None:
    if not value.is_quantized:
        out[key] = value
    elif value.qscheme() == torch.per_tensor_affine:
        out[key + ".int"] = value.int_repr()
        out[key + ".scale"] = torch.tensor(value.q_scale(), dtype=torch.float64)
        out[key + ".zero_point"] = torch.tensor(value.q_zero_point())
    elif value.qscheme() == torch.per_channel_affine:
        out[key + ".int"] = value.int_repr()
        out[key + ".scale"] = value.q_per_channel_scales().to(torch.float64)
        out[key + ".zero_point"] = value.q_per_channel_zero_points()
        out[key + ".axis"] = torch.tensor(value.q_per_channel_axis())
    else:
        raise TypeError(f"quantized_tensors: {key} uses {value.qscheme()}, which mmlearn "
                        "does not store.")


_QDTYPES = {torch.int8: torch.qint8, torch.uint8: torch.quint8}


def _get(tensors: dict, key: str) -> torch.Tensor:
    """The tensor stored as ``key`` by :func:`_put`, quantised again when it was."""
    if key in tensors:
        return tensors[key]
    try:
        ints, scale, zero = (tensors[key + s] for s in (".int", ".scale", ".zero_point"))
    except KeyError as exc:
        raise ValueError(f"load_quantized: {key} is missing from the stored tensors.") from exc
    dtype = _QDTYPES.get(ints.dtype)
    if dtype is None:
        raise ValueError(f"load_quantized: {key} holds {ints.dtype}, not int8 values.")
    if key + ".axis" in tensors:
        axis = int(tensors[key + ".axis"])
        shape = [1] * ints.dim()
        shape[axis] = -1
        values = (ints.double() - zero.view(shape)) * scale.view(shape)
        q = torch.quantize_per_channel(values.float(), scale, zero, axis, dtype)
    else:
        values = (ints.double() - float(zero)) * float(scale)
        q = torch.quantize_per_tensor(values.float(), float(scale), int(zero), dtype)
    if not torch.equal(q.int_repr(), ints):
        raise ValueError(f"load_quantized: {key} did not quantise back to its stored values.")
    return q


def _check_plan(plan: object) -> dict:
    def names(value):
        return isinstance(value, list) and all(isinstance(n, str) for n in value)

    if (not isinstance(plan, dict)
            or plan.get("method") not in ("dynamic", "static", "weight_only")
            or not names(plan.get("blocks")) or not names(plan.get("dynamic"))
            or not names(plan.get("weight_only", []))):
        raise ValueError("load_quantized: the quantisation plan is malformed (a dict with "
                         "method 'dynamic', 'static' or 'weight_only' and lists of layer "
                         "names 'blocks', 'dynamic' and 'weight_only' is expected).")
    return plan


def load_quantized(module: nn.Module, plan: dict, tensors: dict[str, torch.Tensor]
                   ) -> nn.Module:
    """The int8 network that ``plan`` and ``tensors`` describe, built on ``module``.

    ``module`` is a float network of the quantised one's class and arguments (its weights
    do not matter); it is changed into the quantised network's structure (the same blocks
    and layers quantised, by name) and given the stored int8 weights and scales, so the
    result computes exactly what the saved network did.

    Parameters
    ----------
    module : torch.nn.Module
        A newly built float network.
    plan : dict
        :func:`quantization_plan` of the saved network.
    tensors : dict of str -> torch.Tensor
        :func:`quantized_tensors` of the saved network.

    Returns
    -------
    torch.nn.Module
        The quantised network (``module`` itself, or the module that replaced it).

    Raises
    ------
    ValueError
        When the plan does not fit ``module`` (a name it does not have) or a tensor is
        missing or of the wrong kind.
    """
    plan = _check_plan(plan)
    module.eval()
    with quiet_quantization():
        if plan["blocks"]:
            blocks = wrap_conv_runs(module)
            if blocks != plan["blocks"]:
                raise ValueError(f"load_quantized: the network's convolution blocks {blocks} "
                                 f"are not the saved ones {plan['blocks']}.")
            torch.ao.quantization.prepare(module, inplace=True)
            # No calibration: every scale is overwritten by the stored one below.
            warnings.filterwarnings("ignore", message=".*must run observer.*")
            torch.ao.quantization.convert(module, inplace=True)
        weight_only = plan.get("weight_only", [])
        layers = dict(module.named_modules())
        unknown = sorted({*plan["dynamic"], *weight_only} - set(layers))
        if unknown:
            raise ValueError(f"load_quantized: the network has no layers {unknown}.")
        if any(not isinstance(layers[name], WEIGHT_ONLY_TYPES) for name in weight_only):
            raise ValueError("load_quantized: a weight-only layer of the plan is not a linear "
                             "or convolution layer.")
        # Its int8 weights are loaded with the float parts below.
        replace_with_weight_only(module, weight_only)
        module = quantize_layers_dynamically(module, plan["dynamic"])
    prefixes = []
    with torch.no_grad(), quiet_quantization():
        for name, layer in module.named_modules():
            if not isinstance(layer, _STORED_LAYERS):
                continue
            prefixes.append(_key(name, ""))
            keys = _layer_tensors(layer)
            values = {key: _get(tensors, _key(name, key)) for key in keys}
            if isinstance(layer, _QUANTIZED_RNN):
                layer.set_weight_bias(values)
                continue
            layer.set_weight_bias(values["weight"], values.get("bias"))
            if isinstance(layer, QUANTIZED_CONV):
                layer.scale = float(values["scale"])
                layer.zero_point = int(values["zero_point"])
    # The quantised layers already hold their stored values; the float parts are loaded
    # with them (a packed recurrent layer cannot be left out of load_state_dict).
    state = module.state_dict()
    rest = {k: v for k, v in tensors.items() if not k.startswith(tuple(prefixes))}
    missing = sorted(k for k in set(state) - set(rest) if not k.startswith(tuple(prefixes)))
    unexpected = sorted(set(rest) - set(state))
    if missing or unexpected:
        raise ValueError(f"load_quantized: the stored tensors do not fit the network "
                         f"(missing {missing}, unexpected {unexpected}).")
    state.update(rest)
    module.load_state_dict(state)
    mark_quantized(module, plan)
    return module.eval()


# ------------------------------------------------------------------- structured pruning
# The size attributes of the layers structured pruning shrinks, by layer type.
_SIZE_ATTRIBUTES = (
    (nn.Linear, ("in_features", "out_features")),
    (nn.Conv1d | nn.Conv2d, ("in_channels", "out_channels")),
    (nn.BatchNorm1d | nn.BatchNorm2d, ("num_features",)),
)


def layer_sizes(layer: nn.Module) -> dict[str, int]:
    """The sizes structured pruning can change in ``layer`` (``in_features`` and
    ``out_features`` of a linear layer, ``in_channels`` and ``out_channels`` of a
    convolution, ``num_features`` of a batch norm); empty for any other layer."""
    for kind, names in _SIZE_ATTRIBUTES:
        if isinstance(layer, kind):
            return {name: int(getattr(layer, name)) for name in names}
    return {}


def record_pruning(module: nn.Module, shapes: dict[str, dict[str, int]]) -> None:
    """Add the new layer sizes ``shapes`` (by layer name) to ``module``'s pruning plan:
    pruning twice keeps the latest sizes of every layer that shrank."""
    plan = getattr(module, "mmlearn_pruning", None) or {"method": "structured", "layers": {}}
    for name, sizes in shapes.items():
        plan["layers"].setdefault(name, {}).update(sizes)
    module.mmlearn_pruning = plan


def pruning_plan(module: nn.Module) -> dict | None:
    """How structured pruning shrank a network: ``{"method": "structured", "layers":
    {name: {size attribute: new size}}}``; None for a network it did not shrink.

    With the network's float class and arguments, the plan rebuilds the same shapes
    (:func:`load_pruned`); :mod:`mmlearn.io` stores it as JSON.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    dict or None

    Examples
    --------
    >>> from torch import nn
    >>> from mmlearn.compress.storage import pruning_plan
    >>> pruning_plan(nn.Linear(3, 2)) is None
    True
    """
    plan = getattr(module, "mmlearn_pruning", None)
    return None if plan is None else copy.deepcopy(plan)


def _check_pruning_plan(plan: object) -> dict:
    def sizes_ok(sizes):
        return (isinstance(sizes, dict) and sizes
                and all(isinstance(k, str) and type(v) is int and v >= 1
                        for k, v in sizes.items()))

    if (not isinstance(plan, dict) or plan.get("method") != "structured"
            or not isinstance(plan.get("layers"), dict)
            or not all(isinstance(name, str) and sizes_ok(sizes)
                       for name, sizes in plan["layers"].items())):
        raise ValueError("load_pruned: the pruning plan is malformed (a dict with method "
                         "'structured' and 'layers' mapping layer names to their positive "
                         "int sizes is expected).")
    return plan


def _resize(layer: nn.Module, sizes: dict[str, int]) -> None:
    """Give ``layer`` the ``sizes`` and uninitialised parameters and buffers of the
    matching shapes (the stored weights fill them)."""
    for name, value in sizes.items():
        setattr(layer, name, value)
    if isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
        shapes = {name: (layer.num_features,) for name in
                  ("weight", "bias", "running_mean", "running_var")}
    else:
        n_out, n_in = (layer.out_features, layer.in_features) if isinstance(layer, nn.Linear) \
            else (layer.out_channels, layer.in_channels)
        shapes = {"weight": (n_out, n_in, *getattr(layer, "kernel_size", ())), "bias": (n_out,)}
    for name, shape in shapes.items():
        old = getattr(layer, name, None)
        if old is None:  # no bias, or a batch norm without running statistics
            continue
        new = torch.empty(shape, dtype=old.dtype)
        if isinstance(old, nn.Parameter):
            setattr(layer, name, nn.Parameter(new, requires_grad=old.requires_grad))
        else:
            setattr(layer, name, new)


def load_pruned(module: nn.Module, plan: dict, tensors: dict[str, torch.Tensor]
                ) -> nn.Module:
    """The structured-pruned network that ``plan`` and ``tensors`` describe, built on
    ``module``.

    ``module`` is a float network of the pruned one's class and arguments (its weights do
    not matter): the layers the plan names are shrunk to its sizes, then given the stored
    weights, so the result computes exactly what the saved network did.

    Parameters
    ----------
    module : torch.nn.Module
        A newly built float network.
    plan : dict
        :func:`pruning_plan` of the saved network.
    tensors : dict of str -> torch.Tensor
        The saved network's ``state_dict``.

    Returns
    -------
    torch.nn.Module
        ``module``, shrunk and loaded.

    Raises
    ------
    ValueError
        When the plan is malformed, names a layer the network does not have or a size
        that layer does not have, would grow a layer, or when the tensors do not have
        the shapes the plan gives.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from mmlearn.compress.storage import load_pruned
    >>> thin = nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 3))
    >>> plan = {"method": "structured", "layers": {"0": {"out_features": 2},
    ...                                            "2": {"in_features": 2}}}
    >>> wide = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> again = load_pruned(wide, plan, thin.state_dict())
    >>> x = torch.ones(1, 4)
    >>> torch.equal(again(x), thin(x))
    True
    """
    plan = _check_pruning_plan(plan)
    layers = dict(module.named_modules())
    for name, sizes in plan["layers"].items():
        layer = layers.get(name)
        if layer is None or not name:
            raise ValueError(f"load_pruned: the network has no layer {name!r}.")
        current = layer_sizes(layer)
        unknown = sorted(set(sizes) - set(current))
        if unknown or getattr(layer, "groups", 1) != 1:
            raise ValueError(f"load_pruned: layer {name!r} ({type(layer).__name__}) has no "
                             f"sizes {unknown or sorted(sizes)} that structured pruning "
                             "shrinks.")
        grown = {k: (current[k], v) for k, v in sizes.items() if v > current[k]}
        if grown:
            raise ValueError(f"load_pruned: the plan would grow layer {name!r} "
                             f"({', '.join(f'{k} {a} -> {b}' for k, (a, b) in grown.items())}"
                             "); pruning only shrinks layers.")
        _resize(layer, sizes)
    state = module.state_dict()
    missing, unexpected = sorted(set(state) - set(tensors)), sorted(set(tensors) - set(state))
    wrong = sorted(f"{k} {tuple(tensors[k].shape)} (the plan gives {tuple(state[k].shape)})"
                   for k in set(state) & set(tensors) if tensors[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(f"load_pruned: the stored tensors do not fit the pruned network "
                         f"(missing {missing}, unexpected {unexpected}, other shapes {wrong}).")
    module.load_state_dict(tensors)
    module.mmlearn_compressed = "structured pruning"
    module.mmlearn_pruning = copy.deepcopy(plan)
    return module
