"""joblib's Dask backend, with each task run in one worker process.

joblib's own ``"dask"`` backend runs every task under ``parallel_config(backend="dask")``,
so the joblib calls nested in a task go back to the cluster: the per-modality encoders of
an ``EarlyFusion`` (a ``ColumnTransformer``), a ``LateFusion``'s inner cross-validation,
a ``BaggingClassifier``'s estimators. Each is a round trip with its data, and while a task
waits for them its worker *secedes* its thread and starts another grid task: a worker
with one task slot and its share of the cores then runs two fits at once, on cores the
other workers already use (a grid of ``EarlyFusion`` candidates on a 2-worker cluster
ran two fits per worker this way).

:class:`OneProcessPerTask` is the same backend with two differences:

- the inside of each task runs sequentially in the worker that runs the task
  (``parallel_config(backend="sequential")``), so that one task is one task slot's work
  and runs with the torch and BLAS threads
  :func:`~mmlearn.bench.cluster.limit_worker_threads` gave that slot. The results are the
  same: only where the nested calls run changes;
- a task the engine gives up on (its workers died more than
  ``distributed.scheduler.allowed-failures`` times: ``KilledWorker``) stops ``Parallel``
  with that error. joblib's backend (1.6) sets the error where ``Parallel`` does not look,
  and ``Parallel`` waits for the task forever.
"""

from __future__ import annotations

import asyncio
import functools

from joblib import parallel_config

# joblib exposes its Dask backend class only in this private module; it imports
# distributed, which is why mmlearn.bench.cluster imports this module only when needed.
from joblib._dask import DaskDistributedBackend

__all__ = ["OneProcessPerTask", "in_one_process"]


class in_one_process:  # noqa: N801  (used like a function decorator)
    """``func``, with the joblib calls it makes run sequentially in the calling process.

    Parameters
    ----------
    func : callable

    Examples
    --------
    >>> from joblib import Parallel, delayed
    >>> def squares(n):
    ...     return Parallel(n_jobs=2)(delayed(pow)(i, 2) for i in range(n))
    >>> in_one_process(squares)(4)
    [0, 1, 4, 9]
    """

    def __init__(self, func) -> None:
        self.func = func
        # The task's name on the cluster's dashboard and in its logs: the wrapped one's.
        functools.update_wrapper(self, func, updated=())

    def __call__(self, *args, **kwargs):
        with parallel_config(backend="sequential"):
            return self.func(*args, **kwargs)

    def __reduce__(self):
        # update_wrapper's attributes (__wrapped__, a method's __self__...) are not pickled.
        return type(self), (self.func,)


class OneProcessPerTask(DaskDistributedBackend):
    """joblib's Dask backend, each task running its nested joblib calls in its worker.

    And a task whose workers kept dying raises ``KilledWorker`` instead of hanging.

    Takes the arguments of ``joblib.parallel_config(backend="dask", ...)``: ``client``,
    ``scatter``, ``wait_for_workers_timeout`` and ``distributed.Client.submit``'s keywords.
    See the module's docstring for why, and ``docs/cluster.md``.

    Examples
    --------
    >>> from joblib import parallel_config
    >>> with parallel_config(backend=OneProcessPerTask(client=client)):  # doctest: +SKIP
    ...     search.fit(X, y)
    """

    async def _collect(self):
        # joblib's loop, but for one case: a task the engine itself failed (it ran on
        # workers that died more than ``allowed-failures`` times: KilledWorker). joblib
        # only sets that error on the task's future, not through its callback, and
        # ``Parallel``, which waits for the callback, then waits forever. Here the error
        # goes through the callback too, so that ``Parallel`` raises it.
        while self._continue:
            async for future, result in self.waiting_futures:
                cf_future = self._results.pop(future)
                callback = self._callbacks.pop(future)
                if future.status == "error":
                    _, exc, _ = result
                    cf_future.set_exception(exc)
                    callback(exc)
                else:
                    cf_future.set_result(result)
                    callback(result)
            await asyncio.sleep(0.01)

    def submit(self, func, callback=None):
        # ``func`` is joblib's batch of (function, args, kwargs) calls, about to be sent.
        func.items = [(in_one_process(f), args, kwargs) for f, args, kwargs in func.items]
        return super().submit(func, callback=callback)

    def __reduce__(self):
        return type(self), ()
