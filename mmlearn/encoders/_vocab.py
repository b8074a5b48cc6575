"""Shared code of the deep text encoders: vocabulary, token ids, padding, their base class.

Tokenizing is scikit-learn's: the vocabulary and the analyzer come from a
:class:`~sklearn.feature_extraction.text.CountVectorizer`, so lowercasing, accent handling
and ``token_pattern`` mean exactly what they mean for ``TfidfVectorizer``. What a sequence
model needs on top is fixed here:

- id 0 is padding (``PAD``) and id 1 the unknown token (``UNK``); the learned tokens follow;
- a text with no known token (an empty string, only punctuation, only unseen words) is the
  single sequence ``[UNK]``, so it has a well-defined embedding, the same for all of them;
- texts are cut to ``max_length`` tokens and right-padded with ``PAD`` to the longest
  (cut) text of the rows converted together; the networks trim each batch to its own
  longest text (:func:`trim_padding`) and mask the rest, so padding never reaches a result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.feature_extraction.text import CountVectorizer

from mmlearn._columns import ColumnCells, read_texts
from mmlearn.encoders._deep import DeepEncoder
from mmlearn.utils._sklearn_compat import Interval, RealNotInt

__all__ = [
    "PAD",
    "UNK",
    "N_RESERVED",
    "TEXT_CONSTRAINTS",
    "TextDeepEncoder",
    "drop_words",
    "fit_vocabulary",
    "texts_to_ids",
    "trim_padding",
]

PAD = 0
UNK = 1
N_RESERVED = 2

# Keeps one-character tokens ("a", "1", "I"), which CountVectorizer's default pattern drops:
# word order makes them meaningful to a sequence model ("keycap 1", "size 2").
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w+\b"

TEXT_CONSTRAINTS: dict = {
    "max_length": [Interval(Integral, 1, None, closed="left")],
    "max_features": [None, Interval(Integral, 1, None, closed="left")],
    "min_df": [Interval(Integral, 1, None, closed="left"),
               Interval(RealNotInt, 0, 1, closed="both")],
    "lowercase": ["boolean"],
    "token_pattern": [str],
    "token_dim": [Interval(Integral, 1, None, closed="left")],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "word_dropout": [Interval(Real, 0, 1, closed="left")],
}


def fit_vocabulary(
    texts: Sequence[str],
    *,
    column: str,
    lowercase: bool,
    token_pattern: str,
    min_df: float,
    max_features: int | None,
) -> tuple[CountVectorizer, dict[str, int]]:
    """Learn the token vocabulary of ``texts`` with a CountVectorizer.

    Parameters
    ----------
    texts : sequence of str
        The present (non-missing) texts of the column.
    column : str
        The column's name, for error messages.
    lowercase, token_pattern, min_df, max_features
        As in :class:`~sklearn.feature_extraction.text.CountVectorizer`.

    Returns
    -------
    vectorizer : CountVectorizer
        Fitted; its ``build_analyzer()`` is the tokenizer to use at transform.
    vocabulary : dict of str -> int
        Token -> id, ids from ``N_RESERVED`` on (0 and 1 are ``PAD`` and ``UNK``).

    Raises
    ------
    ValueError
        If no text has a token, or ``min_df``/``max_features`` leave no token.
    """
    vectorizer = CountVectorizer(lowercase=lowercase, token_pattern=token_pattern,
                                 min_df=min_df, max_features=max_features)
    analyzer = vectorizer.build_analyzer()
    if not any(analyzer(text) for text in texts):
        raise ValueError(
            f"column {column!r}: every text is empty (no token matches token_pattern="
            f"{token_pattern!r}), so there is no vocabulary to learn."
        )
    try:
        vectorizer.fit(texts)
    except ValueError as exc:
        # Only pruning can fail here (tokens exist): say which column and which knob.
        raise ValueError(
            f"column {column!r}: no token is left after min_df={min_df!r} / "
            f"max_features={max_features!r} ({exc}); lower min_df."
        ) from exc
    vocabulary = {token: int(index) + N_RESERVED
                  for token, index in vectorizer.vocabulary_.items()}
    return vectorizer, vocabulary


def texts_to_ids(
    texts: Sequence[str],
    *,
    analyzer: Callable[[str], list[str]],
    vocabulary: dict[str, int],
    max_length: int,
) -> np.ndarray:
    """Token ids of ``texts``, cut to ``max_length`` and right-padded with ``PAD``.

    Parameters
    ----------
    texts : sequence of str
    analyzer : callable
        A fitted CountVectorizer's ``build_analyzer()``.
    vocabulary : dict of str -> int
        From :func:`fit_vocabulary`.
    max_length : int
        Tokens kept per text (the first ones).

    Returns
    -------
    ids : ndarray of shape (n_texts, length), int64
        ``length`` is the longest cut text (at least 1). Every row has at least one
        non-padding id: a text without a known token is ``[UNK]``.

    Examples
    --------
    >>> vectorizer, vocab = fit_vocabulary(["red apple", "green apple"], column="name",
    ...     lowercase=True, token_pattern=DEFAULT_TOKEN_PATTERN, min_df=1, max_features=None)
    >>> vocab
    {'red': 4, 'apple': 2, 'green': 3}
    >>> texts_to_ids(["Apple red pie", "", "pie"], analyzer=vectorizer.build_analyzer(),
    ...              vocabulary=vocab, max_length=8)
    array([[2, 4, 1],
           [1, 0, 0],
           [1, 0, 0]])
    """
    rows = []
    for text in texts:
        ids = [vocabulary.get(token, UNK) for token in analyzer(text)[:max_length]]
        # A text with nothing known gets one embedding ("no information"), whatever its
        # length: an empty string and a string of unseen words mean the same to the model.
        rows.append(ids if any(i != UNK for i in ids) else [UNK])
    width = max((len(r) for r in rows), default=1)
    out = np.full((len(rows), width), PAD, dtype=np.int64)
    for i, ids in enumerate(rows):
        out[i, :len(ids)] = ids
    return out


# ------------------------------------------------------------------- torch-side helpers

def trim_padding(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the all-padding tail columns of a batch; returns ``(ids, lengths)``.

    Rows were padded to the longest text of everything converted together, so a batch of
    short texts would otherwise pay for the longest one.
    """
    lengths = (ids != PAD).sum(dim=1).clamp(min=1)
    return ids[:, :int(lengths.max())], lengths


