"""Rebuild the compact data files that ``mmlearn.datasets`` ships.

Maintainer script: reads the full sources in ``../shared/data`` (and scikit-learn's
``load_digits``) and writes ``mmlearn/datasets/data/``. Deterministic: the same sources give
the same files (the AV-digits pairing uses ``np.random.RandomState``, whose stream numpy
keeps fixed across releases, and the stored pairing table makes loaders independent of it).

Usage::

    python scripts/build_datasets.py                    # everything, default paths
    python scripts/build_datasets.py --only emoji       # one part
    python scripts/build_datasets.py --source /path/to/data --out /tmp/compact

Files written (``--out``):

- ``fsdd.flac`` + ``fsdd.csv``: all 3,000 FSDD clips concatenated, lossless, with a table of
  (recording, digit, speaker, take, offset, length); ``LICENSE-fsdd.txt``.
- ``av_digits_pairing.csv``: sklearn digit image index <-> FSDD recording.
- ``emoji_images.npz`` + ``emoji.csv``: the RGBA images and their metadata;
  ``NOTICE-emoji.txt``, ``LICENSE-emoji-metadata-MIT.txt``.
- ``clothing_reviews.parquet``: the reviews without the pandas index;
  ``LICENSE-clothing-reviews.txt``.

``LICENSE-emoji-images-Apache-2.0.txt`` (the Apache licence text of the Noto images) is a
static file kept in the repository; the sources do not hold a copy of it.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf
from PIL import Image
from sklearn.datasets import load_digits

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "mmlearn" / "datasets" / "data"

AV_DIGITS_SEED = 0
SAMPLE_RATE = 8000
PARTS = ("fsdd", "av_digits", "emoji", "clothing")

CLOTHING_COLUMNS = [
    "Clothing ID",
    "Age",
    "Title",
    "Review Text",
    "Rating",
    "Recommended IND",
    "Positive Feedback Count",
    "Division Name",
    "Department Name",
    "Class Name",
]

CLOTHING_LICENSE = """\
Women's E-Commerce Clothing Reviews
===================================

23,486 anonymised customer reviews of a women's clothing e-commerce retailer, as published
on Kaggle ("Women's E-Commerce Clothing Reviews", nicapotato/Nick Brooks, 2018).

Licence: CC0 1.0 Universal (Public Domain Dedication).
https://creativecommons.org/publicdomain/zero/1.0/

