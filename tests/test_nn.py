"""The neural core's shared pieces: log-mel front end, standardiser, datasets, inputs."""

import librosa
import numpy as np
import pytest
import torch

from mmlearn._nn.data import CellDataset, Source, resolve_workers
from mmlearn._nn.logmel import log_mel_spectrograms
from mmlearn._nn.standardize import RunningMoments, fit_standardizer
from mmlearn.datasets import load_av_digits, load_emoji
from mmlearn.encoders import AudioMFCCEncoder
from mmlearn.inputs import ImageInput, LogMelInput, TokenInput, as_cells


@pytest.fixture(scope="module")
def clips():
    X, _ = load_av_digits(return_X_y=True)
    return [np.asarray(w, dtype=np.float32) for w in X["audio"][:12]]


@pytest.mark.parametrize("reference", ["max", "unit"])
def test_log_mel_front_end_equals_librosa(clips, reference):
    waves = clips + [clips[0][:100]]  # and one clip shorter than the window
    ours = log_mel_spectrograms(waves, sample_rate=8000, n_fft=256, hop_length=64, n_mels=20,
                                reference=reference)
    for wave, spec in zip(waves, ours, strict=True):
        wave = np.pad(wave, (0, max(0, 256 - wave.size)))
        power = librosa.feature.melspectrogram(y=wave, sr=8000, n_fft=256, hop_length=64,
                                               n_mels=20, fmax=4000)
        expected = librosa.power_to_db(power, ref=np.max if reference == "max" else 1.0)
        np.testing.assert_allclose(spec, expected, atol=1e-3)


def test_log_mels_do_not_depend_on_the_other_clips_of_the_call(clips):
    alone = log_mel_spectrograms(clips[3:4], sample_rate=8000, n_fft=256, hop_length=64,
                                 n_mels=20)[0]
    together = log_mel_spectrograms(clips, sample_rate=8000, n_fft=256, hop_length=64,
                                    n_mels=20)[3]
    np.testing.assert_array_equal(alone, together)


def test_mfcc_encoder_equals_librosa_mfcc(clips):
    enc = AudioMFCCEncoder(sample_rate=8000, standardize=False, statistics=("mean",)).fit(clips)
    expected = librosa.feature.mfcc(y=clips[2], sr=8000, n_mfcc=enc.n_mfcc, n_fft=enc.n_fft,
                                    hop_length=enc.n_fft // 4, n_mels=enc.n_mels, fmax=4000)
    # deltas are on by default: the first n_mfcc features are the coefficients' means.
    np.testing.assert_allclose(enc.transform(clips[2:3])[0, :enc.n_mfcc], expected.mean(axis=1),
                               atol=1e-3)


def test_running_moments_equal_the_two_pass_standardiser():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(500, 4))
    X[:, 3] = 7.0  # constant: scale 1
    moments = RunningMoments()
    for chunk in np.array_split(X, 7):
        moments.update(chunk)
    mean, scale = moments.result()
    expected_mean, expected_scale = fit_standardizer(X)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-6)
    np.testing.assert_allclose(scale, expected_scale, rtol=1e-6)
    assert scale[3] == 1.0
    with pytest.raises(ValueError, match="no rows"):
        RunningMoments().result()


def test_fit_standardizer_ignores_nan_when_asked():
    X = np.array([[1.0, np.nan], [3.0, np.nan], [np.nan, np.nan]])
    mean, scale = fit_standardizer(X, ignore_nan=True)
    assert mean.tolist() == [2.0, 0.0] and scale.tolist() == [1.0, 1.0]


def test_texts_are_never_streamed_as_files():
    """Text cells are strings but not paths: no loader worker is started for them."""
    names = load_emoji().data["name"][:40]
    cells = as_cells(names, kind="text")
    token = TokenInput(min_df=1).fit(cells)
    assert not token.streams(cells)
    assert resolve_workers(None, CellDataset(Source(token, cells))) == 0


def test_in_memory_columns_are_converted_once_and_indexed(clips):
    cells = as_cells(clips, kind="audio")
    logmel = LogMelInput(sample_rate=8000, n_mels=16, n_fft=256).fit(cells)
    source = Source(logmel, cells)
    assert source.ready is not None and source.ready.shape[0] == len(clips)
    lazy = Source(logmel, cells, convert_once=False)
    rows = np.array([5, 0, 3])
    torch.testing.assert_close(source.batch(rows), lazy.batch(rows))


def test_absent_rows_get_the_empty_value():
    X, _ = load_av_digits(return_X_y=True)
    cells = as_cells(X["image"][:6], kind="image")
    present = np.array([True, False, True, True, False, True])
    image = ImageInput().fit(cells.subset(np.flatnonzero(present)))
    for convert_once in (True, False):
        batch = Source(image, cells, present, convert_once=convert_once).batch(np.arange(6))
        assert batch.shape == (6, 1, 8, 8)
        assert (batch[~torch.from_numpy(present)] == 0).all()
        assert batch[0].abs().sum() > 0
