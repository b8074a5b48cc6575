"""Shared plumbing of fusion steps: a list of ``(name, estimator, columns)`` routes.

EarlyFusion, LateFusion and JointFusion share one constructor shape: the routes as first
parameter, then ``missing``, ``modality_dropout`` and ``random_state``
(:func:`fusion_constraints` holds their validation), :class:`ModalityRoutes` for nested
parameters and column checks, and :func:`select_columns` to take one route's columns.
:func:`check_row_params` checks the ``sample_weight`` a fusion step's ``fit`` is given and
:func:`rows_of_params` takes the metadata of the rows a route is fitted on.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mmlearn.utils._sklearn_compat import (
    BaseComposition,
    Interval,
    StrOptions,
    num_samples,
    safe_indexing,
)
from mmlearn.utils.sample_weight import check_sample_weight

__all__ = ["MISSING_POLICIES", "ModalityRoutes", "check_row_params", "fusion_constraints",
           "rows_of_params", "select_columns"]

# The values of every fusion step's ``missing`` parameter; mmlearn.fusion._missing says
# what each does.
MISSING_POLICIES = ("impute", "raise")


def fusion_constraints(routes_attr: str) -> dict:
    """``_parameter_constraints`` of the parameters every fusion step has.

    Parameters
    ----------
    routes_attr : str
        The name of the routes parameter (``"transformers"``, ``"estimators"``,
        ``"encoders"``).

    Returns
    -------
    constraints : dict
        The routes (a list or tuple), ``missing`` (``"impute"`` or ``"raise"``),
        ``modality_dropout`` (a float in [0, 1)) and ``random_state``.
    """
    return {
        routes_attr: [list, tuple],
        "missing": [StrOptions(set(MISSING_POLICIES))],
        "modality_dropout": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
    }


def _describe_width(X: object) -> str:
    # sklearn's wording ("1 feature(s)"), which its estimator checks look for.
    shape = getattr(X, "shape", None)
    return f"X's {shape[1]} feature(s)" if shape is not None and len(shape) == 2 else "X"


def select_columns(X: object, columns: object, *, owner: str, name: str,
                   allow_empty: bool = False) -> object:
    """One route's columns of X.

    Parameters
    ----------
    X : DataFrame or 2-D array
    columns : str, int, list, slice, bool mask or callable
        A single label or position gives a Series (a 1-D array for array input), what the
        image/audio/text encoders read; a list gives a 2-D table. A callable (such as
        :func:`sklearn.compose.make_column_selector`) is called on X first.
    owner : str
        The fusion step's class name, for the error messages.
    name : str
        The route's name, for the error messages.
    allow_empty : bool, default=False
        Whether a selection of no column is valid (EarlyFusion, like ColumnTransformer,
        skips such a route); otherwise it raises a ``ValueError``.

    Returns
    -------
    part : Series, DataFrame or ndarray
        The rows of X, in order.
    """
    selector = columns
    if callable(columns):
        columns = columns(X)
    try:
        part = safe_indexing(X, columns, axis=1)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(
            f"{owner}: modality {name!r} cannot select column(s) {columns!r} from "
            f"{_describe_width(X)}: {exc}"
        ) from exc
    if not allow_empty and getattr(part, "ndim", 1) == 2 and part.shape[1] == 0:
        raise ValueError(
            f"{owner}: modality {name!r} selects no column with {selector!r} from "
            f"{_describe_width(X)}."
        )
    return part


def _per_row(value: object, n_samples: int) -> bool:
    if value is None or isinstance(value, str | bytes) or not hasattr(value, "__len__"):
        return False
    try:
        return num_samples(value) == n_samples
    except TypeError:
        return False


def check_row_params(params: dict, n_samples: int, *, owner: str) -> None:
    """Raise a ValueError when a ``sample_weight`` in ``params`` is not one finite weight
    >= 0 per row, or is zero for every row.

    The routes are fitted on subsets of the rows (folds, rows that have the modality), so
    a weight vector of another length could not be split with them; and a negative or NaN
    weight would reach only the estimators that take weights, where the message would no
    longer name the fusion step.

    Parameters
    ----------
    params : dict
        The metadata given to the fusion step's ``fit``.
    n_samples : int
        The number of rows of X.
    owner : str
        The fusion step's class name, for the messages.

    Raises
    ------
    ValueError
        The message names ``sample_weight``, the problem and the first rows concerned.
    TypeError
        When the weights are not numbers.
    """
    check_sample_weight(params.get("sample_weight"), n_samples, owner=owner)


def rows_of_params(params: dict, rows: np.ndarray, n_samples: int) -> dict:
    """``params`` for a subset of the rows: each value with one entry per row of X
    (``sample_weight``, groups...) is indexed by ``rows``; other values pass unchanged, as
    scikit-learn's ``cross_val_predict`` does with the metadata it routes."""
    return {key: safe_indexing(value, rows) if _per_row(value, n_samples) else value
            for key, value in params.items()}


