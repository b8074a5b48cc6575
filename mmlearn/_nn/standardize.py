"""The one per-feature standardiser of mmlearn's networks and encoders."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["RunningMoments", "fit_standardizer", "apply_standardizer"]

# A feature whose standard deviation is below this share of its magnitude is constant up to
# float noise: it is centred but not scaled, so that noise is not amplified to unit variance.
_CONSTANT_TOLERANCE = 1e-8


def fit_standardizer(X: np.ndarray, *, axis: int = 0, ignore_nan: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of ``X`` along ``axis`` (scale 1 where the feature is constant).

    Parameters
    ----------
    X : ndarray
        Training values; statistics are accumulated in float64.
    axis : int, default=0
        The axis of the samples (0 for a ``(n_samples, n_features)`` table).
    ignore_nan : bool, default=False
        Skip NaN cells (a transformer that passes missing values through); a feature with
        no finite value gets mean 0 and scale 1.

    Returns
    -------
    mean, scale : ndarray of float32, the shape of ``X`` without ``axis``

    Examples
    --------
    >>> import numpy as np
    >>> mean, scale = fit_standardizer(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> mean.tolist(), scale.tolist()
    ([2.0, 5.0], [1.0, 1.0])
    """
    X = np.asarray(X)
    if X.shape[axis] == 0:
        shape = tuple(s for i, s in enumerate(X.shape) if i != axis % X.ndim)
        return np.zeros(shape, dtype=np.float32), np.ones(shape, dtype=np.float32)
    if ignore_nan:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # An all-NaN feature is expected here (a column never observed): no warning.
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nan_to_num(np.nanmean(X, axis=axis, dtype=np.float64), nan=0.0)
            scale = np.nan_to_num(np.nanstd(X, axis=axis, dtype=np.float64), nan=1.0)
    else:
        mean = X.mean(axis=axis, dtype=np.float64)
        scale = X.std(axis=axis, dtype=np.float64)
    mean, scale = np.atleast_1d(mean), np.atleast_1d(scale)
    scale[scale <= _CONSTANT_TOLERANCE * np.maximum(1.0, np.abs(mean))] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def apply_standardizer(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(X - mean) / scale`` as contiguous float32."""
    return np.ascontiguousarray((np.asarray(X, dtype=np.float32) - mean) / scale)



class RunningMoments:
    """Per-feature mean and scale accumulated over chunks of rows (bounded memory).

    Chunks are merged with Chan et al.'s pairwise update in float64, so the result equals
    the two-pass statistics of all rows up to rounding. :meth:`result` applies the same
    constant-feature rule as :func:`fit_standardizer`.

    Examples
    --------
    >>> import numpy as np
    >>> moments = RunningMoments()
    >>> moments.update(np.array([[1.0], [2.0]])); moments.update(np.array([[3.0]]))
    >>> [np.round(v.astype(float), 4).tolist() for v in moments.result()]
    [[2.0], [0.8165]]
    """

    def __init__(self):
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def update(self, X: np.ndarray) -> None:
        """Add the rows of ``X`` ``(n, n_features)``."""
        X = np.asarray(X, dtype=np.float64)
        if not len(X):
            return
        n, mean = len(X), X.mean(axis=0)
        m2 = ((X - mean) ** 2).sum(axis=0)
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, scale)`` as float32 (scale 1 where a feature is constant)."""
        if self.mean is None:
            raise ValueError("no rows were added: nothing to standardise with.")
        mean, scale = self.mean.copy(), np.sqrt(self.m2 / self.count)
        scale[scale <= _CONSTANT_TOLERANCE * np.maximum(1.0, np.abs(mean))] = 1.0
        return mean.astype(np.float32), scale.astype(np.float32)
