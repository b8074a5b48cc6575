"""Nearest-neighbour retrieval across modalities, and its recall@k."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_array

from mmlearn.utils._sklearn_compat import Interval, StrOptions, validate_params

__all__ = ["retrieval_recall_at_k", "retrieve"]

# Similarities are computed this many (query x candidate) cells at a time (~32 MB of float64),
# so that tens of thousands of queries never need the whole similarity matrix at once.
_CHUNK_CELLS = 1 << 22


def _check_pair(queries, candidates) -> tuple[np.ndarray, np.ndarray]:
    queries = check_array(queries, input_name="queries", dtype=np.float64)
    candidates = check_array(candidates, input_name="candidates", dtype=np.float64)
    if queries.shape[1] != candidates.shape[1]:
        raise ValueError(
            f"queries and candidates must live in the same space, but queries have "
            f"{queries.shape[1]} features and candidates {candidates.shape[1]}."
        )
    return queries, candidates


def _unit_rows(a: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    # A zero vector has no direction: similarity 0 to everything instead of NaN.
    return a / np.where(norms > 0, norms, 1.0)


def _ranked_chunks(queries: np.ndarray, candidates: np.ndarray,
                   metric: str) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (query rows, candidate indices ordered best first) a chunk of queries at a time.

    The order is a stable sort of the similarities, so ties go to the lower candidate
    index: retrieve and recall@k agree exactly, and identical candidates never count twice.
    """
    if metric == "cosine":
        queries, candidates = _unit_rows(queries), _unit_rows(candidates)
    else:
        squared_norms = (candidates**2).sum(axis=1)
    step = max(1, _CHUNK_CELLS // max(1, len(candidates)))
    for start in range(0, len(queries), step):
        rows = slice(start, min(start + step, len(queries)))
        products = queries[rows] @ candidates.T
        if metric == "cosine":
            negative_similarity = -products
        else:
            # |q - c|^2 up to the query's own norm, which does not change a query's ranking.
            negative_similarity = squared_norms - 2.0 * products
        yield rows, np.argsort(negative_similarity, axis=1, kind="stable")


def _check_k(k, n_candidates: int) -> list[int]:
    ks = [k] if isinstance(k, Integral) else list(k)
    if not ks:
        raise ValueError("k is an empty list; give at least one k >= 1.")
    for value in ks:
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(f"every k must be an int >= 1, got {value!r}.")
        if value > n_candidates:
            raise ValueError(
                f"k={value} exceeds the number of candidates ({n_candidates}): every query "
                "would trivially find its match. Use k <= n_candidates."
            )
    return [int(value) for value in ks]


def _relevance(relevant, n_queries: int, n_candidates: int):
    """Return a function rows -> boolean (len(rows), n_candidates) relevance block."""
    if relevant is None:
        if n_queries != n_candidates:
            raise ValueError(
                "without relevant, query i's match is candidate i, so queries and candidates "
                f"need the same number of rows; got {n_queries} and {n_candidates}. Pass "
                "relevant=(query_labels, candidate_labels) or a boolean (n_queries, "
                "n_candidates) array for any other relevance."
            )
        return lambda rows: np.arange(n_candidates) == np.arange(n_queries)[rows, None]
    if isinstance(relevant, tuple):
        if len(relevant) != 2:
            raise ValueError(
                f"relevant as a tuple must be (query_labels, candidate_labels); got a tuple "
                f"of {len(relevant)}."
            )
        query_labels = np.asarray(relevant[0], dtype=object).ravel()
        candidate_labels = np.asarray(relevant[1], dtype=object).ravel()
        if len(query_labels) != n_queries or len(candidate_labels) != n_candidates:
            raise ValueError(
                f"relevant=(query_labels, candidate_labels) needs {n_queries} query labels "
                f"and {n_candidates} candidate labels; got {len(query_labels)} and "
                f"{len(candidate_labels)}."
            )
        return lambda rows: query_labels[rows, None] == candidate_labels[None, :]
    mask = np.asarray(relevant)
    if mask.dtype != bool or mask.shape != (n_queries, n_candidates):
        raise ValueError(
            "relevant must be None, a tuple (query_labels, candidate_labels), or a boolean "
            f"array of shape (n_queries, n_candidates) = ({n_queries}, {n_candidates}); got "
            f"an array of dtype {mask.dtype} and shape {mask.shape}."
        )
    return lambda rows: mask[rows]


@validate_params(
    {
        "queries": ["array-like"],
        "candidates": ["array-like"],
        "k": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"cosine", "euclidean"})],
    },
    prefer_skip_nested_validation=True,
)
def retrieve(queries, candidates, *, k: int = 10, metric: str = "cosine") -> np.ndarray:
    """Indices of the ``k`` candidates most similar to each query, best first.

    Parameters
    ----------
    queries : array-like of shape (n_queries, n_features)
        E.g. texts mapped into a shared space by ``CrossModalAligner.transform_y``.
    candidates : array-like of shape (n_candidates, n_features)
        E.g. images mapped into the same space by ``CrossModalAligner.transform``.
    k : int, default=10
        How many candidates to return per query; at most ``n_candidates``.
    metric : {"cosine", "euclidean"}, default="cosine"
        Similarity: cosine similarity, or the negative Euclidean distance.

    Returns
    -------
    indices : ndarray of shape (n_queries, k), int64
        Row ``i`` lists candidate indices from the most similar to the ``k``-th. Ties go to
        the lower candidate index.

    See Also
    --------
    retrieval_recall_at_k : How often the right candidate is among these ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> from mmlearn.crossmodal import retrieve
    >>> candidates = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> retrieve([[0.9, 0.1], [0.0, 2.0]], candidates, k=2).tolist()
    [[0, 2], [1, 2]]
    """
    queries, candidates = _check_pair(queries, candidates)
    k = _check_k(k, len(candidates))[0]
    out = np.empty((len(queries), k), dtype=np.int64)
    for rows, order in _ranked_chunks(queries, candidates, metric):
        out[rows] = order[:, :k]
    return out


