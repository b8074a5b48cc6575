"""Late (decision-level) fusion: per-modality classifiers' cross-fitted class scores."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn import get_config
from sklearn.base import TransformerMixin, clone
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, has_fit_parameter

from mmlearn.fusion._dropout import sample_kept
from mmlearn.fusion._missing import check_missing, describe_modality, route_errors
from mmlearn.fusion._routing import (
    ModalityRoutes,
    check_row_params,
    fusion_constraints,
    rows_of_params,
    select_columns,
)
from mmlearn.utils._sklearn_compat import (
    StrOptions,
    check_feature_names,
    check_feature_names_in,
    check_n_features,
    fit_context,
    num_samples,
    safe_indexing,
)

__all__ = ["LateFusion"]

_PREFIX = {"predict_proba": "proba", "decision_function": "decision"}


class LateFusion(TransformerMixin, ModalityRoutes):
    """Decision-level fusion: one classifier per modality, their class scores stacked.

    Each modality's estimator (a Pipeline of encoder + classifier, or any classifier) sees
    only its columns and outputs one score per class. ``fit_transform`` (what a Pipeline
    calls during ``fit``) returns **out-of-fold** scores, cross-fitted as
    :class:`~sklearn.ensemble.StackingClassifier` does, so the head that follows never
    learns from a modality's predictions on its own training rows; the estimators are then
    refit on every row for ``transform``. Follow it with :class:`~mmlearn.heads.VotingHead`
    for classic voting, or with any classifier (LogisticRegression, SVC...) for stacking.

    Parameters
    ----------
    estimators : list of (name, estimator, columns)
        ``columns`` is a column name, a list of names, or integer positions / a slice for
        array input. A single name hands the estimator a Series (what the image/audio
        encoders want); a list hands it a DataFrame.
    cv : int, cross-validation generator or iterable, default=5
        How ``fit_transform`` splits the rows for the out-of-fold scores. An int is a
        :class:`~sklearn.model_selection.StratifiedKFold` without shuffling. The same
        splits serve every modality.
    method : {"predict_proba", "decision_function", "auto"}, default="predict_proba"
        The estimators' output. ``"auto"`` takes ``predict_proba`` where the estimator has
        it and ``decision_function`` otherwise (see ``methods_``). An estimator without
        the requested method raises a ``ValueError`` naming its modality.
    missing : {"impute", "raise"}, default="impute"
        What to do with rows where a modality is missing (every cell of its columns None
        or NaN). ``"impute"``: fit each estimator on the rows that have its modality and
        give the others a block with no preference (see Notes). ``"raise"``: a
        ``ValueError`` naming the modality and the first rows without it, in fit and in
        transform.
    modality_dropout : float in [0, 1), default=0.0
        During ``fit_transform`` only (what a Pipeline's head is trained on), hide each
        modality in this fraction of the rows that have it, as if it were missing: its
        block becomes the no-preference block. Every row keeps at least one of its
        modalities. The estimators still learn from every row; a stacking head learns to
        classify rows that lack a modality. ``transform`` never hides anything.
    random_state : int, RandomState instance or None, default=None
        Chooses the rows ``modality_dropout`` hides.
    n_jobs : int, default=None
        The per-modality, per-fold fits run in parallel (joblib).
    verbose : bool or int, default=False
        joblib's progress messages for those fits.

    Attributes
    ----------
    estimators_ : list of estimators
        Each modality's estimator refit on every row that has the modality.
    named_estimators_ : Bunch
        The same, by modality name.
    methods_ : dict of str -> str
        The method used for each modality (``"auto"`` resolved).
    classes_ : ndarray of shape (n_classes,)
        The labels of ``y``; every block has one column per class, in this order.
    n_features_in_ : int
        Number of columns of X seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X, when it was a DataFrame with string column names.

    See Also
    --------
    mmlearn.heads.VotingHead : Soft or hard voting over the blocks.
    mmlearn.fusion.EarlyFusion : Feature-level fusion.
    sklearn.ensemble.StackingClassifier : Stacking over estimators that all see every column.

    Notes
    -----
    **Output.** ``n_classes`` columns per modality, named ``<name>__proba_<class>`` (or
    ``<name>__decision_<class>``), float64. A binary ``decision_function`` (one score ``d``
    for ``classes_[1]``) becomes the two columns ``(-d, d)``, so every block has the same
    layout. A class an estimator never saw (absent from its training fold, or from the rows
    that have its modality) gets probability 0, or the row's lowest decision score.

    **Missing modalities.** A row misses a modality when every cell of its columns is None
    or NaN. With ``missing="impute"``, each estimator is fitted (and cross-fitted) only on
    the rows that have its modality; rows without it, in fit and in transform, get a block
    that expresses no preference: ``1 / n_classes`` for probabilities, 0 for decision
    scores (the block ``modality_dropout`` also gives the rows it hides). A modality
    missing in every training row raises a ``ValueError`` under either policy; rows are
    never dropped or reordered.

    ``fit`` only refits the estimators on every row (the state ``fit_transform`` leaves);
    feeding ``fit(X, y).transform(X)`` to a head would train it on in-sample predictions.

    **Sample weights and other metadata** follow
    :class:`~sklearn.ensemble.StackingClassifier`: without metadata routing,
    ``fit(X, y, sample_weight=w)`` passes ``w`` to every estimator's ``fit`` (each must
    accept ``sample_weight``; a Pipeline does not, so route instead); with
    ``sklearn.set_config(enable_metadata_routing=True)``, each estimator receives what it
    requested (``set_fit_request(sample_weight=True)``, on a Pipeline's steps too). Either
    way the weights of a fold's or a modality's rows go with those rows. A
    ``sample_weight`` of the wrong length, or with a negative, NaN or infinite weight, is
    a ``ValueError`` naming ``sample_weight``, requested or not.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import Pipeline, make_pipeline
    >>> from mmlearn.datasets import load_av_digits
    >>> from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder
    >>> from mmlearn.fusion import LateFusion
    >>> from mmlearn.heads import VotingHead
    >>> X, y = load_av_digits(return_X_y=True)
    >>> X, y = X.iloc[:200], y[:200]
    >>> fusion = LateFusion([
    ...     ("image", make_pipeline(ImagePixelEncoder(), LogisticRegression()), "image"),
    ...     ("audio", make_pipeline(AudioMFCCEncoder(sample_rate=8000),
    ...                             LogisticRegression()), "audio"),
    ... ], cv=3)
    >>> fusion.fit_transform(X, y).shape
    (200, 20)
    >>> fusion.get_feature_names_out()[[0, -1]].tolist()
    ['image__proba_0', 'audio__proba_9']
    >>> model = Pipeline([("fusion", fusion), ("head", VotingHead())]).fit(X, y)
    >>> model.score(X, y) > 0.9
    True
    """

    _routes_attr = "estimators"
    _parameter_constraints: dict = {
        **fusion_constraints("estimators"),
        "cv": ["cv_object"],
        "method": [StrOptions({"predict_proba", "decision_function", "auto"})],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(self, estimators, *, cv=5, method="predict_proba", missing="impute",
                 modality_dropout=0.0, random_state=None, n_jobs=None, verbose=False):
        self.estimators = estimators
        self.cv = cv
        self.method = method
        self.missing = missing
        self.modality_dropout = modality_dropout
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit each modality's estimator on the rows that have the modality.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
        y : array-like of shape (n_samples,)
            Class labels.
        **fit_params : dict
            ``sample_weight`` (passed to every estimator), or, with metadata routing
            enabled, any metadata the estimators request (see Notes).

        Returns
        -------
        self : LateFusion
        """
        self._fit(X, y, out_of_fold=False, fit_params=fit_params, method="fit")
        return self

    @fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y, **fit_params):
        """Fit the estimators and return their out-of-fold class scores.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
        y : array-like of shape (n_samples,)
            Class labels.
        **fit_params : dict
            As in :meth:`fit`; each fold's estimators get the metadata of their rows.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_modalities * n_classes)
            Row ``i`` holds the scores of estimators that did not see row ``i`` in fit.
        """
        return self._fit(X, y, out_of_fold=True, fit_params=fit_params,
                         method="fit_transform")

    def transform(self, X):
        """Class scores of the refit estimators, one block per modality.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_modalities * n_classes)
        """
        check_is_fitted(self)
        X = self._check_input(X, reset=False)
        blocks = []
        for (name, _, columns), est in zip(self.estimators, self.estimators_, strict=True):
            X_m = select_columns(X, columns, owner="LateFusion", name=name)
            absent = check_missing(X_m, where=describe_modality("LateFusion", name, X_m, columns),
                                   missing=self.missing, fitting=False)
            present = np.flatnonzero(~absent)
            block = self._neutral(num_samples(X), name)
            if present.size:
                rows = safe_indexing(X_m, present)
                with route_errors(where=describe_modality("LateFusion", name, rows, columns),
                                  part=rows, step=self.methods_[name]):
                    block[present] = self._scores(est, rows, name)
            blocks.append(block)
        return np.hstack(blocks)

    def get_metadata_routing(self) -> MetadataRouter:
        """How ``fit`` and ``fit_transform`` route metadata to each modality's estimator.

        Returns
        -------
        routing : MetadataRouter
            Each estimator's ``fit`` receives what it requested, from ``fit`` and from
            ``fit_transform``.
        """
        router = MetadataRouter(owner=self)
        for name, est, _ in self.estimators:
            router.add(**{name: est}, method_mapping=MethodMapping()
                       .add(caller="fit", callee="fit")
                       .add(caller="fit_transform", callee="fit"))
        return router

    def _route(self, fit_params: dict, method: str) -> dict:
        """Each route's ``fit`` metadata (all rows), by route name."""
        self._validate_routes()
        if get_config().get("enable_metadata_routing", False):
            routed = process_routing(self, method, **fit_params)
            return {name: dict(routed[name].fit) for name, _, _ in self.estimators}
        unknown = sorted(set(fit_params) - {"sample_weight"})
        if unknown:
            raise TypeError(
                f"LateFusion.{method} got unexpected argument(s) {unknown}: without metadata "
                "routing only sample_weight is passed on. Enable routing with "
                "sklearn.set_config(enable_metadata_routing=True) and request the metadata "
                "with the estimators' set_fit_request."
            )
        weights = fit_params.get("sample_weight")
        if weights is None:
            return {name: {} for name, _, _ in self.estimators}
        for name, est, _ in self.estimators:
            if not has_fit_parameter(est, "sample_weight"):
                raise TypeError(
                    f"LateFusion: the estimator of modality {name!r} ({type(est).__name__}) "
                    "does not take sample_weight in fit. For a Pipeline, enable metadata "
                    "routing (sklearn.set_config(enable_metadata_routing=True)) and request "
                    "the weights on its steps with set_fit_request(sample_weight=True)."
                )
        return {name: {"sample_weight": weights} for name, _, _ in self.estimators}

    def _fit(self, X, y, *, out_of_fold: bool, fit_params: dict, method: str):
        self._validate_routes()
        X = self._check_input(X, reset=True)
        if y is None:
            raise ValueError(
                "LateFusion requires y to be passed, but the target y is None: its "
                "estimators are classifiers."
            )
        y = column_or_1d(y, warn=True)
        n = num_samples(X)
        if y.shape[0] != n:
            raise ValueError(f"LateFusion: y has {y.shape[0]} rows but X has {n}.")
        check_classification_targets(y)
        # Checked before routing: weights that no estimator requested are still an error
        # when they are not one per row.
        check_row_params(fit_params, n, owner="LateFusion")
        params = self._route(fit_params, method)
        self.classes_ = np.unique(y)
        self.methods_ = {name: self._resolve_method(name, est)
                         for name, est, _ in self.estimators}

        # One task per (modality, fold), plus the refit on all rows (fold None).
        splits = list(check_cv(self.cv, y, classifier=True).split(X, y)) if out_of_fold else []
        tasks, present_by_route = [], []
        for name, est, columns in self.estimators:
            X_m = select_columns(X, columns, owner="LateFusion", name=name)
            present = ~check_missing(X_m, where=describe_modality("LateFusion", name, X_m, columns),
                                     missing=self.missing, fitting=True)
            present_by_route.append(present)
            for fold, (train, test) in enumerate(splits):
                train = train[present[train]]
                where = f"training fold {fold + 1} of {len(splits)}"
                tasks.append((name, fold, est, X_m, train, test[present[test]], where))
            tasks.append((name, None, est, X_m, np.flatnonzero(present), None, "its rows"))

        fitted = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fit_and_score)(self, name, est, X_m, y, train, test, where,
                                    rows_of_params(params[name], train, n))
            for name, _, est, X_m, train, test, where in tasks
        )
        blocks = {name: self._neutral(n, name) for name, _, _ in self.estimators}
        refit = {}
        for (name, fold, *_, test, _), (est, scores) in zip(tasks, fitted, strict=True):
            if fold is None:
                refit[name] = est
            elif test.size:
                blocks[name][test] = scores
        self.estimators_ = [refit[name] for name, _, _ in self.estimators]
        if not out_of_fold:
            return None
        if self.modality_dropout:
            present = np.column_stack(present_by_route)
            hidden = present & ~sample_kept(present, self.modality_dropout, self.random_state)
            for j, (name, _, _) in enumerate(self.estimators):
                blocks[name][hidden[:, j]] = self._neutral(1, name)
        return np.hstack([blocks[name] for name, _, _ in self.estimators])

    def _check_input(self, X, *, reset: bool):
        """Check X's columns and shape; keep DataFrames, make other input an ndarray."""
        self._check_columns(X)
        if not isinstance(X, pd.DataFrame):
            X = np.asarray(X) if hasattr(X, "__array__") else np.asarray(X, dtype=object)
        if num_samples(X) == 0:
            raise ValueError("LateFusion: X has 0 rows; need at least 1 sample.")
        if X.ndim == 2 and X.shape[1] == 0:
            raise ValueError(
                f"LateFusion: found X with 0 feature(s) (shape={X.shape}) while a minimum of "
                "1 is required: no modality column."
            )
        by_name = isinstance(X, pd.DataFrame) and self._routes_by_name()
        if reset or not (by_name and hasattr(self, "feature_names_in_")):
            # Positions only mean the same columns if the layout is fit's; routes by name
            # find their columns in any layout (extra or reordered columns are fine).
            check_feature_names(self, X, reset=reset)
            check_n_features(self, X, reset=reset)
        return X

    def _routes_by_name(self) -> bool:
        return all(
            isinstance(cols, str)
            or (isinstance(cols, list | tuple) and all(isinstance(c, str) for c in cols))
            for _, _, cols in self.estimators
        )

    def _resolve_method(self, name: str, est) -> str:
        if self.method == "auto":
            return "predict_proba" if hasattr(est, "predict_proba") else "decision_function"
        if not hasattr(est, self.method):
            other = ({"predict_proba", "decision_function"} - {self.method}).pop()
            final = getattr(est, "_final_estimator", est)  # a Pipeline's classifier
            raise ValueError(
                f"LateFusion: the estimator of modality {name!r} ({type(final).__name__}) "
                f"has no {self.method}; use method={other!r}, or method='auto' (predict_proba "
                "where available, else decision_function)"
                + (", or wrap it in sklearn.calibration.CalibratedClassifierCV."
                   if self.method == "predict_proba" else ".")
            )
        return self.method

    def _neutral(self, n: int, name: str) -> np.ndarray:
        """A block with no preference: what rows missing the modality get."""
        value = 1.0 / len(self.classes_) if self.methods_[name] == "predict_proba" else 0.0
        return np.full((n, len(self.classes_)), value)

    def _scores(self, est, X_m, name: str) -> np.ndarray:
        """``est``'s scores on X_m, one column per class of ``classes_``."""
        method = self.methods_[name]
        out = np.asarray(getattr(est, method)(X_m), dtype=np.float64)
        if out.ndim == 1:
            # A binary decision_function scores classes_[1] only; (-d, d) keeps the block
            # n_classes wide with the winner's column highest, as in the multiclass case.
            out = np.column_stack([-out, out])
        est_classes = np.asarray(est.classes_)
        if np.array_equal(est_classes, self.classes_):
            return out
        unknown = est_classes[~np.isin(est_classes, self.classes_)]
        if unknown.size:
            raise ValueError(
                f"LateFusion: the estimator of modality {name!r} predicts classes "
                f"{unknown.tolist()} that are not in y."
            )
        # Classes the estimator never saw: probability 0, or the row's lowest score, so
        # they never win a vote.
        fill = 0.0 if method == "predict_proba" else out.min(axis=1, keepdims=True)
        full = np.empty((out.shape[0], len(self.classes_)))
        full[:] = fill
        full[:, np.searchsorted(self.classes_, est_classes)] = out
        return full

    @property
    def named_estimators_(self) -> Bunch:
        """The refit estimators, by modality name."""
        check_is_fitted(self)
        return Bunch(**{name: est for (name, _, _), est in
                        zip(self.estimators, self.estimators_, strict=True)})

    def get_feature_names_out(self, input_features=None):
        """Output names: ``<modality>__proba_<class>`` (``__decision_`` for scores).

        Parameters
        ----------
        input_features : array-like of str, default=None
            Only validated: the output names do not depend on them.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        check_feature_names_in(self, input_features, generate_names=False)
        return np.asarray(
            [f"{name}__{_PREFIX[self.methods_[name]]}_{label}"
             for name, _, _ in self.estimators for label in self.classes_],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "estimators_")


def _fit_and_score(fusion: LateFusion, name: str, est, X_m, y, train, test, where: str,
                   fit_params: dict):
    """Fit a clone of ``est`` on rows ``train`` (``fit_params``: their metadata); score rows
    ``test`` (None: no scoring)."""
    y_train = y[train]
    labels = np.unique(y_train)
    if labels.size < 2:
        raise ValueError(
            f"LateFusion: modality {name!r} has {train.size} rows of only {labels.size} "
            f"class ({labels.tolist()}) in {where} (rows missing the modality left out); "
            "a classifier needs at least 2 classes: use fewer folds or more rows."
        )
    part = safe_indexing(X_m, train)
    with route_errors(where=describe_modality("LateFusion", name, part), part=part,
                      step="fit"):
        est = clone(est).fit(part, y_train, **fit_params)
    if test is None or not test.size:
        return est, None
    part = safe_indexing(X_m, test)
    with route_errors(where=describe_modality("LateFusion", name, part), part=part,
                      step=fusion.methods_[name]):
        return est, fusion._scores(est, part, name)