class ModalityRoutes(BaseComposition):
    """Nested parameters and column checks for a list of ``(name, estimator, columns)``.

    Subclasses name the attribute holding the list in ``_routes_attr``. Like
    ColumnTransformer, ``get_params``/``set_params`` expose each estimator by its name, so
    ``fusion__image__size`` can be grid-searched.
    """

    _routes_attr = "transformers"

    def get_routes(self) -> list:
        """The ``(name, estimator, columns)`` routes, whatever the parameter is called."""
        return getattr(self, self._routes_attr)

    @property
    def _named_estimators(self):
        try:
            return [(name, est) for name, est, _ in self.get_routes()]
        except (TypeError, ValueError):
            return self.get_routes()

    @_named_estimators.setter
    def _named_estimators(self, value):
        try:
            routes = [
                (name, est, col)
                for (name, est), (_, _, col) in zip(value, self.get_routes(), strict=True)
            ]
        except (TypeError, ValueError):
            routes = value
        setattr(self, self._routes_attr, routes)

    def get_params(self, deep=True):
        """Get parameters, including each route's estimator's as ``name__param``.

        Parameters
        ----------
        deep : bool, default=True

        Returns
        -------
        params : dict
        """
        return self._get_params("_named_estimators", deep=deep)

    def set_params(self, **params):
        """Set parameters, including each route's estimator's as ``name__param``.

        Parameters
        ----------
        **params : dict

        Returns
        -------
        self : estimator instance
        """
        self._set_params("_named_estimators", **params)
        return self

    def _validate_routes(self) -> None:
        routes = self.get_routes()
        kind = type(self).__name__
        if not isinstance(routes, list | tuple) or not routes:
            raise ValueError(
                f"{kind} needs a non-empty list of (name, estimator, columns) tuples, "
                f"got {routes!r}."
            )
        for route in routes:
            if not isinstance(route, tuple | list) or len(route) != 3:
                raise ValueError(
                    f"{kind}: each entry must be a (name, estimator, columns) tuple, got {route!r}."
                )
        self._validate_names([name for name, _, _ in routes])

    def _check_columns(self, X: object) -> None:
        """Raise a ValueError naming each route whose columns are not in the DataFrame X."""
        if not isinstance(X, pd.DataFrame):
            if sp.issparse(X):
                raise TypeError(
                    f"sparse input is not supported: {type(self).__name__} expects a DataFrame "
                    "with one column per modality."
                )
            if hasattr(X, "__array__") or isinstance(X, list | tuple):
                ndim = np.asarray(X, dtype=object).ndim
                if ndim == 2:
                    return
                raise ValueError(
                    f"{type(self).__name__} expects 2-D input (one column per modality), got "
                    f"{ndim} dimension(s). Reshape your data, or pass a DataFrame."
                )
            raise TypeError(
                f"{type(self).__name__} expects a pandas DataFrame with one column per modality "
                f"(or a 2-D array with integer column indices), got {type(X).__name__}."
            )
        if isinstance(X.columns, pd.MultiIndex):
            # Routes name one column each by a plain label; a tuple of levels would be read
            # as a list of columns, and ColumnTransformer cannot select from MultiIndex.
            kind = type(self).__name__
            raise ValueError(
                f"{kind}: X has MultiIndex columns ({X.columns.nlevels} levels, e.g. "
                f"{X.columns[0]!r}), which {kind} does not support. Flatten them first, e.g. "
                "X.columns = ['_'.join(map(str, c)) for c in X.columns], and name the "
                "flattened columns in the routes."
            )
        present = set(X.columns)
        for name, _, columns in self.get_routes():
            wanted = [columns] if isinstance(columns, str) else columns
            if callable(wanted) or isinstance(wanted, slice):
                continue
            wanted = list(np.atleast_1d(np.asarray(wanted, dtype=object)))
            if any(isinstance(c, str) for c in wanted):
                lost = [c for c in wanted if c not in present]
                if lost:
                    raise ValueError(
                        f"{type(self).__name__}: modality {name!r} uses column(s) {lost} "
                        f"not found in X; X has columns {list(map(str, X.columns))}."
                    )
