"""Deep text encoder: token embeddings read by a GRU or LSTM, trained with skorch."""

from __future__ import annotations

from numbers import Integral

from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmlearn.encoders._deep import COMMON_CONSTRAINTS
from mmlearn.encoders._vocab import (
    DEFAULT_TOKEN_PATTERN,
    PAD,
    TEXT_CONSTRAINTS,
    TextDeepEncoder,
    drop_words,
    trim_padding,
)
from mmlearn.utils._sklearn_compat import Interval, StrOptions

__all__ = ["TextRNN", "TextRNNEncoder"]


class TextRNN(nn.Module):
    """Token embedding -> (bi)GRU/LSTM over packed sequences -> pooling -> embedding.

    ``forward`` returns class logits; ``embed`` the ReLU'd ``embedding_dim`` features, made
    from the last layer's outputs: their maximum over each text's real tokens
    (``pooling="max"``) or the final hidden state of each direction at the text's true end
    (``pooling="last"``).
    """

    def __init__(self, vocab_size=2, n_classes=2, embedding_dim=64, token_dim=64,
                 hidden_size=64, num_layers=1, cell="gru", bidirectional=True, pooling="max",
                 dropout=0.2, word_dropout=0.1):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, token_dim, padding_idx=PAD)
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = rnn(token_dim, hidden_size, num_layers=num_layers, batch_first=True,
                       bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.n_directions = 2 if bidirectional else 1
        self.embedding = nn.Sequential(nn.Linear(hidden_size * self.n_directions, embedding_dim),
                                       nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embedding_dim, n_classes)
        self.word_dropout = word_dropout
        self.pooling = pooling

    def embed(self, ids):
        ids, lengths = trim_padding(ids)
        if self.training:
            ids = drop_words(ids, self.word_dropout)
        # Packing makes the RNN stop at each text's last token: padding never enters a state.
        packed = pack_padded_sequence(self.dropout(self.tokens(ids)), lengths.cpu(),
                                      batch_first=True, enforce_sorted=False)
        outputs, state = self.rnn(packed)
        if self.pooling == "max":
            # -inf padding can never be the maximum: every text has at least one token.
            outputs, _ = pad_packed_sequence(outputs, batch_first=True,
                                             padding_value=float("-inf"))
            return self.embedding(outputs.max(dim=1).values)
        hidden = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        last = hidden[-self.n_directions:]  # the last layer, each direction
        return self.embedding(last.transpose(0, 1).reshape(ids.shape[0], -1))

    def forward(self, ids):
        return self.classifier(self.dropout(self.embed(ids)))


class TextRNNEncoder(TextDeepEncoder):
    """Learn text features with a recurrent network; ``transform`` gives its embedding.

    Each text is split into tokens by scikit-learn's
    :class:`~sklearn.feature_extraction.text.CountVectorizer` analyzer, mapped to ids of the
    fitted vocabulary, embedded, and read in order by a GRU or LSTM (bidirectional by
    default) over packed sequences, so padding never enters a state. The outputs are pooled
    to one vector per text (by default their maximum over the text's tokens) and go through
    a linear + ReLU layer to ``embedding_dim`` features.
    ``fit(X, y)`` trains this with a classification head (early stopping on a seeded,
    stratified validation split); ``transform`` returns the features, so an SVC or another
    modality can use them; ``predict``/``predict_proba`` use the network's own head.

    Text handling: a missing cell (None/NaN) gives a NaN row from ``transform``; a text with
    no known token (an empty string, punctuation only, only words unseen in fit) is read as
    the single unknown token, so all such texts share one valid embedding; texts longer than
    ``max_length`` tokens are cut; a cell that is not a string raises a TypeError naming its
    column and row.

    Parameters
    ----------
    cell : {"gru", "lstm"}, default="gru"
        The recurrent unit.
    bidirectional : bool, default=True
        Read each text in both directions; outputs and final states join both.
    pooling : {"max", "last"}, default="max"
        One vector per text: ``"max"`` takes each output unit's maximum over the text's
        tokens (Conneau et al., 2017, InferSent), ``"last"`` the final hidden state of each
        direction. Max-pooling keeps what early words said in long texts: trained on 2,000
        clothing reviews, its held-out ROC AUC was 0.88 against 0.83; on short emoji names
        the two are equal.
    hidden_size : int, default=64
        Units of the recurrent state (per direction).
    num_layers : int, default=1
        Stacked recurrent layers.
    token_dim : int, default=64
        Size of the learned token vectors.
    dropout : float, default=0.2
        Dropout on the token vectors, between stacked layers and before the head.
    word_dropout : float, default=0.1
        During fit, each known token is replaced by the unknown token with this probability,
        which regularizes and trains the unknown token's vector for words unseen in fit.
    max_length : int, default=128
        Tokens kept per text (the first ones).
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
        one-character tokens ("a", "1"), which carry meaning in order.
    embedding_dim : int, default=64
    n_workers : int or None, default=None
        DataLoader worker processes that decode file cells while the network trains and
        embeds. None chooses 0 for cells held in memory (they are converted once per fit)
        and one per spare core (at most 4) for file paths.
    max_epochs : int, default=30
    lr : float, default=3e-3
        AdamW learning rate.
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
        Seeds weight initialisation, shuffling, word dropout and the validation split,
        without touching torch's global random state.
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
    TextAttentionEncoder : a Transformer encoder over the same tokens.
    sklearn.feature_extraction.text.TfidfVectorizer : the classical text baseline.

    Examples
    --------
    >>> from mmlearn.datasets import load_emoji
    >>> from mmlearn.encoders.text_rnn import TextRNNEncoder
    >>> emoji = load_emoji()
    >>> names, y = emoji.data["name"][:300], emoji.target[:300]
    >>> enc = TextRNNEncoder(max_epochs=3, random_state=0).fit(names, y)
    >>> enc.transform(["red apple", "", None]).shape
    (3, 64)
    >>> enc.vocabulary_["keycap"] >= 2
    True
    """

    module_class = TextRNN
    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        **TEXT_CONSTRAINTS,
        "cell": [StrOptions({"gru", "lstm"})],
        "bidirectional": ["boolean"],
        "pooling": [StrOptions({"max", "last"})],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, cell="gru", *, bidirectional=True, pooling="max", hidden_size=64,
                 num_layers=1, token_dim=64, dropout=0.2, word_dropout=0.1, max_length=128,
                 max_features=None, min_df=2, lowercase=True, token_pattern=DEFAULT_TOKEN_PATTERN,
                 embedding_dim=64, n_workers=None, max_epochs=30, lr=3e-3, batch_size=64,
                 validation_fraction=0.1, patience=5, class_weight=None, device="cpu",
                 random_state=None, verbose=0):
        self.cell = cell
        self.bidirectional = bidirectional
        self.pooling = pooling
        self.hidden_size = hidden_size
        self.num_layers = num_layers
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

    def architecture_params(self) -> dict:
        return dict(**self.text_architecture_params(), hidden_size=self.hidden_size,
                    num_layers=self.num_layers, cell=self.cell,
                    bidirectional=self.bidirectional, pooling=self.pooling)
