"""Text cells -> padded token-id batches, with a vocabulary learned by scikit-learn.

Tokenizing is scikit-learn's: the vocabulary and the analyzer come from a
:class:`~sklearn.feature_extraction.text.CountVectorizer`, so lowercasing, accent handling
and ``token_pattern`` mean exactly what they mean for ``TfidfVectorizer``. What a sequence
model needs on top is fixed here:

- id 0 is padding (``PAD``) and id 1 the unknown token (``UNK``); the learned tokens follow;
- a text with no known token (an empty string, only punctuation, only unseen words) is the
  single sequence ``[UNK]``, so it has a well-defined embedding, the same for all of them;
- texts are cut to ``max_length`` tokens and right-padded with ``PAD`` to the longest
  (cut) text of the rows converted together; the networks trim each batch to its own
  longest text and mask the rest, so padding never reaches a result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from mmlearn._columns import ColumnCells, read_texts
from mmlearn._inputs.base import ModalityInput

__all__ = [
    "DEFAULT_TOKEN_PATTERN",
    "N_RESERVED",
    "PAD",
    "UNK",
    "TokenInput",
    "fit_vocabulary",
    "texts_to_ids",
]

PAD = 0
UNK = 1
N_RESERVED = 2

# Keeps one-character tokens ("a", "1", "I"), which CountVectorizer's default pattern drops:
# word order makes them meaningful to a sequence model ("keycap 1", "size 2").
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w+\b"



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


@dataclass(eq=False, kw_only=True)
class TokenInput(ModalityInput):
    """Learn a vocabulary; convert texts to right-padded ``int64`` token ids.

    Parameters
    ----------
    lowercase, token_pattern, min_df, max_features
        As in :class:`~sklearn.feature_extraction.text.CountVectorizer`.
    max_length : int
        Tokens kept per text.

    Attributes
    ----------
    vectorizer_ : CountVectorizer
        Fitted; its analyzer tokenizes at conversion (set_params on the encoder after fit
        does not change how a fitted input tokenizes).
    vocabulary_ : dict of str -> int
    max_length_ : int
    """

    kind = "text"
    dtype = np.int64

    lowercase: bool = True
    token_pattern: str = DEFAULT_TOKEN_PATTERN
    min_df: float = 2
    max_features: int | None = None
    max_length: int = 128

    def fit(self, cells: ColumnCells, y=None) -> TokenInput:
        texts, _ = read_texts(cells)
        self.vectorizer_, self.vocabulary_ = fit_vocabulary(
            texts, column=cells.name, lowercase=self.lowercase,
            token_pattern=self.token_pattern, min_df=self.min_df,
            max_features=self.max_features)
        self.max_length_ = self.max_length
        self._analyzer = self.vectorizer_.build_analyzer()
        return self

    def convert(self, cells: ColumnCells) -> np.ndarray:
        texts, _ = read_texts(cells)
        return texts_to_ids(texts, analyzer=self._analyzer, vocabulary=self.vocabulary_,
                            max_length=self.max_length_)

    def streams(self, cells: ColumnCells) -> bool:
        # Text cells are the texts themselves, never paths to files.
        return False

    def tail(self) -> tuple[int, ...]:
        return (1,)

    def module_params(self) -> dict:
        return {"vocab_size": len(self.vocabulary_) + N_RESERVED}

    def __getstate__(self):
        # The analyzer is a closure (not picklable); it is rebuilt from the vectorizer.
        state = self.__dict__.copy()
        state.pop("_analyzer", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "vectorizer_" in state:
            self._analyzer = self.vectorizer_.build_analyzer()