Changes in this copy: the pandas index column was dropped and the table re-compressed
(zstd); no rows or values were changed.
"""

FSDD_CHANGES = """
Changes in this copy (mmlearn.datasets): the 3,000 WAV recordings were concatenated, in
the order of fsdd.csv (digit, speaker, take), into one lossless FLAC file (fsdd.flac);
fsdd.csv gives each recording's offset and length. No sample was changed.
av_digits_pairing.csv pairs each recording used by load_av_digits with an image of
scikit-learn's digits dataset; it is distributed under the same licence.
"""

EMOJI_CHANGES = """
Changes in this copy (mmlearn.datasets): the 64x64 PNG images were decoded to RGBA and
stacked into one uint8 array (emoji_images.npz), in the order of emoji.json; the metadata
kept is in emoji.csv (short names joined with a space). No pixel was changed.
Full licence texts: LICENSE-emoji-images-Apache-2.0.txt (images),
LICENSE-emoji-metadata-MIT.txt (metadata).
"""


def _parse_recording(name: str) -> tuple[int, str, int]:
    digit, speaker, take = Path(name).stem.split("_")
    return int(digit), speaker, int(take)


def fsdd_index(source: Path) -> pd.DataFrame:
    """Table of the FSDD clips in the order they are concatenated in ``fsdd.flac``.

    Sorted by (digit, speaker, take) with numeric takes, so the order does not depend on
    the file system's listing or on string sorting ("10" < "2").
    """
    rows = []
    for path in (source / "fsdd" / "recordings").glob("*.wav"):
        digit, speaker, take = _parse_recording(path.name)
        info = sf.info(path)
        if (info.samplerate, info.channels, info.subtype) != (SAMPLE_RATE, 1, "PCM_16"):
            raise ValueError(f"{path.name}: expected 8 kHz mono PCM_16, got {info}")
        rows.append((path.name, digit, speaker, take, info.frames))
    index = pd.DataFrame(rows, columns=["recording", "digit", "speaker", "take", "length"])
    index = index.sort_values(["digit", "speaker", "take"], ignore_index=True)
    index.insert(4, "offset", np.concatenate([[0], np.cumsum(index["length"])[:-1]]))
    return index


def av_digits_pairing(
    index: pd.DataFrame, digits_target: np.ndarray, seed: int = AV_DIGITS_SEED
) -> pd.DataFrame:
    """Pair each sklearn digit image with a distinct FSDD recording of the same digit.

    For each digit in turn (0..9), one ``RandomState(seed)`` permutes that digit's
    recordings (in ``index`` order); the first ones go to the digit's images in image order.
    """
    rng = np.random.RandomState(seed)
    recording = np.empty(len(digits_target), dtype=object)
    for digit in range(10):
        images = np.flatnonzero(digits_target == digit)
        candidates = index.loc[index["digit"] == digit, "recording"].to_numpy()
        if len(candidates) < len(images):
            raise ValueError(f"digit {digit}: {len(images)} images, {len(candidates)} clips")
        recording[images] = candidates[rng.permutation(len(candidates))[: len(images)]]
    return pd.DataFrame(
        {
            "image_index": np.arange(len(digits_target)),
            "digit": np.asarray(digits_target, dtype=np.int64),
            "recording": recording,
        }
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    # np.savez_compressed stamps each member with the current time; a fixed date keeps the
    # file byte-identical between rebuilds. np.load reads it like any .npz.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buffer.getvalue(), compresslevel=9)


def build_fsdd(source: Path, out: Path) -> None:
    index = fsdd_index(source)
    recordings = source / "fsdd" / "recordings"
    clips = [sf.read(recordings / name, dtype="int16")[0] for name in index["recording"]]
    pcm = np.concatenate(clips)
    assert len(pcm) == index["offset"].iloc[-1] + index["length"].iloc[-1]
    sf.write(
        out / "fsdd.flac", pcm, SAMPLE_RATE, subtype="PCM_16", format="FLAC", compression_level=1.0
    )
    _write_csv(index, out / "fsdd.csv")
    notice = (source / "fsdd" / "LICENSE.txt").read_text("utf-8")
    (out / "LICENSE-fsdd.txt").write_text(notice.rstrip("\n") + "\n" + FSDD_CHANGES, "utf-8")


def build_av_digits(source: Path, out: Path) -> None:
    pairing = av_digits_pairing(fsdd_index(source), load_digits().target)
    _write_csv(pairing, out / "av_digits_pairing.csv")


def emoji_table(source: Path) -> pd.DataFrame:
    """The emoji metadata kept, in the order of ``emoji.json``."""
    entries = json.loads((source / "emoji" / "emoji.json").read_text("utf-8"))
    for entry in entries:
        if any(" " in short for short in entry["short_names"]):
            raise ValueError(f"short name with a space breaks the join: {entry['short_names']}")
    return pd.DataFrame(
        {
            "image": [e["image"] for e in entries],
            "unified": [e["unified"] for e in entries],
            "name": [e["name"] for e in entries],
            "short_names": [" ".join(e["short_names"]) for e in entries],
            "category": [e["category"] for e in entries],
            "subcategory": [e["subcategory"] for e in entries],
        }
    )


def build_emoji(source: Path, out: Path) -> None:
    table = emoji_table(source)
    images = []
    for name in table["image"]:
        with Image.open(source / "emoji" / "img" / name) as img:
            # Some PNGs are palette or grey+alpha; RGBA is the common decoded form.
            array = np.asarray(img.convert("RGBA"))
        if array.shape != (64, 64, 4):
            raise ValueError(f"{name}: shape {array.shape}")
        images.append(array)
    _write_npz(out / "emoji_images.npz", images=np.stack(images))
    _write_csv(table, out / "emoji.csv")
    notice = (source / "emoji" / "NOTICE.txt").read_text("utf-8")
    (out / "NOTICE-emoji.txt").write_text(notice.rstrip("\n") + "\n" + EMOJI_CHANGES, "utf-8")
    shutil.copyfile(
        source / "emoji" / "LICENSE-metadata-MIT.txt", out / "LICENSE-emoji-metadata-MIT.txt"
    )
    if not (out / "LICENSE-emoji-images-Apache-2.0.txt").exists():
        print("note: add LICENSE-emoji-images-Apache-2.0.txt (static, not built)")


def build_clothing(source: Path, out: Path) -> None:
    table = pq.read_table(
        source / "clothing_reviews" / "womens_clothing_reviews.parquet", columns=CLOTHING_COLUMNS
    )
    # Plain utf8 strings and no pandas metadata: the loader decides dtypes itself.
    schema = pa.schema(
        [
            pa.field(f.name, pa.string() if pa.types.is_string(f.type) else f.type)
            for f in table.schema
        ]
    )
    table = table.cast(schema).replace_schema_metadata(None)
    pq.write_table(
        table, out / "clothing_reviews.parquet", compression="zstd", compression_level=19
    )
    (out / "LICENSE-clothing-reviews.txt").write_text(CLOTHING_LICENSE, "utf-8")


BUILDERS = {
    "fsdd": build_fsdd,
    "av_digits": build_av_digits,
    "emoji": build_emoji,
    "clothing": build_clothing,
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="build only this part (repeatable)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for part in args.only or PARTS:
        BUILDERS[part](args.source, args.out)
    for path in sorted(args.out.iterdir()):
        if path.is_file():
            total += path.stat().st_size
            print(f"{path.stat().st_size:>12,d}  {path.name}")
    print(f"{total:>12,d}  total")


if __name__ == "__main__":
    main()
