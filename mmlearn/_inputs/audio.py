"""Audio cells (waveforms or WAV/FLAC paths) -> standardised log-mel batches with a frame mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmlearn._audio_rate import resolve_sample_rate
from mmlearn._columns import ColumnCells, batch_slices, read_audio
from mmlearn._inputs.base import ModalityInput
from mmlearn._nn.logmel import log_mel_spectrograms
from mmlearn._nn.standardize import RunningMoments

__all__ = ["LogMelInput", "limit_peaks"]

# Clips whose peak amplitude exceeds this are analysed at peak 1: the float32 power spectrum
# of a clip at amplitude A grows like (A * n_fft)**2 and overflows (inf, then NaN in every
# statistic) long before A itself does. Full scale is 1, so ordinary clips are untouched.
_SAFE_PEAK = 1e4

# With max_frames=None the window covers this share of the fitted clips; the longest few
# percent are cropped rather than making every clip pay for the outliers' padding.
_FRAMES_PERCENTILE = 95
# Upper bound of the learned window (about 4 s at 16 kHz with the default hop): memory grows
# with n_samples * n_mels * frames. Pass max_frames explicitly for longer clips.
_MAX_AUTO_FRAMES = 500
# Clips decoded and transformed together while fitting the statistics.
_FIT_CHUNK = 256


def limit_peaks(waves: list) -> tuple[list, np.ndarray]:
    """Clips louder than a safe peak scaled down to peak 1, and the gain removed, in dB.

    Decibels relative to a clip's loudest bin do not depend on the clip's gain; decibels
    relative to power 1 get it back by adding the returned offset to the spectrogram.

    Parameters
    ----------
    waves : list of 1-D float arrays (None for a missing clip)

    Returns
    -------
    waves : list of 1-D float32 arrays
    gain_db : ndarray of shape (len(waves),), float64
        ``20 * log10(peak)`` for a scaled clip, 0 for the others.
    """
    out, gain_db = [], np.zeros(len(waves))
    for i, wave in enumerate(waves):
        if wave is None:  # a missing clip stays missing
            out.append(wave)
            continue
        # In float64: squaring or summing a float32 clip near its range's end overflows.
        peak = float(np.max(np.abs(wave), initial=0.0))
        if peak > _SAFE_PEAK:
            wave = (np.asarray(wave, dtype=np.float64) / peak).astype(np.float32)
            gain_db[i] = 20.0 * np.log10(peak)
        out.append(wave)
    return out, gain_db


@dataclass(eq=False, kw_only=True)
class LogMelInput(ModalityInput):
    """Log-mel spectrograms, standardised per band, padded or cropped to a learned length.

    Each clip becomes a log-mel spectrogram in dB relative to its loudest bin
    (:func:`~mmlearn._nn.logmel.log_mel_spectrograms`), optionally minus its own mean level
    per band (``clip_normalize``), then standardised per band with statistics learned in
    :meth:`fit`. A converted batch is ``(n, 1 + n_mels, max_frames_)`` float32: row 0 is the
    frame mask (1 for a real frame, 0 for padding), rows 1.. the spectrogram. Shorter clips
    are padded at the end; longer ones cropped to their central ``max_frames_`` frames.

    The analysis rate follows :func:`~mmlearn._audio_rate.resolve_sample_rate`: ``sample_rate``
    if given, else the rate the column declares (:func:`mmlearn.set_sample_rate`); the two
    must agree, waveforms need one of them, and files are resampled to it.

    Parameters
    ----------
    sample_rate : int or None
        None reads the column's declared rate.
    n_mels, n_fft : int
    hop_length : int or None
        None is ``n_fft // 4``.
    max_frames : int or None
        None learns it: the 95th percentile of the fitted clips' frame counts, at most 500.
    clip_normalize : bool

    Attributes
    ----------
    sample_rate_ : int
        The rate (Hz) the spectrograms are computed at.
    hop_length_, max_frames_ : int
    mel_mean_, mel_scale_ : ndarray of shape (n_mels,)
        Per-band mean and standard deviation (1 where constant) over the fitted frames.
    """

    kind = "audio"

    sample_rate: int | None = None
    n_mels: int = 40
    n_fft: int = 512
    hop_length: int | None = None
    max_frames: int | None = None
    clip_normalize: bool = True

    def _spectrograms(self, cells: ColumnCells) -> list[np.ndarray]:
        # Every batch is checked too: a column declaring another rate must not be converted.
        rate = resolve_sample_rate(cells, self.sample_rate, fitted=self.sample_rate_)
        waves, _ = read_audio(cells, sample_rate=rate)
        # Relative to each clip's loudest bin, so a loud clip's scaled-down gain drops out.
        waves, _ = limit_peaks(waves)
        specs = log_mel_spectrograms(waves, sample_rate=rate, n_fft=self.n_fft,
                                     hop_length=self.hop_length_, n_mels=self.n_mels)
        if self.clip_normalize:
            specs = [s - s.mean(axis=1, keepdims=True) for s in specs]
        return specs

    def _start_fit(self, cells: ColumnCells) -> None:
        self.sample_rate_ = resolve_sample_rate(cells, self.sample_rate)
        if self.sample_rate_ is None and cells.missing_mask().all():
            raise ValueError(f"column {cells.name!r}: every audio cell is missing.")
        self.hop_length_ = self.hop_length or max(1, self.n_fft // 4)

    def fit(self, cells: ColumnCells, y=None) -> LogMelInput:
        self._start_fit(cells)
        # Statistics accumulate chunk by chunk: a column of files is never held decoded.
        moments, lengths = RunningMoments(), []
        for rows in batch_slices(len(cells), _FIT_CHUNK):
            specs = self._spectrograms(cells.subset(np.arange(rows.start, rows.stop)))
            self._accumulate(specs, moments, lengths)
        self._learn(moments, lengths)
        return self

    def fit_convert(self, cells: ColumnCells, y=None) -> np.ndarray:
        # The cells are in memory (their converted array is wanted whole): one spectrogram
        # pass serves the statistics and the array.
        self._start_fit(cells)
        specs = self._spectrograms(cells)
        moments, lengths = RunningMoments(), []
        self._accumulate(specs, moments, lengths)
        self._learn(moments, lengths)
        return self._pack(specs)

    @staticmethod
    def _accumulate(specs: list[np.ndarray], moments: RunningMoments, lengths: list) -> None:
        if specs:
            moments.update(np.concatenate([spec.T for spec in specs]))
            lengths.extend(spec.shape[1] for spec in specs)

    def _learn(self, moments: RunningMoments, lengths: list) -> None:
        auto = int(np.ceil(np.percentile(lengths, _FRAMES_PERCENTILE)))
        self.max_frames_ = int(self.max_frames or min(auto, _MAX_AUTO_FRAMES))
        self.mel_mean_, self.mel_scale_ = moments.result()

    def convert(self, cells: ColumnCells) -> np.ndarray:
        return self._pack(self._spectrograms(cells))

    def _pack(self, specs: list[np.ndarray]) -> np.ndarray:
        """Standardised, cropped or padded spectrograms under their frame mask."""
        mean = self.mel_mean_[:, np.newaxis]
        scale = self.mel_scale_[:, np.newaxis]
        out = np.zeros((len(specs), *self.tail()), dtype=np.float32)
        for row, spec in enumerate(specs):
            start = max(0, (spec.shape[1] - self.max_frames_) // 2)
            spec = spec[:, start:start + self.max_frames_]
            out[row, 0, :spec.shape[1]] = 1.0
            out[row, 1:, :spec.shape[1]] = (spec - mean) / scale
        return out

    def tail(self) -> tuple[int, ...]:
        return (1 + self.n_mels, self.max_frames_)

    def module_params(self) -> dict:
        return {"n_mels": self.n_mels}
