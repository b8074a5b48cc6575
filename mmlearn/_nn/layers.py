"""Small building blocks shared by mmlearn's networks (heads, autoencoder, fusion branches)."""

from __future__ import annotations

from numbers import Integral

from torch import nn

__all__ = ["mlp_layers", "check_hidden_sizes"]


def mlp_layers(n_in: int, hidden_sizes: tuple[int, ...], dropout: float) -> list[nn.Module]:
    """Linear -> ReLU -> Dropout for each hidden size (the output layer is the caller's)."""
    layers: list[nn.Module] = []
    for width in hidden_sizes:
        layers += [nn.Linear(n_in, width), nn.ReLU(), nn.Dropout(dropout)]
        n_in = width
    return layers


def check_hidden_sizes(hidden_sizes: object) -> tuple[int, ...]:
    """``hidden_sizes`` as a tuple of positive ints, else a ValueError that says what it got."""
    sizes = tuple(hidden_sizes)
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(
            f"hidden_sizes must be a sequence of positive ints, got {hidden_sizes!r}."
        )
    return tuple(int(s) for s in sizes)
