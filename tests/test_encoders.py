"""Classical encoders on real data: shapes, names, missing cells, bad input."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder


def test_pixel_encoder_on_av_digits(av_small):
    X, _ = av_small
    enc = ImagePixelEncoder().fit(X[["image"]])
    out = enc.transform(X[["image"]])
    assert out.shape == (len(X), 64) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], X["image"].iloc[0].ravel())
    assert enc.feature_names_in_.tolist() == ["image"]
    assert enc.get_feature_names_out()[0] == "imagepixelencoder0"


def test_pixel_encoder_resizes_rgba_emoji_and_grayscale(emoji):
    images = emoji.data["image"].iloc[:10]
    assert ImagePixelEncoder(size=16).fit_transform(images).shape == (10, 16 * 16 * 3)
    gray = ImagePixelEncoder(size=(8, 12), grayscale=True).fit(images)
    assert gray.transform(images).shape == (10, 96) and gray.n_channels_ == 1


def test_pixel_encoder_mixed_sizes_need_size(emoji):
    images = [emoji.data["image"].iloc[0], emoji.data["image"].iloc[1][::2, ::2]]
    with pytest.raises(ValueError, match="pass size="):
        ImagePixelEncoder().fit(pd.Series(images, name="emoji"))
    enc = ImagePixelEncoder().fit(pd.Series(images[:1], name="emoji"))
    with pytest.raises(ValueError, match="column 'emoji'.*differ from the fitted size"):
        enc.transform(pd.Series(images[1:], name="emoji"))
    assert ImagePixelEncoder(size=32).fit_transform(images).shape == (2, 32 * 32 * 3)


def test_missing_cells_give_nan_rows(av_small):
    X, _ = av_small
    images = X["image"].copy()
    images.iloc[3] = None
    out = ImagePixelEncoder().fit(images).transform(images)
    assert np.isnan(out[3]).all() and not np.isnan(np.delete(out, 3, axis=0)).any()
    audio = X["audio"].iloc[:6].copy()
    audio.iloc[2] = np.nan
    feats = AudioMFCCEncoder(sample_rate=8000).fit_transform(audio)
    assert np.isnan(feats[2]).all() and not np.isnan(np.delete(feats, 2, axis=0)).any()


def test_mfcc_encoder_standardizes_on_fit_data(av_small):
    X, _ = av_small
    enc = AudioMFCCEncoder(sample_rate=8000)
    feats = enc.fit_transform(X["audio"])
    assert feats.shape == (len(X), 80) and feats.dtype == np.float32
    np.testing.assert_allclose(feats.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(enc.transform(X["audio"]), feats, atol=1e-5)
    raw = AudioMFCCEncoder(sample_rate=8000, standardize=False).fit_transform(X["audio"])
    assert np.abs(raw).max() > 10  # the energy coefficient is large unscaled


def test_mfcc_encoder_options_and_names(av_small):
    X, _ = av_small
    enc = AudioMFCCEncoder(sample_rate=8000, features="logmel", n_mels=16, deltas=False,
                           statistics=("mean", "max")).fit(X["audio"].iloc[:5])
    names = enc.get_feature_names_out()
    assert len(names) == 32 and names[0] == "logmel0_mean" and names[-1] == "logmel15_max"
    with pytest.raises(ValueError, match="statistics must be"):
        AudioMFCCEncoder(statistics=("median",)).fit(X["audio"].iloc[:5])


def test_short_clips_are_padded():
    clips = [np.ones(10, dtype=np.float32), np.ones(100000, dtype=np.float32) * 0.1]
    assert AudioMFCCEncoder(sample_rate=8000).fit_transform(clips).shape == (2, 80)


@pytest.mark.parametrize("encoder", [ImagePixelEncoder(), AudioMFCCEncoder()])
def test_transform_before_fit(encoder, av_small):
    X, _ = av_small
    with pytest.raises(NotFittedError):
        encoder.transform(X[encoder.modality])


@pytest.mark.parametrize("encoder", [ImagePixelEncoder(), AudioMFCCEncoder()])
def test_empty_input_and_wrong_y_length(encoder):
    with pytest.raises(ValueError, match="column 'x': no samples"):
        encoder.fit(pd.Series([], name="x", dtype=object))
    cell = np.zeros((4, 4)) if encoder.modality == "image" else np.zeros(800)
    with pytest.raises(ValueError, match="y has 3 rows but column 'x' has 2"):
        encoder.fit(pd.Series([cell, cell], name="x"), [0, 1, 2])


def test_strings_where_images_are_expected(emoji):
    with pytest.raises(ValueError, match="column 'name', row 0: cannot read image file"):
        ImagePixelEncoder().fit(emoji.data["name"])
    with pytest.raises(TypeError, match="column 'name', row 0: expected audio"):
        AudioMFCCEncoder().fit(pd.Series([{"a": 1}], name="name"))


def test_every_cell_missing():
    with pytest.raises(ValueError, match="column 'x': every image cell is missing"):
        ImagePixelEncoder().fit(pd.Series([None, np.nan], name="x"))
    with pytest.raises(ValueError, match="column 'x': every audio cell is missing"):
        AudioMFCCEncoder().fit(pd.Series([None, np.nan], name="x"))


def test_clone_and_pickle_round_trip(av_small):
    X, _ = av_small
    enc = AudioMFCCEncoder(sample_rate=8000).fit(X["audio"].iloc[:20])
    again = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(again.transform(X["audio"].iloc[:5]),
                                  enc.transform(X["audio"].iloc[:5]))
    assert not hasattr(clone(enc), "mean_")
