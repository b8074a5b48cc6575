"""Smaller and faster fitted models: int8 quantisation and magnitude pruning of the networks.

Each function takes a *fitted* estimator (a deep encoder, :class:`~mmlearn.heads.MLPHead`,
:class:`~mmlearn.fusion.JointFusion`, or any scikit-learn object that contains them, such
as a ``Pipeline`` or an ``EarlyFusion``) and returns a **new estimator of the same class**,
whose torch networks are replaced by compressed ones: ``transform``, ``predict`` and
``predict_proba`` work as before, ``clone`` gives the same unfitted estimator, and the
result pickles. The input estimator is never changed. A quantised estimator also saves
with :func:`mmlearn.io.save`: its networks are stored as their float class, a
quantisation plan (:func:`quantization_plan`) and int8 tensors (:func:`quantized_tensors`),
from which :func:`load_quantized` rebuilds them exactly.

Why functions and not new estimator classes: compression does not change what an
estimator *is* (its parameters, its input handling, its fitted vocabulary or log-mel
statistics), only the numbers inside its network. A wrapper class would have to forward
every method and attribute of every mmlearn estimator and of every scikit-learn meta
estimator around them; replacing the network in a deep copy keeps them all.

A network is found wherever a fitted estimator keeps one: a skorch net's ``module_``
(``net_.module_`` of the deep encoders, ``MLPHead`` and ``JointFusion``) or a bare
``module_`` (the pretrained encoders), in any step of a pipeline or a fusion
(:func:`find_networks`). :func:`network_inputs` records the tensors a network receives
from mmlearn's fitted inputs: the point where an exported graph begins
(:mod:`mmlearn.export`) and the data of a pruning fine-tune.

See ``docs/compression.md`` for the trade-offs measured on the shipped datasets.
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.utils.prune
from sklearn.utils.validation import check_is_fitted
from torch import nn

__all__ = [
    "NetworkSlot",
    "QuantizedBlock",
    "WeightOnlyInt8",
    "find_networks",
    "load_quantized",
    "network_bytes",
    "network_inputs",
    "prune",
    "quantization_plan",
    "quantize",
    "quantized_tensors",
    "sparsity",
]

_RECURRENT = (nn.LSTM, nn.GRU)
_DYNAMIC_TYPES = (nn.Linear, nn.LSTM, nn.GRU)
_CONV = (nn.Conv1d, nn.Conv2d)
_PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)
# Layers whose output channels line up with their input's (they pass each channel through).
_CHANNELWISE = (nn.ReLU, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.Dropout,
                nn.Identity)


# ------------------------------------------------------------------------- finding networks
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


def _has_weights(module: nn.Module) -> bool:
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
            if owner is not None and _has_weights(obj):
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


def _networks_of(estimator: object, caller: str) -> list[NetworkSlot]:
    """The networks of a fitted ``estimator``; a clear error when it is unfitted or has none."""
    check_is_fitted(estimator)
    slots = find_networks(estimator)
    if not slots:
        raise TypeError(
            f"{caller}: {_describe(estimator)} holds no torch network; only deep encoders, "
            "MLPHead, JointFusion and the pretrained encoders (or a pipeline or fusion "
            "containing them) can be compressed or exported."
        )
    return slots


def _describe(estimator: object) -> str:
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
    for slot in _networks_of(estimator, "network_bytes"):
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


def _run(estimator: object, X: object) -> object:
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


def _record_calls(estimator: object, X: object) -> list[list[tuple[str, tuple, dict]]]:
    """The calls each network of ``estimator`` (a copy: it is changed) gets when run on X."""
    slots = find_networks(estimator)
    recorders = []
    for slot in slots:
        recorder = _Recorder(slot.module)
        slot.replace(recorder)
        recorders.append(recorder)
    try:
        _run(estimator, X)
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
    calls = _record_calls(copy.deepcopy(estimator), X)
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


# -------------------------------------------------------------------------------- quantize
class QuantizedBlock(nn.Module):
    """A run of convolution blocks computed in int8: quantise, the fused blocks, dequantise.

    Made by :func:`quantize` (``method="static"``) around a ``Sequential`` of convolution,
    batch-norm, ReLU and pooling layers; the network around it stays float32.
    """

    def __init__(self, body: nn.Module):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.body = body
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.body(self.quant(x)))

    def __reduce__(self):
        # torch's quantised convolutions do not survive pickle (their __setstate__ expects
        # a half-built module): each is written as its class, arguments and state dict.
        layers = [_conv_recipe(m) if isinstance(m, _QUANTIZED_CONV) else m for m in self.body]
        return _rebuild_block, (self.quant, layers, self.dequant, self.training)


_QUANTIZED_CONV = (torch.ao.nn.quantized.Conv1d, torch.ao.nn.quantized.Conv2d)


def _conv_recipe(conv: nn.Module) -> tuple:
    kwargs = {"in_channels": conv.in_channels, "out_channels": conv.out_channels,
              "kernel_size": conv.kernel_size, "stride": conv.stride, "padding": conv.padding,
              "dilation": conv.dilation, "groups": conv.groups,
              "bias": conv.bias() is not None, "padding_mode": conv.padding_mode}
    return ("quantized_conv", type(conv), kwargs, conv.state_dict())


def _rebuild_block(quant: nn.Module, layers: list, dequant: nn.Module,
                   training: bool) -> QuantizedBlock:
    body = []
    for layer in layers:
        if isinstance(layer, tuple) and layer[0] == "quantized_conv":
            _, cls, kwargs, state = layer
            with _quiet():
                conv = cls(**kwargs)
                conv.load_state_dict(state)
            layer = conv
        body.append(layer)
    block = QuantizedBlock(nn.Sequential(*body))
    block.quant, block.dequant = quant, dequant
    return block.train(training)


@contextlib.contextmanager
def _quiet():
    # torch.ao.quantization warns that it will move to torchao on every call; torchao is
    # not a dependency, and the eager API still works in the torch releases mmlearn supports.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        warnings.filterwarnings("ignore", message=".*quantized tensor.*")
        warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")
        yield


def _quantizable_run(seq: nn.Sequential) -> bool:
    """Whether ``seq`` is conv blocks only: convolutions, batch norms, and parameter-free
    layers (ReLU, pooling), which quantised kernels run."""
    has_conv = False
    for child in seq:
        if isinstance(child, _CONV):
            has_conv = True
        elif not isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d) and _has_weights(child):
            return False
    return has_conv


def _fuse_groups(seq: nn.Sequential) -> list[list[str]]:
    """Index groups conv(+bn)(+relu) that int8 kernels compute as one layer."""
    children = list(seq)
    groups = []
    for i, child in enumerate(children):
        if not isinstance(child, _CONV):
            continue
        group = [str(i)]
        j = i + 1
        if j < len(children) and isinstance(children[j], nn.BatchNorm1d | nn.BatchNorm2d):
            group.append(str(j))
            j += 1
        if j < len(children) and isinstance(children[j], nn.ReLU):
            group.append(str(j))
        if len(group) > 1:
            groups.append(group)
    return groups


def _wrap_conv_runs(module: nn.Module, prefix: str = "") -> list[str]:
    """Replace each outermost conv-block ``Sequential`` by a QuantizedBlock (not yet
    prepared); returns their names."""
    names = []
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Sequential) and _quantizable_run(child):
            child.eval()
            fused = torch.ao.quantization.fuse_modules(child, _fuse_groups(child))
            block = QuantizedBlock(fused)
            block.qconfig = torch.ao.quantization.get_default_qconfig(
                torch.backends.quantized.engine)
            setattr(module, name, block)
            names.append(prefix + name)
        else:
            names += _wrap_conv_runs(child, prefix + name + ".")
    return names


def _width(layer: nn.Module) -> int:
    """The narrower side of a layer's weight matrices: what decides whether int8 pays."""
    if isinstance(layer, nn.Linear):
        return min(layer.in_features, layer.out_features)
    return min(layer.input_size, layer.hidden_size)


