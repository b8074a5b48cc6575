"""Fusion steps: pipeline transformers that combine modalities."""

from mmlearn.utils._lazy import lazy_attributes

# Each name is imported from its module on first use, so that importing this package does
# not load torch, skorch or librosa for a user who needs only the classical parts.
_MODULES = {
    "EarlyFusion": "mmlearn.fusion.early",
    "JointFusion": "mmlearn.fusion.joint",
    "LateFusion": "mmlearn.fusion.late",
    "is_deep_encoder": "mmlearn.fusion.joint",
}

__all__, __getattr__, __dir__ = lazy_attributes(globals(), _MODULES)
