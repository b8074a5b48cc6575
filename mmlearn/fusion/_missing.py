"""The missing-modality policy of every fusion step: which rows miss which modality, and what
``missing="impute"`` or ``missing="raise"`` does with them.

:func:`missing_rows` says which rows miss a modality, :func:`present_matrix` stacks that
for every route, and :func:`check_missing` applies the policy's checks with one wording
for EarlyFusion, LateFusion and JointFusion. :class:`ModalityStep` is EarlyFusion's
per-modality wrapper ("impute": fit on the rows that have the modality, fill the others).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.validation import check_is_fitted

from mmlearn._columns import is_missing
from mmlearn.fusion._routing import MISSING_POLICIES, check_row_params, rows_of_params
from mmlearn.utils._sklearn_compat import num_samples, safe_indexing

__all__ = [
    "MISSING_POLICIES",
    "ModalityStep",
    "check_missing",
    "describe_cells",
    "describe_columns",
    "describe_modality",
    "encoder_error",
    "missing_rows",
    "present_matrix",
    "route_errors",
]

def missing_rows(X: object) -> np.ndarray:
    """Rows whose every selected cell is missing (None, NaN, pd.NA, NaT).

    A row with only some of a modality's columns missing is not a missing modality: its
    encoder sees it (a tabular encoder with an imputer handles such cells). In a numeric
    array (a stacked table, images or waveforms, samples first) a row is missing when
    every one of its values is NaN (NaT for dates); in an object array or a list, each
    item is one cell, and present cells are never inspected further (their encoder
    checks them). In a sparse matrix a row is missing when every entry is a stored NaN.

    Parameters
    ----------
    X : Series, DataFrame, ndarray, sparse matrix or list
        One modality's columns.

    Returns
    -------
    absent : bool ndarray of shape (n_rows,)

    Raises
    ------
    TypeError
        ``X`` is a single value (a scalar, a string or a 0-d array) rather than rows.
    """
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        return X.isna().to_numpy().all(axis=1) if X.shape[1] else np.zeros(len(X), bool)
    if sp.issparse(X):
        return _sparse_missing_rows(X)
    arr = _rows_array(X)
    n_rows = arr.shape[0]
    if arr.ndim == 1:
        arr = arr[:, np.newaxis]
    arr = arr.reshape(n_rows, int(np.prod(arr.shape[1:])))  # -1 fails with 0 rows
    if arr.shape[1] == 0:
        # No columns selected: nothing is missing (the encoder reports the empty input).
        return np.zeros(n_rows, dtype=bool)
    if arr.dtype == object:
        return np.fromiter((all(is_missing(cell) for cell in row) for row in arr),
                           dtype=bool, count=n_rows)
    if arr.dtype.kind in "fc":
        return np.isnan(arr).all(axis=1)
    if arr.dtype.kind in "mM":
        return np.isnat(arr).all(axis=1)
    return np.zeros(n_rows, dtype=bool)


def _sparse_missing_rows(X: object) -> np.ndarray:
    # Implicit entries are zeros, so only a row whose every entry is a stored NaN is missing.
    X = sp.csr_array(X)
    X.sum_duplicates()
    n_rows, n_cols = X.shape
    if n_cols == 0 or X.dtype.kind not in "fc":
        return np.zeros(n_rows, dtype=bool)
    rows = np.repeat(np.arange(n_rows), np.diff(X.indptr))
    nan_per_row = np.bincount(rows, weights=np.isnan(X.data), minlength=n_rows)
    return nan_per_row == n_cols


def _rows_array(X: object) -> np.ndarray:
    """``X`` as an array with one row per sample; ragged cells become a 1-D object array."""
    if (isinstance(X, str | bytes | Mapping) or not hasattr(X, "__len__")
            or (isinstance(X, np.ndarray) and X.ndim == 0)):
        raise TypeError(
            "column 'input': expected one cell per row (a Series, DataFrame, list or "
            f"array), got {type(X).__name__}."
        )
    if isinstance(X, np.ndarray):
        return X
    try:
        arr = np.asarray(X)
        if arr.dtype.kind in "US":
            # numpy turned the cells into strings, [nan, "a.png"] into ["nan", "a.png"]:
            # keep them as they are.
            arr = np.asarray(X, dtype=object)
    except (ValueError, TypeError, OverflowError):
        # Cells of different shapes (ragged lists, images of different sizes): one object
        # per row, each tested on its own.
        arr = None
    if arr is None or arr.ndim == 0:
        arr = np.empty(len(X), dtype=object)
        for i, cell in enumerate(X):
            arr[i] = cell
    return arr


def present_matrix(parts: list) -> np.ndarray:
    """Which rows have which modality: ``(n_rows, n_modalities)``, True where present.

    Parameters
    ----------
    parts : list of Series, DataFrame or ndarray
        Each modality's columns (see :func:`mmlearn.fusion._routing.select_columns`), all
        with the same rows.

    Returns
    -------
    present : bool ndarray of shape (n_rows, len(parts))
    """
    if not parts:
        raise ValueError("present_matrix needs at least one modality's columns.")
    return np.column_stack([~missing_rows(part) for part in parts])


def describe_columns(X: object, fallback: str) -> str:
    """The column(s) of one modality's part as a message shows them: ``'audio'``."""
    if isinstance(X, pd.Series):
        return repr(str(X.name))
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        return repr(names[0]) if len(names) == 1 else repr(names)
    return fallback


