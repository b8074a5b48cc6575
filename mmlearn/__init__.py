"""mmlearn: scikit-learn-compatible multimodal learning."""

__version__ = "0.1.0.dev0"
