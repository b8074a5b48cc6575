"""Is a difference between two cross-validated candidates real?

Every candidate of a benchmark is scored on the same folds, so their per-fold scores are
paired. A plain paired t-test on them is too eager: the training sets of k folds overlap
(each pair shares (k-2)/(k-1) of its rows), so the fold scores are correlated and their
sample variance understates the variance of the mean. The corrected resampled t-test of
Nadeau & Bengio (2003, "Inference for the generalization error", Machine Learning 52)
inflates the variance by ``n_test / n_train`` to account for that overlap:

    t = mean(d) / sqrt((1 / J + n_test / n_train) * var(d))

with ``d`` the J per-fold differences, ``var`` the sample variance (``ddof=1``) and J - 1
degrees of freedom. The same corrected variance gives a confidence interval for each
candidate's mean score. Bouckaert & Frank (2004) found this test's type I error close to
its nominal level where the uncorrected one rejects far too often.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["compare_to_best", "corrected_t_test", "mean_confidence_interval"]


def _corrected_scale(values: np.ndarray, test_train_ratio: float) -> float:
    """The corrected standard error of the mean of ``values`` (one per fold)."""
    n_folds = values.size
    return float(np.sqrt((1.0 / n_folds + test_train_ratio) * np.var(values, ddof=1)))


def _check(scores, test_train_ratio: float, name: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of per-fold scores, "
                         f"got shape {scores.shape}.")
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} holds a NaN or infinite score: {scores.tolist()}.")
    if not (np.isfinite(test_train_ratio) and test_train_ratio >= 0):
        raise ValueError(f"test_train_ratio must be a finite number >= 0 (n_test / n_train, "
                         f"e.g. 1 / (k - 1) for k folds), got {test_train_ratio!r}.")
    return scores


def corrected_t_test(a: Sequence[float], b: Sequence[float], *,
                     test_train_ratio: float) -> tuple[float, float]:
    """Nadeau & Bengio's corrected resampled t-test of paired per-fold scores.

    Parameters
    ----------
    a, b : sequence of float
        The two candidates' scores on the same folds, in the same order.
    test_train_ratio : float
        ``n_test / n_train`` of one fold; ``1 / (k - 1)`` for k-fold cross-validation.

    Returns
    -------
    t : float
        The corrected t statistic of ``mean(a - b)``; NaN with fewer than two folds.
    p_value : float
        Two-sided, with ``len(a) - 1`` degrees of freedom; NaN with fewer than two folds.
        When every fold has the same difference (zero variance) the test has no spread to
        weigh it against: ``p_value`` is 1.0 for a zero difference (identical scores) and
        0.0 for any other.

    Raises
    ------
    ValueError
        ``a`` and ``b`` differ in length, or hold a non-finite score.

    Examples
    --------
    >>> from mmlearn.bench.stats import corrected_t_test
    >>> t, p = corrected_t_test([0.90, 0.80, 0.85, 0.95, 0.90],
    ...                         [0.85, 0.80, 0.80, 0.90, 0.85], test_train_ratio=1 / 4)
    >>> round(t, 4), round(p, 4)
    (2.6667, 0.056)
    """
    a = _check(a, test_train_ratio, "a")
    b = _check(b, test_train_ratio, "b")
    if a.size != b.size:
        raise ValueError(f"a and b must hold one score per fold of the same folds; got "
                         f"{a.size} and {b.size} scores.")
    if a.size < 2:
        return float("nan"), float("nan")
    diff = a - b
    mean = float(diff.mean())
    scale = _corrected_scale(diff, test_train_ratio)
    # Fold differences equal to rounding error are one difference repeated: no spread.
    if scale <= 1e-12 * max(1.0, abs(mean)):
        if abs(mean) <= 1e-12:
            return 0.0, 1.0
        return float(np.copysign(np.inf, mean)), 0.0
    t = mean / scale
    return float(t), float(2 * stats.t.sf(abs(t), df=diff.size - 1))


def mean_confidence_interval(scores: Sequence[float], *, test_train_ratio: float,
                             confidence: float = 0.95) -> tuple[float, float]:
    """A confidence interval for a candidate's mean cross-validated score.

    ``mean ± t_{J-1} * sqrt((1 / J + n_test / n_train) * var)``: the Student interval with
    Nadeau & Bengio's corrected variance, over J folds.

    Parameters
    ----------
    scores : sequence of float
        One score per fold.
    test_train_ratio : float
        ``n_test / n_train`` of one fold; ``1 / (k - 1)`` for k-fold cross-validation.
    confidence : float, default=0.95

    Returns
    -------
    low, high : float
        NaN with one fold (nothing to estimate the spread from); the mean twice when every
        fold scored the same.

    Examples
    --------
    >>> from mmlearn.bench.stats import mean_confidence_interval
    >>> low, high = mean_confidence_interval([0.90, 0.80, 0.85, 0.95, 0.90],
    ...                                      test_train_ratio=1 / 4)
    >>> round(low, 3), round(high, 3)
    (0.774, 0.986)
    """
    scores = _check(scores, test_train_ratio, "scores")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
    mean = float(scores.mean())
    if scores.size < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, df=scores.size - 1) * _corrected_scale(
        scores, test_train_ratio)
    return mean - float(half), mean + float(half)


def compare_to_best(fold_scores: Sequence[Sequence[float]], *, test_train_ratio: float,
                    alpha: float = 0.05) -> tuple[int, np.ndarray, np.ndarray]:
    """Which candidates are statistically indistinguishable from the best one.

    The best is the candidate with the highest mean score (the first one on a tie). Every
    other candidate is compared with it by :func:`corrected_t_test`; those with
    ``p_value >= alpha`` are not detectably worse. No correction for the number of
    comparisons is made: each candidate as good as the best is marked worse with
    probability about ``alpha``, so in a large grid a few such candidates will be.

    Parameters
    ----------
    fold_scores : 2-D array-like, shape (n_candidates, n_folds)
        Each candidate's scores on the same folds.
    test_train_ratio : float
        ``n_test / n_train`` of one fold.
    alpha : float, default=0.05

    Returns
    -------
    best : int
        The row of the best candidate.
    p_values : ndarray of shape (n_candidates,)
        Against the best (1.0 for the best itself; NaN for all others with one fold).
    tied : ndarray of bool, shape (n_candidates,)
        True for the best and for every candidate with ``p_value >= alpha``. With one fold
        nothing can be tested, and only the best is True.

    Examples
    --------
    >>> from mmlearn.bench.stats import compare_to_best
    >>> best, p, tied = compare_to_best([[0.80, 0.82, 0.78], [0.95, 0.96, 0.94],
    ...                                  [0.94, 0.97, 0.93]], test_train_ratio=0.5)
    >>> best, tied.tolist()
    (1, [False, True, True])
    """
    scores = np.asarray(fold_scores, dtype=float)
    if scores.ndim != 2 or scores.size == 0:
        raise ValueError(f"fold_scores must be a non-empty 2-D array (candidates x folds), "
                         f"got shape {scores.shape}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
    best = int(np.argmax(scores.mean(axis=1)))
    p_values = np.array([
        1.0 if i == best else corrected_t_test(
            scores[best], row, test_train_ratio=test_train_ratio)[1]
        for i, row in enumerate(scores)
    ])
    # NaN >= alpha is False: with one fold only the best is marked.
    tied = p_values >= alpha
    return best, p_values, tied
