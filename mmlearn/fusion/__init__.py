"""Fusion steps: pipeline transformers that combine modalities."""

from mmlearn.fusion.early import EarlyFusion

__all__ = ["EarlyFusion"]
