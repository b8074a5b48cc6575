"""Image cells (arrays or PNG/JPEG paths) -> float32 ``(n, C, H, W)`` batches."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from mmlearn._columns import MAX_PIXELS_WITHOUT_SIZE, ColumnCells, probe_images, read_images
from mmlearn._inputs.base import ModalityInput

__all__ = ["ImageInput", "as_size", "fit_image_shape"]


def as_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """``size`` as ``(H, W)``: an int is a square; None stays None."""
    if size is None:
        return None
    if isinstance(size, Integral):
        return (int(size), int(size))
    if len(size) != 2 or not all(isinstance(s, Integral) and s >= 1 for s in size):
        raise ValueError(f"size must be a positive int or a pair (H, W) of them, got {size!r}.")
    return (int(size[0]), int(size[1]))


def fit_image_shape(cells: ColumnCells, size: int | tuple[int, int] | None
                    ) -> tuple[tuple[int, int], int]:
    """The ``(H, W)`` images are read at and their channel count (1 or 3), from headers.

    With ``size`` None every present image must share one size, of at most
    ``MAX_PIXELS_WITHOUT_SIZE`` pixels: a larger native size would make every row that large.

    Raises
    ------
    ValueError
        Images of different sizes, or too large, without ``size``.
    """
    common, channels = probe_images(cells)
    fixed = as_size(size)
    if fixed is not None:
        return fixed, channels
    if common is None:
        raise ValueError(f"column {cells.name!r}: images have different sizes; "
                         "pass size=(H, W) to resize them to one size.")
    if common[0] * common[1] > MAX_PIXELS_WITHOUT_SIZE:
        raise ValueError(
            f"column {cells.name!r}: images of size {common} have {common[0] * common[1]:,} "
            f"pixels, more than the {MAX_PIXELS_WITHOUT_SIZE:,} read without resizing (every "
            "row would be that large); pass size=(H, W) to resize them, e.g. size=224."
        )
    return common, channels


class ImageInput(ModalityInput):
    """Learn the image size and channel count; convert cells to ``(n, C, H, W)`` float32.

    Parameters
    ----------
    size : int, (H, W) or None
        Resize every image to this size; None requires (and keeps) one common size of at
        most ``MAX_PIXELS_WITHOUT_SIZE`` (1,000,000) pixels.
    grayscale : bool
        One luminance channel; else 3 as soon as one training image has colour.

    Attributes
    ----------
    image_size_ : (int, int)
    n_channels_ : int

    Notes
    -----
    ``fit`` reads each file's size and mode from its header, without decoding it.
    """

    kind = "image"

    def __init__(self, size=None, *, grayscale: bool = False):
        self.size = size
        self.grayscale = grayscale

    def fit(self, cells: ColumnCells, y=None) -> ImageInput:
        size, channels = fit_image_shape(cells, self.size)
        self.image_size_ = size
        self.n_channels_ = 1 if self.grayscale else channels
        return self

    def convert(self, cells: ColumnCells) -> np.ndarray:
        fixed = self.image_size_ if self.size is not None else None
        # Written channels-first and C-ordered in one pass: a transposed view of a
        # one-channel batch would be read by torch as channels-last and convolved with
        # other kernels, in the last bits.
        images, _ = read_images(cells, size=fixed, n_channels=self.n_channels_,
                                channels_first=True)
        if len(cells) and images.shape[2:4] != self.image_size_:
            raise ValueError(
                f"column {cells.name!r}: images of size {images.shape[2:4]} differ from the "
                f"fitted size {self.image_size_}; pass size=(H, W) to resize them."
            )
        return images

    def tail(self) -> tuple[int, ...]:
        return (self.n_channels_, *self.image_size_)

    def module_params(self) -> dict:
        return {"in_channels": self.n_channels_}
