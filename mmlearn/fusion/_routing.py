"""Shared plumbing of fusion steps: a list of (name, estimator, columns) routes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mmlearn.utils._sklearn_compat import BaseComposition


class ModalityRoutes(BaseComposition):
    """Nested parameters and column checks for a list of ``(name, estimator, columns)``.

    Subclasses name the attribute holding the list in ``_routes_attr``. Like
    ColumnTransformer, ``get_params``/``set_params`` expose each estimator by its name, so
    ``fusion__image__size`` can be grid-searched.
    """

    _routes_attr = "transformers"

    def _get_routes(self) -> list:
        return getattr(self, self._routes_attr)

    @property
    def _named_estimators(self):
        try:
            return [(name, est) for name, est, _ in self._get_routes()]
        except (TypeError, ValueError):
            return self._get_routes()

    @_named_estimators.setter
    def _named_estimators(self, value):
        try:
            routes = [
                (name, est, col)
                for (name, est), (_, _, col) in zip(value, self._get_routes(), strict=True)
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
        routes = self._get_routes()
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
        present = set(X.columns)
        for name, _, columns in self._get_routes():
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
