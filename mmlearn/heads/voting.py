"""Decision-level voting over LateFusion's per-modality class-score blocks."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from mmlearn.utils._sklearn_compat import StrOptions, fit_context, validate_data

__all__ = ["VotingHead"]


class VotingHead(ClassifierMixin, BaseEstimator):
    """Soft or hard voting over per-modality blocks of class scores.

    The head of classic decision-level fusion:
    ``Pipeline([("fusion", LateFusion(...)), ("head", VotingHead())])``. Its input holds one
    block of ``n_classes`` columns per modality (``LateFusion``'s output, columns in the
    order of ``classes_``). It learns nothing but the classes and the block layout; any
    other classifier in its place learns how to weigh the blocks, which is stacking.

    Parameters
    ----------
    voting : {"soft", "hard"}, default="soft"
        ``"soft"``: predict the class with the highest weighted mean of the blocks (meant
        for probability blocks). ``"hard"``: each block votes for its highest-scoring
        class (ties: the first in ``classes_``); the class with the largest weighted vote
        wins.
    weights : array-like of shape (n_blocks,), default=None
        Non-negative weight of each block (modality), in the order of the blocks; None
        weighs them equally.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels seen in fit; block columns are read in this order.
    n_blocks_ : int
        Number of blocks: ``n_features_in_ / n_classes``.
    n_features_in_ : int
        Number of columns seen in fit.
    feature_names_in_ : ndarray of str
        Column names seen in fit, when X was a DataFrame with string column names.

    See Also
    --------
    mmlearn.fusion.LateFusion : Produces the blocks (out-of-fold in fit).
    sklearn.ensemble.VotingClassifier : Voting over estimators that all see every column.

    Notes
    -----
    A block whose values are all equal expresses no preference (it is what ``LateFusion``
    gives a row missing the modality): it casts no vote and is left out of the weighted
    mean, so each row is decided by the modalities it has. A row where no block has a
    preference gets the uniform distribution and the first class of ``classes_``.

    ``predict_proba`` is the weighted mean of the blocks (soft) or each class's share of
    the weighted vote (hard).

    Examples
    --------
    >>> import numpy as np
    >>> from mmlearn.heads import VotingHead
    >>> # Two modalities x two classes: [p_image(a), p_image(b), p_audio(a), p_audio(b)].
    >>> X = np.array([[0.9, 0.1, 0.4, 0.6],
    ...               [0.5, 0.5, 0.2, 0.8]])    # row 1: image missing (no preference)
    >>> head = VotingHead().fit(X, ["a", "b"])
    >>> head.predict_proba(X).round(2).tolist()
    [[0.65, 0.35], [0.2, 0.8]]
    >>> head.predict(X).tolist()
    ['a', 'b']
    """

    _parameter_constraints: dict = {
        "voting": [StrOptions({"soft", "hard"})],
        "weights": ["array-like", None],
    }

    def __init__(self, voting="soft", weights=None):
        self.voting = voting
        self.weights = weights

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the classes and check that X is whole blocks of one column per class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_blocks * n_classes)
            Per-block class scores, columns in the order of ``np.unique(y)``.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : VotingHead
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        n_classes, n_features = len(self.classes_), X.shape[1]
        if n_classes < 2:
            raise ValueError(
                f"VotingHead needs at least 2 classes to vote between; y has 1 class "
                f"({self.classes_.tolist()})."
            )
        if n_features % n_classes:
            raise ValueError(
                f"VotingHead: X has {n_features} feature(s), not a whole number of blocks of "
                f"one column per class ({n_classes} classes). It expects LateFusion's "
                "output: n_classes columns per modality."
            )
        self.n_blocks_ = n_features // n_classes
        self._block_weights()
        return self

    def _block_weights(self) -> np.ndarray:
        if self.weights is None:
            return np.ones(self.n_blocks_)
        weights = np.asarray(self.weights, dtype=np.float64).ravel()
        if weights.size != self.n_blocks_:
            raise ValueError(
                f"VotingHead: weights has {weights.size} values but X has {self.n_blocks_} "
                f"blocks of {len(self.classes_)} classes; give one weight per modality."
            )
        if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() == 0:
            raise ValueError(
                f"VotingHead: weights must be finite, non-negative and not all zero; got "
                f"{weights.tolist()}."
            )
        return weights

    def predict_proba(self, X):
        """Weighted mean of the blocks (soft) or weighted vote shares (hard).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_blocks * n_classes)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows where no block has a preference are uniform.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        n_classes = len(self.classes_)
        blocks = X.reshape(X.shape[0], self.n_blocks_, n_classes)
        # A block of equal values (a missing modality) neither votes nor enters the mean.
        weights = self._block_weights() * (np.ptp(blocks, axis=2) > 0)
        if self.voting == "hard":
            blocks = np.eye(n_classes)[blocks.argmax(axis=2)]
        total = weights.sum(axis=1, keepdims=True)
        combined = np.einsum("nb,nbc->nc", weights, blocks)
        undecided = total[:, 0] == 0
        combined[~undecided] /= total[~undecided]
        combined[undecided] = 1.0 / n_classes
        return combined

    def predict(self, X):
        """The class with the highest combined score (ties: the first in ``classes_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_blocks * n_classes)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
