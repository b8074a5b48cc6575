"""Per-modality encoders: scikit-learn transformers from one modality column to features.

Text has no encoder of its own here: use scikit-learn's ``TfidfVectorizer`` (see
``docs/encoders.md``).
"""

from mmlearn.encoders.audio import AudioMFCCEncoder
from mmlearn.encoders.image import ImagePixelEncoder

__all__ = ["AudioMFCCEncoder", "ImagePixelEncoder"]
