"""The data contract: cells -> arrays, missing masks, clear errors."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import soundfile
from PIL import Image

from mmlearn._columns import as_cells, is_missing, read_audio, read_images, read_texts


def test_is_missing():
    assert is_missing(None) and is_missing(np.nan) and is_missing(pd.NA)
    assert not is_missing(0.0) and not is_missing("") and not is_missing(np.zeros(3))


def test_as_cells_accepts_series_frame_list_and_stacks():
    imgs = np.zeros((3, 4, 5), dtype=np.uint8)
    assert as_cells(pd.Series(list(imgs), name="pic"), kind="image").name == "pic"
    assert as_cells(pd.DataFrame({"pic": list(imgs)}), kind="image").name == "pic"
    assert len(as_cells(list(imgs), kind="image")) == 3
    assert len(as_cells(imgs, kind="image")) == 3
    assert len(as_cells(np.zeros((2, 100)), kind="audio")) == 2


def test_as_cells_rejects_bad_layouts():
    with pytest.raises(ValueError, match="one column, got 2"):
        as_cells(pd.DataFrame({"a": ["x.png"], "b": [2]}), kind="image")
    with pytest.raises(ValueError, match="one column, got 2"):
        as_cells(pd.DataFrame({"a": [1], "b": [2]}), kind="text")
    with pytest.raises(TypeError, match="sparse input is not supported"):
        as_cells(sp.csr_matrix(np.eye(3)), kind="audio")
    with pytest.raises(TypeError, match="wrap it in a list"):
        as_cells("cat.png", kind="image")


def test_numeric_tables_are_one_flat_sample_per_row():
    table = np.arange(6.0).reshape(3, 2)
    for X in (table, table.tolist(), pd.DataFrame(table, columns=["p0", "p1"])):
        cells = as_cells(X, kind="image")
        assert cells.n_features == 2 and len(cells) == 3
        np.testing.assert_array_equal(cells.cells[2], [[4.0, 5.0]])
    ragged = as_cells([[1.0, 2.0], [3.0]], kind="audio")
    assert ragged.n_features == 1 and len(ragged) == 2
    assert as_cells(pd.Series([np.zeros((2, 2))] * 3), kind="image").n_features == 1


def test_images_uint8_float_rgba_gray_mix_are_converted(emoji):
    rgba = emoji.data["image"].iloc[0]
    assert rgba.shape == (64, 64, 4)
    gray = (rgba[:, :, 0] > 128).astype(np.float32)
    cells = as_cells(pd.Series([rgba, gray, None], name="image"), kind="image")
    images, missing = read_images(cells, size=(16, 16), n_channels=3)
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.float32
    assert missing.tolist() == [False, False, True]
    assert 0.0 <= images.min() and images.max() <= 1.0
    np.testing.assert_allclose(images[1, :, :, 0], images[1, :, :, 2])  # gray repeated
    # Transparent pixels composite to white, not to whatever colour they hide.
    full, _ = read_images(as_cells([rgba], kind="image"), size=None, n_channels=3)
    transparent = rgba[:, :, 3] == 0
    assert transparent.any()
    np.testing.assert_allclose(full[0][transparent], 1.0)


def test_image_paths_are_read(tmp_path, emoji):
    path = tmp_path / "e.png"
    Image.fromarray(emoji.data["image"].iloc[5]).save(path)
    images, _ = read_images(as_cells([str(path)], kind="image"), size=None, n_channels=3)
    expected, _ = read_images(
        as_cells([emoji.data["image"].iloc[5]], kind="image"), size=None, n_channels=3
    )
    np.testing.assert_allclose(images, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("cell", "error", "match"),
    [
        ("no/such/file.png", ValueError, "column 'pic', row 0: cannot read image file"),
        ("a caption, not an image", ValueError, "column 'pic', row 0: cannot read image"),
        (np.full((4, 4), np.nan), ValueError, "column 'pic', row 0: .*NaN or infinite"),
        (np.full((4, 4), np.inf), ValueError, "column 'pic', row 0: .*NaN or infinite"),
        (np.zeros((4, 4, 2)), ValueError, "column 'pic', row 0: expected an image of shape"),
        ({"not": "an image"}, TypeError, "column 'pic', row 0: expected an image"),
    ],
)
def test_bad_image_cells_name_column_and_row(cell, error, match):
    with pytest.raises(error, match=match):
        read_images(as_cells(pd.Series([cell], name="pic"), kind="image"), size=None,
                    n_channels=1)


def test_mixed_image_sizes_without_resizing_raise():
    cells = as_cells(pd.Series([np.zeros((8, 8)), np.zeros((4, 4))], name="pic"), kind="image")
    with pytest.raises(ValueError, match="column 'pic', row 1: .*pass size="):
        read_images(cells, size=None, n_channels=1)


def test_audio_arrays_and_wav_paths(tmp_path, av_digits):
    wave = av_digits.data["audio"].iloc[0]
    path = tmp_path / "clip.wav"
    soundfile.write(path, wave, 8000, subtype="PCM_16")
    waves, missing = read_audio(
        as_cells(pd.Series([wave, str(path), np.nan], name="audio"), kind="audio"),
        sample_rate=8000,
    )
    assert missing.tolist() == [False, False, True]
    np.testing.assert_allclose(waves[0], waves[1], atol=1e-4)
    # A WAV at another rate is resampled to the encoder's rate.
    waves16, _ = read_audio(as_cells([str(path)], kind="audio"), sample_rate=16000)
    assert abs(waves16[0].size - 2 * wave.size) <= 2


@pytest.mark.parametrize(
    ("cell", "match"),
    [
        (np.zeros(0, dtype=np.float32), "zero-length"),
        (np.full(100, np.nan), "NaN or infinite"),
        (np.zeros((2, 100)), "1-D waveform"),
        ("missing.wav", "cannot read audio file"),
    ],
)
def test_bad_audio_cells(cell, match):
    with pytest.raises(ValueError, match=f"column 'audio', row 0: .*{match}"):
        read_audio(as_cells(pd.Series([cell], name="audio"), kind="audio"), sample_rate=8000)


def test_texts_keep_missing_and_reject_non_strings():
    texts, missing = read_texts(as_cells(pd.Series(["a", None, np.nan], name="t"), kind="text"))
    assert texts == ["a", None, None] and missing.tolist() == [False, True, True]
    with pytest.raises(TypeError, match="column 't', row 0: expected text"):
        read_texts(as_cells(pd.Series([3.5], name="t"), kind="text"))
