"""Encoder results shared across a benchmark's candidates, with honest timings.

Every candidate that uses, say, the audio encoder on fold 3 would compute the same MFCCs.
:class:`CachedEncoder` stores each (encoder, input) -> (fitted encoder, features) result in
a joblib cache on disk, so workers in other processes share it too. Reporting only the
cache's load time would make cached candidates look fast, so every call adds
``compute seconds - elapsed seconds`` to a per-process ledger: the benchmark adds the
ledger to cross_validate's fit and score times, which gives the time the candidate takes
without any caching.
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager

from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

__all__ = ["CachedEncoder", "reset_ledger", "read_ledger"]

# Seconds to add to measured times. One benchmark task (one candidate on one fold) runs in
# one process at a time, so a module-level ledger reset at the start of the task is enough.
_LEDGER = {"seconds": 0.0}


def reset_ledger() -> None:
    """Start a new task's time correction at zero."""
    _LEDGER["seconds"] = 0.0


def read_ledger() -> float:
    """Seconds the cache saved (positive) or cost (negative) since :func:`reset_ledger`."""
    return _LEDGER["seconds"]


@contextmanager
def _quiet_hashing():
    # joblib warns when hashing inputs takes over half a second (large image columns);
    # that cost is paid once per fold and shows up in the run's wall time, not the report.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Persisting input arguments took")
        yield


def _fit_transform(encoder, X, y):
    start = time.perf_counter()
    features = encoder.fit_transform(X, y)
    return encoder, features, time.perf_counter() - start


def _transform(encoder, X):
    start = time.perf_counter()
    features = encoder.transform(X)
    return features, time.perf_counter() - start


class CachedEncoder(TransformerMixin, BaseEstimator):
    """Wrap an encoder so its ``fit_transform`` and ``transform`` results are cached.

    Parameters
    ----------
    encoder : transformer
        The encoder; cloned before fitting.
    memory : joblib.Memory
        The cache. Keys hash the encoder's parameters (or fitted state) and the input.

    Attributes
    ----------
    encoder_ : transformer
        The fitted encoder (possibly loaded from the cache).
    fit_seconds_ : float
        What fitting the encoder took when it was computed.
    """

    def __init__(self, encoder=None, *, memory=None):
        self.encoder = encoder
        self.memory = memory

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        start = time.perf_counter()
        with _quiet_hashing():
            cached = self.memory.cache(_fit_transform)
            self.encoder_, features, self.fit_seconds_ = cached(clone(self.encoder), X, y)
        _LEDGER["seconds"] += self.fit_seconds_ - (time.perf_counter() - start)
        if hasattr(self.encoder_, "n_features_in_"):
            self.n_features_in_ = self.encoder_.n_features_in_
        return features

    def transform(self, X):
        check_is_fitted(self)
        start = time.perf_counter()
        with _quiet_hashing():
            features, seconds = self.memory.cache(_transform)(self.encoder_, X)
        _LEDGER["seconds"] += seconds - (time.perf_counter() - start)
        return features

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return self.encoder_.get_feature_names_out(input_features)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "encoder_")
