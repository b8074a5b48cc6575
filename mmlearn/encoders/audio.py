"""Classical audio encoder: MFCC (or log-mel) summary statistics computed with librosa."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy.fft import dct
from sklearn.utils.validation import check_is_fitted

from mmlearn._audio_rate import resolve_sample_rate
from mmlearn._columns import read_audio
from mmlearn._inputs.audio import limit_peaks
from mmlearn._nn.logmel import log_mel_spectrograms
from mmlearn._nn.standardize import apply_standardizer, fit_standardizer
from mmlearn.encoders._base import ModalityEncoder
from mmlearn.utils._sklearn_compat import Interval, StrOptions, fit_context

_STATISTICS = {"mean": np.mean, "std": np.std, "min": np.min, "max": np.max}


class AudioMFCCEncoder(ModalityEncoder):
    """Encode an audio column as summary statistics of its MFCCs (or log-mel bands).

    Each clip becomes a fixed-length vector whatever its duration: the frame-wise
    coefficients (computed by :func:`librosa.feature.mfcc` or
    :func:`librosa.feature.melspectrogram`), optionally with their deltas, summarised over
    time by each statistic in ``statistics``. Clips shorter than one analysis window are
    zero-padded to ``n_fft`` samples.

    Parameters
    ----------
    sample_rate : int or None, default=None
        Sample rate (Hz) the clips are analysed at. None uses the rate the column declares
        (:func:`mmlearn.set_sample_rate`; mmlearn's audio dataset loaders declare theirs).
        Waveform cells must be at this rate: an explicit rate that disagrees with the
        declared one, or waveforms with neither, raise a ``ValueError`` (a wrong rate
        silently puts every feature on the wrong frequency scale). WAV/FLAC paths are
        resampled to it from their header's rate; a column of files only, with no rate
        given, is analysed at its first file's rate.
    features : {"mfcc", "logmel"}, default="mfcc"
    n_mfcc : int, default=20
        Number of cepstral coefficients (``features="mfcc"``); at most ``n_mels``.
    n_mels : int, default=40
        Number of mel bands.
    n_fft : int, default=512
        Analysis window length in samples; the hop is a quarter of it.
    deltas : bool, default=True
        Also summarise the first-order time derivative of the coefficients.
    statistics : tuple of {"mean", "std", "min", "max"}, default=("mean", "std")
    standardize : bool, default=True
        Centre and scale each output feature with the mean and standard deviation of the
        fitted clips. Raw MFCC statistics span very different ranges (the energy
        coefficient is in the hundreds, the others near ten), which swamps distance-based
        heads (SVC, KNN) and the other modalities in early fusion.

    Attributes
    ----------
    sample_rate_ : int
        The rate (Hz) the features are computed at; ``transform`` uses it (and checks that
        the column's declared rate agrees).
    mean_ : ndarray of shape (n_features_out_,) or None
        Feature means of the fitted clips (``standardize=True``).
    scale_ : ndarray of shape (n_features_out_,) or None
        Feature standard deviations of the fitted clips (1 where constant).
    n_features_in_ : int
        1 (one column), or the number of samples of a stacked 2-D waveform array.
    feature_names_in_ : ndarray of str
        The column's name, when fitted on a DataFrame.

    See Also
    --------
    mmlearn.fusion.EarlyFusion : Concatenates this encoder's output with other modalities'.

    Notes
    -----
    ``transform`` returns float32 of shape ``(n_samples, n_coefficients * (1 + deltas) *
    len(statistics))``; rows whose cell is missing are all NaN (EarlyFusion imputes them).
    Zero-length clips and clips with NaN samples raise a ``ValueError`` naming the row.
    A clip whose peak is far above full scale (1) is analysed at peak 1 with its gain added
    back in decibels, so an extreme but finite clip gives finite features.

    Examples
    --------
    >>> import numpy as np
    >>> from mmlearn.encoders import AudioMFCCEncoder
    >>> t = np.arange(8000) / 8000
    >>> clips = [np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 880 * t[:4000])]
    >>> enc = AudioMFCCEncoder(sample_rate=8000).fit(clips)
    >>> enc.transform(clips).shape
    (2, 80)
    >>> enc.get_feature_names_out()[:2].tolist()
    ['mfcc0_mean', 'mfcc1_mean']

    A DataFrame that declares its rate needs no ``sample_rate``:

    >>> import pandas as pd, mmlearn
    >>> X = mmlearn.set_sample_rate(pd.DataFrame({"speech": clips}), {"speech": 8000})
    >>> AudioMFCCEncoder().fit(X).sample_rate_
    8000
    """

    modality = "audio"
    _parameter_constraints: dict = {
        "sample_rate": [None, Interval(Integral, 1, None, closed="left")],
        "features": [StrOptions({"mfcc", "logmel"})],
        "n_mfcc": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 16, None, closed="left")],
        "deltas": ["boolean"],
        "statistics": [tuple, list],
        "standardize": ["boolean"],
    }

    def __init__(
        self,
        *,
        sample_rate=None,
        features="mfcc",
        n_mfcc=20,
        n_mels=40,
        n_fft=512,
        deltas=True,
        statistics=("mean", "std"),
        standardize=True,
    ):
        self.sample_rate = sample_rate
        self.features = features
        self.n_mfcc = n_mfcc
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.deltas = deltas
        self.statistics = statistics
        self.standardize = standardize

    def _n_coefficients(self) -> int:
        return self.n_mfcc if self.features == "mfcc" else self.n_mels

    def _frames(self, logmel: np.ndarray) -> np.ndarray:
        """A clip's per-frame coefficients (and deltas) from its log-mel spectrogram."""
        import librosa

        if self.features == "mfcc":
            # librosa.feature.mfcc: a type-II orthonormal DCT over the mel bands.
            coeffs = dct(logmel, axis=0, type=2, norm="ortho")[:self.n_mfcc]
        else:
            coeffs = logmel
        if self.deltas:
            # librosa's default 9-frame window needs that many frames; short clips use fewer.
            width = min(9, coeffs.shape[1] if coeffs.shape[1] % 2 else coeffs.shape[1] - 1)
            delta = (librosa.feature.delta(coeffs, width=width, mode="nearest")
                     if width >= 3 else np.zeros_like(coeffs))
            coeffs = np.vstack([coeffs, delta])
        return coeffs

    def fit(self, X, y=None):
        """Check the clips and learn the feature scaling.

        Parameters
        ----------
        X : Series, one-column DataFrame, list of waveforms/paths, or ndarray (n, T)
        y : ignored

        Returns
        -------
        self : AudioMFCCEncoder
        """
        self.fit_transform(X, y)
        return self

    @fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit, and return the features of the fitted clips (computed once).

        Parameters
        ----------
        X : Series, one-column DataFrame, list of waveforms/paths, or ndarray (n, T)
        y : ignored

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out_), float32
        """
        if self.features == "mfcc" and self.n_mfcc > self.n_mels:
            raise ValueError(
                f"n_mfcc={self.n_mfcc} is greater than n_mels={self.n_mels}: the cepstral "
                "coefficients are a transform of the mel bands, so there are at most n_mels "
                "of them; lower n_mfcc or raise n_mels."
            )
        unknown = set(self.statistics) - set(_STATISTICS)
        if unknown or not self.statistics:
            raise ValueError(
                f"statistics must be a non-empty subset of {sorted(_STATISTICS)}, "
                f"got {self.statistics!r}."
            )
        cells = self._read_column(X, y, reset=True)
        self.n_features_out_ = (
            self._n_coefficients() * (2 if self.deltas else 1) * len(self.statistics)
        )
        rate = resolve_sample_rate(cells, self.sample_rate)
        raw, missing = self._summarise_column(cells, rate)
        if missing.all():
            raise ValueError(f"column {cells.name!r}: every audio cell is missing.")
        self.sample_rate_ = rate
        self.mean_ = self.scale_ = None
        if self.standardize:
            self.mean_, self.scale_ = fit_standardizer(raw[~missing])
        return self._scale(raw)

    def transform(self, X):
        """Summarise each clip's MFCCs.

        Parameters
        ----------
        X : Series, one-column DataFrame, list of waveforms/paths, or ndarray (n, T)

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out_), float32
        """
        check_is_fitted(self)
        cells = self._read_column(X, reset=False)
        rate = resolve_sample_rate(cells, self.sample_rate, fitted=self.sample_rate_)
        raw, _ = self._summarise_column(cells, rate)
        return self._scale(raw)

    def _summarise_column(self, cells, rate: int) -> tuple[np.ndarray, np.ndarray]:
        waves, missing = read_audio(cells, sample_rate=rate)
        present = np.flatnonzero(~missing)
        out = np.full((len(cells), self.n_features_out_), np.nan, dtype=np.float32)
        if not len(present):
            return out, missing
        # A very loud clip is analysed at peak 1 (its float32 power would overflow to inf)
        # and its gain added back in dB, which is what relative to power 1 means.
        scaled, gain_db = limit_peaks([waves[i] for i in present])
        # The shared front end, in dB relative to power 1 as librosa.feature.mfcc computes it.
        logmels = log_mel_spectrograms(scaled, sample_rate=rate,
                                       n_fft=self.n_fft, hop_length=self.n_fft // 4,
                                       n_mels=self.n_mels, reference="unit")
        for row, logmel, gain in zip(present, logmels, gain_db, strict=True):
            if gain:
                logmel = (logmel + gain).astype(np.float32)
            frames = self._frames(logmel)
            out[row] = np.concatenate([_STATISTICS[s](frames, axis=1) for s in self.statistics])
        return out, missing

    def _scale(self, raw: np.ndarray) -> np.ndarray:
        if self.mean_ is None:
            return raw
        return apply_standardizer(raw, self.mean_, self.scale_)

    def get_feature_names_out(self, input_features=None):
        """Names like ``mfcc3_mean`` or ``mfcc3_delta_std``.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        base = "mfcc" if self.features == "mfcc" else "logmel"
        rows = [f"{base}{i}" for i in range(self._n_coefficients())]
        if self.deltas:
            rows += [f"{base}{i}_delta" for i in range(self._n_coefficients())]
        return np.asarray([f"{r}_{s}" for s in self.statistics for r in rows], dtype=object)
