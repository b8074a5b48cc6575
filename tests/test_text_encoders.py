"""TextRNNEncoder and TextAttentionEncoder on real text: learning, masking, missing, bad input."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from mmlearn._inputs.text import PAD, UNK, fit_vocabulary, texts_to_ids
from mmlearn.datasets import load_clothing_reviews
from mmlearn.encoders.text_attention import TextAttentionEncoder
from mmlearn.encoders.text_rnn import TextRNNEncoder
from mmlearn.fusion import EarlyFusion
from mmlearn.utils._sklearn_compat import InvalidParameterError

SMALL = dict(token_dim=32, embedding_dim=16, max_epochs=15, lr=3e-3, random_state=0)
CONFIGS = {
    TextRNNEncoder: dict(SMALL, hidden_size=32),
    TextAttentionEncoder: dict(SMALL, n_heads=2, num_layers=1, feedforward_dim=64),
}
ENCODERS = list(CONFIGS)


def make(cls, **kwargs):
    return cls(**{**CONFIGS[cls], **kwargs})


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # Tiny batches gain nothing from threads, and on a shared 2-core runner two intra-op
    # threads per process made each step ~15x slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def names(emoji):
    """900 emoji names (strings) with their category (string labels), seeded split."""
    order = np.random.RandomState(0).permutation(len(emoji.target))
    train, test = order[:700], order[700:900]
    X, y = emoji.data["name"], emoji.target
    return X.iloc[train], y[train], X.iloc[test], y[test]


@pytest.fixture(scope="module")
def fitted(names):
    X_train, y_train, _, _ = names
    return {cls: make(cls).fit(X_train, y_train) for cls in ENCODERS}


@pytest.fixture(scope="module")
def reviews():
    X, y = load_clothing_reviews(return_X_y=True)
    # The first 300 rows hold real missing titles.
    return X.iloc[:300].reset_index(drop=True), y[:300]


# ------------------------------------------------------------------ vocabulary mechanics

def test_vocabulary_reserves_padding_and_unknown_ids():
    vectorizer, vocab = fit_vocabulary(
        ["Red apple", "green APPLE!", "keycap 1"], column="c", lowercase=True,
        token_pattern=r"(?u)\b\w+\b", min_df=1, max_features=None)
    assert set(vocab) == {"red", "apple", "green", "keycap", "1"}
    assert sorted(vocab.values()) == list(range(2, 7))  # 0 = PAD, 1 = UNK
    ids = texts_to_ids(["apple red", "", "purple pear", "red pear apple red apple", "?!"],
                       analyzer=vectorizer.build_analyzer(), vocabulary=vocab, max_length=4)
    assert ids.dtype == np.int64 and ids.shape == (5, 4)
    assert ids[0].tolist() == [vocab["apple"], vocab["red"], PAD, PAD]
    # Nothing known (empty, unseen words, punctuation only) -> the single unknown token.
    assert ids[1].tolist() == ids[2].tolist() == ids[4].tolist() == [UNK, PAD, PAD, PAD]
    # Unseen words among known ones stay in place as UNK; the text is cut to max_length.
    assert ids[3].tolist() == [vocab["red"], UNK, vocab["apple"], vocab["red"]]


def test_vocabulary_errors_name_the_column():
    kw = dict(lowercase=True, token_pattern=r"(?u)\b\w+\b", max_features=None)
    with pytest.raises(ValueError, match="column 'title': every text is empty"):
        fit_vocabulary(["", "  ", "?!"], column="title", min_df=1, **kw)
    with pytest.raises(ValueError, match="column 'title': no token is left after min_df=2"):
        fit_vocabulary(["one two", "three"], column="title", min_df=2, **kw)
    _, vocab = fit_vocabulary(["a b b", "b c c", "c"], column="t", min_df=1, max_features=2,
                              lowercase=True, token_pattern=r"(?u)\b\w+\b")
    assert set(vocab) == {"b", "c"}  # the most frequent


# ------------------------------------------------------------------------- on real data

@pytest.mark.parametrize("cls", ENCODERS)
def test_learns_emoji_categories_from_names(cls, fitted, names):
    enc = fitted[cls]
    X_train, y_train, X_test, y_test = names
    emb = enc.transform(X_test)
    assert emb.shape == (len(y_test), 16) and emb.dtype == np.float32
    assert np.isfinite(emb).all()
    # 10 string categories; the most frequent is 20% of the names.
    assert enc.classes_.dtype == object and set(enc.predict(X_test)) <= set(y_train)
    assert enc.score(X_test, y_test) > 0.4
    svc = SVC().fit(enc.transform(X_train), y_train)
    assert svc.score(emb, y_test) > 0.4
    proba = enc.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(enc.classes_[proba.argmax(axis=1)], enc.predict(X_test))
    prefix = cls.__name__.lower()
    assert enc.get_feature_names_out()[:2].tolist() == [f"{prefix}0", f"{prefix}1"]
    assert min(enc.vocabulary_.values()) == 2 and "flag" in enc.vocabulary_
    history = enc.net_.history
    assert "valid_loss" in history[0] and len(history) <= SMALL["max_epochs"]


@pytest.mark.parametrize("cls", ENCODERS)
def test_padding_does_not_leak_into_embeddings(cls, fitted, names):
    enc = fitted[cls]
    short = names[2].iloc[:5].tolist()
    longest = max(names[0], key=lambda s: len(s.split()))
    alone = enc.transform(short)
    # With a long text beside them, the short texts are padded to its length.
    padded = enc.transform([*short, longest + " " + longest])[:5]
    np.testing.assert_allclose(padded, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", ENCODERS)
def test_empty_and_unknown_texts_share_the_unknown_embedding(cls, fitted):
    enc = fitted[cls]
    out = enc.transform(["", "zqxv wkjh", "!!! ...", "red apple"])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[1], out[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[2], out[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(out[3], out[0])
    assert enc.predict(["", "zqxv wkjh"]).shape == (2,)


@pytest.mark.parametrize("cls", ENCODERS)
def test_same_random_state_same_embeddings(cls, names):
    X_train, y_train, X_test, _ = names
    kw = dict(max_epochs=2)
    a = make(cls, **kw).fit(X_train, y_train).transform(X_test)
    b = make(cls, **kw).fit(X_train, y_train).transform(X_test)
    np.testing.assert_array_equal(a, b)
    c = make(cls, random_state=1, **kw).fit(X_train, y_train).transform(X_test)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("cls", ENCODERS)
def test_real_missing_titles_give_nan_rows(cls, reviews):
    X, y = reviews
    titles = X["Title"]
    missing = titles.isna().to_numpy()
    assert 0 < missing.sum() < len(titles)
    enc = make(cls, max_epochs=3).fit(X[["Title"]], y)
    out = enc.transform(X[["Title"]])
    assert np.isnan(out[missing]).all() and np.isfinite(out[~missing]).all()
    assert enc.feature_names_in_.tolist() == ["Title"]
    with pytest.raises(ValueError, match="missing cells"):
        enc.predict(X[["Title"]])
    assert enc.predict(titles[~missing]).shape == ((~missing).sum(),)


@pytest.mark.parametrize("cls", ENCODERS)
def test_clone_pickle_joblib_round_trip(cls, fitted, names, tmp_path):
    enc = fitted[cls]
    X_test = names[2]
    expected = enc.transform(X_test)
    fresh = clone(enc)
    assert fresh.get_params() == enc.get_params() and not hasattr(fresh, "net_")
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(enc)).transform(X_test), expected)
    joblib.dump(enc, tmp_path / "enc.joblib")
    loaded = joblib.load(tmp_path / "enc.joblib")
    np.testing.assert_array_equal(loaded.transform(X_test), expected)
    np.testing.assert_array_equal(loaded.predict(X_test), enc.predict(X_test))


def test_truncates_to_max_length(reviews):
    X, y = reviews
    texts = X["Review Text"].dropna()
    enc = make(TextRNNEncoder, max_length=6, max_epochs=2).fit(texts, y[texts.index])
    tokens = enc.vectorizer_.build_analyzer()
    first_six = [" ".join(tokens(t)[:6]) for t in texts.iloc[:5]]
    long = [t + " and then some more words" for t in first_six]
    np.testing.assert_allclose(enc.transform(long), enc.transform(first_six), atol=1e-6)


@pytest.mark.parametrize("kw", [dict(cell="lstm"), dict(pooling="last"),
                                dict(cell="lstm", pooling="last", bidirectional=False),
                                dict(num_layers=2)])
def test_rnn_variants_ignore_padding(kw, names):
    X_train, y_train, X_test, _ = names
    enc = make(TextRNNEncoder, max_epochs=2, **kw).fit(X_train, y_train)
    short = X_test.iloc[:5].tolist()
    alone = enc.transform(short)
    assert alone.shape == (5, 16) and np.isfinite(alone).all()
    padded = enc.transform([*short, " ".join(X_train.iloc[:6])])[:5]
    np.testing.assert_allclose(padded, alone, rtol=1e-5, atol=1e-5)


def test_refit_learns_a_new_vocabulary(names):
    X_train, y_train, _, _ = names
    enc = make(TextRNNEncoder, max_epochs=1, min_df=1)
    enc.fit(["red apple", "green pear", "red pear"], ["a", "b", "b"])
    assert set(enc.vocabulary_) == {"red", "apple", "green", "pear"}
    enc.fit(X_train, y_train)
    _, expected = fit_vocabulary(X_train.tolist(), column="name", lowercase=True,
                                 token_pattern=enc.token_pattern, min_df=1, max_features=None)
    assert enc.vocabulary_ == expected


def test_in_early_fusion_with_missing_titles(reviews):
    X, y = reviews
    fusion = EarlyFusion([("title", make(TextRNNEncoder, max_epochs=3), "Title"),
                          ("review", make(TextAttentionEncoder, max_epochs=3), "Review Text")])
    pipe = Pipeline([("fusion", fusion), ("head", LogisticRegression(max_iter=1000))])
    pipe.fit(X, y)
    names = pipe[0].get_feature_names_out().tolist()
    assert names[:2] == ["title__textrnnencoder0", "title__textrnnencoder1"]
    assert "title__missing" in names and "review__textattentionencoder15" in names
    assert pipe.predict(X.iloc[:20]).shape == (20,)


# ---------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("cls", ENCODERS)
def test_all_empty_texts(cls):
    texts = pd.Series(["", "   ", "?!", "..."], name="title")
    with pytest.raises(ValueError, match="column 'title': every text is empty"):
        make(cls).fit(texts, [0, 1, 0, 1])


@pytest.mark.parametrize("cls", ENCODERS)
def test_non_string_cell(cls):
    texts = pd.Series(["red apple", 3, "green pear"], name="title", index=[10, 11, 12])
    with pytest.raises(TypeError, match="column 'title', row 11: expected text"):
        make(cls).fit(texts, [0, 1, 0])


@pytest.mark.parametrize("cls", ENCODERS)
def test_one_class_and_missing_y(cls):
    with pytest.raises(ValueError, match="1 class"):
        make(cls).fit(["red apple", "green pear"], ["fruit", "fruit"])
    with pytest.raises(ValueError, match="requires y"):
        make(cls).fit(["red apple", "green pear"], None)


@pytest.mark.parametrize("cls", ENCODERS)
def test_transform_before_fit(cls):
    with pytest.raises(NotFittedError):
        make(cls).transform(["red apple"])


@pytest.mark.parametrize("cls", ENCODERS)
def test_every_cell_missing(cls):
    with pytest.raises(ValueError, match="every text cell is missing"):
        make(cls).fit(pd.Series([None, np.nan], name="title"), [0, 1])


def test_bad_parameters():
    with pytest.raises(InvalidParameterError, match="cell"):
        TextRNNEncoder(cell="rnn").fit(["a b", "b c"], [0, 1])
    with pytest.raises(ValueError, match="token_dim=30 must be divisible by n_heads=4"):
        TextAttentionEncoder(token_dim=30, n_heads=4).fit(["a b", "a c"], [0, 1])
    with pytest.raises(InvalidParameterError, match="min_df"):
        TextRNNEncoder(min_df=0).fit(["a b", "b c"], [0, 1])
