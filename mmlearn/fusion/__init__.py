"""Fusion steps: pipeline transformers that combine modalities."""

from mmlearn.fusion.early import EarlyFusion
from mmlearn.fusion.joint import JointFusion, is_deep_encoder
from mmlearn.fusion.late import LateFusion

__all__ = ["EarlyFusion", "JointFusion", "LateFusion", "is_deep_encoder"]