def describe_modality(owner: str | None, name: str, part: object,
                      columns: object = None) -> str:
    """The subject of a message about one modality: ``LateFusion: modality 'audio'
    (column 'audio')``.

    Parameters
    ----------
    owner : str or None
        The fusion step's class name; None leaves the prefix out.
    name : str
        The route's name.
    part : Series, DataFrame or ndarray
        The route's selected columns: their labels are shown when it has any.
    columns : object, default=None
        The route's column specification, shown when ``part`` has no labels (array
        input); None shows nothing.
    """
    label = describe_columns(part, "" if columns is None else repr(columns))
    where = f"modality {name!r}" + (f" (column {label})" if label else "")
    return where if owner is None else f"{owner}: {where}"


def _describe_cell(cell: object) -> str:
    if isinstance(cell, np.ndarray):
        return f"{cell.dtype} array of shape {cell.shape}"
    text = repr(cell)
    return text if len(text) <= 40 else text[:37] + "..."


def describe_cells(part: object) -> str:
    """What one modality's cells hold, for an error message: ``int64 values (e.g. 7)``.

    Parameters
    ----------
    part : Series, DataFrame, ndarray or list
        The modality's columns.

    Returns
    -------
    description : str
        The dtype of a numeric column, else the Python types of the present cells with
        their counts and one example.
    """
    if getattr(part, "ndim", 1) == 2 and part.shape[1] == 0:
        return "no column"
    if isinstance(part, pd.DataFrame):
        if part.shape[1] != 1:
            dtypes = sorted({str(d) for d in part.dtypes})
            return f"a table of {part.shape[1]} columns of dtype(s) {', '.join(dtypes)}"
        part = part.iloc[:, 0]
    if isinstance(part, pd.Series):
        dtype, cells = part.dtype, part.to_numpy(dtype=object)
    else:
        try:
            arr = np.asarray(part)
        except ValueError:  # ragged cells
            arr = np.empty(len(part), dtype=object)
            arr[:] = list(part)
        if arr.ndim == 0 or arr.size == 0:
            return f"{arr.dtype} array of shape {arr.shape}"
        dtype, cells = arr.dtype, arr.reshape(len(arr), -1)[:, 0]
    present = [c for c in cells if not is_missing(c)]
    if not present:
        return "only missing cells"
    if dtype.kind != "O":
        return f"{dtype} values (e.g. {_describe_cell(present[0])})"
    counts: dict[str, int] = {}
    for cell in present:
        counts[type(cell).__name__] = counts.get(type(cell).__name__, 0) + 1
    kinds = ", ".join(f"{kind} ({n})" for kind, n in
                      sorted(counts.items(), key=lambda kv: -kv[1])[:3])
    return f"cells of type {kinds} (e.g. {_describe_cell(present[0])})"


def encoder_error(exc: Exception, *, where: str, part: object, step: str) -> Exception:
    """The error to raise when a route's estimator fails on the route's cells.

    The estimator's own message (a raw library error, such as TfidfVectorizer's
    ``'int' object has no attribute 'lower'``) says neither which modality nor which column
    nor what their cells are; this one says all three and keeps the original message.

    Parameters
    ----------
    exc : Exception
        What the estimator raised (a ValueError, TypeError or AttributeError).
    where : str
        The subject of the message (see :func:`describe_modality`); a message that already
        starts with its first word (the fusion step's name) is returned unchanged.
    part : Series, DataFrame or ndarray
        The route's selected columns.
    step : str
        The estimator's method that failed (``"fit"``, ``"transform"``...).

    Returns
    -------
    error : Exception
        A TypeError for a TypeError or AttributeError (a cell of the wrong type), an error of
        the original type otherwise; ``exc`` itself when it cannot be rebuilt.
    """
    message = str(exc)
    owner = where.split(":", 1)[0]
    if message.startswith(owner):
        return exc
    original = message if type(exc) in (ValueError, TypeError) \
        else f"{type(exc).__name__}: {message}"
    try:
        cells = describe_cells(part)
    except Exception:  # the cells defy description: the original error still stands
        return exc
    text = f"{where} holds {cells}, and its estimator's {step} failed on them: {original}"
    if isinstance(exc, AttributeError) and not isinstance(exc, ValueError | TypeError):
        return TypeError(text)
    try:
        return type(exc)(text)
    except Exception:  # an exception type whose constructor takes other arguments
        return exc


