"""Bad and extreme input at the data contract: image values, bit depths, size limits, loud audio.

Each test pins one rule of ``docs/data_contract.md`` (issue 12, items 1, 2, 3, 9, 13, 17):
the input gives the documented result or a ValueError naming the column, row and fix.
"""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmlearn._columns import MAX_PIXELS_WITHOUT_SIZE, as_cells, probe_images, read_images
from mmlearn._inputs.audio import LogMelInput
from mmlearn._inputs.image import ImageInput
from mmlearn.encoders import AudioCNNEncoder, AudioMFCCEncoder, ImagePixelEncoder


@pytest.fixture(scope="module")
def digit_images(av_digits):
    """Eight of the shipped 8x8 digit images, float32 in [0, 1]."""
    return [np.asarray(img) for img in av_digits.data["image"].iloc[:8]]


@pytest.fixture(scope="module")
def clips(av_digits):
    """Twenty of the shipped 8 kHz spoken-digit clips, float32 in [-1, 1]."""
    return [np.asarray(c, dtype=np.float32) for c in av_digits.data["audio"].iloc[:20]]


def _column(cells, name="pic"):
    return as_cells(pd.Series(cells, name=name, dtype=object), kind="image")


# ---------------------------------------------------------- item 3: one rule for image values

def test_int64_image_in_8bit_range_reads_as_8bit(emoji):
    rgba = emoji.data["image"].iloc[3]
    as_uint8, _ = read_images(_column([rgba]), size=None, n_channels=3)
    as_int64, _ = read_images(_column([rgba.astype(np.int64)]), size=None, n_channels=3)
    np.testing.assert_array_equal(as_int64, as_uint8)
    assert as_int64.max() == pytest.approx(1.0)


@pytest.mark.parametrize("values", [[0, 300], [-1, 200]])
def test_integer_image_outside_8bit_names_column_row_and_fix(values):
    img = np.array([values, values], dtype=np.int64)
    with pytest.raises(ValueError, match=r"column 'pic', row 0: integer image .*np\.uint16"):
        read_images(_column([img]), size=None, n_channels=1)


def test_uint16_image_scales_by_65535():
    img = np.array([[60000, 1000]], dtype=np.uint16)
    images, _ = read_images(_column([img]), size=None, n_channels=1)
    np.testing.assert_allclose(images[0, 0, :, 0], [60000 / 65535, 1000 / 65535], rtol=1e-6)


def test_float_image_in_0_255_is_refused(digit_images):
    cells = _column([digit_images[0], digit_images[1] * 255])
    with pytest.raises(ValueError, match=r"column 'pic', row 1: float image values must be .*"
                                         r"\[0, 1\].*divide 8-bit values by 255"):
        read_images(cells, size=None, n_channels=1)
    with pytest.raises(ValueError, match="row 1: float image values"):
        ImagePixelEncoder().fit(pd.DataFrame({"pic": cells.cells}))


def test_waveforms_are_not_images(clips):
    equal = [c[:800] for c in clips[:3]]
    with pytest.raises(ValueError, match=r"column 'audio', row 0: .*got a 1-D array"):
        ImagePixelEncoder().fit(pd.Series(equal, name="audio"))
    with pytest.raises(ValueError, match="got a 1-D array"):
        ImageInput().fit(_column(equal, name="audio"))


def test_a_stacked_2d_table_is_still_one_flat_image_per_row(digit_images):
    # A 2-D (n, n_pixels) table keeps its documented meaning, including values another
    # scikit-learn step left outside [0, 1].
    table = np.stack([img.ravel() for img in digit_images]) * 16.0 - 3.0
    enc = ImagePixelEncoder().fit(table)
    assert enc.image_size_ == (1, 64)
    np.testing.assert_allclose(enc.transform(table), table, rtol=1e-6)


# ----------------------------------------------------------- item 2: 16-bit PNG by bit depth

def _png16(path, values):
    Image.fromarray(np.asarray(values, dtype=np.uint16)).save(path)
    return str(path)


def test_16bit_png_decodes_by_its_bit_depth_in_gray(tmp_path):
    path = _png16(tmp_path / "deep.png", [[60000, 1000], [1000, 60000]])
    with Image.open(path) as img:
        assert img.mode in ("I;16", "I")
    cells = _column([path])
    assert probe_images(cells) == ((2, 2), 1)
    images, _ = read_images(cells, size=None, n_channels=1)
    expected = np.array([[60000, 1000], [1000, 60000]]) / 65535
    np.testing.assert_allclose(images[0, :, :, 0], expected, rtol=1e-6)
    # The same pixels given as an array read the same.
    from_array, _ = read_images(_column([np.array([[60000, 1000], [1000, 60000]], np.uint16)]),
                                size=None, n_channels=1)
    np.testing.assert_array_equal(images, from_array)
    enc = ImagePixelEncoder().fit([path])
    assert enc.n_channels_ == 1
    np.testing.assert_allclose(enc.transform([path])[0], expected.ravel(), rtol=1e-6)


def test_dark_16bit_png_is_not_read_as_8bit(tmp_path):
    path = _png16(tmp_path / "dark.png", [[200, 100]])
    images, _ = read_images(_column([path]), size=None, n_channels=1)
    np.testing.assert_allclose(images[0, 0, :, 0], [200 / 65535, 100 / 65535], rtol=1e-6)


# ----------------------------------------------------------- item 9: decompression bombs

