"""Classical image encoder: resized, scaled pixels as a flat feature vector."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin
from sklearn.utils.validation import check_is_fitted

from mmlearn._columns import batch_slices, read_images
from mmlearn._inputs.image import fit_image_shape
from mmlearn.encoders._base import ModalityEncoder
from mmlearn.utils._sklearn_compat import Interval, fit_context


class ImagePixelEncoder(ClassNamePrefixFeaturesOutMixin, ModalityEncoder):
    """Encode an image column as its resized pixels in [0, 1], flattened.

    The classical baseline for images: no learning beyond the fitted size and channel count.
    Cells follow mmlearn's data contract (``docs/data_contract.md``): ndarrays ``(H, W)`` or
    ``(H, W, C)`` (uint8, uint16, or float in [0, 1]), or PNG/JPEG paths (8- or 16-bit)
    read batch by batch.

    Parameters
    ----------
    size : int, (H, W) or None, default=None
        Resize every image to this size (bilinear). With None, every image must have the
        same size, which becomes the fitted size; mixed sizes, or images of more than
        1,000,000 pixels, then raise a ``ValueError``.
    grayscale : bool, default=False
        Convert to one luminance channel. Otherwise images are grayscale if every fitted
        image was grayscale, else RGB (grayscale images repeated to 3 channels, RGBA
        composited on white).
    batch_size : int, default=512
        Images converted at a time, so paths are read lazily and memory stays bounded.

    Attributes
    ----------
    image_size_ : tuple of int
        The (H, W) every image is resized to.
    n_channels_ : int
        1 or 3.
    n_features_in_ : int
        1 (one column), or the number of columns of a stacked 2-D array.
    feature_names_in_ : ndarray of str
        The column's name, when fitted on a DataFrame.

    See Also
    --------
    mmlearn.fusion.EarlyFusion : Concatenates this encoder's output with other modalities'.

    Notes
    -----
    ``transform`` returns float32 of shape ``(n_samples, H * W * C)``; rows whose cell is
    missing (None/NaN) are all NaN, which EarlyFusion imputes.
    Float images outside [0, 1] and integer images beyond their bit depth raise a
    ``ValueError``; the float rows of a 2-D numeric table are kept as they are.

    Examples
    --------
    >>> import numpy as np
    >>> from mmlearn.encoders import ImagePixelEncoder
    >>> images = [np.zeros((8, 8), dtype=np.uint8), np.full((16, 16), 255, dtype=np.uint8)]
    >>> enc = ImagePixelEncoder(size=4).fit(images)
    >>> enc.transform(images).shape
    (2, 16)
    >>> float(enc.transform(images)[1].max())
    1.0
    """

    modality = "image"
    _parameter_constraints: dict = {
        "size": [None, Interval(Integral, 1, None, closed="left"), tuple, list],
        "grayscale": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, size=None, *, grayscale=False, batch_size=512):
        self.size = size
        self.grayscale = grayscale
        self.batch_size = batch_size

    def _fixed_width(self) -> bool:
        # Without resizing, a row of flat pixels must keep its fitted width.
        return self.size is None

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the image size and channel count.

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of images
        y : ignored

        Returns
        -------
        self : ImagePixelEncoder
        """
        cells = self._read_column(X, y, reset=True)
        size, channels = fit_image_shape(cells, self.size)
        self.image_size_ = size
        self.n_channels_ = 1 if self.grayscale else channels
        self._n_features_out = size[0] * size[1] * self.n_channels_
        return self

    def transform(self, X):
        """Resize, scale and flatten the images.

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of images

        Returns
        -------
        features : ndarray of shape (n_samples, H * W * C), float32
        """
        check_is_fitted(self)
        cells = self._read_column(X, reset=False)
        out = np.empty((len(cells), self._n_features_out), dtype=np.float32)
        fixed = self.image_size_ if self.size is not None else None
        for rows in batch_slices(len(cells), self.batch_size):
            batch = cells.subset(np.arange(rows.start, rows.stop))
            images, missing = read_images(batch, size=fixed, n_channels=self.n_channels_)
            if missing.all():
                out[rows] = np.nan
                continue
            if images.shape[1:3] != self.image_size_:
                raise ValueError(
                    f"column {cells.name!r}: images of size {images.shape[1:3]} differ from the "
                    f"fitted size {self.image_size_}; pass size=(H, W) to resize them."
                )
            flat = images.reshape(len(batch), -1)
            flat[missing] = np.nan
            out[rows] = flat
        return out
