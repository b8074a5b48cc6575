"""Fitting deep models from image files on disk: decoded once per pass, in loader workers.

Real images (shipped emoji as RGBA PNGs, sklearn digits as grayscale JPEGs) are written to
``tmp_path``; the tests count decodes by patching the data contract's file decoder, compare
fits with and without loader workers, and check the errors a user sees for bad files and
empty or all-missing columns.
"""

import os
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageFile

import mmlearn._columns as columns_module
from mmlearn._columns import as_cells
from mmlearn._inputs import ImageInput
from mmlearn.encoders import AudioMFCCEncoder, ImageCNNEncoder
from mmlearn.fusion import JointFusion

SMALL = dict(size=16, width=4, depth=2, embedding_dim=8, lr=3e-3, batch_size=8,
             validation_fraction=None, random_state=0)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, emoji, av_digits):
    """36 files: 12 emoji (64x64 RGBA PNG, two categories) and 24 digits (8x8 grayscale
    JPEG, zeros and ones); a Series of their paths with a non-default index, and labels."""
    folder = tmp_path_factory.mktemp("images")
    paths, labels = [], []
    for category in ("Flags", "Food & Drink"):
        for k in np.flatnonzero(emoji.target == category)[:6]:
            path = folder / f"emoji{k}.png"
            Image.fromarray(emoji.data["image"][k], mode="RGBA").save(path)
            paths.append(str(path))
            labels.append(category)
    for digit in (0, 1):
        for k in np.flatnonzero(av_digits.target == digit)[:12]:
            path = folder / f"digit{k}.jpg"
            ink = np.clip(av_digits.data["image"][k], 0, 1)
            Image.fromarray((255 * ink).astype(np.uint8), mode="L").save(path, quality=95)
            paths.append(str(path))
            labels.append(f"digit {digit}")
    index = pd.RangeIndex(100, 100 + len(paths))
    return pd.Series(paths, index=index, name="image"), np.asarray(labels)


def count_decodes(monkeypatch, log=None) -> Counter:
    """Patch the data contract's file decoder to count its calls per path.

    With ``log`` (a file), each call also appends ``pid path`` to it, so that decodes in
    forked loader workers are counted too.
    """
    calls: Counter = Counter()
    decode = columns_module._load_image_file

    def counting(path, column, row):
        calls[str(path)] += 1
        if log is not None:
            with open(log, "a") as f:  # one short append: atomic across processes
                f.write(f"{os.getpid()} {path}\n")
        return decode(path, column, row)

    monkeypatch.setattr(columns_module, "_load_image_file", counting)
    return calls


def read_log(log) -> tuple[Counter, set]:
    """Decodes per path and the set of process ids that decoded, from a decode log."""
    lines = [line.split(" ", 1) for line in open(log).read().splitlines()]
    return Counter(path for _, path in lines), {int(pid) for pid, _ in lines}


def no_worker_may_start(monkeypatch):
    """Make starting DataLoader worker processes fail loudly (the loader makes its
    multi-process iterator through this module-level name)."""
    def refuse(loader):
        raise AssertionError("a DataLoader worker process was started")

    monkeypatch.setattr(torch.utils.data.dataloader, "_MultiProcessingDataLoaderIter", refuse)


def truncated_copy(path, folder) -> str:
    """A copy of an image file cut at 60%: its header reads, its pixels do not."""
    data = open(path, "rb").read()
    broken = os.path.join(folder, "truncated" + os.path.splitext(path)[1])
    with open(broken, "wb") as f:
        f.write(data[:int(0.6 * len(data))])
    return broken


# ----------------------------------------------------------------------- decode counts

def test_size_probe_reads_headers_only(image_files, monkeypatch):
    paths, _ = image_files
    calls = count_decodes(monkeypatch)
    pixel_loads = Counter()
    load = ImageFile.ImageFile.load

    def counting_load(self):
        pixel_loads[self.filename] += 1
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    cells = as_cells(paths, kind="image")
    fitted = ImageInput(size=None).fit(cells.subset(np.arange(12)))  # the 64x64 emoji
    assert fitted.image_size_ == (64, 64) and fitted.n_channels_ == 3
    mixed = ImageInput(size=16).fit(cells)
    assert mixed.image_size_ == (16, 16) and mixed.n_channels_ == 3
    gray = ImageInput(size=None).fit(cells.subset(np.arange(12, 36)))  # the 8x8 digits
    assert gray.image_size_ == (8, 8) and gray.n_channels_ == 1
    assert sum(calls.values()) == 0
    assert sum(pixel_loads.values()) == 0
    # The patches are live: converting decodes each file once.
    mixed.convert(cells)
    assert calls == Counter(paths.tolist())
    assert set(pixel_loads) == set(paths)