def _dynamic_names(module: nn.Module, min_width: int) -> list[str]:
    """The linear and recurrent layers at least ``min_width`` wide, by name.

    Exact types: a subclass such as attention's ``NonDynamicallyQuantizableLinear`` is
    one torch itself keeps float."""
    # A Transformer layer reads its linear layers' weights as tensors (its fast-path
    # checks), which a dynamic int8 layer does not have: those stay float.
    inside = {f"{name}.{child}" if name else child
              for name, layer in module.named_modules()
              if isinstance(layer, nn.TransformerEncoderLayer | nn.TransformerDecoderLayer)
              for child, _ in layer.named_modules() if child}
    return [name for name, layer in module.named_modules()
            if type(layer) in _DYNAMIC_TYPES and _width(layer) >= min_width
            and name not in inside]


def _dynamic(module: nn.Module, names: list[str]) -> nn.Module:
    if not names:
        return module
    with _quiet():
        return torch.ao.quantization.quantize_dynamic(module, set(names), dtype=torch.qint8,
                                                      inplace=True)


def _check_option(value: object, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}.")


def quantize(estimator, *, method: str = "dynamic", calibration=None,
             min_width: int = 256):
    """A copy of a fitted estimator whose networks compute in int8 on the CPU.

    Parameters
    ----------
    estimator : estimator
        Fitted; a deep encoder, ``MLPHead``, ``JointFusion``, a pretrained encoder, or a
        pipeline / fusion step containing them. It is not changed.
    method : {"dynamic", "static", "weight_only"}, default="dynamic"
        ``"dynamic"``: the weights of linear, LSTM and GRU layers are stored in int8 and
        their activations quantised on the fly, batch by batch (no calibration).
        ``"static"``: in addition, every run of convolution blocks (conv, batch norm,
        ReLU, pooling; :class:`~mmlearn.encoders.ImageCNNEncoder`,
        :class:`~mmlearn.encoders.AudioCNNEncoder`, their JointFusion branches) is fused
        and computed in int8 end to end, with activation ranges observed on
        ``calibration`` rows.
        ``"weight_only"``: every linear and convolution layer keeps its weight in int8
        (one scale per output channel, :class:`WeightOnlyInt8`) and computes in float32:
        a quarter of the weights' size, no calibration, about the float speed; for
        convolution encoders whose blocks static quantisation cannot take (the
        pretrained ones) or when no calibration rows are at hand.
    calibration : object, optional
        Rows in the estimator's input format (a few hundred training rows), required by
        ``method="static"``; the estimator is run on them once.
    min_width : int, default=256
        Linear, GRU and LSTM layers whose narrower side (the smaller of input and output
        features; of input and hidden size) is below ``min_width`` stay float32: on the
        CPU, quantising and dequantising their activations costs more than their int8
        products save, so int8 would make them *slower* (the crossover is measured in
        ``docs/compression.md``). ``0`` quantises every such layer: the smallest model,
        not the fastest. Convolution blocks (``"static"``) are always quantised;
        ``"weight_only"`` ignores it (it is about size, not speed).

    Returns
    -------
    quantized : estimator
        A new estimator of the same class, with the same ``transform`` / ``predict`` /
        ``predict_proba``; it runs on the CPU only (int8 kernels), pickles, saves with
        :func:`mmlearn.io.save` (the int8 weights and scales are stored, so the loaded
        model gives the same outputs), and cannot be refitted in place (``clone`` it to
        refit). Its outputs differ from the float model's by the rounding of the int8
        weights and activations.

    Warns
    -----
    UserWarning
        When no layer is quantised at all (every linear and recurrent layer is narrower
        than ``min_width``, and no convolution block is quantised): the copy computes in
        float32, as the original does.

    Raises
    ------
    NotFittedError
        When ``estimator`` is not fitted.
    TypeError
        When it holds no torch network (naming its class or its steps).
    ValueError
        For an unknown ``method``, ``method="static"`` without ``calibration``, or
        without any convolution block, ``method="weight_only"`` without any linear or
        convolution layer, a negative ``min_width``, a network that is not on the CPU or
        one that is already quantised.

    Examples
    --------
    >>> from mmlearn.datasets import load_emoji
    >>> from mmlearn.encoders import TextRNNEncoder
    >>> from mmlearn.compress import quantize, network_bytes
    >>> emoji = load_emoji()
    >>> names, y = emoji.data["name"][:300], emoji.target[:300]
    >>> enc = TextRNNEncoder(hidden_size=256, token_dim=256, embedding_dim=256, max_epochs=1,
    ...                      random_state=0).fit(names, y)
    >>> small = quantize(enc)
    >>> type(small).__name__, small.transform(["red apple"]).shape
    ('TextRNNEncoder', (1, 256))
    >>> network_bytes(small) < network_bytes(enc)
    True
    """
    _check_option(method, ("dynamic", "static", "weight_only"), "method")
    if not isinstance(min_width, Integral) or isinstance(min_width, bool) or min_width < 0:
        raise ValueError(f"min_width must be a non-negative int, got {min_width!r}.")
    original = _networks_of(estimator, "quantize")
    for slot in original:
        device = next(iter(slot.module.parameters()), torch.empty(0)).device
        if device.type != "cpu":
            raise ValueError(
                f"quantize: the network at {slot.where} is on {device}; int8 kernels run on "
                "the CPU. Move the estimator to the CPU first."
            )
        if "int8" in getattr(slot.module, "mmlearn_compressed", ""):
            raise ValueError(f"quantize: the network at {slot.where} is already quantised; "
                             "quantise the float model.")
    if method == "static" and calibration is None:
        raise ValueError("quantize(method='static') needs calibration rows (a few hundred "
                         "training rows in the estimator's input format) to observe the "
                         "activation ranges.")
    out = copy.deepcopy(estimator)
    slots = find_networks(out)
    blocks: list[list[str]] = [[] for _ in slots]
    if method == "static":
        with _quiet():
            for slot, names in zip(slots, blocks, strict=True):
                slot.module.eval()
                names += _wrap_conv_runs(slot.module)
                if names:
                    torch.ao.quantization.prepare(slot.module, inplace=True)
            if not any(blocks):
                raise ValueError(
                    f"quantize(method='static'): {_describe(estimator)} has no convolution "
                    "block to quantise statically; use method='dynamic'."
                )
            _run(out, calibration)  # the observers record the activation ranges
            for slot, names in zip(slots, blocks, strict=True):
                if names:
                    torch.ao.quantization.convert(slot.module, inplace=True)
    n_quantized = 0
    for slot, names in zip(slots, blocks, strict=True):
        if method == "weight_only":
            weight_only, dynamic = _weight_only_names(slot.module), []
            _weight_only(slot.module.eval(), weight_only)
        else:
            weight_only, dynamic = [], _dynamic_names(slot.module, min_width)
        if not names and not dynamic and not weight_only:
            continue
        quantized = _dynamic(slot.module.eval(), dynamic)
        _mark(quantized, {"method": method, "blocks": names, "dynamic": dynamic,
                          "weight_only": weight_only})
        slot.replace(quantized)
        n_quantized += len(names) + len(dynamic) + len(weight_only)
    if n_quantized == 0 and method == "weight_only":
        raise ValueError(f"quantize(method='weight_only'): {_describe(estimator)} has no "
                         "linear or convolution layer.")
    if n_quantized == 0:
        warnings.warn(
            f"quantize: no layer of {_describe(estimator)} was quantised: every linear and "
            f"recurrent layer is narrower than min_width={min_width}, where int8 is slower "
            "than float32 on the CPU, and there is no convolution block to quantise "
            "statically. The copy computes in float32. Pass min_width=0 for a smaller "
            "(but slower) model.",
            UserWarning,
            stacklevel=2,
        )
    return out


_WEIGHT_ONLY_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)


class WeightOnlyInt8(nn.Module):
    """A linear or convolution layer whose weight is kept in int8, one scale per output
    channel (symmetric), and expanded to float32 at each call.

    Made by :func:`quantize` (``method="weight_only"``): the weights take a quarter of
    their float32 size in memory and on disk, and the computation stays float32, so it
    needs no calibration and runs wherever the float layer did, at about its speed.
    The wrapped layer (``layer``) keeps its bias, settings and own ``forward`` (a
    subclass's padding, say), which runs with the expanded weight; ``weight`` and the
    layer's other attributes read through, for modules that use them directly
    (attention reads its output projection's weight).
    """

    def __init__(self, layer: nn.Module):
        super().__init__()
        weight = layer.weight.detach()
        scale = weight.abs().reshape(len(weight), -1).amax(dim=1).clamp(min=1e-12) / 127
        self.register_buffer("weight_int8", torch.round(weight / scale.view(_per_channel(weight)))
                             .clamp(-127, 127).to(torch.int8))
        self.register_buffer("weight_scale", scale.float())
        # The float weight is dropped; an empty stand-in keeps the layer whole.
        layer.weight = nn.Parameter(torch.empty(0), requires_grad=False)
        self.layer = layer

    @property
    def weight(self) -> torch.Tensor:
        """The float32 weight the int8 values and scales stand for."""
        return self.weight_int8.float() * self.weight_scale.view(_per_channel(self.weight_int8))

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            layer = self._modules.get("layer")
            if layer is None:  # while it is built, or unpickled
                raise
            return getattr(layer, name)

    def forward(self, x):
        return torch.func.functional_call(self.layer, {"weight": self.weight}, (x,))


