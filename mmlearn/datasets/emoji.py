"""Google Noto emoji: 64x64 RGBA images with their names, labelled by category."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._base import data_file, make_bunch, object_column, read_csv

__all__ = ["load_emoji"]


@lru_cache(maxsize=1)
def _images() -> np.ndarray:
    # Inflating the 31 MB array is most of the load time; kept read-only for the process
    # and copied cell by cell into every result.
    with data_file("emoji_images.npz").open("rb") as fh, np.load(fh) as npz:
        images = npz["images"]
    images.setflags(write=False)
    return images


def load_emoji(*, return_X_y: bool = False) -> Bunch | tuple[pd.DataFrame, np.ndarray]:
    """Load 1,911 Noto emoji: an image and two texts per emoji, labelled by category.

    =====================  ================================================
    Samples                1,911 (rows in the order of the source's emoji.json)
    Classes                10 categories (``"Smileys & Emotion"``, ``"Flags"`` ...),
                           5 to 386 emoji each
    ``image`` cell         uint8 ndarray ``(64, 64, 4)``, RGBA as in the PNGs
    ``name`` cell          str, the Unicode name lowercased (``"hash key"``)
    ``short_names`` cell   str, the short names joined by a space, ``_`` -> space
    Test split             none (``test_mask`` is None)
    =====================  ================================================

    The subcategory (about 99 values) determines the category, so it is not a feature;
    it is given as ``subcategory`` for analysis.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : pandas.DataFrame of shape (1911, 3)
            Columns ``image``, ``name`` and ``short_names`` (``object`` dtype).
        target : ndarray of shape (1911,), dtype object
            The category (str).
        frame : pandas.DataFrame of shape (1911, 4)
            ``data`` with the ``category`` target column.
        target_names : ndarray of shape (10,), dtype object
            The categories, sorted.
        feature_names : list of str
            ``["image", "name", "short_names"]``.
        modalities : dict
            ``{"image": "image", "name": "text", "short_names": "text"}``.
        test_mask : None
            The source has no test split.
        subcategory : ndarray of shape (1911,), dtype object
            The subcategory (str); it leaks the target, never use it as a feature.
        unified : ndarray of shape (1911,), dtype object
            The code points, e.g. ``"1F600"``.
        DESCR : str
            Description, sources, licences and attribution.

    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    >>> from mmlearn.datasets import load_emoji
    >>> bunch = load_emoji()
    >>> bunch.data.shape
    (1911, 3)
    >>> bunch.data["image"].iloc[0].shape, bunch.data["image"].iloc[0].dtype
    ((64, 64, 4), dtype('uint8'))
    >>> bunch.data["name"].iloc[0], bunch.target[0]
    ('hash key', 'Symbols')
    """
    table = read_csv("emoji.csv")
    images = _images()
    data = pd.DataFrame(
        {
            "image": pd.Series(object_column([image.copy() for image in images]), dtype=object),
            "name": pd.Series(table["name"].str.lower().to_numpy(dtype=object), dtype=object),
            "short_names": pd.Series(
                table["short_names"].str.replace("_", " ").to_numpy(dtype=object), dtype=object
            ),
        }
    )
    target = table["category"].to_numpy(dtype=object)
    return make_bunch(
        data=data,
        target=target,
        target_column="category",
        target_names=np.array(sorted(set(target)), dtype=object),
        modalities={"image": "image", "name": "text", "short_names": "text"},
        descr="emoji",
        test_mask=None,
        return_X_y=return_X_y,
        subcategory=table["subcategory"].to_numpy(dtype=object),
        unified=table["unified"].to_numpy(dtype=object),
    )
