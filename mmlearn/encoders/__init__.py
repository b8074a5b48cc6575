"""Per-modality encoders: scikit-learn transformers from one modality column to features.

Classical: ``ImagePixelEncoder``, ``AudioMFCCEncoder`` (text: scikit-learn's
``TfidfVectorizer``). Deep (PyTorch through skorch, trained in ``fit``): ``ImageCNNEncoder``,
``TextRNNEncoder``, ``TextAttentionEncoder``.
"""

from mmlearn.encoders.audio import AudioMFCCEncoder
from mmlearn.encoders.image import ImagePixelEncoder
from mmlearn.encoders.image_cnn import ImageCNNEncoder
from mmlearn.encoders.text_attention import TextAttentionEncoder
from mmlearn.encoders.text_rnn import TextRNNEncoder

__all__ = [
    "AudioMFCCEncoder",
    "ImageCNNEncoder",
    "ImagePixelEncoder",
    "TextAttentionEncoder",
    "TextRNNEncoder",
]
