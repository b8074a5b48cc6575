"""Tests of mmlearn.datasets: shapes, cell formats, splits, leaks and the build script."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

from mmlearn.datasets import (
    load_av_digits,
    load_clothing_reviews,
    load_emoji,
    load_spoken_digits,
)
from mmlearn.datasets._base import data_file, read_csv, to_object_strings

REPO = Path(__file__).resolve().parents[1]
# The raw sources the shipped files were built from (scripts/build_datasets.py). Only the
# tests that compare the two read them; every other test reads the shipped files.
SOURCE = REPO.parent / "shared" / "data"
COMMON_KEYS = {
    "data",
    "target",
    "frame",
    "target_names",
    "feature_names",
    "modalities",
    "DESCR",
    "test_mask",
}

LOADERS = {
    "av_digits": (load_av_digits, 1797, "digit"),
    "spoken_digits": (load_spoken_digits, 3000, "digit"),
    "emoji": (load_emoji, 1911, "category"),
    "clothing_reviews": (load_clothing_reviews, 23486, "Recommended IND"),
}


def raw_source(*parts: str) -> Path:
    """The folder ``../shared/data/<parts>``: skip without it, but fail in CI.

    CI clones the repository with ``shared/`` beside it, so there a missing folder means the
    comparison with the raw sources silently stopped running; it must be noticed.
    """
    path = SOURCE.joinpath(*parts)
    if not path.is_dir():
        message = f"the raw dataset sources are not available: {path} is missing"
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(f"{message}, and CI must compare them to the shipped files")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def bunches() -> dict[str, Bunch]:
    return {name: loader() for name, (loader, _, _) in LOADERS.items()}


@pytest.mark.parametrize("name", LOADERS)
def test_bunch_contract(bunches, name):
    _, n_rows, target_column = LOADERS[name]
    bunch = bunches[name]
    assert COMMON_KEYS <= set(bunch)
    assert isinstance(bunch.data, pd.DataFrame)
    assert bunch.data.shape[0] == n_rows
    assert bunch.feature_names == list(bunch.data.columns)
    assert set(bunch.modalities) == set(bunch.feature_names)
    assert set(bunch.modalities.values()) <= {"image", "audio", "text", "tabular"}
    # A plain ndarray, never a pandas / Arrow extension array.
    assert type(bunch.target) is np.ndarray
    assert bunch.target.shape == (n_rows,)
    assert list(bunch.frame.columns) == bunch.feature_names + [target_column]
    np.testing.assert_array_equal(bunch.frame[target_column].to_numpy(), bunch.target)
    assert bunch.frame[target_column].dtype == bunch.target.dtype
    # target_names names every class: the class values, or one name per int class.
    assert len(bunch.target_names) == len(np.unique(bunch.target))
    for column, modality in bunch.modalities.items():
        if modality != "tabular":
            assert bunch.data[column].dtype == object, column
    assert isinstance(bunch.DESCR, str) and "icen" in bunch.DESCR  # licence / license
    if bunch.test_mask is not None:
        assert bunch.test_mask.dtype == bool and bunch.test_mask.shape == (n_rows,)


@pytest.mark.parametrize("name", LOADERS)
def test_return_X_y(bunches, name):
    loader = LOADERS[name][0]
    X, y = loader(return_X_y=True)
    pd.testing.assert_frame_equal(X, bunches[name].data)
    assert type(y) is np.ndarray
    np.testing.assert_array_equal(y, bunches[name].target)


def _check_audio(cells):
    for clip in cells:
        assert isinstance(clip, np.ndarray) and clip.dtype == np.float32 and clip.ndim == 1
        assert 1148 <= clip.shape[0] <= 18262
    everything = np.concatenate(list(cells))
    assert everything.min() >= -1.0 and everything.max() <= 1.0


def test_av_digits(bunches):
    from sklearn.datasets import load_digits

    bunch = bunches["av_digits"]
    assert bunch.feature_names == ["image", "audio"]
    assert bunch.target.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(bunch.target), np.bincount(load_digits().target))
    for image in bunch.data["image"]:
        assert image.dtype == np.float32 and image.shape == (8, 8)
        assert image.min() >= 0.0 and image.max() <= 1.0
    _check_audio(bunch.data["audio"])
    assert bunch.sample_rate == 8000
    assert 170 <= bunch.test_mask.sum() <= 180
    assert set(bunch.groups) == {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"}
    np.testing.assert_array_equal(bunch.test_mask, bunch.take <= 4)


def test_av_digits_pairing_is_label_consistent(bunches):
    bunch = bunches["av_digits"]
    pairing = read_csv("av_digits_pairing.csv")
    np.testing.assert_array_equal(pairing["image_index"], np.arange(1797))
    np.testing.assert_array_equal(bunch.recording, pairing["recording"])
    spoken = pairing["recording"].str.split("_").str[0].astype(int).to_numpy()
    np.testing.assert_array_equal(spoken, bunch.target)
    assert pairing["recording"].is_unique  # drawn without replacement
    # The audio cells are the very recordings named by the pairing.
    clips = bunches["spoken_digits"]
    position = {name: i for i, name in enumerate(clips.recording)}
    for row in (0, 1, 500, 1796):
        expected = clips.data["audio"].iloc[position[bunch.recording[row]]]
        np.testing.assert_array_equal(bunch.data["audio"].iloc[row], expected)
        assert bunch.groups[row] == bunch.recording[row].split("_")[1]


def test_av_digits_images_match_sklearn(bunches):
    from sklearn.datasets import load_digits

    images = load_digits().images
    got = np.stack(list(bunches["av_digits"].data["image"]))
    np.testing.assert_allclose(got, images / 16.0, rtol=0, atol=1e-7)


def test_spoken_digits(bunches):
    bunch = bunches["spoken_digits"]
    assert bunch.feature_names == ["audio"]
    assert bunch.target.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(bunch.target), [300] * 10)
    _check_audio(bunch.data["audio"])
    assert bunch.sample_rate == 8000
    assert bunch.test_mask.sum() == 300
    speakers, counts = np.unique(bunch.groups, return_counts=True)
    assert len(speakers) == 6 and set(counts) == {500}
    digits = np.array([int(name.split("_")[0]) for name in bunch.recording])
    np.testing.assert_array_equal(digits, bunch.target)
    # Rows sorted by (digit, speaker, take), as documented.
    order = pd.DataFrame({"d": bunch.target, "s": bunch.groups, "t": bunch.take})
    assert order.equals(order.sort_values(["d", "s", "t"], ignore_index=True))


def test_emoji(bunches):
    bunch = bunches["emoji"]
    assert bunch.feature_names == ["image", "name", "short_names"]
    assert "subcategory" not in bunch.data.columns
    assert bunch.target.dtype == object and isinstance(bunch.target[0], str)
    assert len(bunch.target_names) == 10 and set(bunch.target) == set(bunch.target_names)
    for image in bunch.data["image"]:
        assert image.dtype == np.uint8 and image.shape == (64, 64, 4)
    assert all(isinstance(t, str) and t for t in bunch.data["name"])
    assert all(name == name.lower() for name in bunch.data["name"])
    assert not any("_" in s for s in bunch.data["short_names"])
    assert bunch.test_mask is None
    assert len(set(bunch.subcategory)) > 50
    first = bunch.data.iloc[0]
    assert (first["name"], first["short_names"], bunch.target[0]) == ("hash key", "hash", "Symbols")


def test_emoji_images_match_png():
    images = raw_source("emoji", "img")
    from PIL import Image

    bunch = load_emoji()
    table = read_csv("emoji.csv")
    for row in (0, 1000, 1910):
        with Image.open(images / table["image"][row]) as img:
            expected = np.asarray(img.convert("RGBA"))
        np.testing.assert_array_equal(bunch.data["image"].iloc[row], expected)


def test_clothing_reviews(bunches):
    bunch = bunches["clothing_reviews"]
    assert bunch.feature_names == [
        "Title",
        "Review Text",
        "Age",
        "Positive Feedback Count",
        "Division Name",
        "Department Name",
        "Class Name",
        "Clothing ID",
    ]
    assert "Rating" not in bunch.data.columns and "Rating" not in bunch.frame.columns
    assert bunch.target.dtype == np.int64 and set(bunch.target) == {0, 1}
    assert bunch.data["Title"].isna().sum() == 3810
    assert bunch.data["Review Text"].isna().sum() == 845
    assert bunch.data["Division Name"].isna().sum() == 14
    text = bunch.data["Review Text"].dropna()
    assert all(isinstance(t, str) for t in text)
    assert bunch.modalities["Title"] == bunch.modalities["Review Text"] == "text"
    assert bunch.modalities["Age"] == "tabular"
    assert bunch.test_mask is None
    assert bunch.rating.dtype == np.int64 and set(bunch.rating) == {1, 2, 3, 4, 5}
    assert 0.80 < bunch.target.mean() < 0.84


def test_results_are_independent():
    """Editing a returned cell must not leak into the next load (arrays are cached)."""
    first = load_emoji()
    first.data["image"].iloc[0][:] = 7
    assert not np.all(load_emoji().data["image"].iloc[0] == 7)
    clip = load_spoken_digits().data["audio"].iloc[0]
    clip[:] = 0.5
    assert not np.all(load_spoken_digits().data["audio"].iloc[0] == 0.5)


def _build_script():
    path = REPO / "scripts" / "build_datasets.py"
    spec = importlib.util.spec_from_file_location("build_datasets", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_fsdd_table_is_the_flac_layout():
    """fsdd.csv cuts fsdd.flac into whole clips, in the documented order, with no gap."""
    import soundfile as sf

    index = read_csv("fsdd.csv")
    assert len(index) == 3000 and index["recording"].is_unique
    parts = zip(index["digit"], index["speaker"], index["take"], strict=True)
    assert index["recording"].tolist() == [f"{d}_{s}_{t}.wav" for d, s, t in parts]
    # Sorted by (digit, speaker, take) with numeric takes ("10" after "2").
    assert index.equals(index.sort_values(["digit", "speaker", "take"], ignore_index=True))
    lengths = index["length"].to_numpy()
    np.testing.assert_array_equal(index["offset"], np.concatenate([[0], np.cumsum(lengths)[:-1]]))
    with data_file("fsdd.flac").open("rb") as fh:
        info = sf.info(fh)
    assert (info.samplerate, info.channels) == (8000, 1)
    assert info.frames == lengths.sum()


def test_build_script_rebuilds_the_shipped_pairing():
    """The AV-digits pairing follows from the shipped clip table and sklearn's digits alone."""
    from sklearn.datasets import load_digits

    build = _build_script()
    pairing = build.av_digits_pairing(read_csv("fsdd.csv"), load_digits().target)
    pd.testing.assert_frame_equal(to_object_strings(pairing), read_csv("av_digits_pairing.csv"))


def test_build_script_tables_match_raw_sources():
    raw_source("fsdd", "recordings")
    raw_source("emoji")
    build = _build_script()
    fsdd = to_object_strings(build.fsdd_index(SOURCE))
    pd.testing.assert_frame_equal(fsdd, read_csv("fsdd.csv"))
    pd.testing.assert_frame_equal(to_object_strings(build.emoji_table(SOURCE)),
                                  read_csv("emoji.csv"))


def test_audio_matches_source_wav(bunches):
    recordings = raw_source("fsdd", "recordings")
    import soundfile as sf

    bunch = bunches["spoken_digits"]
    for row in (0, 1234, 2999):
        pcm, rate = sf.read(recordings / bunch.recording[row], dtype="int16")
        assert rate == bunch.sample_rate
        np.testing.assert_array_equal(bunch.data["audio"].iloc[row], pcm / np.float32(32768))
