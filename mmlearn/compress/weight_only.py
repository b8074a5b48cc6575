"""Weight-only int8: linear and convolution weights kept in int8, computed in float32.

:class:`WeightOnlyInt8` is what :func:`mmlearn.compress.quantize` puts in place of each
such layer for ``method="weight_only"``.
"""

from __future__ import annotations

import torch
from torch import nn

WEIGHT_ONLY_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)


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


def weight_only_names(module: nn.Module) -> list[str]:
    """Linear and convolution layers (their subclasses too), by name."""
    return [name for name, layer in module.named_modules()
            if name and isinstance(layer, WEIGHT_ONLY_TYPES)]


def replace_with_weight_only(module: nn.Module, names: list[str]) -> None:
    """Put a :class:`WeightOnlyInt8` in place of each layer ``names`` of ``module``."""
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = module.get_submodule(parent)
        setattr(owner, child, WeightOnlyInt8(getattr(owner, child)))

