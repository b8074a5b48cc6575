"""The scores a benchmark reports, and the rule that picks the one it ranks by.

Every candidate gets accuracy, balanced accuracy (the mean of the per-class recalls) and
macro-F1 (the mean of the per-class F1 scores) on every fold; ROC AUC only when it is the
ranking metric, since it needs class scores (``predict_proba`` or ``decision_function``)
and so a second pass over the test fold.

Accuracy alone flatters a classifier that ignores a rare class: on data that is 82 %
positive, always answering "positive" scores 0.82. So, unless ``metric`` is given, a
benchmark ranks by macro-F1 when the classes are imbalanced, by the rule of
:func:`choose_metric` (the smallest class has fewer than :data:`IMBALANCE_RATIO` times the
rows of the largest), and by accuracy otherwise.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

__all__ = ["IMBALANCE_RATIO", "METRICS", "METRIC_LABELS", "choose_metric", "score_predictions"]

#: The metrics a benchmark can rank by (``--metric``).
METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc")
#: Their names in tables and charts.
METRIC_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
                 "macro_f1": "macro-F1", "roc_auc": "ROC AUC"}
#: Always measured; ``roc_auc`` is added when it ranks.
ALWAYS_MEASURED = ("accuracy", "balanced_accuracy", "macro_f1")
#: Classes count as imbalanced when the smallest has fewer rows than this fraction of the
#: largest's.
IMBALANCE_RATIO = 0.5


def check_metric(metric: str | None) -> None:
    """Raise a ValueError unless ``metric`` is None or one of :data:`METRICS`."""
    if metric is not None and metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}.")


def choose_metric(y, metric: str | None = None) -> tuple[str, str]:
    """The metric a benchmark ranks by, and why.

    Parameters
    ----------
    y : array-like
        The labels of the rows evaluated.
    metric : str, default=None
        One of :data:`METRICS`; None applies the rule: ``"macro_f1"`` when the smallest
        class has fewer than ``IMBALANCE_RATIO`` (0.5) times the rows of the largest,
        else ``"accuracy"``.

    Returns
    -------
    metric : str
    reason : str
        A short phrase for the report, e.g. ``"chosen (--metric)"`` or ``"classes
        imbalanced: smallest/largest = 0.22 < 0.5"``.

    Examples
    --------
    >>> from mmlearn.bench.metrics import choose_metric
    >>> choose_metric([0, 0, 0, 0, 0, 1, 1])
    ('macro_f1', 'classes imbalanced: smallest/largest = 0.40 < 0.5')
    >>> choose_metric([0, 0, 1, 1, 1])
    ('accuracy', 'classes balanced: smallest/largest = 0.67 >= 0.5')
    """
    check_metric(metric)
    if metric is not None:
        return metric, "chosen (--metric)"
    _, counts = np.unique(np.asarray(y, dtype=object).ravel().astype(str), return_counts=True)
    ratio = counts.min() / counts.max()
    if ratio < IMBALANCE_RATIO:
        return "macro_f1", f"classes imbalanced: smallest/largest = {ratio:.2f} < {IMBALANCE_RATIO}"
    return "accuracy", f"classes balanced: smallest/largest = {ratio:.2f} >= {IMBALANCE_RATIO}"


def _class_scores(estimator, X) -> tuple[np.ndarray, np.ndarray]:
    """Per-class scores for ROC AUC: probabilities where the estimator has them, else its
    decision function (AUC needs only their order within each class)."""
    if hasattr(estimator, "predict_proba"):
        scores = estimator.predict_proba(X)
    elif hasattr(estimator, "decision_function"):
        scores = estimator.decision_function(X)
    else:
        raise TypeError(f"{type(estimator).__name__} has neither predict_proba nor "
                        "decision_function: ROC AUC needs class scores; rank by another "
                        "metric.")
    return np.asarray(estimator.classes_), np.asarray(scores, dtype=float)


def _roc_auc(estimator, X, y) -> float:
    classes, scores = _class_scores(estimator, X)
    if len(classes) == 2:
        positive = scores[:, 1] if scores.ndim == 2 else scores
        return float(roc_auc_score(np.asarray(y) == classes[1], positive))
    # Macro one-vs-rest AUC over columns that need not sum to one (decision functions).
    truth = np.asarray(y)[:, None] == classes[None, :]
    return float(roc_auc_score(truth, scores, average="macro"))


def score_predictions(estimator, X, y, predicted, metrics=ALWAYS_MEASURED) -> dict[str, float]:
    """Each metric of ``metrics`` for a fitted ``estimator`` on ``(X, y)``.

    Parameters
    ----------
    estimator : fitted classifier
        Used only for ``"roc_auc"`` (its class scores on ``X``).
    X : DataFrame
    y : array-like
        True labels.
    predicted : array-like
        ``estimator.predict(X)``, computed once by the caller.
    metrics : sequence of str, default=("accuracy", "balanced_accuracy", "macro_f1")

    Returns
    -------
    scores : dict of str -> float

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from mmlearn.bench.metrics import METRICS, score_predictions
    >>> X, y = [[0]] * 4, [0, 0, 0, 1]
    >>> model = DummyClassifier().fit(X, y)
    >>> score_predictions(model, X, y, model.predict(X), metrics=METRICS)
    {'accuracy': 0.75, 'balanced_accuracy': 0.5, 'macro_f1': 0.42857142857142855, 'roc_auc': 0.5}
    """
    functions = {
        "accuracy": lambda: accuracy_score(y, predicted),
        "balanced_accuracy": lambda: balanced_accuracy_score(y, predicted),
        "macro_f1": lambda: f1_score(y, predicted, average="macro", zero_division=0),
        "roc_auc": lambda: _roc_auc(estimator, X, y),
    }
    return {m: float(functions[m]()) for m in metrics}
