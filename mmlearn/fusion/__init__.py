"""Fusion steps: pipeline transformers that combine modalities."""

from mmlearn.fusion.early import EarlyFusion
from mmlearn.fusion.joint import JointFusion

__all__ = ["EarlyFusion", "JointFusion"]