@pytest.mark.parametrize("validation_fraction", [None, 0.25])
def test_fit_decodes_each_file_once_per_epoch_and_transform_once(
        image_files, monkeypatch, validation_fraction):
    paths, y = image_files
    calls = count_decodes(monkeypatch)
    encoder = ImageCNNEncoder(**{**SMALL, "validation_fraction": validation_fraction},
                              max_epochs=2, patience=5, n_workers=0).fit(paths, y)
    assert len(encoder.net_.history) == 2
    if validation_fraction:
        assert "valid_loss" in encoder.net_.history[-1]
    # Training and validation rows alike: one decode per epoch, none for the size probe.
    assert calls == Counter({path: 2 for path in paths})
    calls.clear()
    embedding = encoder.transform(paths)
    assert embedding.shape == (len(paths), 8)
    assert calls == Counter(paths.tolist())


def test_fit_transform_from_files_is_fit_then_transform(image_files, monkeypatch):
    paths, y = image_files
    calls = count_decodes(monkeypatch)
    out = ImageCNNEncoder(**SMALL, max_epochs=2, n_workers=0).fit_transform(paths, y)
    assert calls == Counter({path: 3 for path in paths})  # two epochs, one transform
    again = ImageCNNEncoder(**SMALL, max_epochs=2, n_workers=0).fit(paths, y).transform(paths)
    np.testing.assert_array_equal(out, again)


def test_loader_workers_decode_each_file_once_per_epoch(image_files, monkeypatch, tmp_path):
    if torch.multiprocessing.get_start_method() != "fork":
        pytest.skip("counting decodes in workers needs forked workers (they inherit the patch)")
    paths, y = image_files
    log = tmp_path / "decodes.log"
    count_decodes(monkeypatch, log)
    encoder = ImageCNNEncoder(**SMALL, max_epochs=2, n_workers=2).fit(paths, y)
    decodes, pids = read_log(log)
    assert decodes == Counter({path: 2 for path in paths})
    assert os.getpid() not in pids and len(pids) >= 2  # decoded in the workers
    os.remove(log)
    encoder.transform(paths)
    decodes, pids = read_log(log)
    assert decodes == Counter(paths.tolist())
    assert os.getpid() not in pids


# ------------------------------------------------------------------------ determinism

def test_loader_workers_do_not_change_the_fit(image_files):
    """Workers only decode: shuffling, augmentation and dropout draw from the seeded
    generator of the training process, so a seeded fit is the same with or without them."""
    paths, y = image_files
    kw = dict(SMALL, max_epochs=3, augment=True, validation_fraction=0.25)
    fits = {n: ImageCNNEncoder(**kw, n_workers=n).fit(paths, y) for n in (0, 2)}
    np.testing.assert_array_equal(fits[0].transform(paths), fits[2].transform(paths))
    np.testing.assert_array_equal(fits[0].predict_proba(paths), fits[2].predict_proba(paths))
    assert ([h["train_loss"] for h in fits[0].net_.history]
            == [h["train_loss"] for h in fits[2].net_.history])


# ------------------------------------------------------------------------- bad files

def _error(encoder, X, y=None):
    with pytest.raises(ValueError) as info:
        encoder.fit(X, y) if y is not None else encoder.transform(X)
    return str(info.value)


def test_undecodable_file_in_workers_raises_the_main_process_error(image_files, tmp_path):
    """A file whose header reads but whose pixels do not fails in a loader worker, during
    training and during transform; the user sees the error the main process raises."""
    paths, y = image_files
    broken = truncated_copy(paths.iloc[3], tmp_path)
    bad = paths.copy()
    bad.iloc[20] = broken  # row label 120
    messages = {n: _error(ImageCNNEncoder(**SMALL, max_epochs=1, n_workers=n), bad, y)
                for n in (0, 2)}
    assert messages[2] == messages[0]
    message = messages[2]
    assert message.startswith(f"column 'image', row 120: cannot read image file {broken!r}")
    assert "Traceback" not in message and "DataLoader worker" not in message

    fitted = ImageCNNEncoder(**SMALL, max_epochs=1, n_workers=0).fit(paths, y)
    in_transform = {}
    for n in (0, 2):
        fitted.set_params(n_workers=n)
        in_transform[n] = _error(fitted, bad)
    assert in_transform[2] == in_transform[0] == message


def test_file_that_is_not_an_image_names_column_row_and_path(image_files, tmp_path):
    paths, y = image_files
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"these bytes are not an image\n" * 20)
    bad = paths.copy()
    bad.iloc[7] = str(junk)  # row label 107
    messages = {n: _error(ImageCNNEncoder(**SMALL, max_epochs=1, n_workers=n), bad, y)
                for n in (0, 2)}
    assert messages[2] == messages[0]
    assert messages[2].startswith(f"column 'image', row 107: cannot read image file "
                                  f"{str(junk)!r}")


