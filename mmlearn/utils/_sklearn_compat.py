"""The only module of mmlearn that imports scikit-learn's private helpers.

scikit-learn moves or renames its private helpers between minor releases (``_validate_data``
became the function ``validate_data`` in 1.6; ``_fit_context`` and the parameter-validation
classes live in underscore modules). Every other module imports them from here under public
names, so supporting a new scikit-learn release means editing this file only. The supported
range is pinned in ``pyproject.toml`` and CI tests its oldest and newest releases.
"""

from __future__ import annotations

from sklearn.base import _fit_context as fit_context
from sklearn.utils import _safe_indexing as safe_indexing
from sklearn.utils._indexing import _get_column_indices as get_column_indices
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    RealNotInt,
    StrOptions,
    validate_params,
)
from sklearn.utils._set_output import _get_output_config as get_output_config
from sklearn.utils._set_output import _wrap_data_with_container as wrap_data_with_container
from sklearn.utils.metaestimators import _BaseComposition as BaseComposition
from sklearn.utils.validation import _check_feature_names as check_feature_names
from sklearn.utils.validation import _check_feature_names_in as check_feature_names_in
from sklearn.utils.validation import _check_n_features as check_n_features
from sklearn.utils.validation import _num_samples as num_samples
from sklearn.utils.validation import validate_data

# scikit-learn types a saved model file may name beyond what skops trusts by default (see
# mmlearn.io): their full names include private modules, which move between releases.
SKLEARN_TRUSTED_TYPE_NAMES = (
    "sklearn.utils._bunch.Bunch",
    "sklearn.utils.Bunch",
    # What a fitted GridSearchCV / cross-validation result keeps: its splitter and scorer.
    *(f"sklearn.model_selection._split.{name}" for name in (
        "KFold", "StratifiedKFold", "GroupKFold", "StratifiedGroupKFold", "ShuffleSplit",
        "StratifiedShuffleSplit", "GroupShuffleSplit", "RepeatedKFold",
        "RepeatedStratifiedKFold", "LeaveOneOut", "LeaveOneGroupOut", "PredefinedSplit",
        "_CVIterableWrapper")),
    *(f"sklearn.metrics._scorer.{name}" for name in (
        "_PassthroughScorer", "_Scorer", "_MultimetricScorer")),
)

__all__ = [
    "SKLEARN_TRUSTED_TYPE_NAMES",
    "BaseComposition",
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "RealNotInt",
    "StrOptions",
    "check_feature_names",
    "check_feature_names_in",
    "check_n_features",
    "fit_context",
    "get_column_indices",
    "get_output_config",
    "num_samples",
    "safe_indexing",
    "validate_data",
    "validate_params",
    "wrap_data_with_container",
]
