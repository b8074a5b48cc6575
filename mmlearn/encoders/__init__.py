"""Per-modality encoders: scikit-learn transformers from one modality column to features.

Text has no encoder of its own here: use scikit-learn's ``TfidfVectorizer`` (see
``docs/encoders.md``).
"""

from mmlearn.encoders.audio import AudioMFCCEncoder
from mmlearn.encoders.image import ImagePixelEncoder
from mmlearn.encoders.image_cnn import ImageCNNEncoder

__all__ = ["AudioMFCCEncoder", "ImageCNNEncoder", "ImagePixelEncoder"]
