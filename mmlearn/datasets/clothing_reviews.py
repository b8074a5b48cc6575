"""Women's E-Commerce Clothing Reviews: text + tabular, predict "recommended"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.utils import Bunch

from ._base import data_file, make_bunch, to_object_strings

__all__ = ["load_clothing_reviews"]

_TEXT = ["Title", "Review Text"]
_TABULAR = [
    "Age",
    "Positive Feedback Count",
    "Division Name",
    "Department Name",
    "Class Name",
    "Clothing ID",
]
_TARGET = "Recommended IND"


def load_clothing_reviews(*, return_X_y: bool = False) -> Bunch | tuple[pd.DataFrame, np.ndarray]:
    """Load 23,486 clothing reviews: two texts and six tabular features per review.

    =====================  ================================================
    Samples                23,486 (rows in the source's order)
    Classes                2: ``Recommended IND`` 1 (82%) or 0
    Text                   ``Title`` (3,810 missing), ``Review Text`` (845 missing)
    Tabular                ``Age``, ``Positive Feedback Count``, ``Clothing ID`` (int64);
                           ``Division Name``, ``Department Name``, ``Class Name``
                           (str, 14 missing each)
    Test split             none (``test_mask`` is None)
    =====================  ================================================

    Missing cells are NaN in ``object`` columns. ``Rating`` (1-5 stars) almost determines
    the target, so it is not a feature; it is given as ``rating``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : pandas.DataFrame of shape (23486, 8)
            The text and tabular columns above.
        target : ndarray of shape (23486,), dtype int64
            ``Recommended IND``: 1 if the reviewer recommends the product.
        frame : pandas.DataFrame of shape (23486, 9)
            ``data`` with the ``Recommended IND`` column.
        target_names : ndarray of shape (2,), dtype object
            ``["not recommended", "recommended"]`` for targets 0 and 1.
        feature_names : list of str
            The columns of ``data``.
        modalities : dict
            ``"text"`` for ``Title`` and ``Review Text``, ``"tabular"`` for the others.
        test_mask : None
            The source has no test split.
        rating : ndarray of shape (23486,), dtype int64
            The star rating 1-5; it leaks the target, never use it as a feature.
        DESCR : str
            Description, source, licence and attribution.

    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    >>> from mmlearn.datasets import load_clothing_reviews
    >>> X, y = load_clothing_reviews(return_X_y=True)
    >>> X.shape
    (23486, 8)
    >>> int(X["Review Text"].isna().sum())
    845
    >>> "Rating" in X.columns
    False
    """
    with data_file("clothing_reviews.parquet").open("rb") as fh:
        table = pq.read_table(fh)
    frame = to_object_strings(table.to_pandas())
    data = frame[_TEXT + _TABULAR].copy()
    return make_bunch(
        data=data,
        target=frame[_TARGET].to_numpy(dtype=np.int64),
        target_column=_TARGET,
        target_names=np.array(["not recommended", "recommended"], dtype=object),
        modalities={**dict.fromkeys(_TEXT, "text"), **dict.fromkeys(_TABULAR, "tabular")},
        descr="clothing_reviews",
        test_mask=None,
        return_X_y=return_X_y,
        rating=frame["Rating"].to_numpy(dtype=np.int64),
    )