def drop_words(ids: torch.Tensor, rate: float) -> torch.Tensor:
    """Replace known tokens by ``UNK`` with probability ``rate`` (training only).

    Without it ``UNK`` never occurs in training when ``min_df=1``, and its embedding, which
    every unseen word at transform maps to, would stay at its random initial value.
    """
    if rate <= 0:
        return ids
    drop = (ids >= N_RESERVED) & (torch.rand(ids.shape, device=ids.device) < rate)
    return ids.masked_fill(drop, UNK)


# ------------------------------------------------------------------ shared encoder base

class TextDeepEncoder(DeepEncoder):
    """What both deep text encoders share: the vocabulary, token ids, tags.

    Subclasses add their network's hyper-parameters to ``_module_params`` via
    :meth:`_text_module_params` and may check them in :meth:`_check_params`.
    """

    _modality = "text"

    def _check_params(self) -> None:
        """Cross-parameter checks that constraints cannot express (raise ValueError)."""

    def _prepare(self, cells: ColumnCells, *, fitting: bool) -> np.ndarray:
        texts, _ = read_texts(cells)
        if fitting:
            self._check_params()
            self.vectorizer_, self.vocabulary_ = fit_vocabulary(
                texts, column=cells.name, lowercase=self.lowercase,
                token_pattern=self.token_pattern, min_df=self.min_df,
                max_features=self.max_features)
            self.max_length_ = self.max_length
        # The fitted vectorizer, not the current parameters: set_params after fit must not
        # change how a fitted encoder tokenizes.
        return texts_to_ids(texts, analyzer=self.vectorizer_.build_analyzer(),
                            vocabulary=self.vocabulary_, max_length=self.max_length_)

    def _text_module_params(self) -> dict:
        return dict(vocab_size=len(self.vocabulary_) + N_RESERVED,
                    embedding_dim=self.embedding_dim, token_dim=self.token_dim,
                    dropout=self.dropout, word_dropout=self.word_dropout)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # As for CountVectorizer: one column of str, not a numeric 2-D array.
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags
