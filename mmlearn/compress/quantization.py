"""Int8 quantisation of fitted networks: :func:`quantize` and :class:`QuantizedBlock`.

``method="dynamic"`` quantises the linear and recurrent layers at least ``min_width``
wide; ``method="static"`` also computes each run of convolution blocks in int8
(:class:`QuantizedBlock`), its convolutions too narrow for int8 to pay in float32
(:class:`FloatConvRun`); ``method="weight_only"`` is in :mod:`.weight_only`.
:func:`quiet_quantization`, :func:`wrap_conv_runs`, :func:`quantize_layers_dynamically`
and :func:`mark_quantized` are shared with :mod:`.storage`, which rebuilds the same
structure when a saved network is loaded.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections import OrderedDict
from numbers import Integral

import torch
from torch import nn

from mmlearn.compress.networks import (
    describe_estimator,
    find_networks,
    fitted_networks,
    has_weights,
    run_estimator,
)
from mmlearn.compress.weight_only import replace_with_weight_only, weight_only_names

_DYNAMIC_TYPES = (nn.Linear, nn.LSTM, nn.GRU)
_CONV = (nn.Conv1d, nn.Conv2d)
QUANTIZED_CONV = (torch.ao.nn.quantized.Conv1d, torch.ao.nn.quantized.Conv2d)


# The narrowest convolution that int8 computes faster than float32 on the CPU: its
# reduction, input channels (per group) times kernel area (the conv crossover in
# docs/compression.md). Narrower ones, such as a first layer over one or three input
# channels, move many activations for little arithmetic.
INT8_CONV_WIDTH = 256


class FloatConvRun(nn.Module):
    """Convolution blocks that static quantisation keeps in float32, made faster.

    Batch norm is folded into the convolution (``fuse_modules``) and the maps are kept
    channels-last, the layout in which the CPU's float convolutions and max-pooling of few
    input channels are fastest (and the one the int8 kernels after them use).
    """

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body.to(memory_format=torch.channels_last)

    def forward(self, x):
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.body(x)


class QuantizedBlock(nn.Module):
    """A run of convolution blocks computed in int8: quantise, the fused blocks, dequantise.

    Made by :func:`quantize` (``method="static"``) around a ``Sequential`` of convolution,
    batch-norm, ReLU and pooling layers; the network around it stays float32. ``head``,
    when given, is the run's leading convolutions narrower than ``INT8_CONV_WIDTH``, kept
    in float32 (:class:`FloatConvRun`) before the input is quantised.
    """

    def __init__(self, body: nn.Module, head: nn.Module | None = None):
        super().__init__()
        self.head = head
        self.quant = torch.ao.quantization.QuantStub()
        self.body = body
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        if self.head is not None:
            x = self.head(x)
        return self.dequant(self.body(self.quant(x)))

    def __reduce__(self):
        # torch's quantised convolutions do not survive pickle (their __setstate__ expects
        # a half-built module): each is written as its class, arguments and state dict.
        layers = [_conv_recipe(m) if isinstance(m, QUANTIZED_CONV) else m for m in self.body]
        # The body keeps the run's layer names (the head's are left out), which saved
        # state dicts refer to.
        names = [name for name, _ in self.body.named_children()]
        return rebuild_block, (self.quant, layers, self.dequant, self.training, names,
                               self.head)


def _conv_recipe(conv: nn.Module) -> tuple:
    kwargs = {"in_channels": conv.in_channels, "out_channels": conv.out_channels,
              "kernel_size": conv.kernel_size, "stride": conv.stride, "padding": conv.padding,
              "dilation": conv.dilation, "groups": conv.groups,
              "bias": conv.bias() is not None, "padding_mode": conv.padding_mode}
    return ("quantized_conv", type(conv), kwargs, conv.state_dict())


def rebuild_block(quant: nn.Module, layers: list, dequant: nn.Module, training: bool,
                  names: list[str] | None = None, head: nn.Module | None = None
                  ) -> QuantizedBlock:
    """The QuantizedBlock that :meth:`QuantizedBlock.__reduce__` wrote (its unpickler)."""
    body = []
    for layer in layers:
        if isinstance(layer, tuple) and layer[0] == "quantized_conv":
            _, cls, kwargs, state = layer
            with quiet_quantization():
                conv = cls(**kwargs)
                conv.load_state_dict(state)
            layer = conv
        body.append(layer)
    names = names if names is not None else [str(i) for i in range(len(body))]
    block = QuantizedBlock(nn.Sequential(OrderedDict(zip(names, body, strict=True))), head)
    block.quant, block.dequant = quant, dequant
    return block.train(training)


@contextlib.contextmanager
def quiet_quantization():
    """Silence torch's eager-quantisation warnings inside the block."""
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
        elif not isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d) and has_weights(child):
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


def _int8_pays(layer: nn.Module) -> bool:
    """Whether ``layer`` (of a fused run) is a convolution at least INT8_CONV_WIDTH wide."""
    if isinstance(layer, nn.Sequential):  # a fused conv + ReLU: the convolution first
        layer = layer[0]
    if not isinstance(layer, _CONV):
        return False
    return layer.in_channels // layer.groups * math.prod(layer.kernel_size) >= INT8_CONV_WIDTH


def _conv_runs(module: nn.Module, prefix: str = "") -> list[tuple[nn.Module, str, str]]:
    """``(parent, name, full name)`` of each outermost conv-block ``Sequential``."""
    runs = []
    for name, child in module.named_children():
        if isinstance(child, nn.Sequential) and _quantizable_run(child):
            runs.append((module, name, prefix + name))
        else:
            runs += _conv_runs(child, prefix + name + ".")
    return runs


