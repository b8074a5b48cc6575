"""Deep text encoder: a small Transformer encoder (self-attention), trained with skorch."""

from __future__ import annotations

import math
from numbers import Integral

import torch
from torch import nn

from mmlearn.encoders._deep import COMMON_CONSTRAINTS
from mmlearn.encoders._vocab import (
    DEFAULT_TOKEN_PATTERN,
    PAD,
    TEXT_CONSTRAINTS,
    TextDeepEncoder,
    drop_words,
    trim_padding,
)
from mmlearn.utils._sklearn_compat import Interval

__all__ = ["TextAttention", "TextAttentionEncoder"]


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """The fixed sine/cosine position codes of Vaswani et al. (2017), ``(length, dim)``."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(1e4) / dim))
    codes = torch.zeros(length, dim + dim % 2)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency)
    return codes[:, :dim]


class TextAttention(nn.Module):
    """Token embedding + positions -> TransformerEncoder -> masked mean -> embedding.

    ``forward`` returns class logits; ``embed`` the ReLU'd ``embedding_dim`` features, the
    mean of the encoder's outputs over each text's real tokens (padding is masked out of
    attention with ``src_key_padding_mask`` and out of the mean).
    """

    def __init__(self, vocab_size=2, n_classes=2, embedding_dim=64, token_dim=64, n_heads=4,
                 num_layers=2, feedforward_dim=128, dropout=0.1, word_dropout=0.1,
                 max_length=128):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, token_dim, padding_idx=PAD)
        # Fixed codes: nothing to learn from few samples, and they are defined at every
        # position up to max_length even if fit only saw short texts.
        self.register_buffer("positions", sinusoidal_positions(max_length, token_dim))
        layer = nn.TransformerEncoderLayer(token_dim, n_heads, dim_feedforward=feedforward_dim,
                                           dropout=dropout, batch_first=True, norm_first=True)
        # Pre-norm layers train stably without warm-up; they need a final norm.
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(token_dim),
                                             enable_nested_tensor=False)
        self.embedding = nn.Sequential(nn.Linear(token_dim, embedding_dim), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embedding_dim, n_classes)
        self.scale = math.sqrt(token_dim)
        self.word_dropout = word_dropout

    def embed(self, ids):
        ids, _ = trim_padding(ids)
        padding = ids == PAD
        if self.training:
            ids = drop_words(ids, self.word_dropout)
        x = self.tokens(ids) * self.scale + self.positions[:ids.shape[1]]
        x = self.encoder(self.dropout(x), src_key_padding_mask=padding)
        keep = (~padding).unsqueeze(-1).to(x.dtype)
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1)
        return self.embedding(pooled)

    def forward(self, ids):
        return self.classifier(self.dropout(self.embed(ids)))


class TextAttentionEncoder(TextDeepEncoder):
    """Learn text features with a small Transformer encoder; ``transform`` gives its embedding.

    Each text is split into tokens by scikit-learn's
    :class:`~sklearn.feature_extraction.text.CountVectorizer` analyzer and mapped to ids of
    the fitted vocabulary; token vectors plus fixed sinusoidal position codes go through
    ``num_layers`` pre-norm :class:`torch.nn.TransformerEncoderLayer` blocks (multi-head
    self-attention; padding is excluded with ``src_key_padding_mask``); the outputs are
    averaged over each text's real tokens and mapped by a linear + ReLU layer to
    ``embedding_dim`` features. ``fit(X, y)`` trains this with a classification head (early
    stopping on a seeded, stratified validation split); ``transform`` returns the features;
    ``predict``/``predict_proba`` use the network's own head.

    Text handling: a missing cell (None/NaN) gives a NaN row from ``transform``; a text with
    no known token (an empty string, punctuation only, only words unseen in fit) is read as
    the single unknown token, so all such texts share one valid embedding; texts longer than
    ``max_length`` tokens are cut; a cell that is not a string raises a TypeError naming its
    column and row.

    Parameters
    ----------
    n_heads : int, default=4
        Attention heads; must divide ``token_dim``.
    num_layers : int, default=2
        Transformer encoder layers.
    feedforward_dim : int, default=128
        Width of each layer's feed-forward block.
    token_dim : int, default=64
        Size of the learned token vectors (the model width).
    dropout : float, default=0.1
        Dropout on the inputs, inside each layer and before the head.
    word_dropout : float, default=0.1
        During fit, each known token is replaced by the unknown token with this probability,
        which regularizes and trains the unknown token's vector for words unseen in fit.
    max_length : int, default=128
        Tokens kept per text (the first ones); also the number of position codes.
    max_features : int or None, default=None
        Keep only the most frequent tokens (as in CountVectorizer); the others are unknown.
    min_df : int or float, default=2
        Tokens in fewer fitted texts than this (a count, or a proportion if float) are
        unknown. Not CountVectorizer's 1: a token of a single text would get a vector that
        only memorizes that text, while as unknown it trains the vector that every unseen
        word uses at transform. Use 1 on tiny data.
    lowercase : bool, default=True
    token_pattern : str, default=r"(?u)\\b\\w+\\b"
        The CountVectorizer token regex; unlike CountVectorizer's default it keeps
        one-character tokens ("a", "1").
    embedding_dim : int, default=64
    n_workers : int or None, default=None
        DataLoader worker processes that decode file cells while the network trains and
        embeds. None chooses 0 for cells held in memory (they are converted once per fit)
        and one per spare core (at most 4) for file paths.
    max_epochs : int, default=30
    lr : float, default=3e-3
        AdamW learning rate (the pre-norm layers train stably at this rate without warm-up).
    batch_size : int, default=64
    validation_fraction : float or None, default=0.1
        Share of the training rows held out (stratified, seeded) for early stopping; None
        trains for ``max_epochs`` on all rows.
    patience : int, default=5
        Epochs without validation improvement before stopping (best weights are kept).
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the training loss. ``"balanced"`` weighs each
        class by ``n_rows / (n_classes * count)`` over the training rows, so that a rare
        class counts as much as a common one; a dict maps labels to weights (a class it
        does not name keeps 1; a label that is not in ``y`` raises a ValueError). It
        multiplies ``fit``'s ``sample_weight``.
    device : str, default="cpu"
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, shuffling, dropout and the validation split, without
        touching torch's global random state.
    verbose : int, default=0

    Attributes
    ----------
    net_ : skorch.NeuralNetClassifier
    classes_ : ndarray
        Labels seen in fit, in the user's label space.
    vocabulary_ : dict of str -> int
        Token -> id; ids 0 and 1 are padding and the unknown token.
    vectorizer_ : CountVectorizer
        Fitted; its analyzer tokenizes texts at transform.
    max_length_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X is a one-column DataFrame.

    See Also
    --------
    TextRNNEncoder : a GRU/LSTM over the same tokens.
    sklearn.feature_extraction.text.TfidfVectorizer : the classical text baseline.

    Examples
    --------
    >>> from mmlearn.datasets import load_emoji
    >>> from mmlearn.encoders.text_attention import TextAttentionEncoder
    >>> emoji = load_emoji()
    >>> names, y = emoji.data["name"][:300], emoji.target[:300]
    >>> enc = TextAttentionEncoder(max_epochs=3, random_state=0).fit(names, y)
    >>> enc.transform(["red apple", "", None]).shape
    (3, 64)
    >>> enc.predict(["keycap 7"]).shape
    (1,)
    """

    module_class = TextAttention
    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        **TEXT_CONSTRAINTS,
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "feedforward_dim": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_heads=4, *, num_layers=2, feedforward_dim=128, token_dim=64, dropout=0.1,
                 word_dropout=0.1, max_length=128, max_features=None, min_df=2, lowercase=True,
                 token_pattern=DEFAULT_TOKEN_PATTERN, embedding_dim=64, n_workers=None,
                 max_epochs=30, lr=3e-3, batch_size=64, validation_fraction=0.1, patience=5,
                 class_weight=None, device="cpu", random_state=None, verbose=0):
        self.n_heads = n_heads
        self.num_layers = num_layers
        self.feedforward_dim = feedforward_dim
        self.token_dim = token_dim
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.max_length = max_length
        self.max_features = max_features
        self.min_df = min_df
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.embedding_dim = embedding_dim
        self.n_workers = n_workers
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        if self.token_dim % self.n_heads:
            raise ValueError(
                f"token_dim={self.token_dim} must be divisible by n_heads={self.n_heads}: "
                "each attention head gets token_dim / n_heads dimensions."
            )

    def architecture_params(self) -> dict:
        return dict(**self.text_architecture_params(), n_heads=self.n_heads,
                    num_layers=self.num_layers, feedforward_dim=self.feedforward_dim,
                    max_length=self.max_length)
