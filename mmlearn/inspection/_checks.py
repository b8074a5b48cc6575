"""Input checks shared by modality_importance and modality_ablation."""

from __future__ import annotations

import pandas as pd
from sklearn.utils import Bunch, check_array
from sklearn.utils.validation import check_is_fitted

from mmlearn.utils._sklearn_compat import num_samples


def check_inputs(estimator: object, X: object, y: object, *, caller: str) -> object:
    """Fail early on an unfitted estimator or a y that does not match X; return X.

    A DataFrame is returned as is (its object cells are the modalities); anything else is
    made a 2-D array, object cells kept.
    """
    # Fails here with sklearn's NotFittedError rather than deep inside the first scoring.
    check_is_fitted(estimator)
    if not isinstance(X, pd.DataFrame):
        X = check_array(X, dtype=None, ensure_all_finite=False)
    n = num_samples(X)
    if n == 0:
        raise ValueError(f"{caller}: X has 0 rows; need at least 1 sample to score.")
    if y is not None and num_samples(y) != n:
        raise ValueError(f"{caller}: y has {num_samples(y)} rows but X has {n}.")
    return X


def per_metric(baseline: object, build) -> Bunch | dict[str, Bunch]:
    """One Bunch from a single score, or a dict of Bunches, one per metric, as sklearn does.

    ``build(metric)`` makes the Bunch of one metric; ``metric`` is None for a single score.
    """
    if isinstance(baseline, dict):
        return {metric: build(metric) for metric in baseline}
    return build(None)


def pick(score: object, metric: str | None) -> float:
    return float(score if metric is None else score[metric])
