"""Shared code of the deep text encoders: parameters, padding and word dropout, base class.

The text cells' conversion (vocabulary, token ids, ``PAD``/``UNK``) is
:class:`mmlearn._inputs.text.TokenInput`'s; here are the torch-side pieces both text
networks use: :func:`trim_padding` cuts each batch to its own longest text, and
:func:`drop_words` hides known tokens during training.
"""

from __future__ import annotations

from numbers import Integral, Real

import torch

from mmlearn._inputs.text import DEFAULT_TOKEN_PATTERN, N_RESERVED, PAD, UNK, TokenInput
from mmlearn.encoders._deep import DeepEncoder
from mmlearn.utils._sklearn_compat import Interval, RealNotInt

# PAD, UNK, N_RESERVED and DEFAULT_TOKEN_PATTERN are re-exported beside the torch-side text
# pieces: the text networks use them together.
__all__ = [
    "DEFAULT_TOKEN_PATTERN",
    "PAD",
    "UNK",
    "N_RESERVED",
    "TEXT_CONSTRAINTS",
    "TextDeepEncoder",
    "drop_words",
    "trim_padding",
]

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
    """What both deep text encoders share: the token input, the module's text parameters, tags.

    Subclasses add their network's hyper-parameters in :meth:`architecture_params` (via
    :meth:`text_architecture_params`) and may check them in :meth:`_check_params`.
    """

    modality = "text"

    def _check_params(self) -> None:
        """Cross-parameter checks that constraints cannot express (raise ValueError)."""

    def build_input(self) -> TokenInput:
        self._check_params()
        return TokenInput(lowercase=self.lowercase, token_pattern=self.token_pattern,
                          min_df=self.min_df, max_features=self.max_features,
                          max_length=self.max_length)

    def text_architecture_params(self) -> dict:
        """The module keywords both text networks take."""
        return dict(embedding_dim=self.embedding_dim, token_dim=self.token_dim,
                    dropout=self.dropout, word_dropout=self.word_dropout)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # As for CountVectorizer: one column of str, not a numeric 2-D array.
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags
