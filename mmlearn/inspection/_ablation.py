"""Missing-modality ablation: the score with one modality absent at test time."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.utils import Bunch

from mmlearn.inspection._checks import check_inputs, per_metric, pick
from mmlearn.inspection._modalities import column_labels, resolve_modalities
from mmlearn.utils._sklearn_compat import HasMethods, StrOptions, validate_params


def _missing_column(column: pd.Series) -> object:
    """An all-missing replacement for ``column``, in the dtype that can say "missing"."""
    n = len(column)
    dtype = column.dtype
    if pd.api.types.is_object_dtype(dtype):
        # None is the data contract's missing cell for images, audio and text.
        return np.full(n, None, dtype=object)
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        # Integers cannot hold NaN: the column becomes float, as pandas would make it.
        return np.full(n, np.nan)
    try:
        # Extension and datetime dtypes (Int64, category, str, datetime64) have their own
        # missing value; numpy bool has none (None would become False), hence the check.
        missing = pd.array([None] * n, dtype=dtype)
        if pd.isna(missing).all():
            return missing
    except (TypeError, ValueError):
        pass
    return np.full(n, None, dtype=object)


def set_missing(X: object, positions: list[int]) -> object:
    """A copy of X whose columns at ``positions`` are missing in every row."""
    if isinstance(X, pd.DataFrame):
        X_missing = X.copy(deep=False)  # isetitem replaces columns, never writes into them
        for position in positions:
            X_missing.isetitem(position, _missing_column(X.iloc[:, position]))
        return X_missing
    X_missing = X.astype(object if X.dtype.kind not in "fc" else X.dtype)
    X_missing[:, positions] = None if X_missing.dtype == object else np.nan
    return X_missing


@validate_params(
    {
        "estimator": [HasMethods(["fit"])],
        "X": ["array-like"],
        "y": ["array-like", None],
        "scoring": [StrOptions(set(get_scorer_names())), callable, list, tuple, dict, None],
        "modalities": [dict, None],
    },
    prefer_skip_nested_validation=True,
)
def modality_ablation(
    estimator,
    X,
    y,
    *,
    scoring: str | Callable | list | tuple | dict | None = None,
    modalities: Mapping[str, Hashable | list] | None = None,
) -> Bunch | dict[str, Bunch]:
    """The score with each modality missing at test time: what its absence costs.

    For each modality, every cell of its columns is set missing (None in object columns,
    NaN in numeric ones, the dtype's own missing value for pandas extension dtypes) and the
    fitted estimator is scored again. Unlike :func:`modality_importance`, which keeps the
    modality's values but breaks their link to the target, this asks what the model does
    when the modality is not there at all: the answer depends on its missing-modality
    policy (``EarlyFusion(missing="impute")`` imputes the training mean), and it is the
    figure that matters when a sensor can fail in deployment.

    Parameters
    ----------
    estimator : estimator
        A fitted estimator that accepts missing cells, e.g. a Pipeline of
        ``EarlyFusion(missing="impute")`` and a head.
    X : DataFrame of shape (n_samples, n_columns) or 2-D array
        Data to score on, ideally held out. X is not modified.
    y : array-like of shape (n_samples,) or None
        Targets.
    scoring : str, callable, list, tuple or dict, default=None
        As in :func:`modality_importance`: None uses ``estimator.score``; several metrics
        give a dict of results keyed by metric.
    modalities : dict of str -> column or list of columns, default=None
        The columns of each modality; when None, read from the estimator's fusion step as
        in :func:`modality_importance` (else every column is its own modality).

    Returns
    -------
    result : Bunch or dict of str -> Bunch
        With the attributes below; a dict of such Bunches, keyed by metric, for several
        metrics.

        baseline_score : float
            The score with every modality present.
        scores : ndarray of shape (n_modalities,)
            The score with each modality missing.
        drops : ndarray of shape (n_modalities,)
            ``baseline_score - scores``.
        modalities : list of str
            Modality names, in the order of the arrays above.
        columns : dict of str -> list
            The columns set missing for each modality.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    ValueError
        If a modality names a column not in X, if y's length differs from X's, or if the
        estimator fails on a modality set missing (the message names the modality; the
        estimator's own error is the ``__cause__``).

    See Also
    --------
    modality_importance : Shuffle a modality instead of removing it.
    plot_modality_importance : Bar chart of the result.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import StandardScaler
    >>> from mmlearn.encoders import ImagePixelEncoder
    >>> from mmlearn.fusion import EarlyFusion
    >>> from mmlearn.inspection import modality_ablation
    >>> from sklearn.pipeline import make_pipeline
    >>> rng = np.random.RandomState(0)
    >>> y = np.arange(40) % 2
    >>> X = pd.DataFrame({"image": [np.full((2, 2), k, dtype=float) for k in y],
    ...                   "age": rng.randn(40)})
    >>> fusion = EarlyFusion([("image", ImagePixelEncoder(), "image"),
    ...                       ("tab", StandardScaler(), ["age"])])
    >>> model = make_pipeline(fusion, LogisticRegression()).fit(X, y)
    >>> result = modality_ablation(model, X, y)
    >>> result.modalities, result.baseline_score
    (['image', 'tab'], 1.0)
    >>> bool(result.drops[0] > 0.3), bool(abs(result.drops[1]) < 0.1)
    (True, True)
    """
    X = check_inputs(estimator, X, y, caller="modality_ablation")
    found = resolve_modalities(estimator, X, modalities)
    scorer = check_scoring(estimator, scoring=scoring)
    baseline = scorer(estimator, X, y)
    columns = {name: column_labels(X, positions) for name, positions in found.items()}
    ablated = []
    for name, positions in found.items():
        try:
            ablated.append(scorer(estimator, set_missing(X, positions), y))
        except Exception as exc:
            raise ValueError(
                f"modality_ablation: cannot score with modality {name!r} (column(s) "
                f"{columns[name]}) missing: {type(estimator).__name__} raised "
                f"{type(exc).__name__}: {exc} Use an estimator that accepts missing cells, "
                'e.g. a fusion step with missing="impute".'
            ) from exc

    def build(metric: str | None) -> Bunch:
        base = pick(baseline, metric)
        scores = np.array([pick(s, metric) for s in ablated])
        return Bunch(
            baseline_score=base,
            scores=scores,
            drops=base - scores,
            modalities=list(found),
            columns=columns,
        )

    return per_metric(baseline, build)
