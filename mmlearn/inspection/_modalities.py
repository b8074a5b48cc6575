"""Which columns of X make up each modality: given by the user, or read off the fusion step."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mmlearn.fusion._routing import ModalityRoutes
from mmlearn.utils._sklearn_compat import get_column_indices

Modalities = dict[str, list[int]]


def find_routes(estimator: object) -> ModalityRoutes | None:
    """The fusion step that routes X's columns, or None.

    Looked for in this order: the estimator itself, a fitted search's ``best_estimator_``,
    then a Pipeline's steps from first to last (nested Pipelines included). The first
    :class:`~mmlearn.fusion._routing.ModalityRoutes` found wins: it is the step that reads
    the raw modality columns.
    """
    if isinstance(estimator, ModalityRoutes):
        return estimator
    best = getattr(estimator, "best_estimator_", None)
    if best is not None:
        return find_routes(best)
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            found = find_routes(step)
            if found is not None:
                return found
    return None


def _column_positions(X: object, columns: object, modality: str) -> list[int]:
    """Positions in X of ``columns`` (a label, a list of labels, int positions, a selector)."""
    if callable(columns):
        # A selector such as make_column_selector, as ColumnTransformer accepts.
        columns = columns(X)
    labels = list(X.columns) if isinstance(X, pd.DataFrame) else None
    wanted = columns if isinstance(columns, list | tuple | np.ndarray | pd.Index) else [columns]
    if labels is not None:
        lost = [c for c in wanted if isinstance(c, str) and c not in labels]
        if lost:
            raise ValueError(
                f"modality {modality!r}: column(s) {lost} not found in X; "
                f"X has columns {[str(c) for c in labels]}."
            )
    try:
        positions = get_column_indices(X, columns)
    except (ValueError, IndexError, TypeError, KeyError) as exc:
        raise ValueError(
            f"modality {modality!r}: cannot select column(s) {columns!r} from X: {exc}"
        ) from exc
    if not len(positions):
        raise ValueError(f"modality {modality!r} selects no column of X.")
    return [int(p) for p in positions]


def _from_routes(routes: ModalityRoutes, X: object) -> Modalities:
    found: Modalities = {}
    for name, estimator, columns in routes.get_routes():
        if isinstance(estimator, str) and estimator == "drop":
            continue  # the model never sees these columns: nothing to measure
        if isinstance(columns, list | tuple) and not columns:
            continue
        found[str(name)] = _column_positions(X, columns, str(name))
    return found


def resolve_modalities(
    estimator: object, X: object, modalities: Mapping[str, Hashable | list] | None
) -> Modalities:
    """Map each modality name to the positions of its columns in X.

    With ``modalities`` given, it is used as is. Otherwise the routes of the estimator's
    fusion step (see :func:`find_routes`) give the modalities, ``"drop"`` routes skipped;
    without a fusion step every column of X is its own modality, named after the column.
    """
    if modalities is not None:
        if not modalities:
            raise ValueError("modalities is empty; give at least one name -> columns entry.")
        return {
            str(name): _column_positions(X, columns, str(name))
            for name, columns in modalities.items()
        }
    routes = find_routes(estimator)
    if routes is not None:
        found = _from_routes(routes, X)
        if found:
            return found
    labels = X.columns if isinstance(X, pd.DataFrame) else range(X.shape[1])
    return {str(label): [position] for position, label in enumerate(labels)}


def column_labels(X: object, positions: list[int]) -> list:
    """The labels of X's columns at ``positions`` (the positions for an array)."""
    if isinstance(X, pd.DataFrame):
        return [X.columns[p] for p in positions]
    return list(positions)
