"""Any scikit-learn transformer's (or passthrough) features -> standardised float32 rows.

The input of a network branch that is not a deep encoder (``StandardScaler`` on tabular
columns, ``TfidfVectorizer``, ``ImagePixelEncoder``, ``"passthrough"``): the transformer is
fitted on the present training rows and its features standardised with the one
standardiser (NaN-aware: a transformer may pass missing cells through; remaining NaN cells
get the training mean).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from mmlearn._inputs.base import ModalityInput
from mmlearn._nn.standardize import apply_standardizer, fit_standardizer
from mmlearn.utils._sklearn_compat import num_samples, safe_indexing

__all__ = ["TableRows", "TabularInput"]


class TableRows:
    """The rows of a column selection (DataFrame, array), shaped like ``ColumnCells``."""

    def __init__(self, table: object, name: str):
        self.table = table
        self.name = name

    def __len__(self) -> int:
        return num_samples(self.table)

    def has_paths(self) -> bool:
        return False

    def subset(self, rows: np.ndarray) -> TableRows:
        return TableRows(safe_indexing(self.table, rows, axis=0), self.name)


class TabularInput(ModalityInput):
    """Fit a transformer on the present rows; its standardised dense features as input.

    Parameters
    ----------
    estimator : transformer or "passthrough"
        Cloned before fitting.

    Attributes
    ----------
    estimator_ : fitted transformer or "passthrough"
    mean_, scale_ : ndarray of float32
    """

    kind = "tabular"

    def __init__(self, estimator="passthrough"):
        self.estimator = estimator

    def fit(self, cells: TableRows, y=None) -> TabularInput:
        if isinstance(self.estimator, str):
            if self.estimator != "passthrough":
                raise ValueError(
                    f"an encoder must be an estimator or 'passthrough', got {self.estimator!r}."
                )
            self.estimator_ = "passthrough"
            features = _passthrough(cells.table)
        else:
            self.estimator_ = clone(self.estimator)
            features = self.estimator_.fit_transform(cells.table, y)
        features = self._dense(features)
        self.mean_, self.scale_ = fit_standardizer(features, ignore_nan=True)
        return self

    def convert(self, cells: TableRows) -> np.ndarray:
        features = (_passthrough(cells.table) if isinstance(self.estimator_, str)
                    else self.estimator_.transform(cells.table))
        features = self._dense(features)
        if features.shape[1] != self.mean_.shape[0]:
            raise ValueError(
                f"the encoder gives {features.shape[1]} features, fit gave {self.mean_.shape[0]}."
            )
        # NaN cells left (a row with only some of its columns missing) get the training mean.
        return np.nan_to_num(apply_standardizer(features, self.mean_, self.scale_), nan=0.0)

    @staticmethod
    def _dense(features: object) -> np.ndarray:
        features = features.toarray() if sp.issparse(features) else np.asarray(features)
        if features.ndim == 1:
            features = features[:, np.newaxis]
        features = features.astype(np.float32)
        if np.isinf(features).any():
            raise ValueError("the encoder's features contain infinity.")
        return features

    def tail(self) -> tuple[int, ...]:
        return (self.mean_.shape[0],)

    def module_params(self) -> dict:
        return {"n_features": self.mean_.shape[0]}


def _passthrough(rows: object) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).reshape(num_samples(rows), -1)
