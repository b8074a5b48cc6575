"""The one log-mel front end: many clips' mel spectrograms in dB, computed together.

``AudioMFCCEncoder`` (classical; decibels relative to power 1, then a DCT for MFCCs) and
``AudioCNNEncoder``'s input (decibels relative to each clip's loudest bin) both call
:func:`log_mel_spectrograms`. It reproduces ``librosa.feature.melspectrogram`` followed by
``librosa.power_to_db`` (periodic Hann window, centred frames with zero padding, Slaney mel
filters, ``amin=1e-10``, ``top_db=80``) for a whole list of clips at once: one librosa call
per clip spends most of its time in per-call overhead. NumPy only: no torch import.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import scipy.fft

__all__ = ["log_mel_spectrograms", "mel_filter_bank"]

_AMIN = 1e-10  # librosa.power_to_db's floor
_TOP_DB = 80.0  # dynamic range kept below each clip's loudest bin (librosa's default)
# Frames of this many clips are transformed together; chunks bound the temporary memory.
_CLIPS_PER_CHUNK = 256


@lru_cache(maxsize=16)
def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney mel filters ``(n_mels, n_fft // 2 + 1)``, float32, up to the Nyquist frequency."""
    import librosa

    bank = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels,
                               fmax=sample_rate / 2).astype(np.float32)
    bank.setflags(write=False)
    return bank


def _frames(wave: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """The centred, zero-padded analysis frames of one clip, as a strided view."""
    wave = np.asarray(wave, dtype=np.float32)
    padded = np.zeros(max(wave.size, n_fft) + 2 * (n_fft // 2), dtype=np.float32)
    padded[n_fft // 2:n_fft // 2 + wave.size] = wave
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]


@lru_cache(maxsize=16)
def _hann(n_fft: int) -> np.ndarray:
    from scipy.signal import get_window

    return get_window("hann", n_fft, fftbins=True).astype(np.float32)


def log_mel_spectrograms(
    waves: Sequence[np.ndarray],
    *,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    reference: str = "max",
) -> list[np.ndarray]:
    """Each clip's log-mel spectrogram ``(n_mels, frames)`` in dB, float32.

    Parameters
    ----------
    waves : sequence of 1-D float arrays
        Clips at ``sample_rate``; a clip shorter than ``n_fft`` is zero-padded to it.
    sample_rate, n_fft, hop_length, n_mels : int
        As in ``librosa.feature.melspectrogram``.
    reference : {"max", "unit"}, default="max"
        Decibels relative to the clip's loudest bin (recording gain does not matter), or
        to power 1 (``librosa.power_to_db``'s default). Either way values more than 80 dB
        below the clip's loudest bin are raised to that floor.

    Returns
    -------
    list of ndarray of shape (n_mels, frames)

    Examples
    --------
    >>> import numpy as np
    >>> tone = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
    >>> [s.shape for s in log_mel_spectrograms([tone, tone[:100]], sample_rate=8000,
    ...                                         n_fft=256, hop_length=64, n_mels=20)]
    [(20, 126), (20, 5)]
    """
    if reference not in ("max", "unit"):
        raise ValueError(f"reference must be 'max' or 'unit', got {reference!r}.")
    bank = mel_filter_bank(sample_rate, n_fft, n_mels)
    window = _hann(n_fft)
    specs: list[np.ndarray] = []
    for first in range(0, len(waves), _CLIPS_PER_CHUNK):
        frames = [_frames(wave, n_fft, hop_length)
                  for wave in waves[first:first + _CLIPS_PER_CHUNK]]
        if not frames:
            continue
        counts = np.asarray([len(f) for f in frames])
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        stacked = np.concatenate(frames)
        stacked *= window
        # scipy's FFT keeps float32 (NumPy's computes in float64): several times faster,
        # and the power spectrum is float32 from here on anyway.
        spectrum = scipy.fft.rfft(stacked, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        mel = np.empty((len(power), n_mels), dtype=np.float32)
        for start, count in zip(starts, counts, strict=True):
            # One product per clip: a BLAS product over the whole chunk would round a clip's
            # values differently depending on which other clips share the call.
            np.matmul(power[start:start + count], bank.T, out=mel[start:start + count])
        db = 10.0 * np.log10(np.maximum(_AMIN, mel))
        # Each clip's loudest bin, in dB (log is monotonic: the dB of the maximum).
        peak = np.repeat(np.maximum.reduceat(db.max(axis=1), starts), counts)[:, np.newaxis]
        if reference == "max":
            db -= peak
            np.maximum(db, -_TOP_DB, out=db)
        else:
            np.maximum(db, peak - _TOP_DB, out=db)
        specs.extend(clip.T for clip in np.split(db, starts[1:]))
    return specs
