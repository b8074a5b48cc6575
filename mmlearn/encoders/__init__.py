"""Per-modality encoders: scikit-learn transformers from one modality column to features.

Classical: ``ImagePixelEncoder``, ``AudioMFCCEncoder`` (text: scikit-learn's
``TfidfVectorizer``). Deep (PyTorch through skorch, trained in ``fit``): ``ImageCNNEncoder``,
``AudioCNNEncoder``, ``TextRNNEncoder``, ``TextAttentionEncoder``, the unsupervised
``Autoencoder``, ``PretrainedTextEncoder`` (sentence-transformers) and
``PretrainedImageEncoder`` (ImageNet backbones, frozen or fine-tuned), both from the
``pretrained`` extra.

``DeepEncoder`` is the base of the deep encoders, public for encoders written outside
mmlearn (``docs/architecture.md``).
"""

from mmlearn.utils._lazy import lazy_attributes

# Each name is imported from its module on first use, so that importing this package does
# not load torch, skorch or librosa for a user who needs only the classical parts.
_MODULES = {
    "AudioCNNEncoder": "mmlearn.encoders.audio_cnn",
    "AudioMFCCEncoder": "mmlearn.encoders.audio",
    "Autoencoder": "mmlearn.encoders.autoencoder",
    "DeepEncoder": "mmlearn.encoders._deep",
    "ImageCNNEncoder": "mmlearn.encoders.image_cnn",
    "ImagePixelEncoder": "mmlearn.encoders.image",
    "PretrainedAudioEncoder": "mmlearn.encoders.pretrained_audio",
    "PretrainedImageEncoder": "mmlearn.encoders.pretrained_image",
    "PretrainedTextEncoder": "mmlearn.encoders.pretrained_text",
    "TextAttentionEncoder": "mmlearn.encoders.text_attention",
    "TextRNNEncoder": "mmlearn.encoders.text_rnn",
}

__all__, __getattr__, __dir__ = lazy_attributes(globals(), _MODULES)
