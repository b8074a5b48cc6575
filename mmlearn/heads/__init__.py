"""Heads: final estimators that classify fused features."""

from mmlearn.utils._lazy import lazy_attributes

# Each name is imported from its module on first use, so that importing this package does
# not load torch, skorch or librosa for a user who needs only the classical parts.
_MODULES = {
    "MLPHead": "mmlearn.heads.mlp",
    "VotingHead": "mmlearn.heads.voting",
}

__all__, __getattr__, __dir__ = lazy_attributes(globals(), _MODULES)