def _per_channel(weight: torch.Tensor) -> tuple:
    """The shape that spreads one value per output channel over ``weight``."""
    return (-1,) + (1,) * (weight.dim() - 1)


def _weight_only_names(module: nn.Module) -> list[str]:
    """Linear and convolution layers (their subclasses too), by name."""
    return [name for name, layer in module.named_modules()
            if name and isinstance(layer, _WEIGHT_ONLY_TYPES)]


def _weight_only(module: nn.Module, names: list[str]) -> None:
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = module.get_submodule(parent)
        setattr(owner, child, WeightOnlyInt8(getattr(owner, child)))


def _mark(module: nn.Module, plan: dict) -> None:
    if getattr(module, "mmlearn_compressed", None) == "structured pruning":
        # No plan: it would rebuild the full-width float network, which the shrunk weights
        # do not fit, so mmlearn.io.save refuses the network (as it does the float one).
        module.mmlearn_compressed = f"structured pruning, int8 quantisation ({plan['method']})"
        return
    # Read by mmlearn.io.save (through quantization_plan) to store the int8 network.
    module.mmlearn_compressed = f"int8 quantisation ({plan['method']})"
    module.mmlearn_quantization = plan


# ------------------------------------------------------------- storing quantised networks
_QUANTIZED_LINEAR = torch.ao.nn.quantized.dynamic.Linear
_QUANTIZED_RNN = (torch.ao.nn.quantized.dynamic.GRU, torch.ao.nn.quantized.dynamic.LSTM)
_STORED_LAYERS = (_QUANTIZED_LINEAR, *_QUANTIZED_RNN, *_QUANTIZED_CONV)


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
    if isinstance(layer, _QUANTIZED_CONV):  # a dynamic layer's output is float: no scale
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
    with _quiet():
        if plan["blocks"]:
            blocks = _wrap_conv_runs(module)
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
        if any(not isinstance(layers[name], _WEIGHT_ONLY_TYPES) for name in weight_only):
            raise ValueError("load_quantized: a weight-only layer of the plan is not a linear "
                             "or convolution layer.")
        _weight_only(module, weight_only)  # its int8 weights are loaded with the float parts
        module = _dynamic(module, plan["dynamic"])
    prefixes = []
    with torch.no_grad(), _quiet():
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
            if isinstance(layer, _QUANTIZED_CONV):
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
    _mark(module, plan)
    return module.eval()


