"""Deep image encoder: a small convolutional network trained with skorch."""

from __future__ import annotations

from numbers import Integral, Real

import torch
from torch import nn
from torch.nn import functional as F

from mmlearn._inputs.image import ImageInput
from mmlearn.encoders._deep import COMMON_CONSTRAINTS, DeepEncoder
from mmlearn.utils._sklearn_compat import Interval


class _PoolIfRoom(nn.Module):
    """2x2 max-pooling that leaves maps smaller than 2 pixels alone (1x1 images work)."""

    def forward(self, x):
        return F.max_pool2d(x, 2) if min(x.shape[-2:]) >= 2 else x


def _random_shift(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate the batch by up to ``max_shift`` pixels (edge-replicated), one draw per batch."""
    if max_shift < 1:
        return x
    dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,)))
    padded = F.pad(x, (max_shift,) * 4, mode="replicate")
    h, w = x.shape[-2:]
    return padded[..., max_shift + dy:max_shift + dy + h, max_shift + dx:max_shift + dx + w]


class ImageCNN(nn.Module):
    """Conv blocks (conv 3x3, batch norm, ReLU, max-pool) -> global average -> embedding.

    ``forward`` returns class logits; ``embed`` the ReLU'd ``embedding_dim`` features.
    """

    def __init__(self, in_channels=1, n_classes=2, embedding_dim=64, width=32, depth=2,
                 dropout=0.2, augment=False):
        super().__init__()
        blocks, channels = [], in_channels
        for level in range(depth):
            out = width * 2**level
            blocks += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True), _PoolIfRoom()]
            channels = out
        self.features = nn.Sequential(*blocks)
        self.embedding = nn.Sequential(nn.Linear(channels, embedding_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embedding_dim, n_classes)
        self.augment = augment

    def embed(self, x):
        return self.embedding(self.features(x).mean(dim=(2, 3)))

    def forward(self, x):
        if self.training and self.augment:
            x = _random_shift(x, max(1, x.shape[-1] // 8))
        return self.classifier(self.dropout(self.embed(x)))


class ImageCNNEncoder(DeepEncoder):
    """Learn image features with a small CNN; ``transform`` gives its embedding.

    ``fit(X, y)`` trains conv blocks and a classification head on the images (early stopping
    on a seeded, stratified validation split); ``transform`` returns the penultimate
    ``embedding_dim`` features, so an SVC, a KNN or another modality can use them.
    ``predict``/``predict_proba`` use the network's own head. Cells follow the data contract
    (arrays or PNG/JPEG paths; grayscale, RGB or RGBA; any size, resized by ``size``).

    Parameters
    ----------
    size : int, (H, W) or None, default=None
        Resize every image to this size; None keeps the fitted images' common size.
    grayscale : bool, default=False
        Feed one luminance channel.
    width : int, default=32
        Channels of the first conv block (doubled at each further block).
    depth : int, default=2
        Number of conv blocks.
    dropout : float, default=0.2
        Dropout before the classification head.
    augment : bool, default=False
        Light augmentation during fit: a random translation of up to 1/8 of the width.
    embedding_dim : int, default=64
    n_workers : int or None, default=None
        DataLoader worker processes that decode file cells while the network trains and
        embeds. None chooses 0 for cells held in memory (they are converted once per fit)
        and one per spare core (at most 4) for file paths.
    max_epochs : int, default=30
    lr : float, default=1e-3
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
        A torch device such as "cuda". A CUDA-fitted encoder unpickles on a CPU machine.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, shuffling, augmentation and the validation split,
        without touching torch's global random state.
    verbose : int, default=0
        1 prints skorch's per-epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNetClassifier
    classes_ : ndarray
        Labels seen in fit, in the user's label space.
    image_size_ : tuple of int
    n_channels_ : int

    See Also
    --------
    ImagePixelEncoder : the classical image baseline.

    Examples
    --------
    >>> from mmlearn.datasets import load_av_digits
    >>> from mmlearn.encoders import ImageCNNEncoder
    >>> X, y = load_av_digits(return_X_y=True)
    >>> enc = ImageCNNEncoder(max_epochs=2, random_state=0).fit(X["image"][:200], y[:200])
    >>> enc.transform(X["image"][:5]).shape
    (5, 64)
    """

    modality = "image"
    module_class = ImageCNN
    _parameter_constraints: dict = {
        **COMMON_CONSTRAINTS,
        "size": [None, Interval(Integral, 1, None, closed="left"), tuple, list],
        "grayscale": ["boolean"],
        "width": [Interval(Integral, 1, None, closed="left")],
        "depth": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "augment": ["boolean"],
    }

    def __init__(self, size=None, *, grayscale=False, width=32, depth=2, dropout=0.2, augment=False,
                 embedding_dim=64, n_workers=None, max_epochs=30, lr=1e-3, batch_size=64,
                 validation_fraction=0.1, patience=5, class_weight=None, device="cpu",
                 random_state=None, verbose=0):
        self.size = size
        self.grayscale = grayscale
        self.width = width
        self.depth = depth
        self.dropout = dropout
        self.augment = augment
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

    def _fixed_width(self) -> bool:
        return self.size is None

    def build_input(self) -> ImageInput:
        return ImageInput(self.size, grayscale=self.grayscale)

    def architecture_params(self) -> dict:
        return dict(embedding_dim=self.embedding_dim, width=self.width, depth=self.depth,
                    dropout=self.dropout, augment=self.augment)
