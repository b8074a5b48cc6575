"""Encoder results shared across a benchmark's candidates, with honest timings.

Every candidate that uses, say, the audio encoder on fold 3 would compute the same MFCCs.
:class:`CachedEncoder` stores each (encoder, input) -> (fitted encoder, features) result in
a joblib cache on disk, so workers in other processes share it too. Reporting only the
cache's load time would make cached candidates look fast, so every call adds
``compute seconds - elapsed seconds`` to the :class:`TimingLedger` that is recording: the
benchmark creates one per task (one candidate on one fold) and adds it to cross_validate's
fit and score times, which gives the time the candidate takes without any caching.

Workers share the cache when its folder is shared (``docs/cluster.md``), and concurrent
writers are safe without a lock of ours: ``joblib.Memory`` writes each file of an entry (the
result, its metadata, the cached function's code) under a unique temporary name and renames
it into place, so two workers computing the same entry each write a whole file and the last
rename wins, and a reader finds either no entry (and computes it) or a whole one; an entry
that fails to load is recomputed. ``tests/test_dask.py`` has two workers write the same
entry at once.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

__all__ = ["CachedEncoder", "TimingLedger"]


class TimingLedger:
    """Seconds to add to one task's measured times, collected while it is recording.

    Attributes
    ----------
    seconds : float
        What cache hits saved (positive) or the cache's overhead cost (negative) since the
        ledger was created.

    Examples
    --------
    >>> ledger = TimingLedger()
    >>> with ledger.recording():
    ...     pass  # fit and predict estimators holding CachedEncoder steps here
    >>> ledger.seconds
    0.0
    """

    def __init__(self) -> None:
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        """Add ``seconds`` to the correction."""
        self.seconds += seconds

    @contextmanager
    def recording(self) -> Iterator[TimingLedger]:
        """Charge every :class:`CachedEncoder` call made inside the block to this ledger."""
        token = _RECORDING.set(self)
        try:
            yield self
        finally:
            _RECORDING.reset(token)


# The ledger of the task running in this thread, if any. Not a parameter of CachedEncoder:
# clone() deep-copies non-estimator parameters, so a ledger passed in would be copied away
# from the runner; and not (only) an attribute of the fitted encoder, because LateFusion
# fits and discards clones of it for its cross-fitting, and their cache hits must be charged
# too. A context variable holds a value only inside `recording()` and restores the previous
# one on exit, so nothing outlives a task, and each thread (joblib's threading backend) and
# each worker process sees only the ledger of the task it runs.
_RECORDING: ContextVar[TimingLedger | None] = ContextVar("mmlearn_bench_ledger", default=None)


def _charge(seconds: float) -> None:
    ledger = _RECORDING.get()
    if ledger is not None:
        ledger.add(seconds)


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

    Each call charges ``compute seconds - elapsed seconds`` to the :class:`TimingLedger`
    that is recording, if any.

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
    fit_correction_ : float
        What this fit charged to the ledger: ``fit_seconds_`` minus the time it took here
        (about ``fit_seconds_`` on a cache hit, zero or slightly negative on a miss).
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
        self.fit_correction_ = self.fit_seconds_ - (time.perf_counter() - start)
        _charge(self.fit_correction_)
        if hasattr(self.encoder_, "n_features_in_"):
            self.n_features_in_ = self.encoder_.n_features_in_
        return features

    def transform(self, X):
        check_is_fitted(self)
        start = time.perf_counter()
        with _quiet_hashing():
            features, seconds = self.memory.cache(_transform)(self.encoder_, X)
        _charge(seconds - (time.perf_counter() - start))
        return features

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return self.encoder_.get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.encoder is not None:
            # The cache stores what the encoder computes: it takes what the encoder takes.
            tags.input_tags = get_tags(self.encoder).input_tags
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "encoder_")