def wrap_conv_runs(module: nn.Module) -> list[str]:
    """Replace each outermost conv-block ``Sequential`` by a QuantizedBlock (not yet
    prepared), its blocks fused; returns their names.

    Convolutions narrower than ``INT8_CONV_WIDTH`` stay float32 (:class:`FloatConvRun`):
    a run's leading ones become its QuantizedBlock's ``head``, a run with no wider one is
    replaced by a FloatConvRun and not named. A network with no convolution that wide
    has all of them quantised.
    """
    runs = _conv_runs(module)
    fused = {}
    for parent, name, _ in runs:
        child = getattr(parent, name).eval()
        fused[id(child)] = torch.ao.quantization.fuse_modules(child, _fuse_groups(child))
    keep_narrow = any(_int8_pays(layer) for run in fused.values() for layer in run)
    names = []
    for parent, name, full in runs:
        run = fused[id(getattr(parent, name))]
        layers = list(run.named_children())
        start = next((i for i, (_, layer) in enumerate(layers) if _int8_pays(layer)),
                     None) if keep_narrow else 0
        if start is None:
            setattr(parent, name, FloatConvRun(run))
            continue
        head = FloatConvRun(nn.Sequential(OrderedDict(layers[:start]))) if start else None
        block = QuantizedBlock(nn.Sequential(OrderedDict(layers[start:])), head)
        block.qconfig = torch.ao.quantization.get_default_qconfig(
            torch.backends.quantized.engine)
        if head is not None:
            head.qconfig = None  # computed in float32: no observers, not converted
        setattr(parent, name, block)
        names.append(full)
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


def quantize_layers_dynamically(module: nn.Module, names: list[str]) -> nn.Module:
    """``module`` with its linear and recurrent layers ``names`` quantised dynamically."""
    if not names:
        return module
    with quiet_quantization():
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
        ``calibration`` rows. Convolutions narrower than ``INT8_CONV_WIDTH`` (256: input
        channels times kernel area, such as a first layer over one or three channels)
        are faster in float32 and stay so, with batch norm folded in and channels-last
        maps (:class:`FloatConvRun`); a network with no wider convolution has all of
        them quantised.
        ``"weight_only"``: every linear and convolution layer but the smallest (those
        holding together at most ``FLOAT_SHARE`` of the weights,
        :func:`~mmlearn.compress.weight_only.weight_only_names`) keeps its weight in int8
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
        not the fastest. Convolutions (``"static"``) follow their own width rule
        (``INT8_CONV_WIDTH``, above); ``"weight_only"`` ignores it (it is about size, not
        speed).

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
    original = fitted_networks(estimator, "quantize")
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
        with quiet_quantization():
            for slot, names in zip(slots, blocks, strict=True):
                slot.module.eval()
                names += wrap_conv_runs(slot.module)
                if names:
                    torch.ao.quantization.prepare(slot.module, inplace=True)
            if not any(blocks):
                raise ValueError(
                    f"quantize(method='static'): {describe_estimator(estimator)} has no "
                    "convolution block to quantise statically; use method='dynamic'."
                )
            run_estimator(out, calibration)  # the observers record the activation ranges
            for slot, names in zip(slots, blocks, strict=True):
                if names:
                    torch.ao.quantization.convert(slot.module, inplace=True)
    n_quantized = 0
    for slot, names in zip(slots, blocks, strict=True):
        if method == "weight_only":
            weight_only, dynamic = weight_only_names(slot.module), []
            replace_with_weight_only(slot.module.eval(), weight_only)
        else:
            weight_only, dynamic = [], _dynamic_names(slot.module, min_width)
        if not names and not dynamic and not weight_only:
            continue
        quantized = quantize_layers_dynamically(slot.module.eval(), dynamic)
        mark_quantized(quantized, {"method": method, "blocks": names, "dynamic": dynamic,
                          "weight_only": weight_only})
        slot.replace(quantized)
        n_quantized += len(names) + len(dynamic) + len(weight_only)
    if n_quantized == 0 and method == "weight_only":
        raise ValueError(f"quantize(method='weight_only'): {describe_estimator(estimator)} has no "
                         "linear or convolution layer.")
    if n_quantized == 0:
        warnings.warn(
            f"quantize: no layer of {describe_estimator(estimator)} was quantised: every "
            f"linear and recurrent layer is narrower than min_width={min_width}, where int8 is "
            "slower than float32 on the CPU, and there is no convolution block to quantise "
            "statically. The copy computes in float32. Pass min_width=0 for a smaller "
            "(but slower) model.",
            UserWarning,
            stacklevel=2,
        )
    return out



def mark_quantized(module: nn.Module, plan: dict) -> None:
    """Record on ``module`` how it was quantised (``plan``), for saving and for checks."""
    if getattr(module, "mmlearn_compressed", None) == "structured pruning":
        # No plan: it would rebuild the full-width float network, which the shrunk weights
        # do not fit, so mmlearn.io.save refuses the network (as it does the float one).
        module.mmlearn_compressed = f"structured pruning, int8 quantisation ({plan['method']})"
        return
    # Read by mmlearn.io.save (through quantization_plan) to store the int8 network.
    module.mmlearn_compressed = f"int8 quantisation ({plan['method']})"
    module.mmlearn_quantization = plan

