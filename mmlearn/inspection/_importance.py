"""Permutation importance by modality: all the columns of a modality shuffled together."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.parallel import Parallel, delayed

from mmlearn.inspection._checks import check_inputs, per_metric, pick
from mmlearn.inspection._modalities import column_labels, resolve_modalities
from mmlearn.utils._sklearn_compat import HasMethods, Interval, StrOptions, validate_params


def permute_rows(X: object, positions: list[int], order: np.ndarray) -> None:
    """Reorder the rows of X's columns at ``positions`` by ``order``, in place.

    Every column gets the same ``order``, so a sample's cells of one modality stay together.
    A DataFrame keeps its index and dtypes: columns are replaced whole by position
    (``isetitem`` never writes into an array another frame may share), and object cells
    (images, waveforms, strings, None) move as references, never converted.
    """
    if isinstance(X, pd.DataFrame):
        for position in positions:
            X.isetitem(position, X.iloc[:, position].array.take(order))
    else:
        X[:, positions] = X[np.ix_(order, positions)]


def _permuted_scores(estimator, X, y, positions, seed, n_repeats, scorer) -> list:
    rng = check_random_state(seed)
    # A copy per task: safe under threads, and writable under loky's read-only memmaps.
    # Shallow for a DataFrame, since permute_rows replaces columns rather than writing them.
    X_permuted = X.copy(deep=False) if isinstance(X, pd.DataFrame) else X.copy()
    order = np.arange(X.shape[0])
    scores = []
    for _ in range(n_repeats):
        # Shuffled again and applied to the already shuffled rows, as sklearn's
        # permutation_importance does: a one-column modality gives the same numbers.
        rng.shuffle(order)
        permute_rows(X_permuted, positions, order)
        scores.append(scorer(estimator, X_permuted, y))
    return scores


@validate_params(
    {
        "estimator": [HasMethods(["fit"])],
        "X": ["array-like"],
        "y": ["array-like", None],
        "scoring": [StrOptions(set(get_scorer_names())), callable, list, tuple, dict, None],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "modalities": [dict, None],
    },
    prefer_skip_nested_validation=True,
)
def modality_importance(
    estimator,
    X,
    y,
    *,
    scoring: str | Callable | list | tuple | dict | None = None,
    n_repeats: int = 5,
    random_state: int | np.random.RandomState | None = None,
    n_jobs: int | None = None,
    modalities: Mapping[str, Hashable | list] | None = None,
) -> Bunch | dict[str, Bunch]:
    """Permutation importance of each modality: how much the model relies on it.

    A baseline score is measured on ``X``; then, for each modality, the rows of all its
    columns are shuffled together (one permutation shared by the modality's columns, so a
    sample's image stays with its other cells of that modality) and the score measured
    again, ``n_repeats`` times. The importance is the baseline minus the shuffled score:
    near 0 when the model ignores the modality, large when it depends on it. This is
    :func:`sklearn.inspection.permutation_importance` with a modality, not a column, as unit.

    Parameters
    ----------
    estimator : estimator
        A fitted estimator, typically a Pipeline of a fusion step and a head.
    X : DataFrame of shape (n_samples, n_columns) or 2-D array
        Data to score on, ideally held out. Cells may be objects (images, waveforms, text,
        None); they are moved, never converted. X is not modified.
    y : array-like of shape (n_samples,) or None
        Targets.
    scoring : str, callable, list, tuple or dict, default=None
        As in :func:`sklearn.inspection.permutation_importance`: None uses
        ``estimator.score``; a str or a scorer callable gives one score; a list/tuple of
        names, a dict of scorers, or a callable returning a dict gives one result per metric.
    n_repeats : int, default=5
        Times each modality is shuffled.
    random_state : int, RandomState instance or None, default=None
        Seeds the permutations; an int gives the same result on every call and for any
        ``n_jobs``. Every modality sees the same sequence of row permutations.
    n_jobs : int, default=None
        Modalities scored in parallel (joblib). None means 1.
    modalities : dict of str -> column or list of columns, default=None
        The columns making up each modality (labels for a DataFrame, positions for an
        array). When None they are read from the estimator: the first fusion step (a
        ``ModalityRoutes`` such as ``EarlyFusion``) found as the estimator itself, a
        search's ``best_estimator_``, or a Pipeline step, gives one modality per route,
        named as the route, with the route's columns (``"drop"`` routes are skipped).
        Without a fusion step, every column of X is its own modality.

    Returns
    -------
    result : Bunch or dict of str -> Bunch
        With the attributes below; a dict of such Bunches, keyed by metric, for several
        metrics.

        importances_mean : ndarray of shape (n_modalities,)
            Mean score decrease over the repeats.
        importances_std : ndarray of shape (n_modalities,)
            Its standard deviation over the repeats.
        importances : ndarray of shape (n_modalities, n_repeats)
            Each repeat's score decrease.
        baseline_score : float
            The score on the unshuffled X.
        modalities : list of str
            Modality names, in the order of the rows above.
        columns : dict of str -> list
            The columns shuffled for each modality.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    ValueError
        If a modality names a column not in X, or y's length differs from X's.

    See Also
    --------
    modality_ablation : The score when a modality is absent rather than shuffled.
    plot_modality_importance : Bar chart of the result.
    sklearn.inspection.permutation_importance : The same, column by column.

    Notes
    -----
    A column routed to two modalities is shuffled with each. Correlated modalities share
    credit: shuffling one leaves its information in the other, so both can look unimportant
    while together they matter; :func:`modality_ablation` and grouping them help there.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mmlearn.inspection import modality_importance
    >>> rng = np.random.RandomState(0)
    >>> y = np.arange(60) % 2
    >>> X = pd.DataFrame({"signal": y + 0.1 * rng.randn(60), "noise": rng.randn(60)})
    >>> model = LogisticRegression().fit(X, y)
    >>> result = modality_importance(model, X, y, n_repeats=3, random_state=0)
    >>> result.modalities
    ['signal', 'noise']
    >>> result.importances.shape
    (2, 3)
    >>> bool(result.importances_mean[0] > 0.3), bool(abs(result.importances_mean[1]) < 0.1)
    (True, True)
    """
    X = check_inputs(estimator, X, y, caller="modality_importance")
    found = resolve_modalities(estimator, X, modalities)
    # One seed drawn here and handed to every task: the same permutations whatever n_jobs.
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
    scorer = check_scoring(estimator, scoring=scoring)
    baseline = scorer(estimator, X, y)
    permuted = Parallel(n_jobs=n_jobs)(
        delayed(_permuted_scores)(estimator, X, y, positions, seed, n_repeats, scorer)
        for positions in found.values()
    )
    names = list(found)
    columns = {name: column_labels(X, positions) for name, positions in found.items()}

    def build(metric: str | None) -> Bunch:
        scores = np.array([[pick(s, metric) for s in repeats] for repeats in permuted])
        base = pick(baseline, metric)
        importances = base - scores
        return Bunch(
            importances_mean=importances.mean(axis=1),
            importances_std=importances.std(axis=1),
            importances=importances,
            baseline_score=base,
            modalities=names,
            columns=columns,
        )

    return per_metric(baseline, build)
