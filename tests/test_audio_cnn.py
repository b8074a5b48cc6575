"""AudioCNNEncoder on real spoken digits: shapes, accuracy, determinism, padding, bad input."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.svm import SVC

from mmlearn._columns import as_cells
from mmlearn._nn.logmel import log_mel_spectrograms
from mmlearn.datasets import load_spoken_digits
from mmlearn.encoders.audio_cnn import AudioCNN, AudioCNNEncoder
from mmlearn.fusion import EarlyFusion
from mmlearn.utils._sklearn_compat import InvalidParameterError

RATE = 8000  # the shipped FSDD clips


def tiny(**params):
    """A small, fast configuration for mechanics (a few seconds per fit on 2 cores)."""
    defaults = dict(sample_rate=RATE, n_mels=20, n_fft=256, hop_length=128, width=4, depth=2,
                    embedding_dim=16, max_epochs=3, validation_fraction=None, random_state=0)
    return AudioCNNEncoder(**{**defaults, **params})


@pytest.fixture(scope="module")
def speech():
    return load_spoken_digits()


@pytest.fixture(scope="module")
def clips(speech):
    """60 clips, 6 per digit, from several speakers (rows are sorted by digit)."""
    rows = np.concatenate([np.flatnonzero(speech.target == d)[::50] for d in range(10)])
    return speech.data["audio"].iloc[rows].reset_index(drop=True), speech.target[rows]


@pytest.fixture(scope="module")
def fitted(clips):
    X, y = clips
    return tiny().fit(X, y)


def test_transform_shape_dtype_names_and_frames(fitted, clips):
    X, _ = clips
    out = fitted.transform(X)
    assert out.shape == (len(X), 16) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.std(axis=0).max() > 0
    assert fitted.get_feature_names_out()[0] == "audiocnnencoder0"
    frames = [1 + len(w) // fitted.hop_length_ for w in X]
    # The learned window: a high percentile of the fitted lengths, not the longest clip.
    assert np.percentile(frames, 90) <= fitted.max_frames_ < max(frames)
    assert fitted.mel_mean_.shape == fitted.mel_scale_.shape == (20,)
    assert fitted.predict(X).shape == (len(X),)
    np.testing.assert_allclose(fitted.predict_proba(X).sum(axis=1), 1, rtol=1e-5)


def test_above_chance_on_held_out_takes(speech):
    """Two speakers, takes 5-24 to train and 0-4 to test: chance is 0.1."""
    g, take = speech.groups, speech.take
    speakers = np.isin(g, ["jackson", "theo"])
    train, test = speakers & (take >= 5) & (take < 25), speakers & (take < 5)
    X, y = speech.data["audio"], speech.target
    enc = tiny(width=8, depth=3, embedding_dim=32, max_epochs=25).fit(X[train], y[train])
    assert (enc.predict(X[test]) == y[test]).mean() > 0.7
    svc = SVC().fit(enc.transform(X[train]), y[train])
    assert svc.score(enc.transform(X[test]), y[test]) > 0.7


def test_deterministic_and_global_rng_untouched(clips, fitted):
    X, y = clips
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    again = tiny().fit(X, y)
    assert torch.equal(before, torch.random.get_rng_state())
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))
    other = tiny(random_state=1).fit(X, y)
    assert not np.allclose(other.transform(X), fitted.transform(X))


def test_augment_changes_training_not_inference(clips, fitted):
    X, y = clips
    plain = tiny(augment=False).fit(X, y)
    assert not np.allclose(plain.transform(X), fitted.transform(X))
    # Augmentation is training-only: transform is a pure function of the fitted weights.
    np.testing.assert_array_equal(fitted.transform(X), fitted.transform(X))


def test_missing_cells_give_nan_rows(clips):
    X, y = clips
    X = X.copy()
    X.iloc[3], X.iloc[7] = None, np.nan
    enc = tiny().fit(X, y)  # missing rows are left out of training
    out = enc.transform(X)
    assert np.isnan(out[[3, 7]]).all() and not np.isnan(np.delete(out, [3, 7], axis=0)).any()
    with pytest.raises(ValueError, match="missing cells"):
        enc.predict(X)
    with pytest.raises(ValueError, match="every audio cell is missing"):
        tiny().fit(pd.Series([None, np.nan], name="audio"), [0, 1])


def test_string_labels(clips):
    X, y = clips
    names = np.asarray(["zero", "one", "two", "three", "four", "five", "six", "seven",
                        "eight", "nine"], dtype=object)[y]
    enc = tiny().fit(X, names)
    assert set(enc.classes_) == set(names)
    assert set(enc.predict(X)) <= set(names)


def test_bad_labels_and_unfitted(clips):
    X, y = clips
    with pytest.raises(ValueError, match="1 class"):
        tiny().fit(X, np.zeros(len(X), dtype=int))
    with pytest.raises(ValueError, match="requires y"):
        tiny().fit(X)
    with pytest.raises(NotFittedError):
        tiny().transform(X)
    with pytest.raises(InvalidParameterError, match="n_mels"):
        tiny(n_mels=0).fit(X, y)


@pytest.mark.parametrize("bad, message", [
    (np.zeros(0, dtype=np.float32), "zero-length audio clip"),
    (np.full(4000, np.nan, dtype=np.float32), "waveform has NaN or infinite samples"),
])
def test_bad_clips_name_column_and_row(clips, fitted, bad, message):
    X, y = clips
    X = X.copy()
    X.index = [f"clip{i}" for i in range(len(X))]
    X.iloc[5] = bad
    with pytest.raises(ValueError, match=f"column 'audio', row clip5: {message}"):
        tiny().fit(X, y)
    with pytest.raises(ValueError, match=f"column 'audio', row clip5: {message}"):
        fitted.transform(X)


def test_short_clips_padded_long_clips_cropped(fitted, clips):
    """Shorter clips are padded at the end (masked), longer ones cropped to their centre."""
    X, _ = clips
    n = fitted.max_frames_
    lengths = np.asarray([1 + len(w) // fitted.hop_length_ for w in X])
    short, long = np.argmin(lengths), np.argmax(lengths)
    assert lengths[short] < n < lengths[long]
    cells = pd.Series([X[short], X[long]], name="audio")
    inputs = fitted.input_.convert(as_cells(cells, kind="audio"))
    assert inputs.shape == (2, 1 + 20, n)
    assert inputs[0, 0].tolist() == [1.0] * lengths[short] + [0.0] * (n - lengths[short])
    assert (inputs[0, 1:, lengths[short]:] == 0).all() and (inputs[1, 0] == 1).all()
    full = log_mel_spectrograms([X[long]], sample_rate=RATE, n_fft=fitted.n_fft,
                                hop_length=fitted.hop_length_, n_mels=fitted.n_mels)[0]
    full = full - full.mean(axis=1, keepdims=True)  # clip_normalize
    start = (lengths[long] - n) // 2
    expected = (full[:, start:start + n] - fitted.mel_mean_[:, None]) / fitted.mel_scale_[:, None]
    np.testing.assert_allclose(inputs[1, 1:], expected, atol=1e-4)
    # Tiny clips (shorter than one analysis window) work too.
    assert np.isfinite(fitted.transform([X[short][:10], X[long]])).all()


def test_padding_does_not_change_the_embedding():
    """The same clip with more padding after it has the same embedding (masks + masked pooling)."""
    torch.manual_seed(0)
    module = AudioCNN(n_mels=8, n_classes=3, embedding_dim=6, width=4, depth=2).eval()
    x = torch.randn(2, 9, 12)
    x[:, 0] = 1.0
    x[1, 0, 8:] = 0.0  # second clip: 8 real frames, 4 padded
    x[1, 1:, 8:] = 0.0
    padded = torch.cat([x, torch.zeros(2, 9, 20)], dim=2)
    with torch.inference_mode():
        np.testing.assert_allclose(module.embed(padded), module.embed(x), atol=1e-6)
        junk = padded.clone()
        junk[:, 1:, 12:] = 5.0  # values under a zero mask are ignored
        np.testing.assert_allclose(module.embed(junk), module.embed(x), atol=1e-6)


def test_clone_pickle_joblib_round_trip(fitted, clips, tmp_path):
    X, y = clips
    params = clone(fitted).get_params()
    assert params == fitted.get_params() and not hasattr(clone(fitted), "net_")
    expected = fitted.transform(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).transform(X), expected)
    joblib.dump(fitted, tmp_path / "enc.joblib")
    loaded = joblib.load(tmp_path / "enc.joblib")
    np.testing.assert_array_equal(loaded.transform(X), expected)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    # A clone refits from scratch to the same result.
    np.testing.assert_array_equal(clone(fitted).fit(X, y).transform(X), expected)


def test_stacked_array_and_early_fusion(clips):
    X, y = clips
    stacked = np.stack([np.resize(w, 4000) for w in X])  # (n, T): n clips of T samples
    enc = tiny().fit(stacked, y)
    assert enc.n_features_in_ == 4000 and enc.transform(stacked[:, :3000]).shape == (len(X), 16)
    frame = pd.DataFrame({"audio": X, "n": np.arange(len(X), dtype=float)})
    fusion = EarlyFusion([("audio", tiny(), "audio")])
    assert fusion.fit_transform(frame, y).shape == (len(X), 16)
    assert fusion.get_feature_names_out()[0] == "audio__audiocnnencoder0"


def test_inference_masks_in_place_with_the_same_outputs(fitted):
    """Without gradients the frame mask is applied in place: the same numbers, and the
    input is left untouched."""
    module = fitted.net_.module_.eval()
    torch.manual_seed(0)
    x = torch.randn(4, 21, 30)
    x[:, 0] = 1.0
    x[2:, 0, 18:] = 0.0  # two clips with 12 padded frames
    before = x.clone()
    with_grad = module.embed(x)  # parameters require grad: the mask is multiplied
    assert with_grad.requires_grad
    with torch.inference_mode():
        in_place = module.embed(x)
    np.testing.assert_array_equal(in_place.numpy(), with_grad.detach().numpy())
    assert torch.equal(x, before)