# ----------------------------------------------------------------------------------- prune
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
    for slot in _networks_of(estimator, "sparsity"):
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


def _structured(module: nn.Module, amount: float) -> int:
    """Shrink every layer whose outputs feed only the next layer of the same
    ``Sequential`` (through batch norm, ReLU, pooling, dropout); returns how many."""
    count = 0
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        children = list(seq)
        for i, first in enumerate(children):
            if not isinstance(first, _PRUNABLE) or getattr(first, "groups", 1) != 1:
                continue
            norm, j = None, i + 1
            while j < len(children) and not isinstance(children[j], _PRUNABLE):
                child = children[j]
                if isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d) and norm is None:
                    norm = child
                elif _has_weights(child) and not isinstance(child, _CHANNELWISE):
                    break  # a layer that may mix units: the pair is not separable
                j += 1
            if (j < len(children) and type(children[j]) is type(first)
                    and getattr(children[j], "groups", 1) == 1):
                _shrink_pair(first, norm, children[j], amount)
                count += 1
    return count


def _rows(call: tuple[str, tuple, dict]) -> int:
    _, args, kwargs = call
    return len(args[0] if args else next(iter(kwargs.values())))


def _fine_tune(estimator: object, slots: list[NetworkSlot], X, y, *, epochs: int, lr: float,
               seed: int) -> None:
    """A few epochs of the networks' own loss on the recorded inputs of ``X``; the pruning
    masks keep pruned weights at zero."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise ValueError(f"prune(fine_tune=...): {_describe(estimator)} has no classes_; "
                         "only classifiers can be fine-tuned on (X, y).")
    y = np.asarray(y)
    targets = np.searchsorted(classes, y)
    if np.any(targets >= len(classes)) or np.any(classes[np.minimum(targets, len(classes) - 1)]
                                                 != y):
        raise ValueError("prune(fine_tune=(X, y)): y holds labels the estimator was not "
                         "fitted on.")
    calls = _record_calls(estimator, X)
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
        A new estimator of the same class; it pickles. Unstructured pruning keeps the
        network's shapes, so it also saves with :func:`mmlearn.io.save`; structured
        pruning changes them, so save it with joblib (or save the float model and prune
        again after loading).

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
    _networks_of(estimator, "prune")
    out = copy.deepcopy(estimator)
    slots = find_networks(out)
    for slot in slots:
        if "int8" in getattr(slot.module, "mmlearn_compressed", ""):
            raise ValueError(f"prune: the network at {slot.where} is quantised; prune the "
                             "float model, then quantise it.")
    if structured:
        shrunk = 0
        for slot in slots:
            n_shrunk = _structured(slot.module, amount)
            if n_shrunk:
                slot.module.mmlearn_compressed = "structured pruning"
            shrunk += n_shrunk
        if shrunk == 0:
            raise ValueError(
                f"prune(structured=True): {_describe(estimator)} has no layer that feeds "
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
