"""Per-modality encoders: scikit-learn transformers from one modality column to features.

Classical: ``ImagePixelEncoder``, ``AudioMFCCEncoder`` (text: scikit-learn's
``TfidfVectorizer``). Deep (PyTorch through skorch, trained in ``fit``): ``ImageCNNEncoder``,
``AudioCNNEncoder``, ``TextRNNEncoder``, ``TextAttentionEncoder``, the unsupervised
``Autoencoder``, and ``PretrainedTextEncoder`` (sentence-transformers, the ``pretrained``
extra).

``DeepEncoder`` is the base of the deep encoders, public for encoders written outside
mmlearn (``docs/architecture.md``).
"""

from mmlearn.encoders._deep import DeepEncoder
from mmlearn.encoders.audio import AudioMFCCEncoder
from mmlearn.encoders.audio_cnn import AudioCNNEncoder
from mmlearn.encoders.autoencoder import Autoencoder
from mmlearn.encoders.image import ImagePixelEncoder
from mmlearn.encoders.image_cnn import ImageCNNEncoder
from mmlearn.encoders.pretrained_text import PretrainedTextEncoder
from mmlearn.encoders.text_attention import TextAttentionEncoder
from mmlearn.encoders.text_rnn import TextRNNEncoder

__all__ = [
    "AudioCNNEncoder",
    "AudioMFCCEncoder",
    "Autoencoder",
    "DeepEncoder",
    "ImageCNNEncoder",
    "ImagePixelEncoder",
    "PretrainedTextEncoder",
    "TextAttentionEncoder",
    "TextRNNEncoder",
]
