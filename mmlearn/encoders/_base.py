"""What every single-modality encoder shares: reading its column and checking its layout."""

from __future__ import annotations

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from mmlearn._columns import ColumnCells, as_cells
from mmlearn.utils._sklearn_compat import check_feature_names, num_samples


class ModalityEncoder(TransformerMixin, BaseEstimator):
    """Base class of mmlearn's single-modality encoders.

    Subclasses set the public class attribute ``modality`` ("image", "audio" or "text")
    and call :meth:`_read_column`
    at the start of ``fit`` (``reset=True``) and ``transform`` (``reset=False``).
    """

    modality: str = ""

    def _read_column(self, X: object, y: object = None, *, reset: bool) -> ColumnCells:
        cells = as_cells(X, kind=self.modality)
        if isinstance(X, pd.DataFrame):
            check_feature_names(self, X, reset=reset)
        elif reset and hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        n_features = cells.n_features
        if reset:
            self.n_features_in_ = n_features
        elif self._fixed_width() and n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (column {cells.name!r}: a stacked "
                "table's width is its flat sample's size)."
            )
        if len(cells) == 0:
            raise ValueError(f"column {cells.name!r}: no samples (0 rows); need at least 1.")
        if y is not None and num_samples(y) != len(cells):
            raise ValueError(
                f"y has {num_samples(y)} rows but column {cells.name!r} has {len(cells)}: "
                "they must have the same number of samples."
            )
        return cells

    def _fixed_width(self) -> bool:
        """Whether a stacked 2-D input must keep the width it was fitted on."""
        return False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        # Output is always float32, whatever the input dtype (documented in each class).
        tags.transformer_tags.preserves_dtype = []
        return tags
