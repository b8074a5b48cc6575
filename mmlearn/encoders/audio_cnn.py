"""Deep audio encoder: a CNN over log-mel spectrograms (librosa), trained with skorch."""

from __future__ import annotations

from numbers import Integral, Real

import torch
from torch import nn
from torch.nn import functional as F

from mmlearn._inputs.audio import LogMelInput
from mmlearn.encoders._deep import COMMON_CONSTRAINTS, DeepEncoder
from mmlearn.utils._sklearn_compat import Interval

__all__ = ["AudioCNN", "AudioCNNEncoder"]



def _pool(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """2x2 max-pooling of ``x`` (B, C, F, T) and its frame mask (B, T), skipping 1-long axes."""
    kf = 2 if x.shape[2] >= 2 else 1
    kt = 2 if x.shape[3] >= 2 else 1
    if kf == kt == 1:
        return x, mask
    x = F.max_pool2d(x, (kf, kt))
    if kt == 2:
        # A pooled frame is real if either of its two frames was: padding alone is dropped.
        mask = F.max_pool1d(mask.unsqueeze(1), 2).squeeze(1)
    return x, mask


def _time_shift(spec: torch.Tensor, mask: torch.Tensor, max_shift: int):
    """Shift each clip by up to ``max_shift`` frames, filling with padding (edges are cropped)."""
    batch, _, frames = spec.shape
    shift = torch.randint(-max_shift, max_shift + 1, (batch,), device=spec.device)
    # Never shift more than half of a clip out on the left: a clip must keep its content.
    lengths = mask.sum(dim=1).long()
    shift = torch.maximum(shift, -(lengths // 2))
    source = torch.arange(frames, device=spec.device).unsqueeze(0) - shift.unsqueeze(1)
    inside = (source >= 0) & (source < frames)
    source = source.clamp(0, frames - 1)
    spec = torch.gather(spec, 2, source.unsqueeze(1).expand_as(spec)) * inside.unsqueeze(1)
    mask = torch.gather(mask, 1, source) * inside
    return spec, mask


def _band_masks(size: int, max_width: int, batch: int, n_masks: int, device,
                limit: torch.Tensor | None = None) -> torch.Tensor:
    """``(batch, size)`` bool: ``n_masks`` random bands of width 0..max_width per row."""
    hide = torch.zeros(batch, size, dtype=torch.bool, device=device)
    positions = torch.arange(size, device=device).unsqueeze(0)
    room = torch.full((batch,), size, device=device) if limit is None else limit
    for _ in range(n_masks):
        width = torch.randint(0, max_width + 1, (batch,), device=device)
        width = torch.minimum(width, room.long())
        start = (torch.rand(batch, device=device) * (room - width + 1)).floor().long()
        hide |= (positions >= start.unsqueeze(1)) & (positions < (start + width).unsqueeze(1))
    return hide


def _spec_augment(spec: torch.Tensor, mask: torch.Tensor, n_masks: int = 2):
    """SpecAugment-style masking: bands of mel channels and of real frames set to the mean.

    After per-frequency standardisation 0 is the fitted mean, so a masked band carries no
    information without looking like silence.
    """
    batch, n_mels, _ = spec.shape
    lengths = mask.sum(dim=1)
    freq = _band_masks(n_mels, max(1, n_mels // 8), batch, n_masks, spec.device)
    time = _band_masks(spec.shape[2], max(1, int(lengths.max()) // 10), batch, n_masks,
                       spec.device, limit=lengths)
    return spec.masked_fill(freq.unsqueeze(2) | time.unsqueeze(1), 0.0)


class AudioCNN(nn.Module):
    """Conv blocks over a log-mel spectrogram -> masked pooling over time -> embedding.

    The input is ``(batch, 1 + n_mels, frames)``: row 0 is the frame mask (1 for a real
    frame, 0 for padding), rows 1.. the standardised log-mel spectrogram. Each block is
    conv 3x3, batch norm, ReLU, then padded frames are zeroed and the map max-pooled 2x2, so
    padding never feeds a later block; the last map is averaged over frequency and
    summarised over the real frames only (mean and max). ``forward`` returns class logits;
    ``embed`` the ReLU'd ``embedding_dim`` features. ``augment`` applies, in training only, a
    random time shift and SpecAugment-style frequency and time masks, drawn from torch's
    random stream (which :class:`AudioCNNEncoder` seeds inside ``fit`` only).
    """

    def __init__(self, n_mels=40, n_classes=2, embedding_dim=64, width=16, depth=3,
                 dropout=0.3, augment=False):
        super().__init__()
        self.blocks = nn.ModuleList()
        channels = 1
        for level in range(depth):
            out = width * 2**level
            self.blocks.append(nn.Sequential(
                nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out),
                nn.ReLU(inplace=True)))
            channels = out
        self.embedding = nn.Sequential(nn.Linear(2 * channels, embedding_dim),
                                       nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embedding_dim, n_classes)
        self.augment = augment

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        mask, spec = x[:, 0], x[:, 1:]
        # Padding enters the first convolution as zeros whatever the caller put under it.
        spec = spec * mask.unsqueeze(1)
        if self.training and self.augment:
            spec, mask = _time_shift(spec, mask, max(1, spec.shape[2] // 10))
            spec = _spec_augment(spec, mask)
        h = spec.unsqueeze(1)
        for block in self.blocks:
            h = block(h)
            if h.requires_grad:
                h = h * mask[:, None, None, :]
            else:
                # Inference: the block's output is its own, fresh map; masking it in place
                # saves allocating a second map of the same size, which costs most on the
                # channels-last maps of a quantised copy.
                h = h.mul_(mask[:, None, None, :])
            h, mask = _pool(h, mask)
        h = h.mean(dim=2)  # (batch, channels, frames)
        real = mask.unsqueeze(1)
        mean = (h * real).sum(dim=2) / real.sum(dim=2).clamp(min=1.0)
        # h >= 0 after ReLU and padding is zeroed, so the plain max is the max over real frames.
        return torch.cat([mean, h.amax(dim=2)], dim=1)

    def embed(self, x):
        return self.embedding(self._features(x))

    def forward(self, x):
        return self.classifier(self.dropout(self.embed(x)))


class AudioCNNEncoder(DeepEncoder):
    """Learn audio features with a CNN on log-mel spectrograms; ``transform`` gives its embedding.

    Each clip becomes a log-mel spectrogram (:func:`librosa.stft`, :func:`librosa.filters.mel`,
    :func:`librosa.power_to_db` relative to the clip's loudest bin, so recording gain does
    not matter), optionally minus its own mean level per band (``clip_normalize``), then
    standardised per mel band with statistics learned in ``fit``.
    Clips are brought to a fixed number of frames ``max_frames_`` learned in fit: shorter
    ones are padded at the end and the padding is masked (it never enters the pooled
    features), longer ones are cropped to their central ``max_frames_`` frames.
    ``fit(X, y)`` trains conv blocks and a classification head (early stopping on a seeded,
    stratified validation split); ``transform`` returns the penultimate ``embedding_dim``
    features for an SVC, a KNN or fusion with other modalities; ``predict``/``predict_proba``
    use the network's own head. Cells follow the data contract (1-D waveforms at
    ``sample_rate`` or at the column's declared rate, or WAV/FLAC paths; missing cells give
    NaN rows in ``transform``).

    Parameters
    ----------
    sample_rate : int or None, default=None
        Sample rate (Hz) the clips are analysed at. None uses the rate the column declares
        (:func:`mmlearn.set_sample_rate`; mmlearn's audio dataset loaders declare theirs),
        also inside JointFusion. An explicit rate that disagrees with the declared one, or
        waveforms with neither, raise a ``ValueError``. WAV/FLAC paths are resampled to it
        from their header's rate; a column of files only, with no rate given, is analysed
        at its first file's rate.
    n_mels : int, default=40
        Number of mel bands.
    n_fft : int, default=512
        Analysis window length in samples. Clips shorter than it are zero-padded to it.
    hop_length : int or None, default=None
        Samples between frames; None is ``n_fft // 4``.
    max_frames : int or None, default=None
        Frames every clip is padded or cropped to. None learns it in fit: the 95th
        percentile of the fitted clips' frame counts, at most 500.
    clip_normalize : bool, default=True
        Subtract each clip's mean level (dB) per mel band over its frames (cepstral mean
        normalisation). This removes the colouring of the microphone and room and much of
        a speaker's spectral tilt, which matters most for unseen speakers; set it to False
        when a clip's stationary spectrum is itself the signal (hums, ambient scenes).
    width : int, default=16
        Channels of the first conv block (doubled at each further block).
    depth : int, default=3
        Number of conv blocks (each halves frequency and time).
    dropout : float, default=0.3
        Dropout before the classification head.
    augment : bool, default=True
        Augmentation during fit only: a random time shift of up to a tenth of the window,
        and per clip two frequency masks (up to ``n_mels // 8`` bands each) and two time
        masks (up to a tenth of the frames each), SpecAugment-style. It helps most on
        unseen speakers and recording conditions.
    embedding_dim : int, default=64
    n_workers : int or None, default=None
        DataLoader worker processes that decode file cells while the network trains and
        embeds. None chooses 0 for cells held in memory (they are converted once per fit)
        and one per spare core (at most 4) for file paths.
    max_epochs : int, default=40
    lr : float, default=2e-3
        AdamW learning rate.
    batch_size : int, default=64
    validation_fraction : float or None, default=0.1
        Share of the training rows held out (stratified, seeded) for early stopping; None
        trains for ``max_epochs`` on all rows.
    patience : int, default=6
        Epochs without validation improvement before stopping (best weights are kept).
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the training loss. ``"balanced"`` weighs each
        class by ``n_rows / (n_classes * count)`` over the training rows, so that a rare
        class counts as much as a common one; a dict maps labels to weights (a class it
        does not name keeps 1; a label that is not in ``y`` raises a ValueError). It
        multiplies ``fit``'s ``sample_weight``.
    device : str, default="cpu"
        A torch device such as "cuda". A CUDA-fitted encoder unpickles on a CPU machine.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, shuffling, augmentation and the validation split,
        without touching torch's global random state.
    verbose : int, default=0
        1 prints skorch's per-epoch table.

    Attributes
    ----------
    sample_rate_ : int
        The rate (Hz) the spectrograms are computed at.
    net_ : skorch.NeuralNetClassifier
    classes_ : ndarray
        Labels seen in fit, in the user's label space.
    max_frames_ : int
        Frames every clip is padded or cropped to.
    hop_length_ : int
    mel_mean_ : ndarray of shape (n_mels,)
        Mean log-mel level (dB) of each band over the frames of the fitted clips.
    mel_scale_ : ndarray of shape (n_mels,)
        Standard deviation of each band (1 where constant).
    n_features_in_ : int
        1 (one column), or the number of samples of a stacked 2-D waveform array.
    feature_names_in_ : ndarray of str
        The column's name, when fitted on a DataFrame.

    See Also
    --------
    AudioMFCCEncoder : the classical audio baseline (MFCC summary statistics).

    Notes
    -----
    Zero-length clips and clips with NaN or infinite samples raise a ``ValueError`` naming
    the column and row. ``transform`` returns float32 of shape ``(n_samples,
    embedding_dim)``. On CPU, a fixed ``random_state`` gives identical fits.

    Examples
    --------
    >>> from mmlearn.datasets import load_spoken_digits
    >>> from mmlearn.encoders import AudioCNNEncoder
    >>> speech = load_spoken_digits()
    >>> X, y = speech.data["audio"][::15], speech.target[::15]
    >>> enc = AudioCNNEncoder(width=8, depth=2, max_epochs=2, random_state=0).fit(X, y)
    >>> enc.sample_rate_  # declared by the loader
    8000
    >>> enc.transform(X[:5]).shape
    (5, 64)
    >>> enc.predict(X[:5]).shape
    (5,)
    """

    modality = "audio"
    module_class = AudioCNN
    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        "sample_rate": [None, Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 16, None, closed="left")],
        "hop_length": [None, Interval(Integral, 1, None, closed="left")],
        "max_frames": [None, Interval(Integral, 1, None, closed="left")],
        "clip_normalize": ["boolean"],
        "width": [Interval(Integral, 1, None, closed="left")],
        "depth": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "augment": ["boolean"],
    }

    def __init__(self, *, sample_rate=None, n_mels=40, n_fft=512, hop_length=None, max_frames=None,
                 clip_normalize=True, width=16, depth=3, dropout=0.3, augment=True,
                 embedding_dim=64, n_workers=None, max_epochs=40, lr=2e-3, batch_size=64,
                 validation_fraction=0.1, patience=6, class_weight=None, device="cpu",
                 random_state=None, verbose=0):
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.max_frames = max_frames
        self.clip_normalize = clip_normalize
        self.width = width
        self.depth = depth
        self.dropout = dropout
        self.augment = augment
        self.embedding_dim = embedding_dim
        self.n_workers = n_workers
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def build_input(self) -> LogMelInput:
        return LogMelInput(sample_rate=self.sample_rate, n_mels=self.n_mels, n_fft=self.n_fft,
                           hop_length=self.hop_length, max_frames=self.max_frames,
                           clip_normalize=self.clip_normalize)

    def architecture_params(self) -> dict:
        return dict(embedding_dim=self.embedding_dim, width=self.width, depth=self.depth,
                    dropout=self.dropout, augment=self.augment)
