"""A shared space for two paired modalities, learned by CCA or PLS (scikit-learn's)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, clone
from sklearn.cross_decomposition import CCA, PLSCanonical
from sklearn.utils import get_tags
from sklearn.utils.validation import check_array, check_is_fitted
from threadpoolctl import threadpool_limits

from mmlearn._columns import is_missing
from mmlearn.utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    fit_context,
    num_samples,
    validate_data,
    wrap_data_with_container,
)

__all__ = ["CrossModalAligner"]


class CrossModalAligner(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Project two paired modalities into one shared space (CCA or PLS).

    Row ``i`` of ``X`` and row ``i`` of ``y`` describe the same sample (an image and its
    caption, a clip and its transcript). ``fit`` learns, with scikit-learn's
    :class:`~sklearn.cross_decomposition.CCA` or
    :class:`~sklearn.cross_decomposition.PLSCanonical`, one linear projection per modality
    such that paired rows land close together; ``transform`` maps ``X``'s modality into the
    shared space and ``transform_y`` maps ``y``'s. Retrieval across modalities is then a
    nearest-neighbour search in that space (see :func:`retrieve` and
    :func:`retrieval_recall_at_k`).

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the shared space. At most the smaller of the two (encoded) feature
        counts, and below the number of training pairs.
    method : {"cca", "pls"}, default="cca"
        ``"cca"``: canonical correlation analysis, maximises the correlation of paired
        coordinates (invariant to each modality's scale). ``"pls"``:
        :class:`~sklearn.cross_decomposition.PLSCanonical`, maximises their covariance;
        faster and steadier when features are many and pairs few.
    scale : bool, default=True
        Standardise each feature before the decomposition, as CCA / PLSCanonical do.
    max_iter : int, default=500
        Power-method iterations per component (the inner estimator's ``max_iter``).
    tol : float, default=1e-6
        Convergence tolerance of the power method.
    normalize : bool, default=False
        Scale each row of the shared coordinates to unit L2 norm, so that dot products are
        cosine similarities (what retrieval compares).
    x_encoder, y_encoder : transformer or None, default=None
        Optional transformers from raw cells to features (e.g. ``ImagePixelEncoder`` then
        ``PCA``, or ``PretrainedTextEncoder``), cloned and fitted in ``fit`` on their
        modality alone, then applied in ``transform`` / ``transform_y``. They let a
        DataFrame's image column and text column go straight into the shared space. None:
        the modality is already a numeric matrix. An encoder's output must be dense.

    Attributes
    ----------
    estimator_ : CCA or PLSCanonical
        The fitted decomposition (``x_rotations_``, ``y_rotations_``...).
    x_encoder_, y_encoder_ : transformer
        The fitted encoders (only when the matching parameter is set).
    x_scale_, y_scale_ : ndarray of shape (n_components,)
        Standard deviation of each modality's raw CCA/PLS coordinates on the training
        pairs; the shared coordinates are divided by it (see Notes).
    correlations_ : ndarray of shape (n_components,)
        Correlation of the paired shared coordinates on the training pairs, per component
        (before ``normalize``): how well each dimension aligns the modalities in fit.
    n_features_y_ : int
        Width of ``y`` (after ``y_encoder``).
    n_iter_ : int
        The largest number of power-method iterations any component took (the inner
        estimator's ``n_iter_`` lists one per component).
    n_features_in_ : int
        Number of columns of ``X`` (the encoder's, when ``x_encoder`` is set).
    feature_names_in_ : ndarray of str
        Column names of ``X``, when it is a DataFrame with string column names.

    See Also
    --------
    sklearn.cross_decomposition.CCA : The decomposition behind ``method="cca"``.
    mmlearn.crossmodal.retrieval_recall_at_k : Scores retrieval in the shared space.

    Notes
    -----
    The shared coordinates are CCA's (or PLS's) scores divided, per component and per
    modality, by their standard deviation over the training pairs. The raw scores of the two
    modalities are on different scales component by component, so that paired rows
    correlated at 0.99 can still be far apart; standardised, they are directly comparable
    by cosine or Euclidean distance. (For CCA these are the canonical variates.)

    Each method returns one array, so the aligner works as a Pipeline step:
    ``fit_transform(X, y)`` and ``transform(X)`` give ``X``'s shared coordinates and
    ``transform_y(y)`` gives ``y``'s (scikit-learn's ``CCA.transform(X, y)`` instead returns
    a tuple when given ``y``). Outputs are float64 of shape ``(n_samples, n_components)``;
    ``set_output(transform="pandas")`` applies to ``transform_y`` as well. ``y`` may be 1-D
    (one feature). The encoders are fitted without labels: ``y`` is the other modality.

    Examples
    --------
    >>> import numpy as np
    >>> from mmlearn.crossmodal import CrossModalAligner, retrieval_recall_at_k
    >>> rng = np.random.RandomState(0)
    >>> latent = rng.normal(size=(200, 5))           # what both modalities describe
    >>> X = latent @ rng.normal(size=(5, 10)) + 0.1 * rng.normal(size=(200, 10))
    >>> Y = latent @ rng.normal(size=(5, 6)) + 0.1 * rng.normal(size=(200, 6))
    >>> aligner = CrossModalAligner(n_components=5).fit(X[:150], Y[:150])
    >>> aligner.transform(X[150:]).shape, aligner.transform_y(Y[150:]).shape
    ((50, 5), (50, 5))
    >>> aligner.get_feature_names_out()[:2].tolist()
    ['crossmodalaligner0', 'crossmodalaligner1']

    Each held-out Y row finds its own X row first among the 50:

    >>> retrieval_recall_at_k(aligner.transform_y(Y[150:]), aligner.transform(X[150:]), k=1)
    1.0
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions({"cca", "pls"})],
        "scale": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "normalize": ["boolean"],
        "x_encoder": [None, HasMethods(["fit", "transform"])],
        "y_encoder": [None, HasMethods(["fit", "transform"])],
    }

    def __init__(self, n_components=2, *, method="cca", scale=True, max_iter=500, tol=1e-6,
                 normalize=False, x_encoder=None, y_encoder=None):
        self.n_components = n_components
        self.method = method
        self.scale = scale
        self.max_iter = max_iter
        self.tol = tol
        self.normalize = normalize
        self.x_encoder = x_encoder
        self.y_encoder = y_encoder

    # -- fitting ---------------------------------------------------------------------------

    def _fit(self, X, y) -> np.ndarray:
        """Fit encoders and decomposition; return X's training features (reused by
        fit_transform so that an expensive encoder runs once)."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "y is the second modality, paired row by row with X."
            )
        n_x, n_y = num_samples(X), num_samples(y)
        if n_x != n_y:
            raise ValueError(
                f"X and y must be paired row by row, but X has {n_x} rows and y has {n_y}."
            )
        features_x = self._features_x(X, fitting=True)
        features_y = self._features_y(y, fitting=True)
        n_samples = features_x.shape[0]
        if n_samples < self.n_components + 1:
            # Centring uses one degree of freedom: n paired rows span at most n - 1
            # dimensions of correlation.
            raise ValueError(
                f"n_components={self.n_components} needs at least {self.n_components + 1} "
                f"paired samples; got {n_samples} sample(s)."
            )
        width_x, width_y = features_x.shape[1], features_y.shape[1]
        if self.n_components > min(width_x, width_y):
            raise ValueError(
                f"n_components={self.n_components} exceeds the smaller feature count: X has "
                f"{width_x} feature(s) and y has {width_y} (after encoding); the shared space "
                f"has at most {min(width_x, width_y)} dimension(s)."
            )
        self.n_features_y_ = width_y
        common = dict(n_components=self.n_components, scale=self.scale,
                      max_iter=self.max_iter, tol=self.tol)
        inner = CCA(**common) if self.method == "cca" else PLSCanonical(**common)
        # The power method is hundreds of small matrix-vector products: BLAS threads only
        # add synchronisation, which on a shared machine costs far more than it gains.
        with threadpool_limits(limits=1, user_api="blas"):
            self.estimator_ = inner.fit(features_x, features_y)
        self.n_iter_ = int(max(self.estimator_.n_iter_, default=0))
        self._n_features_out = self.n_components
        scores_x, scores_y = self.estimator_.transform(features_x, features_y)
        self.correlations_ = _paired_correlations(scores_x, scores_y)
        # CCA/PLS leave each modality's coordinates on its own scale, component by
        # component, so a pair correlated at 0.99 can still sit far apart. Unit variance on
        # the training pairs puts both modalities on one scale, which retrieval compares.
        self.x_scale_ = _unit_scale(scores_x)
        self.y_scale_ = _unit_scale(scores_y)
        return features_x

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Learn the shared space from paired samples of two modalities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_x)
            The first modality (raw cells when ``x_encoder`` is set).
        y : array-like of shape (n_samples, n_features_y) or (n_samples,)
            The second modality, row ``i`` paired with ``X``'s row ``i`` (raw cells when
            ``y_encoder`` is set).

        Returns
        -------
        self : CrossModalAligner
        """
        self._fit(X, y)
        return self

    @fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y):
        """Fit, then return ``X``'s shared coordinates (encoding ``X`` once).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_x)
        y : array-like of shape (n_samples, n_features_y) or (n_samples,)

        Returns
        -------
        X_shared : ndarray of shape (n_samples, n_components), float64
        """
        features_x = self._fit(X, y)
        return self._finish(self.estimator_.transform(features_x), self.x_scale_)

    # -- shared coordinates -----------------------------------------------------------------

    def transform(self, X):
        """Map the first modality into the shared space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_x)

        Returns
        -------
        X_shared : ndarray of shape (n_samples, n_components), float64
        """
        check_is_fitted(self)
        scores = self.estimator_.transform(self._features_x(X, fitting=False))
        return self._finish(scores, self.x_scale_)

    def transform_y(self, y):
        """Map the second modality into the shared space.

        Parameters
        ----------
        y : array-like of shape (n_samples, n_features_y) or (n_samples,)

        Returns
        -------
        y_shared : ndarray of shape (n_samples, n_components), float64
            A DataFrame under ``set_output(transform="pandas")``.
        """
        check_is_fitted(self)
        features_y = self._features_y(y, fitting=False)
        if features_y.shape[1] != self.n_features_y_:
            raise ValueError(
                f"y has {features_y.shape[1]} features, but {type(self).__name__} was fitted "
                f"with {self.n_features_y_}."
            )
        # CCA/PLS expose y's projection only through transform(X, y); a zero X of the
        # fitted width is never read for y's scores (the same centring and rotations apply).
        placeholder = np.zeros((features_y.shape[0], self.estimator_.n_features_in_))
        _, scores_y = self.estimator_.transform(placeholder, features_y)
        return wrap_data_with_container("transform", self._finish(scores_y, self.y_scale_),
                                         y, self)

    # -- helpers ----------------------------------------------------------------------------

    def _features_x(self, X, *, fitting: bool) -> np.ndarray:
        if self.x_encoder is None:
            features = validate_data(self, X, reset=fitting, dtype=np.float64,
                                     ensure_all_finite="allow-nan")
            _check_no_nan(features, "X")
            return features
        _check_present(X, "X")
        if fitting:
            self.x_encoder_ = clone(self.x_encoder).fit(X)
            # Like Pipeline: the input this estimator takes is its first step's input.
            for name in ("n_features_in_", "feature_names_in_"):
                if hasattr(self.x_encoder_, name):
                    setattr(self, name, getattr(self.x_encoder_, name))
                elif hasattr(self, name):
                    delattr(self, name)
        return _dense_features(self.x_encoder_.transform(X), "X", self.x_encoder_)

    def _features_y(self, y, *, fitting: bool) -> np.ndarray:
        if self.y_encoder is None:
            features = check_array(y, input_name="y", dtype=np.float64, ensure_2d=False,
                                   ensure_all_finite="allow-nan")
            _check_no_nan(features, "y")
        else:
            _check_present(y, "y")
            if fitting:
                self.y_encoder_ = clone(self.y_encoder).fit(y)
            features = _dense_features(self.y_encoder_.transform(y), "y", self.y_encoder_)
        return features.reshape(-1, 1) if features.ndim == 1 else features

    def _finish(self, scores: np.ndarray, scale: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64) / scale
        if self.normalize:
            norms = np.linalg.norm(scores, axis=1, keepdims=True)
            # A row exactly at the centre has no direction: it stays zero rather than NaN.
            scores = scores / np.where(norms > 0, norms, 1.0)
        return scores

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        if self.x_encoder is not None:
            tags.input_tags = get_tags(self.x_encoder).input_tags
        return tags


_VIEWS = {"X": "X (the first view)", "y": "y (the second view)"}


def _rows_message(rows: np.ndarray) -> str:
    return f"{rows.size} row(s) (positions {rows[:5].tolist()}{', ...' if rows.size > 5 else ''})"


def _check_no_nan(features: np.ndarray, side: str) -> None:
    """Raise a ValueError naming the view and the rows where a numeric view holds NaN."""
    bad = np.isnan(features).reshape(features.shape[0], -1).any(axis=1)
    if bad.any():
        ordinal = "first" if side == "X" else "second"
        raise ValueError(
            f"CrossModalAligner: Input {side} contains NaN in "
            f"{_rows_message(np.flatnonzero(bad))} of the {ordinal} view; each row pairs the "
            "two views and CCA/PLS need every value: drop those rows from X and y together, "
            "or impute them."
        )


def _missing_cells(view: object) -> np.ndarray:
    """Rows of a raw view (the cells an encoder reads) whose every cell is missing."""
    if isinstance(view, pd.Series):
        return view.isna().to_numpy()
    if isinstance(view, pd.DataFrame):
        return view.isna().to_numpy().all(axis=1)
    if isinstance(view, np.ndarray) and view.dtype.kind in "fc":
        flat = np.isnan(view.reshape(view.shape[0], -1)) if view.ndim else np.isnan(view)
        return flat.all(axis=1) if flat.ndim == 2 else flat
    if isinstance(view, np.ndarray) and view.dtype != object:
        return np.zeros(len(view), dtype=bool)
    # A list or object array: one cell (an image, a clip, a text) per row.
    return np.fromiter((is_missing(cell) for cell in view), dtype=bool, count=len(view))


def _check_present(view: object, side: str) -> None:
    """Raise a ValueError naming the view and the rows where a cell is missing (None, NaN).

    Each row is a pair: a row without one of its views has nothing to align, and an
    encoder would otherwise fail on the cell (``'NoneType' object has no attribute
    'lower'``) or hand CCA a row of NaN.
    """
    try:
        absent = _missing_cells(view)
    except TypeError:  # not a sequence of rows: the encoder reports it
        return
    if absent.any():
        raise ValueError(
            f"CrossModalAligner: {_VIEWS[side]} has a missing cell (None/NaN) in "
            f"{_rows_message(np.flatnonzero(absent))}; each row pairs the two views, so "
            "both must be present: drop those rows from X and y together, or fill them."
        )


def _dense_features(features, side: str, encoder) -> np.ndarray:
    if sp.issparse(features):
        raise ValueError(
            f"the {side} encoder {type(encoder).__name__} returned a sparse matrix; CCA and "
            "PLS need dense features: end the encoder with a dense reduction such as "
            "TruncatedSVD (after TfidfVectorizer)."
        )
    features = check_array(features, input_name=side, dtype=np.float64,
                           ensure_all_finite="allow-nan")
    bad = np.isnan(features).any(axis=1)
    if bad.any():
        raise ValueError(
            f"CrossModalAligner: the {side} encoder {type(encoder).__name__} returned NaN "
            f"for {_VIEWS[side]} in {_rows_message(np.flatnonzero(bad))}; CCA and PLS need "
            "every value: check those rows' cells, or end the encoder with an imputer."
        )
    return features


def _unit_scale(scores: np.ndarray) -> np.ndarray:
    std = scores.std(axis=0)
    # A component that does not vary (a degenerate fit) is left as it is, not blown up.
    return np.where(std > np.finfo(np.float64).eps, std, 1.0)


def _paired_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denominator = np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=0) / denominator, 0.0)
