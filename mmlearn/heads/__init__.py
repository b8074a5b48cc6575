"""Heads: final estimators that classify fused features."""

from mmlearn.heads.mlp import MLPHead
from mmlearn.heads.voting import VotingHead

__all__ = ["MLPHead", "VotingHead"]
