"""The corrected resampled t-test and confidence intervals of ``mmlearn.bench.stats``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmlearn.bench.stats import compare_to_best, corrected_t_test, mean_confidence_interval

A = [0.90, 0.80, 0.85, 0.95, 0.90]
B = [0.85, 0.80, 0.80, 0.90, 0.85]


def test_t_test_matches_a_hand_computation():
    # d = a - b = [.05, 0, .05, .05, .05]: mean .04, sample variance 5e-4. Five folds, so
    # n_test / n_train = 1/4 and the corrected variance is (1/5 + 1/4) * 5e-4 = 2.25e-4,
    # whose root is .015: t = .04 / .015 = 8/3.
    t, p = corrected_t_test(A, B, test_train_ratio=1 / 4)
    assert t == pytest.approx(8 / 3)
    # Student's t with 4 degrees of freedom has a closed-form CDF:
    # F(t) = 1/2 + 3/8 * u * (1 - v / 12), u = t / sqrt(1 + t^2/4), v = t^2 / (1 + t^2/4).
    # At t = 8/3: u = 8/5, v = 64/25, F = 0.972, two-sided p = 0.056.
    assert p == pytest.approx(0.056)
    # Uncorrected (ratio 0) the same scores would look significant: the correction matters.
    assert corrected_t_test(A, B, test_train_ratio=0)[1] < 0.02


def test_t_test_is_antisymmetric():
    t_ab, p_ab = corrected_t_test(A, B, test_train_ratio=0.25)
    t_ba, p_ba = corrected_t_test(B, A, test_train_ratio=0.25)
    assert t_ab == pytest.approx(-t_ba) and p_ab == pytest.approx(p_ba)


def test_confidence_interval_matches_a_hand_computation():
    # mean .88, sample variance .013 / 4 = .00325, corrected (1/5 + 1/4) * .00325;
    # t_{4, 0.975} = 2.776445 (a table value).
    half = 2.776445 * math.sqrt(0.45 * 0.00325)
    low, high = mean_confidence_interval(A, test_train_ratio=0.25)
    assert low == pytest.approx(0.88 - half, abs=1e-6)
    assert high == pytest.approx(0.88 + half, abs=1e-6)
    narrower = mean_confidence_interval(A, test_train_ratio=0.25, confidence=0.5)
    assert low < narrower[0] < 0.88 < narrower[1] < high


def test_one_fold_and_identical_scores_are_handled():
    assert all(math.isnan(v) for v in corrected_t_test([0.9], [0.8], test_train_ratio=1))
    assert all(math.isnan(v) for v in mean_confidence_interval([0.9], test_train_ratio=1))
    # Identical scores: no difference, no spread.
    assert corrected_t_test(A, A, test_train_ratio=0.25) == (0.0, 1.0)
    # The same difference on every fold: no spread to weigh it against.
    shifted = [a + 0.1 for a in A]
    t, p = corrected_t_test(shifted, A, test_train_ratio=0.25)
    assert t == math.inf and p == 0.0
    assert mean_confidence_interval([0.7, 0.7, 0.7], test_train_ratio=0.5) == pytest.approx(
        (0.7, 0.7))


def test_compare_to_best_marks_ties_and_handles_one_fold():
    scores = [B, A, [s - 0.3 for s in A], A]
    best, p, tied = compare_to_best(scores, test_train_ratio=0.25)
    assert best == 1  # the first of the two equal bests
    assert p[1] == 1.0 and p[3] == 1.0 and p[0] == pytest.approx(0.056)
    assert tied.tolist() == [True, True, False, True]
    best, p, tied = compare_to_best([[0.5], [0.9], [0.8]], test_train_ratio=1)
    assert best == 1 and tied.tolist() == [False, True, False]
    assert np.isnan(p[[0, 2]]).all()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: corrected_t_test(A, B[:4], test_train_ratio=0.25), "5 and 4 scores"),
        (lambda: corrected_t_test(A, [np.nan] * 5, test_train_ratio=0.25), "NaN or infinite"),
        (lambda: corrected_t_test(A, B, test_train_ratio=-1), "test_train_ratio"),
        (lambda: mean_confidence_interval([], test_train_ratio=0.25), "non-empty 1-D"),
        (lambda: mean_confidence_interval(A, test_train_ratio=0.25, confidence=95),
         "confidence must be in"),
        (lambda: compare_to_best(A, test_train_ratio=0.25), "2-D array"),
        (lambda: compare_to_best([A, B], test_train_ratio=0.25, alpha=0), "alpha"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
