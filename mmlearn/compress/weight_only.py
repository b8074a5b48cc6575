"""Weight-only int8: linear and convolution weights kept in int8, computed in float32.

:class:`WeightOnlyInt8` is what :func:`mmlearn.compress.quantize` puts in place of each
such layer for ``method="weight_only"``, but the smallest layers, which stay float32
(:func:`weight_only_names`).
"""

from __future__ import annotations

from numbers import Real

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


# The share of a network's linear and convolution weights that weight-only int8 leaves in
# float32, smallest layers first (see weight_only_names).
FLOAT_SHARE = 0.01


def weight_only_names(module: nn.Module, float_share: float = FLOAT_SHARE) -> list[str]:
    """The linear and convolution layers (their subclasses too) that weight-only int8
    stores in int8, by name: all but the smallest, which together hold at most
    ``float_share`` of the network's linear and convolution weights.

    Why the smallest stay float32: int8 would save the fewest bytes there (they hold at
    most ``float_share`` of the weights, so the model grows by at most three times that
    share of its int8 weights), and in a convolution network they are the first layers
    (the stem and the first blocks, narrow, with depthwise convolutions of few weights),
    whose rounding every later layer amplifies. The rule depends only on the layer sizes, not
    on any data; the largest layer is always int8 (``float_share`` < 1).

    Parameters
    ----------
    module : torch.nn.Module
    float_share : float in [0, 1), default=FLOAT_SHARE (0.01)
        0 stores every layer in int8.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        For ``float_share`` outside [0, 1).

    Examples
    --------
    >>> from torch import nn
    >>> from mmlearn.compress.weight_only import weight_only_names
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 512, 3))
    >>> weight_only_names(net)  # the 3 -> 8 stem holds 0.6 % of the weights
    ['2']
    >>> weight_only_names(net, float_share=0)
    ['0', '2']
    """
    if not isinstance(float_share, Real) or isinstance(float_share, bool) \
            or not 0 <= float_share < 1:
        raise ValueError(f"float_share must be a float in [0, 1), got {float_share!r}.")
    layers = [(name, layer) for name, layer in module.named_modules()
              if name and isinstance(layer, WEIGHT_ONLY_TYPES)]
    sizes = {name: layer.weight.numel() for name, layer in layers}
    budget, kept = float_share * sum(sizes.values()), set()
    # Smallest first; a tie is kept float in the order the layers come.
    for name in sorted(sizes, key=sizes.get):
        if sizes[name] > budget:
            break
        budget -= sizes[name]
        kept.add(name)
    return [name for name, _ in layers if name not in kept]


def replace_with_weight_only(module: nn.Module, names: list[str]) -> None:
    """Put a :class:`WeightOnlyInt8` in place of each layer ``names`` of ``module``."""
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = module.get_submodule(parent)
        setattr(owner, child, WeightOnlyInt8(getattr(owner, child)))

