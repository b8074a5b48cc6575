"""Early (feature-level) fusion: per-modality encoders' features, concatenated."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.utils import Bunch
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.validation import check_is_fitted

from mmlearn.fusion._dropout import sample_kept
from mmlearn.fusion._missing import ModalityStep, present_matrix
from mmlearn.fusion._routing import (
    ModalityRoutes,
    check_row_params,
    fusion_constraints,
    select_columns,
)
from mmlearn.utils._sklearn_compat import (
    Interval,
    StrOptions,
    fit_context,
    get_output_config,
    num_samples,
)


class EarlyFusion(TransformerMixin, ModalityRoutes):
    """Feature-level fusion: encode each modality, concatenate the features.

    Routes columns to encoders exactly like :class:`~sklearn.compose.ColumnTransformer`
    (which it builds and fits as ``column_transformer_``) and adds what multimodal data
    needs: per-modality weights and a missing-modality policy.

    Parameters
    ----------
    transformers : list of (name, encoder, columns)
        ``columns`` is a column name, a list of names, or anything ColumnTransformer
        accepts. A single name hands the encoder a Series (what the image/audio encoders and
        ``TfidfVectorizer`` want); a list hands it a DataFrame. ``encoder`` may also be
        ``"drop"`` or ``"passthrough"``.
    weights : dict of str -> float, "balanced" or None, default=None
        A dict multiplies each modality's features by its weight (missing: 1).
        ``"balanced"`` scales each modality's block so that its mean squared row norm on
        the training rows is 1 (the scale is learned in fit, kept in ``block_scales_``):
        a modality's say in the fused distances no longer depends on how many features
        its encoder produces (3,072 standardised pixels against one L2-normalised TF-IDF
        row, say).
    missing : {"impute", "raise"}, default="impute"
        What to do with rows where a modality is missing (every cell of its columns None
        or NaN). ``"impute"``: fit each encoder on the rows that have its modality; give
        the others the training mean of its features (zeros for sparse output, e.g. TF-IDF,
        where zero means "no words") and append a ``name__missing`` indicator column if
        missing rows were seen in fit. ``"raise"``: a ``ValueError`` naming the modality.
    modality_dropout : float in [0, 1), default=0.0
        During ``fit_transform`` only (what a Pipeline's head is trained on), hide each
        modality in this fraction of the rows that have it, as if it were missing: its
        features become the imputed value and its ``name__missing`` indicator 1. Every row
        keeps at least one of its modalities (one, chosen at random, when the draw hides
        them all): the rule LateFusion and JointFusion apply too. The encoders still learn
        from every row; the head learns to classify rows that lack a modality, which helps
        when modalities go missing at prediction time although training data were
        complete. ``transform`` never hides anything.
    random_state : int, RandomState instance or None, default=None
        Chooses the rows ``modality_dropout`` hides.
    sparse_threshold : float, default=0.3
        As in ColumnTransformer: the output is sparse when some encoder output is sparse
        and the overall density is below this. ``set_output(transform="pandas")`` always
        gives a dense DataFrame.
    n_jobs : int, default=None
        Encoders fitted in parallel (joblib).
    verbose : bool, default=False
        Print the time spent fitting each encoder.

    Attributes
    ----------
    column_transformer_ : ColumnTransformer
        The fitted router; each modality's encoder is wrapped with its missing policy.
    block_scales_ : dict of str -> float
        With ``weights="balanced"``: the factor applied to each modality's block.
    named_transformers_ : Bunch
        The fitted encoders by name.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X is a DataFrame with string column names.

    See Also
    --------
    sklearn.compose.ColumnTransformer : The router this builds on.

    Notes
    -----
    **Sample weights and other metadata** follow
    :class:`~sklearn.compose.ColumnTransformer`: with
    ``sklearn.set_config(enable_metadata_routing=True)``, ``fit(X, y, sample_weight=w)``
    gives each encoder what it requested (``set_fit_request(sample_weight=True)``, on a
    Pipeline's steps too); an encoder whose ``fit`` takes no weights is fitted unweighted.
    Rows that miss a modality leave its encoder's fit with their weights, and the mean
    their features are imputed with is weighted the same way. Without routing, metadata
    given to ``fit`` is a ``ValueError``; in a Pipeline, ``head__sample_weight=w`` still
    weighs the step after EarlyFusion. A ``sample_weight`` of the wrong length, or with a
    negative, NaN or infinite weight, is a ``ValueError`` naming ``sample_weight``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mmlearn.encoders import ImagePixelEncoder
    >>> from mmlearn.fusion import EarlyFusion
    >>> from sklearn.preprocessing import StandardScaler
    >>> X = pd.DataFrame({"image": [np.eye(2), None, np.ones((2, 2))], "age": [30.0, 40.0, 50.0]})
    >>> fusion = EarlyFusion([("image", ImagePixelEncoder(), "image"),
    ...                       ("tab", StandardScaler(), ["age"])])
    >>> fusion.fit_transform(X).shape
    (3, 6)
    >>> fusion.get_feature_names_out()[-2:].tolist()
    ['image__missing', 'tab__age']
    """

    _routes_attr = "transformers"
    _parameter_constraints: dict = {
        **fusion_constraints("transformers"),
        "weights": [dict, StrOptions({"balanced"}), None],
        "sparse_threshold": [Interval(Real, 0, 1, closed="both")],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        transformers,
        *,
        weights=None,
        missing="impute",
        modality_dropout=0.0,
        random_state=None,
        sparse_threshold=0.3,
        n_jobs=None,
        verbose=False,
    ):
        self.transformers = transformers
        self.weights = weights
        self.missing = missing
        self.modality_dropout = modality_dropout
        self.random_state = random_state
        self.sparse_threshold = sparse_threshold
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _build(self, drop_rows: dict | None = None) -> ColumnTransformer:
        self._validate_routes()
        names = {name for name, _, _ in self.transformers}
        given = self.weights if isinstance(self.weights, dict) else {}
        unknown = set(given) - names
        if unknown:
            raise ValueError(
                f"EarlyFusion: weights name unknown modalities {sorted(unknown, key=str)}; "
                f"known: {sorted(names)}."
            )
        for name, weight in given.items():
            _check_weight(name, weight)
        routes = [
            (name, enc if isinstance(enc, str) else ModalityStep(
                enc, name=name, missing=self.missing, drop_rows=(drop_rows or {}).get(name),
                owner="EarlyFusion"),
             cols)
            for name, enc, cols in self.transformers
        ]
        return ColumnTransformer(
            routes,
            remainder="drop",
            sparse_threshold=self.sparse_threshold,
            n_jobs=self.n_jobs,
            transformer_weights=self.weights if isinstance(self.weights, dict) else None,
            verbose=self.verbose,
            verbose_feature_names_out=True,
        )

    def _dropout_rows(self, X) -> dict:
        """Per modality, the rows whose modality ``fit_transform`` hides (modality dropout)."""
        if not self.modality_dropout:
            return {}
        self._validate_routes()
        names, parts = [], []
        for name, enc, cols in self.transformers:
            if isinstance(enc, str):
                continue  # "drop" and "passthrough" have no missing-modality step
            part = select_columns(X, cols, owner="EarlyFusion", name=name, allow_empty=True)
            if getattr(part, "ndim", 1) == 2 and part.shape[1] == 0:
                continue  # ColumnTransformer skips a route that selects no column
            names.append(name)
            parts.append(part)
        if not parts:
            return {}
        present = present_matrix(parts)
        drop = present & ~sample_kept(present, self.modality_dropout, self.random_state)
        return {name: drop[:, j] for j, name in enumerate(names)}

    def _check_rows(self, X, y) -> None:
        n = num_samples(X)
        if n == 0:
            raise ValueError("EarlyFusion: X has 0 rows; need at least 1 sample.")
        if y is not None and num_samples(y) != n:
            raise ValueError(f"EarlyFusion: y has {num_samples(y)} rows but X has {n}.")

    def fit(self, X, y=None, **params):
        """Fit every modality's encoder on its columns.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
        y : array-like of shape (n_samples,), default=None
            Passed to each encoder (supervised encoders use it).
        **params : dict
            Metadata for the encoders' ``fit``, such as ``sample_weight``: each encoder
            gets what it requested with ``set_fit_request``, for the rows it is fitted on.
            Only with metadata routing enabled
            (``sklearn.set_config(enable_metadata_routing=True)``), as in
            :class:`~sklearn.compose.ColumnTransformer`.

        Returns
        -------
        self : EarlyFusion
        """
        self.fit_transform(X, y, **params)
        return self

    @fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None, **params):
        """Fit the encoders and return the fused features.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
        y : array-like of shape (n_samples,), default=None
        **params : dict
            As in :meth:`fit`.

        Returns
        -------
        features : ndarray or sparse matrix of shape (n_samples, n_features_out)
        """
        self._check_columns(X)
        self._check_rows(X, y)
        self._check_params(params, num_samples(X))
        self.column_transformer_ = self._build(self._dropout_rows(X))
        features = self.column_transformer_.fit_transform(X, y, **params)
        if self.weights == "balanced":
            self.block_scales_ = self._balance(features)
        elif hasattr(self, "block_scales_"):
            del self.block_scales_
        self.n_features_in_ = self.column_transformer_.n_features_in_
        if hasattr(self.column_transformer_, "feature_names_in_"):
            self.feature_names_in_ = self.column_transformer_.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self._output(features)

    def _check_params(self, params: dict, n_rows: int) -> None:
        if not params:
            return
        if not get_config().get("enable_metadata_routing", False):
            # ColumnTransformer's rule: which encoder takes which metadata is only
            # expressed by their requests.
            raise ValueError(
                f"EarlyFusion got {sorted(params)} in fit: passing metadata such as "
                "sample_weight to the encoders needs metadata routing. Enable it with "
                "sklearn.set_config(enable_metadata_routing=True) and request the weights "
                "on the encoders that take them with set_fit_request(sample_weight=True). "
                "To weigh only the head after EarlyFusion in a Pipeline, pass "
                "head__sample_weight=... instead."
            )
        check_row_params(params, n_rows, owner="EarlyFusion")
        # Errors about unrequested metadata name EarlyFusion rather than its router.
        process_routing(self, "fit_transform", **params)

    def get_metadata_routing(self) -> MetadataRouter:
        """How ``fit`` and ``fit_transform`` route metadata to each modality's encoder.

        Returns
        -------
        routing : MetadataRouter
            Each encoder's ``fit_transform`` receives what it requested
            (``set_fit_request``), from ``fit`` and from ``fit_transform``.
        """
        self._validate_routes()
        router = MetadataRouter(owner=self)
        for name, encoder, _ in self.transformers:
            if isinstance(encoder, str):
                continue  # "drop" and "passthrough" take no metadata
            router.add(**{name: encoder}, method_mapping=MethodMapping()
                       .add(caller="fit", callee="fit_transform")
                       .add(caller="fit_transform", callee="fit_transform"))
        return router

    def transform(self, X):
        """Encode each modality with its fitted encoder and concatenate.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)

        Returns
        -------
        features : ndarray or sparse matrix of shape (n_samples, n_features_out)
        """
        check_is_fitted(self)
        self._check_columns(X)
        self._check_rows(X, None)
        return self._output(self.column_transformer_.transform(X))

    def _balance(self, features) -> dict:
        """Per-modality factors that bring each block's mean squared row norm to 1."""
        n_rows = max(features.shape[0], 1)
        scales = {}
        for name, cols in self.column_transformer_.output_indices_.items():
            if name == "remainder" or cols.start == cols.stop:
                continue
            block = features.iloc[:, cols].to_numpy() if hasattr(features, "iloc") \
                else features[:, cols]
            squares = block.multiply(block).sum() if sp.issparse(block) else np.square(
                np.asarray(block, dtype=np.float64)).sum()
            mean_square = float(squares) / n_rows
            # A constant-zero block (e.g. a modality all missing at fit) has no scale.
            scales[name] = 1.0 / np.sqrt(mean_square) if mean_square > 0 else 1.0
        return scales

    def _scale_blocks(self, features):
        column_scale = np.ones(features.shape[1])
        for name, factor in self.block_scales_.items():
            column_scale[self.column_transformer_.output_indices_[name]] = factor
        if hasattr(features, "iloc"):
            return features * column_scale
        # Keep float32 features float32; anything else becomes float64.
        dtype = features.dtype if features.dtype.kind == "f" else np.float64
        if sp.issparse(features):
            return sp.csr_matrix(features.multiply(column_scale.astype(dtype)), dtype=dtype)
        return np.asarray(features, dtype=dtype) * column_scale.astype(dtype)

    def _output(self, features):
        if getattr(self, "block_scales_", None) is not None:
            features = self._scale_blocks(features)
        if sp.issparse(features) and get_output_config("transform", self)["dense"] != "default":
            # DataFrame output cannot hold sparse blocks.
            return features.toarray()
        return features

    @property
    def named_transformers_(self) -> Bunch:
        """The fitted encoders, by modality name."""
        check_is_fitted(self)
        return Bunch(**{
            name: getattr(step, "encoder_", step)
            for name, step in self.column_transformer_.named_transformers_.items()
        })

    def get_feature_names_out(self, input_features=None):
        """Fused feature names, prefixed by modality: ``image__imagepixelencoder0``.

        Parameters
        ----------
        input_features : array-like of str, default=None

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        return self.column_transformer_.get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = []
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "column_transformer_")


def _check_weight(name: str, weight: object) -> None:
    """Raise a ValueError unless ``weight`` is a finite number >= 0."""
    # A NaN or infinite weight turns the modality's whole block into NaN (0 * inf is NaN),
    # and a negative one flips its features: both pass ColumnTransformer silently.
    if isinstance(weight, bool | np.bool_) or not isinstance(weight, Real):
        raise ValueError(
            f"EarlyFusion: weights[{name!r}] must be a finite number >= 0, got "
            f"{weight!r} ({type(weight).__name__})."
        )
    if not np.isfinite(weight) or weight < 0:
        raise ValueError(
            f"EarlyFusion: weights[{name!r}] must be a finite number >= 0, got {weight!r}; "
            "0 silences the modality, 1 leaves it as it is."
        )