def test_image_over_pillow_limit_names_column_row_path_and_fix(tmp_path, monkeypatch, emoji):
    path = tmp_path / "big.png"
    Image.fromarray(emoji.data["image"].iloc[0]).save(path)  # 64 x 64
    # Pillow refuses (rather than warns about) images over twice its limit.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    cells = _column([str(path)])
    for read in (lambda: probe_images(cells),
                 lambda: read_images(cells, size=(8, 8), n_channels=3),
                 lambda: ImagePixelEncoder(size=8).fit(pd.DataFrame({"pic": [str(path)]}))):
        with pytest.raises(ValueError, match=r"column 'pic', row 0: image file .*big\.png.* "
                                             r"too large.*PIL\.Image\.MAX_IMAGE_PIXELS"):
            read()


# -------------------------------------------------- item 17: native size has an upper bound

def test_huge_images_without_size_are_refused(tmp_path):
    side = int(np.sqrt(MAX_PIXELS_WITHOUT_SIZE)) + 1
    path = tmp_path / "huge.png"
    Image.new("L", (side, side)).save(path)
    frame = pd.DataFrame({"scan": [str(path)]})
    with pytest.raises(ValueError, match=rf"column 'scan': images of size \({side}, {side}\).*"
                                         r"pass size=\(H, W\)"):
        ImagePixelEncoder().fit(frame)
    with pytest.raises(ValueError, match="column 'scan': images of size"):
        ImageInput().fit(as_cells(frame, kind="image"))
    # With size= the same image is fine: it is resized.
    assert ImagePixelEncoder(size=4).fit(frame).transform(frame).shape == (1, 16)


# -------------------------------------------------- item 1: extreme but finite audio clips

def test_mfcc_statistics_survive_one_extreme_clip(clips):
    loud = clips[3] * np.float32(1e20)
    assert np.isfinite(loud).all()
    train = pd.Series([*clips[:3], loud, *clips[4:]], name="speech")
    enc = AudioMFCCEncoder(sample_rate=8000).fit(train)
    assert np.isfinite(enc.mean_).all() and np.isfinite(enc.scale_).all()
    features = enc.transform(train)
    assert np.isfinite(features).all()
    # Relative to power 1, a clip 1e20 times louder is 400 dB louder: only the energy
    # coefficient (mfcc0, a constant offset over the bands) moves.
    raw = AudioMFCCEncoder(sample_rate=8000, standardize=False).fit(clips)
    quiet, louder = raw.transform([clips[3], loud])
    names = raw.get_feature_names_out().tolist()
    energy = names.index("mfcc0_mean")
    assert louder[energy] - quiet[energy] == pytest.approx(400 * np.sqrt(raw.n_mels), rel=1e-3)
    others = [i for i, n in enumerate(names) if not n.startswith("mfcc0_")]
    np.testing.assert_allclose(louder[others], quiet[others], atol=1e-2)


def test_logmel_input_survives_one_extreme_clip(clips):
    loud = clips[3] * np.float32(1e20)
    cells = as_cells(pd.Series([*clips[:3], loud, *clips[4:]], name="speech"), kind="audio")
    logmel = LogMelInput(sample_rate=8000).fit(cells)
    assert np.isfinite(logmel.mel_mean_).all() and np.isfinite(logmel.mel_scale_).all()
    converted = logmel.convert(as_cells([clips[3], loud], kind="audio"))
    assert np.isfinite(converted).all()
    # Decibels relative to the clip's loudest bin do not depend on its gain.
    np.testing.assert_allclose(converted[1], converted[0], atol=1e-3)
    reference = LogMelInput(sample_rate=8000).fit(as_cells(clips, kind="audio"))
    np.testing.assert_allclose(logmel.mel_mean_, reference.mel_mean_, rtol=1e-4, atol=1e-3)


def test_audio_cnn_embeds_an_extreme_clip_as_the_clip_itself(av_digits, clips):
    loud = clips[3] * np.float32(1e20)
    X = pd.Series([*clips[:3], loud, *clips[4:]], name="speech")
    y = av_digits.target[:20]
    enc = AudioCNNEncoder(sample_rate=8000, n_mels=20, n_fft=256, hop_length=128, width=4,
                          depth=1, embedding_dim=8, max_epochs=1, validation_fraction=None,
                          random_state=0).fit(X, y)
    embedded = enc.transform(pd.Series([clips[3], loud], name="speech"))
    assert np.isfinite(embedded).all()
    np.testing.assert_allclose(embedded[1], embedded[0], atol=1e-3)


def test_waveform_beyond_float32_range_names_column_and_row(clips):
    wave = clips[0].astype(np.float64) * 1e300
    with pytest.raises(ValueError, match=r"column 'speech', row 1: .*beyond float32"):
        AudioMFCCEncoder(sample_rate=8000).fit(pd.Series([clips[1], wave], name="speech"))


# ------------------------------------------------------------- item 13: n_mfcc > n_mels

def test_more_mfccs_than_mel_bands_names_both_parameters(clips):
    with pytest.raises(ValueError, match=r"n_mfcc=30 .*n_mels=20"):
        AudioMFCCEncoder(sample_rate=8000, n_mfcc=30, n_mels=20).fit(clips[:4])
    # Log-mel features do not use n_mfcc.
    AudioMFCCEncoder(sample_rate=8000, features="logmel", n_mfcc=30, n_mels=20).fit(clips[:4])
