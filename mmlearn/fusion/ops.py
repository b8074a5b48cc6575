"""Torch modules of intermediate fusion: fusion ops, the tabular branch, the joint network.

Every fusion op reads the branches' embeddings, already projected to a common size ``dim``,
as one tensor ``z`` of shape ``(batch, n_modalities, dim)`` and a boolean ``present`` mask of
shape ``(batch, n_modalities)``; an absent modality's row of ``z`` is zeros and must not
influence the result (each op says how it ignores it). ``out_dim`` is the size of the fused
vector the op returns. :class:`JointNetwork` is the end-to-end module that
:class:`~mmlearn.fusion.JointFusion` trains with skorch; all classes are at module level so
that fitted estimators pickle.
"""

from __future__ import annotations

import torch
from torch import nn

from mmlearn._nn.layers import mlp_layers
from mmlearn.fusion._dropout import dropout_mask

__all__ = [
    "FUSION_OPS",
    "AttentionFusion",
    "ConcatFusion",
    "GatedFusion",
    "JointNetwork",
    "SumFusion",
    "TabularMLP",
    "TensorFusion",
    "drop_modalities",
    "make_fusion",
]


class ConcatFusion(nn.Module):
    """``[z_1; ...; z_M]``, an absent modality replaced by its own learned "missing" vector.

    A learned vector (initialised at zeros) rather than plain zeros: the head can tell "this
    modality is absent" from "this modality's embedding happens to be near zero".
    """

    def __init__(self, n_modalities: int, dim: int):
        super().__init__()
        self.missing = nn.Parameter(torch.zeros(n_modalities, dim))
        self.out_dim = n_modalities * dim

    def forward(self, z: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        filled = torch.where(present.unsqueeze(-1), z, self.missing.to(z.dtype))
        return filled.flatten(1)


class SumFusion(nn.Module):
    """``sum_m present_m * z_m``: the sum over the present modalities."""

    def __init__(self, n_modalities: int, dim: int):
        super().__init__()
        self.out_dim = dim

    def forward(self, z: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        return torch.where(present.unsqueeze(-1), z, 0.0).sum(dim=1)


class AttentionFusion(nn.Module):
    """Self-attention over one token per modality, then the mean over present tokens.

    Each token is its modality's embedding plus a learned modality-type vector; one
    pre-norm Transformer encoder layer lets every modality attend to the others, absent
    ones excluded by the key padding mask. A row with no modality at all attends over its
    placeholder tokens (a fully masked row would give NaN) and pools to zeros.
    """

    def __init__(self, n_modalities: int, dim: int, n_heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.modality = nn.Parameter(torch.randn(n_modalities, dim) * 0.02)
        self.layer = nn.TransformerEncoderLayer(dim, n_heads, dim_feedforward=2 * dim,
                                                dropout=dropout, batch_first=True,
                                                norm_first=True)
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim

    def forward(self, z: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        tokens = z + self.modality.to(z.dtype)
        empty = ~present.any(dim=1, keepdim=True)
        padding = ~present & ~empty
        h = self.norm(self.layer(tokens, src_key_padding_mask=padding))
        keep = present.unsqueeze(-1).to(h.dtype)
        return (h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)


class GatedFusion(nn.Module):
    """``sum_m present_m * sigmoid(W_m [z~; present] + b_m) * tanh(z_m)``.

    A gated multimodal unit (Arevalo et al., 2017) for any number of modalities: each
    modality's gate is computed from every present embedding (``z~``, absent ones zeroed)
    and the presence mask, so one modality can turn another's contribution down or up.
    """

    def __init__(self, n_modalities: int, dim: int):
        super().__init__()
        self.gates = nn.Linear(n_modalities * (dim + 1), n_modalities * dim)
        self.out_dim = dim

    def forward(self, z: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        mask = present.unsqueeze(-1)
        z = torch.where(mask, z, 0.0)
        context = torch.cat([z, mask.to(z.dtype)], dim=2).flatten(1)
        gates = torch.sigmoid(self.gates(context)).view_as(z)
        return (gates * torch.tanh(z) * mask).sum(dim=1)


class TensorFusion(nn.Module):
    """Low-rank tensor fusion (Liu et al., 2018): ``sum_r w_r prod_m ([z_m; 1] W_m^(r)) + b``.

    The outer product of every modality's ``[z_m; 1]`` (which holds all unimodal, bimodal
    ... interaction terms) is never formed: each modality is projected by ``rank`` factors,
    the projections are multiplied elementwise across modalities and summed over the rank.
    An absent modality enters as ``[0; 1]``, so only its constant term (no interaction)
    remains.
    """

    def __init__(self, n_modalities: int, dim: int, rank: int = 4):
        super().__init__()
        # Each projection of a layer-normed z_m starts with about unit variance and the
        # constant row at 1, so the product starts as 1 + sum_m (z_m W_m) + interactions:
        # each modality's gradient is scaled by the others' projections, whose mean is then
        # 1, not 0. (On 150 AV-digit rows, 8 epochs: training loss 1.13 against 1.44 with a
        # random constant row, mean of 4 seeds.) Xavier's fan-in over this 4-D tensor would
        # make the factors, and their product across modalities, vanishingly small.
        factors = torch.randn(n_modalities, rank, dim + 1, dim) / dim ** 0.5
        factors[:, :, dim] = 1.0
        self.factors = nn.Parameter(factors)
        self.rank_weights = nn.Parameter(torch.full((1, rank), rank ** -0.5))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.out_dim = dim

    def forward(self, z: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        z = torch.where(present.unsqueeze(-1), z, 0.0)
        ones = z.new_ones(*z.shape[:2], 1)
        # (batch, modality, dim+1) x (modality, rank, dim+1, out) -> (batch, modality, rank, out)
        projected = torch.einsum("bmd,mrdo->bmro", torch.cat([z, ones], dim=2), self.factors)
        fused = projected.prod(dim=1)
        return torch.einsum("r,bro->bo", self.rank_weights[0], fused) + self.bias


FUSION_OPS = ("attention", "concat", "gated", "sum", "tensor")


def make_fusion(op: str, n_modalities: int, dim: int, *, n_heads: int = 4,
                dropout: float = 0.1, rank: int = 4) -> nn.Module:
    """The fusion module named ``op`` (one of :data:`FUSION_OPS`)."""
    if op == "concat":
        return ConcatFusion(n_modalities, dim)
    if op == "sum":
        return SumFusion(n_modalities, dim)
    if op == "attention":
        return AttentionFusion(n_modalities, dim, n_heads=n_heads, dropout=dropout)
    if op == "gated":
        return GatedFusion(n_modalities, dim)
    if op == "tensor":
        return TensorFusion(n_modalities, dim, rank=rank)
    raise ValueError(f"fusion_op must be one of {FUSION_OPS}, got {op!r}.")


def drop_modalities(present: torch.Tensor, rate: float, *,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Hide each present modality of each row with probability ``rate`` (training only).

    A row never loses all of its present modalities: if every one was drawn, one of them,
    chosen at random, is kept. Rows that had none stay empty. The rule is
    :func:`mmlearn.fusion._dropout.dropout_mask`, the one EarlyFusion and LateFusion apply
    with NumPy draws; here the draws are torch's, on ``present``'s device.

    Parameters
    ----------
    present : bool torch.Tensor of shape (batch, n_modalities)
    rate : float in [0, 1)
    generator : torch.Generator, default=None
        Draws from this generator (on ``present``'s device) instead of torch's global one.

    Returns
    -------
    kept : bool torch.Tensor of shape (batch, n_modalities)
        ``present`` itself when ``rate <= 0`` (nothing is drawn).
    """
    if rate <= 0:
        return present
    hide = torch.rand(present.shape, device=present.device, generator=generator)
    pick = torch.rand(present.shape, device=present.device, generator=generator)
    return dropout_mask(present, rate, hide, pick)


class TabularMLP(nn.Module):
    """The branch of a scikit-learn transformer's (standardised) features: a 2-layer MLP.

    ``embed`` returns ``embedding_dim`` ReLU'd features, as the deep encoders' modules do.
    """

    def __init__(self, n_features: int = 1, embedding_dim: int = 64, dropout: float = 0.1):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, embedding_dim), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(embedding_dim, embedding_dim),
                                  nn.ReLU())

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class JointNetwork(nn.Module):
    """Branches -> per-branch projection to ``fusion_dim`` -> fusion op -> MLP head.

    Parameters
    ----------
    branches : sequence of (module class, dict of params, int)
        Each branch's module class (it must have ``embed(x)``), its keyword arguments, and
        the size of what ``embed`` returns.
    n_classes : int
    fusion_op : str
        One of :data:`FUSION_OPS`.
    fusion_dim : int
        Size every branch's embedding is projected to (linear map + layer norm).
    hidden_sizes : sequence of int
        Hidden layers of the head (ReLU, dropout).
    dropout : float
        Dropout in the head and inside the attention op.
    modality_dropout : float
        In training, rate at which present modalities are hidden per row
        (:func:`drop_modalities`).
    n_heads : int
        Attention heads (``fusion_op="attention"``).
    rank : int
        Rank of the factors (``fusion_op="tensor"``).

    Notes
    -----
    Inputs are keyword arguments, as skorch passes a dict ``X``: ``present``, a bool
    ``(batch, n_branches)`` mask, and ``x0``, ``x1``, ... the branches' input arrays. A
    branch runs only on the rows where its modality is present (after modality dropout), so
    the placeholders of absent rows never reach its layers, batch norm statistics included.
    """

    def __init__(self, branches=(), n_classes=2, fusion_op="concat", fusion_dim=64,
                 hidden_sizes=(64,), dropout=0.1, modality_dropout=0.1, n_heads=4, rank=4):
        super().__init__()
        self.branches = nn.ModuleList(cls(**params) for cls, params, _ in branches)
        self.projections = nn.ModuleList(
            nn.Sequential(nn.Linear(size, fusion_dim), nn.LayerNorm(fusion_dim))
            for _, _, size in branches
        )
        self.fusion = make_fusion(fusion_op, len(branches), fusion_dim, n_heads=n_heads,
                                  dropout=dropout, rank=rank)
        hidden_sizes = tuple(hidden_sizes)
        self.head = nn.Sequential(
            *mlp_layers(self.fusion.out_dim, hidden_sizes, dropout),
            nn.Linear(hidden_sizes[-1] if hidden_sizes else self.fusion.out_dim, n_classes),
        )
        self.fusion_dim = fusion_dim
        self.modality_dropout = modality_dropout

    def embed(self, present: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        """The fused vector of each row, ``(batch, fusion.out_dim)``."""
        present = present.bool()
        if self.training:
            present = drop_modalities(present, self.modality_dropout)
        batch = present.shape[0]
        columns = []
        for m, (branch, projection) in enumerate(zip(self.branches, self.projections,
                                                     strict=True)):
            rows = present[:, m].nonzero(as_tuple=True)[0]
            z = torch.zeros(batch, self.fusion_dim, device=present.device)
            if rows.numel():
                emb = projection(branch.embed(inputs[f"x{m}"][rows]))
                z = z.to(emb.dtype).index_copy(0, rows, emb)
            columns.append(z)
        return self.fusion(torch.stack(columns, dim=1), present)

    def forward(self, present: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(present, **inputs))