@contextmanager
def route_errors(*, where: str, part: object, step: str) -> Iterator[None]:
    """Re-raise a route's estimator's ValueError, TypeError or AttributeError through
    :func:`encoder_error` (same arguments), chained to the original."""
    try:
        yield
    except (ValueError, TypeError, AttributeError) as exc:
        error = encoder_error(exc, where=where, part=part, step=step)
        if error is exc:
            raise
        raise error from exc


def check_missing(part: object, *, where: str, missing: str = "impute",
                  fitting: bool) -> np.ndarray:
    """Apply the missing-modality policy's checks to one modality's columns.

    Parameters
    ----------
    part : Series, DataFrame or ndarray
        The modality's columns.
    where : str
        The subject of the error messages (see :func:`describe_modality`).
    missing : {"impute", "raise"}, default="impute"
        ``"raise"``: a ``ValueError`` naming the modality, the number of rows without it
        and the first of them (positions in X). ``"impute"``: rows without it are the
        caller's to fill.
    fitting : bool
        In fit, a modality missing in every row raises a ``ValueError`` under either policy:
        there is nothing to learn it from.

    Returns
    -------
    absent : bool ndarray of shape (n_rows,)
        The rows that miss the modality.
    """
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}.")
    absent = missing_rows(part)
    if missing == "raise" and absent.any():
        rows = np.flatnonzero(absent)[:5].tolist()
        raise ValueError(
            f"{where} is missing in {int(absent.sum())} rows (first: {rows}) and "
            "missing='raise'; use missing='impute' to accept rows without a modality."
        )
    if fitting and absent.all():
        raise ValueError(
            f"{where} is missing in every row ({absent.size}); nothing to learn from: "
            "drop this modality or supply some values."
        )
    return absent