# -------------------------------------------------------------- empty and all-missing

@pytest.mark.parametrize("missing", [None, np.nan])
def test_all_missing_column_raises_before_any_worker_starts(missing, monkeypatch):
    no_worker_may_start(monkeypatch)
    X = pd.Series([missing] * 6, name="photo", dtype=object)
    y = np.array([0, 1] * 3)
    with pytest.raises(ValueError, match="column 'photo': every image cell is missing"):
        ImageCNNEncoder(**SMALL, n_workers=2).fit(X, y)
    joint = JointFusion([("image", ImageCNNEncoder(width=4), "photo"),
                         ("tab", "passthrough", ["x"])], n_workers=2, max_epochs=1)
    table = pd.DataFrame({"photo": X, "x": np.arange(6.0)})
    with pytest.raises(ValueError, match="branch 'image'.*photo"):
        joint.fit(table, y)


def test_empty_folder_or_column_raises_before_any_worker_starts(tmp_path, monkeypatch):
    no_worker_may_start(monkeypatch)
    (tmp_path / "empty").mkdir()
    from_folder = sorted(str(p) for p in (tmp_path / "empty").glob("*.jpg"))
    for X in (from_folder, pd.Series([], dtype=object, name="image")):
        with pytest.raises(ValueError, match="no samples"):
            ImageCNNEncoder(**SMALL, n_workers=2).fit(X, [])
    with pytest.raises(ValueError, match="0 rows"):
        JointFusion([("image", ImageCNNEncoder(width=4), "image")], n_workers=2).fit(
            pd.DataFrame({"image": pd.Series([], dtype=object)}), [])


def test_the_error_checks_really_refuse_workers(image_files, monkeypatch):
    """The guard of the two tests above fails a fit that does start workers."""
    paths, y = image_files
    no_worker_may_start(monkeypatch)
    with pytest.raises(AssertionError, match="worker process was started"):
        ImageCNNEncoder(**SMALL, max_epochs=1, n_workers=2).fit(paths, y)


# ----------------------------------------------------------------------- JointFusion

def test_joint_fusion_from_files_equals_the_fit_from_arrays(av_small, tmp_path):
    """A JointFusion image branch fed PNG paths (decoded in 2 workers) trains the same
    network as one fed the decoded arrays, next to an in-memory audio branch."""
    X, y = av_small
    X, y = X.iloc[::2].reset_index(drop=True), y[::2]  # 100 rows, 10 per digit
    paths = []
    for k, image in enumerate(X["image"]):
        path = tmp_path / f"{k}.png"
        Image.fromarray((255 * np.clip(image, 0, 1)).astype(np.uint8), mode="L").save(path)
        paths.append(str(path))
    decoded = [np.asarray(Image.open(p)) for p in paths]
    on_disk = X.assign(image=paths)
    in_memory = X.assign(image=pd.Series(decoded, dtype=object))

    def joint(n_workers):
        return JointFusion([("image", ImageCNNEncoder(width=4, embedding_dim=8), "image"),
                            ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")],
                           fusion_op="gated", max_epochs=3, batch_size=16,
                           n_workers=n_workers, random_state=0)

    from_files = joint(2).fit(on_disk, y)
    from_arrays = joint(None).fit(in_memory, y)
    # Same pixels, batches and random draws, and batches of one memory layout whether
    # converted lazily (files) or up front (arrays).
    history = [[h["train_loss"] for h in net.net_.history] for net in (from_files, from_arrays)]
    assert len(history[0]) == len(history[1]) == 3
    np.testing.assert_allclose(history[0], history[1], rtol=1e-5)
    proba = from_files.predict_proba(on_disk)
    np.testing.assert_allclose(proba, from_arrays.predict_proba(in_memory), atol=2e-3)
    np.testing.assert_allclose(from_files.transform(on_disk), from_arrays.transform(in_memory),
                               atol=1e-2)
    # After fit, a column of files and a column of the same arrays are interchangeable.
    np.testing.assert_array_equal(from_files.transform(in_memory),
                                  from_files.transform(on_disk))
    assert (from_files.classes_[proba.argmax(1)] == y).mean() > 0.3  # chance is 0.1


def test_grayscale_batches_have_one_memory_layout(av_small):
    X, y = av_small
    images = X["image"]
    batch = ImageInput().fit(as_cells(images, kind="image")).convert(
        as_cells(images[:4], kind="image"))
    assert torch.from_numpy(batch).stride() == torch.zeros(batch.shape).stride()
    kw = dict(width=4, embedding_dim=8, max_epochs=2, random_state=0)
    np.testing.assert_array_equal(ImageCNNEncoder(**kw).fit_transform(images, y),
                                  ImageCNNEncoder(**kw).fit(images, y).transform(images))
