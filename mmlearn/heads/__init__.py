"""Heads: final estimators that classify fused features."""

from mmlearn.heads.mlp import MLPHead

__all__ = ["MLPHead"]
