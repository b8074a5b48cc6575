"""One check of ``sample_weight`` for every mmlearn ``fit``: the deep estimators' and the
fusion steps' (which must import without torch, so the check lives here)."""

from __future__ import annotations

import numpy as np

__all__ = ["check_sample_weight"]


def _first_rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    more = f" and {rows.size - 5} more" if rows.size > 5 else ""
    return f"{rows[:5].tolist()}{more}"


def check_sample_weight(sample_weight: object, n_samples: int, *,
                        owner: str | None = None) -> np.ndarray | None:
    """``sample_weight`` as one finite weight >= 0 per row (float64), or None.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), scalar or None
        A scalar gives every row that weight.
    n_samples : int
        The number of rows of X.
    owner : str, optional
        The estimator's name, put in front of the messages (``"EarlyFusion: ..."``).

    Returns
    -------
    weights : ndarray of shape (n_samples,) or None

    Raises
    ------
    ValueError
        When the length is not ``n_samples``, or a weight is negative, NaN or infinite
        (the message names the first such rows), or every weight is zero.
    TypeError
        When the weights are not numbers.

    Examples
    --------
    >>> from mmlearn.utils.sample_weight import check_sample_weight
    >>> check_sample_weight(2, 3)
    array([2., 2., 2.])
    >>> check_sample_weight([1.0, -1.0], 2, owner="EarlyFusion")
    Traceback (most recent call last):
    ...
    ValueError: EarlyFusion: sample_weight holds negative values at rows [1]; every weight must be >= 0.
    """  # noqa: E501
    if sample_weight is None:
        return None
    prefix = f"{owner}: " if owner else ""
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{prefix}sample_weight must hold numbers, one per row of X: "
                        f"{exc}") from exc
    if weights.ndim == 0:
        weights = np.full(n_samples, float(weights))
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(
            f"{prefix}sample_weight has shape {weights.shape} but X has {n_samples} rows: "
            "give one weight per row."
        )
    bad = ~np.isfinite(weights)
    if bad.any():
        raise ValueError(f"{prefix}sample_weight holds NaN or infinite values at rows "
                         f"{_first_rows(bad)}; every weight must be a finite number >= 0.")
    if (weights < 0).any():
        raise ValueError(f"{prefix}sample_weight holds negative values at rows "
                         f"{_first_rows(weights < 0)}; every weight must be >= 0.")
    if n_samples and not weights.any():
        raise ValueError(f"{prefix}sample_weight is zero for every row: there is nothing to "
                         "learn from. Give some rows a positive weight.")
    return weights
