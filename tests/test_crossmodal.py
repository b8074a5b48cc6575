"""CrossModalAligner and retrieval: mechanics on synthetic views, real emoji images <-> names."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from mmlearn.crossmodal import CrossModalAligner, retrieval_recall_at_k, retrieve
from mmlearn.crossmodal import retrieval as retrieval_module
from mmlearn.encoders import ImagePixelEncoder
from mmlearn.utils._sklearn_compat import InvalidParameterError


def two_views(n=300, latent_dim=5, noise=0.1, seed=0):
    """Two noisy linear views (10 and 8 features) of one latent; row i of each is sample i."""
    rng = np.random.RandomState(seed)
    latent = rng.normal(size=(n, latent_dim))
    X = latent @ rng.normal(size=(latent_dim, 10)) + noise * rng.normal(size=(n, 10))
    Y = latent @ rng.normal(size=(latent_dim, 8)) + noise * rng.normal(size=(n, 8))
    return X, Y


# -- CrossModalAligner: what it learns --------------------------------------------------------

# CCA maximises the correlation of paired coordinates, PLS their covariance, which also
# rewards high-variance noise directions: on these views, top-1 for CCA, top-10 for PLS.
@pytest.mark.parametrize("method, k, min_correlation", [("cca", 1, 0.98), ("pls", 10, 0.8)])
def test_paired_views_retrieve_each_other(method, k, min_correlation):
    X, Y = two_views()
    aligner = CrossModalAligner(n_components=5, method=method).fit(X[:200], Y[:200])
    x_shared, y_shared = aligner.transform(X[200:]), aligner.transform_y(Y[200:])
    assert retrieval_recall_at_k(y_shared, x_shared, k=k) >= 0.9  # chance: k / 100
    assert retrieval_recall_at_k(x_shared, y_shared, k=k) >= 0.9
    assert np.all(aligner.correlations_ > min_correlation)


def test_shuffled_pairs_retrieve_at_chance():
    X, Y = two_views()
    rows = np.random.RandomState(1).permutation(200)
    aligner = CrossModalAligner(n_components=5).fit(X[:200], Y[rows])
    recall = retrieval_recall_at_k(aligner.transform_y(Y[200:]), aligner.transform(X[200:]),
                                   k=10)
    assert recall < 0.25  # chance is 10 / 100 = 0.1; paired training gives ~1.0


def test_shared_coordinates_standardised_and_normalized():
    X, Y = two_views()
    aligner = CrossModalAligner(n_components=4).fit(X, Y)
    np.testing.assert_allclose(aligner.transform(X).std(axis=0), 1.0)
    np.testing.assert_allclose(aligner.transform_y(Y).std(axis=0), 1.0)
    np.testing.assert_allclose(aligner.transform(X).mean(axis=0), 0.0, atol=1e-10)
    unit = CrossModalAligner(n_components=4, normalize=True).fit(X, Y)
    np.testing.assert_allclose(np.linalg.norm(unit.transform(X), axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(unit.transform_y(Y), axis=1), 1.0)
    # Normalising only rescales rows: the direction in the shared space is the same.
    raw = aligner.transform(X)
    np.testing.assert_allclose(unit.transform(X),
                               raw / np.linalg.norm(raw, axis=1, keepdims=True))


def test_api_shapes_names_and_fit_transform():
    X, Y = two_views(n=60, latent_dim=3)
    aligner = CrossModalAligner(n_components=3)
    shared = aligner.fit_transform(X, Y)
    assert shared.shape == (60, 3) and shared.dtype == np.float64
    np.testing.assert_allclose(shared, aligner.transform(X))
    assert aligner.transform_y(Y).shape == (60, 3)
    assert aligner.get_feature_names_out().tolist() == [
        "crossmodalaligner0", "crossmodalaligner1", "crossmodalaligner2"]
    assert aligner.n_features_in_ == 10 and aligner.n_features_y_ == 8
    assert type(aligner.estimator_).__name__ == "CCA"
    pls = CrossModalAligner(n_components=3, method="pls").fit(X, Y)
    assert type(pls.estimator_).__name__ == "PLSCanonical"
    assert pls.n_iter_ >= 1


def test_one_dimensional_y_is_one_feature():
    X, Y = two_views(n=50)
    aligner = CrossModalAligner(n_components=1).fit(X, Y[:, 0])
    assert aligner.n_features_y_ == 1
    np.testing.assert_allclose(aligner.transform_y(Y[:, 0]), aligner.transform_y(Y[:, :1]))


def test_pandas_output_for_both_modalities():
    X, Y = two_views(n=40, latent_dim=2)
    index = pd.RangeIndex(100, 140)
    X_df = pd.DataFrame(X, columns=[f"x{j}" for j in range(10)], index=index)
    Y_df = pd.DataFrame(Y, index=index)
    aligner = CrossModalAligner(n_components=2).set_output(transform="pandas").fit(X_df, Y_df)
    for out in (aligner.transform(X_df), aligner.transform_y(Y_df)):
        assert isinstance(out, pd.DataFrame)
        assert out.columns.tolist() == ["crossmodalaligner0", "crossmodalaligner1"]
        assert out.index.equals(index)
    assert aligner.feature_names_in_.tolist() == X_df.columns.tolist()


def test_encoders_take_raw_cells_and_are_fitted_on_their_modality():
    texts = [f"{a} {b}" for a in ("red", "green", "blue", "black", "white") for b in
             ("circle", "square", "heart", "star", "moon", "sun")]
    colour = {"red": 0, "green": 1, "blue": 2, "black": 3, "white": 4}
    rng = np.random.RandomState(0)
    images = [np.clip(np.full((6, 6, 3), colour[t.split()[0]] / 4.0) + 0.01 * rng.rand(6, 6, 3),
                      0.0, 1.0) for t in texts]
    aligner = CrossModalAligner(
        n_components=1,
        x_encoder=make_pipeline(ImagePixelEncoder(size=4), PCA(4, random_state=0)),
        y_encoder=make_pipeline(TfidfVectorizer(), TruncatedSVD(6, random_state=0)),
    )
    aligner.fit(pd.Series(images, dtype=object, name="image"), texts)
    assert aligner.x_encoder_ is not aligner.x_encoder  # a fitted clone
    assert aligner.n_features_in_ == 1  # the encoder's input: one image column
    assert aligner.transform(images).shape == (30, 1)
    # The one shared coordinate is the grey level: a name's nearest image has its colour.
    hits = retrieval_recall_at_k(aligner.transform_y(texts), aligner.transform(images), k=1,
                                 metric="euclidean",
                                 relevant=([t.split()[0] for t in texts],) * 2)
    assert hits >= 0.9


def test_clone_refit_is_deterministic():
    X, Y = two_views(n=80)
    a = CrossModalAligner(n_components=3).fit(X, Y)
    b = clone(a).fit(X, Y)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


# -- CrossModalAligner: bad input -------------------------------------------------------------

def test_y_is_required():
    X, _ = two_views(n=20)
    with pytest.raises(ValueError, match="requires y to be passed.*second modality"):
        CrossModalAligner().fit(X, None)


def test_rows_must_pair():
    X, Y = two_views(n=20)
    with pytest.raises(ValueError, match="paired row by row.*X has 20 rows and y has 19"):
        CrossModalAligner().fit(X, Y[:19])


def test_n_components_bounded_by_feature_counts():
    X, Y = two_views(n=30)
    with pytest.raises(ValueError, match=r"n_components=9 exceeds.*X has 10 feature\(s\) "
                                         r"and y has 8.*at most 8"):
        CrossModalAligner(n_components=9).fit(X, Y)


def test_n_components_needs_more_samples():
    X, Y = two_views(n=4)
    with pytest.raises(ValueError, match=r"n_components=4 needs at least 5 paired samples; "
                                         r"got 4 sample"):
        CrossModalAligner(n_components=4).fit(X, Y)


def test_numeric_two_d_input_checked():
    X, Y = two_views(n=20)
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        CrossModalAligner().fit(X_nan, Y)
    with pytest.raises(ValueError, match="Expected a 2-dimensional container|2D array"):
        CrossModalAligner().fit(X[:, 0], Y)
    with pytest.raises(ValueError, match="could not convert|convert string"):
        CrossModalAligner().fit(X, np.array([["a"] * 8] * 20))


def test_transform_widths_checked():
    X, Y = two_views(n=30)
    aligner = CrossModalAligner(n_components=2).fit(X, Y)
    with pytest.raises(ValueError, match="X has 9 features, but CrossModalAligner is expecting "
                                         "10"):
        aligner.transform(X[:, :9])
    with pytest.raises(ValueError, match="y has 7 features, but CrossModalAligner was fitted "
                                         "with 8"):
        aligner.transform_y(Y[:, :7])


def test_unknown_method_and_unfitted():
    X, Y = two_views(n=20)
    with pytest.raises(InvalidParameterError, match="'method' parameter"):
        CrossModalAligner(method="svd").fit(X, Y)
    with pytest.raises(ValueError, match="not fitted"):
        CrossModalAligner().transform_y(Y)


def test_sparse_encoder_output_explained():
    texts = ["red circle", "blue square", "red square", "blue circle", "green star"]
    X = np.random.RandomState(0).normal(size=(5, 3))
    with pytest.raises(ValueError, match="returned a sparse matrix.*TruncatedSVD"):
        CrossModalAligner(n_components=1, y_encoder=TfidfVectorizer()).fit(X, texts)


# -- retrieve / retrieval_recall_at_k ---------------------------------------------------------

def test_retrieve_orders_best_first_with_ties_to_lower_index():
    candidates = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])
    # Cosine: candidates 0 and 2 point the same way (a tie, kept in index order).
    assert retrieve([[1.0, 0.1]], candidates, k=3).tolist() == [[0, 2, 3]]
    # Euclidean sees the length: [2, 0] is farther from [1, 0.1] than [1, 1] is.
    assert retrieve([[1.0, 0.1]], candidates, k=3, metric="euclidean").tolist() == [[0, 3, 2]]


def test_recall_counts_top_k_hits():
    candidates = np.eye(4)
    queries = np.array([[1.0, 0, 0, 0], [0, 0.2, 1.0, 0], [0, 0, 0.9, 0.1], [0, 0.5, 0, 1.0]])
    # Query 1's match (candidate 1) ranks second; the others rank first.
    assert retrieval_recall_at_k(queries, candidates, k=1) == 0.75
    assert retrieval_recall_at_k(queries, candidates, k=[2, 1, 4]) == {2: 1.0, 1: 0.75, 4: 1.0}


def test_constant_embedding_scores_chance_not_perfect():
    queries = candidates = np.ones((20, 3))
    assert retrieval_recall_at_k(queries, candidates, k=[1, 5]) == {1: 0.05, 5: 0.25}


def test_relevance_by_labels_and_by_mask():
    candidates = np.eye(3)
    queries = np.array([[0, 1.0, 0], [0, 0, 1.0]])
    # Query 0 (a dog) is nearest candidate 1, a dog: a hit. Query 1 (a cat) is nearest
    # candidate 2, a dog; the cat (candidate 0) ties with candidate 1 behind it, and wins
    # the tie by its lower index.
    labels = (["dog", "cat"], ["cat", "dog", "dog"])
    assert retrieval_recall_at_k(queries, candidates, k=[1, 2], relevant=labels) == {1: 0.5,
                                                                                     2: 1.0}
    mask = np.array([[False, True, False], [False, True, False]])
    assert retrieval_recall_at_k(queries, candidates, k=[1, 2, 3], relevant=mask) == {
        1: 0.5, 2: 0.5, 3: 1.0}


def test_chunked_ranking_matches_one_block(monkeypatch):
    rng = np.random.RandomState(0)
    queries, candidates = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    whole = retrieval_recall_at_k(queries, candidates, k=[1, 5, 10], metric="euclidean")
    top = retrieve(queries, candidates, k=7)
    monkeypatch.setattr(retrieval_module, "_CHUNK_CELLS", 120)  # 2 queries a chunk
    assert retrieval_recall_at_k(queries, candidates, k=[1, 5, 10],
                                 metric="euclidean") == whole
    np.testing.assert_array_equal(retrieve(queries, candidates, k=7), top)


def test_random_embeddings_score_about_chance():
    rng = np.random.RandomState(0)
    recall = retrieval_recall_at_k(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)),
                                   k=40)
    assert 0.05 < recall < 0.15  # chance: 40 / 400


def test_retrieval_bad_input():
    a = np.zeros((5, 3))
    with pytest.raises(ValueError, match="k=6 exceeds the number of candidates \\(5\\)"):
        retrieval_recall_at_k(a, a, k=6)
    with pytest.raises(ValueError, match="k=6 exceeds"):
        retrieve(a, a, k=6)
    with pytest.raises(ValueError, match="every k must be an int >= 1, got 0"):
        retrieval_recall_at_k(a, a, k=[1, 0])
    with pytest.raises(ValueError, match="k is an empty list"):
        retrieval_recall_at_k(a, a, k=[])
    with pytest.raises(InvalidParameterError, match="'k' parameter"):
        retrieval_recall_at_k(a, a, k=0)
    with pytest.raises(InvalidParameterError, match="'metric' parameter"):
        retrieve(a, a, metric="manhattan")
    with pytest.raises(ValueError, match="same space.*3 features and candidates 2"):
        retrieve(a, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="query i's match is candidate i.*got 5 and 4"):
        retrieval_recall_at_k(a, a[:4], k=1)
    with pytest.raises(ValueError, match="needs 5 query labels and 5 candidate labels; got 4"):
        retrieval_recall_at_k(a, a, k=1, relevant=([0] * 4, [0] * 5))
    with pytest.raises(ValueError, match=r"query row\(s\) \[4\] have no relevant candidate"):
        retrieval_recall_at_k(a, a, k=1, relevant=([0, 0, 0, 0, 1], [0] * 5))
    with pytest.raises(ValueError, match="boolean array of shape .*\\(5, 5\\)"):
        retrieval_recall_at_k(a, a, k=1, relevant=np.ones((5, 5)))
    with pytest.raises(ValueError, match="Input queries contains NaN"):
        retrieve(np.full((2, 3), np.nan), a, k=1)


# -- real data: emoji images <-> names --------------------------------------------------------

@pytest.fixture(scope="module")
def emoji_aligned(emoji):
    """Aligner fitted on 75% of the emoji (pixels + PCA, TF-IDF + SVD), the 25% held out."""
    rows = np.arange(len(emoji.target))
    train, test = train_test_split(rows, test_size=0.25, stratify=emoji.target,
                                   random_state=0)
    images, names = emoji.data["image"], emoji.data["name"]
    aligner = CrossModalAligner(
        16,
        x_encoder=make_pipeline(ImagePixelEncoder(size=16), PCA(32, random_state=0)),
        y_encoder=make_pipeline(TfidfVectorizer(), TruncatedSVD(64, random_state=0)),
    ).fit(images.iloc[train], names.iloc[train])
    return (aligner.transform(images.iloc[test]), aligner.transform_y(names.iloc[test]),
            emoji.target[test])


def test_emoji_names_retrieve_their_images_above_chance(emoji_aligned):
    image_shared, name_shared, _ = emoji_aligned
    n_test = len(image_shared)
    chance = 10 / n_test
    assert retrieval_recall_at_k(name_shared, image_shared, k=10) >= 5 * chance
    assert retrieval_recall_at_k(image_shared, name_shared, k=10) >= 5 * chance


def test_emoji_retrieval_finds_the_category(emoji_aligned):
    image_shared, name_shared, category = emoji_aligned
    recall = retrieval_recall_at_k(name_shared, image_shared, k=1,
                                   relevant=(category, category))
    _, counts = np.unique(category, return_counts=True)
    chance = np.sum((counts / counts.sum()) ** 2)  # a random top-1 image of the same category
    assert recall >= 2 * chance
