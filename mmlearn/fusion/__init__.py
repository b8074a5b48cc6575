"""Fusion steps: pipeline transformers that combine modalities."""

import importlib

# Each name is imported from its module on first use, so that importing this package does
# not load torch, skorch or librosa for a user who needs only the classical parts.
_MODULES = {
    "EarlyFusion": "mmlearn.fusion.early",
    "JointFusion": "mmlearn.fusion.joint",
    "LateFusion": "mmlearn.fusion.late",
    "is_deep_encoder": "mmlearn.fusion.joint",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        value = getattr(importlib.import_module(_MODULES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))