@validate_params(
    {
        "queries": ["array-like"],
        "candidates": ["array-like"],
        "k": [Interval(Integral, 1, None, closed="left"), list, tuple],
        "metric": [StrOptions({"cosine", "euclidean"})],
        "relevant": [None, tuple, "array-like"],
    },
    prefer_skip_nested_validation=True,
)
def retrieval_recall_at_k(queries, candidates, *, k: int | Sequence[int] = 10,
                          metric: str = "cosine",
                          relevant=None) -> float | dict[int, float]:
    """Fraction of queries that find a relevant candidate among their ``k`` nearest.

    This is recall@k of cross-modal retrieval: e.g. embed captions (queries) and images
    (candidates) in one space, rank all candidates by similarity for each query, and count
    a hit when a relevant candidate is ranked in the top ``k``. With one relevant candidate
    per query among ``n`` candidates, random ranking scores ``k / n`` (chance).

    Parameters
    ----------
    queries : array-like of shape (n_queries, n_features)
    candidates : array-like of shape (n_candidates, n_features)
    k : int or list of int, default=10
        Cut-off(s), each between 1 and ``n_candidates`` (larger raises a ``ValueError``
        rather than silently scoring 1.0).
    metric : {"cosine", "euclidean"}, default="cosine"
        Similarity: cosine similarity, or the negative Euclidean distance.
    relevant : None, tuple (query_labels, candidate_labels) or bool array, default=None
        Which candidates count as a match for each query:

        - None: paired data, query ``i``'s only match is candidate ``i`` (needs as many
          queries as candidates);
        - ``(query_labels, candidate_labels)``: a candidate matches a query when their
          labels are equal (e.g. retrieve any image of the query's category);
        - a boolean array of shape ``(n_queries, n_candidates)``: ``relevant[i, j]`` says
          whether candidate ``j`` matches query ``i``.

        Every query needs at least one relevant candidate (recall is undefined otherwise).

    Returns
    -------
    recall : float, or dict of int -> float
        A float for an int ``k``; for a list, ``{k: recall}`` in the order given.

    See Also
    --------
    retrieve : The top-``k`` candidate indices themselves.

    Notes
    -----
    Candidates are ranked exactly as :func:`retrieve` ranks them (a stable sort, ties to
    the lower index), so a constant embedding scores chance, not a perfect recall.

    Examples
    --------
    >>> import numpy as np
    >>> from mmlearn.crossmodal import retrieval_recall_at_k
    >>> images = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> captions = np.array([[0.9, 0.2], [-0.8, 0.1], [-0.9, 0.0]])   # 2nd: near image 2
    >>> retrieval_recall_at_k(captions, images, k=[1, 2])
    {1: 0.6666666666666666, 2: 1.0}
    >>> retrieval_recall_at_k(captions, images, k=1,
    ...                       relevant=(["a", "b", "b"], ["a", "b", "b"]))
    1.0
    """
    queries, candidates = _check_pair(queries, candidates)
    ks = _check_k(k, len(candidates))
    relevance = _relevance(relevant, len(queries), len(candidates))
    first_hit = np.empty(len(queries), dtype=np.int64)
    for rows, order in _ranked_chunks(queries, candidates, metric):
        ranked_relevance = np.take_along_axis(relevance(rows), order, axis=1)
        if not ranked_relevance.any(axis=1).all():
            bad = rows.start + np.flatnonzero(~ranked_relevance.any(axis=1))
            raise ValueError(
                f"query row(s) {bad[:10].tolist()} have no relevant candidate, so their "
                "recall is undefined: drop them or fix relevant."
            )
        first_hit[rows] = ranked_relevance.argmax(axis=1)
    recalls = {value: float(np.mean(first_hit < value)) for value in ks}
    return recalls[ks[0]] if isinstance(k, Integral) else recalls