class ModalityStep(TransformerMixin, BaseEstimator):
    """Wrap one modality's encoder with a missing-modality policy.

    ``missing="impute"``: the encoder is fitted on the rows where the modality is present;
    at transform, rows without it get the training mean of the encoder's features (zeros
    when the encoder's output is sparse, to keep it sparse), plus a ``missing`` indicator
    column when missing rows were seen during fit. ``missing="raise"``: a ``ValueError``
    naming the modality, its column and the first missing rows.

    ``owner`` (the fusion step's class name) prefixes the error messages.

    ``drop_rows`` (a boolean mask over the rows given to ``fit_transform``) hides the
    modality in those rows of ``fit_transform``'s output only, as if it were missing: the
    encoder still learns from them, but the head that follows learns to do without the
    modality (modality dropout). ``transform`` ignores it.

    Metadata given to ``fit`` (``sample_weight``...) goes to the encoder's ``fit_transform``,
    restricted to the rows it is fitted on; ``fill_`` is then the mean weighted by the
    ``sample_weight`` the encoder took. With metadata routing enabled, only what the
    encoder requested (``set_fit_request``) is passed on, as
    :class:`~sklearn.compose.ColumnTransformer` does; without it, everything is, as to the
    one estimator of a scikit-learn meta-estimator.
    """

    def __init__(self, encoder=None, *, name="modality", missing="impute", drop_rows=None,
                 owner=None):
        self.encoder = encoder
        self.name = name
        self.missing = missing
        self.drop_rows = drop_rows
        self.owner = owner

    def _check_missing(self, X, *, fitting: bool) -> np.ndarray:
        where = describe_modality(self.owner, self.name, X)
        return check_missing(X, where=where, missing=self.missing, fitting=fitting)

    def fit(self, X, y=None, **params):
        self.fit_transform(X, y, **params)
        return self

    def get_metadata_routing(self) -> MetadataRouter:
        """The encoder's ``fit_transform`` receives what it requested, from ``fit`` and
        ``fit_transform``.

        Returns
        -------
        routing : MetadataRouter
        """
        return MetadataRouter(owner=self).add(
            encoder=self.encoder,
            method_mapping=MethodMapping()
            .add(caller="fit", callee="fit_transform")
            .add(caller="fit_transform", callee="fit_transform"),
        )

    def _encoder_params(self, params: dict, n_rows: int) -> dict:
        if not params:
            return {}
        check_row_params(params, n_rows, owner=self.owner or type(self).__name__)
        if get_config().get("enable_metadata_routing", False):
            return dict(process_routing(self, "fit_transform", **params).encoder.fit_transform)
        return params

    def fit_transform(self, X, y=None, **params):
        n_rows = num_samples(X)
        params = self._encoder_params(params, n_rows)
        absent = self._check_missing(X, fitting=True)
        present = np.flatnonzero(~absent)
        self.encoder_ = clone(self.encoder)
        if absent.any():
            X_fit = safe_indexing(X, present, axis=0)
            y_fit = None if y is None else safe_indexing(y, present)
            # The weights of rows without the modality leave with those rows.
            params = rows_of_params(params, present, n_rows)
        else:
            X_fit, y_fit = X, y
        with self._errors(X_fit, "fit_transform"):
            features = self.encoder_.fit_transform(X_fit, y_fit, **params)
        self.sparse_output_ = sp.issparse(features)
        self.n_encoded_ = features.shape[1]
        if self.sparse_output_:
            self.fill_ = None
        else:
            features = np.asarray(features)
            self.fill_ = _mean_row(features, params.get("sample_weight"))
        dropped = np.zeros_like(absent)
        if self.drop_rows is not None:
            dropped = np.asarray(self.drop_rows, dtype=bool) & ~absent
        self.add_indicator_ = bool(absent.any() or dropped.any())
        self.n_features_in_ = getattr(self.encoder_, "n_features_in_", None)
        if dropped.any():
            hidden = absent | dropped
            # ``features`` holds the present rows; keep those not dropped.
            kept = safe_indexing(features, np.flatnonzero(~dropped[present]), axis=0)
            return self._assemble(kept, hidden, np.flatnonzero(~hidden))
        return self._assemble(features, absent, present)

    def transform(self, X):
        check_is_fitted(self)
        absent = self._check_missing(X, fitting=False)
        present = np.flatnonzero(~absent)
        features = None
        if not absent.all():
            X_present = safe_indexing(X, present, axis=0) if absent.any() else X
            with self._errors(X_present, "transform"):
                features = self.encoder_.transform(X_present)
        return self._assemble(features, absent, present)

    def _errors(self, X, step: str):
        return route_errors(where=describe_modality(self.owner, self.name, X), part=X,
                            step=step)

    def _assemble(self, features, absent: np.ndarray, present: np.ndarray):
        if absent.any():
            features = self._fill(features, absent, present)
        if not self.add_indicator_:
            return features
        indicator = absent.astype(np.float32)[:, np.newaxis]
        if self.sparse_output_:
            return sp.hstack([features, sp.csr_matrix(indicator)], format="csr")
        features = np.asarray(features)
        return np.hstack([features, indicator.astype(features.dtype)])

    def _fill(self, features, absent: np.ndarray, present: np.ndarray):
        n = absent.size
        if self.sparse_output_:
            if features is None:
                return sp.csr_matrix((n, self.n_encoded_))
            # Scatter the present rows back to their original positions; absent rows stay empty.
            scatter = sp.csr_matrix(
                (np.ones(present.size, dtype=features.dtype), (present, np.arange(present.size))),
                shape=(n, present.size),
            )
            return (scatter @ features).tocsr()
        dtype = self.fill_.dtype if features is None else np.asarray(features).dtype
        full = np.empty((n, self.fill_.shape[0]), dtype=dtype)
        full[absent] = self.fill_
        if features is not None:
            full[present] = features
        return full

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # NaN cells mark a missing modality (imputed or refused by ``missing``); the input
        # kinds the step takes otherwise are its encoder's.
        tags.input_tags.allow_nan = True
        if self.encoder is not None:
            encoder_tags = get_tags(self.encoder).input_tags
            tags.input_tags.string = encoder_tags.string
            tags.input_tags.sparse = encoder_tags.sparse
        return tags

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        names = list(self.encoder_.get_feature_names_out(input_features))
        if self.add_indicator_:
            names.append("missing")
        return np.asarray(names, dtype=object)


def _mean_row(features: np.ndarray, weights: object) -> np.ndarray:
    """The training mean of the encoder's features, what rows without the modality get;
    weighted by the rows' weights where the encoder took them, so that a row of weight 0
    counts no more in the fill than in the encoder."""
    if not features.size:
        return features.sum(axis=0)
    if weights is not None and np.ndim(weights) == 1:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.sum() > 0:
            return np.average(features, axis=0, weights=weights).astype(features.dtype)
    return features.mean(axis=0)
