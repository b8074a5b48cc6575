"""mmlearn: scikit-learn-compatible multimodal learning."""

from mmlearn.utils._lazy import lazy_attributes

__version__ = "0.1.0.dev0"

# Public helpers, imported on first use: importing mmlearn stays light (no torch).
__all__, __getattr__, __dir__ = lazy_attributes(globals(), {
    "set_sample_rate": "mmlearn._audio_rate",
})
