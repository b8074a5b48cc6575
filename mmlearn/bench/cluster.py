"""Run mmlearn's parallel work on a Dask ``distributed`` cluster through joblib.

mmlearn has no scheduler of its own. A grid (``GridSearchCV``, ``cross_validate``,
:func:`mmlearn.bench.run_benchmark`) parallelises through joblib, and joblib's ``"dask"``
backend sends each task to a ``distributed`` cluster: this is scikit-learn's own mechanism,
and this module only adds what a user would otherwise have to get right by hand:

- :func:`connect` and :func:`start_local` open a client on an existing scheduler (with a
  bounded wait and an error naming the address) or start a ``LocalCluster`` on 127.0.0.1;
  :func:`open_cluster` does either from one ``--scheduler`` string and closes what it
  started;
- :func:`check_versions`: every worker imports the same mmlearn and scikit-learn as the
  client (a fitted estimator pickled on one side must mean the same on the other);
- :func:`limit_worker_threads`: each worker's torch and BLAS thread pools get its share of
  its machine's cores, so that the workers of one machine do not oversubscribe it;
- :func:`warm_up_workers`: every worker imports what a first fit imports, before the run;
- :func:`joblib_backend`: the ``joblib.parallel_config(backend="dask")`` block, with
  :class:`~mmlearn.bench.dask_backend.OneProcessPerTask` (each task's nested joblib calls
  stay in its worker; a task the engine gave up on raises instead of hanging);
- :func:`check_shared_folder`: whether a cache folder is one folder for every worker;
- :func:`cluster_errors`: the engine's failures (a worker that died too often, a lost
  scheduler) as one :class:`ClusterError` that says what happened.

Ray: :mod:`mmlearn.bench.ray_backend`. See ``docs/cluster.md``.
"""

from __future__ import annotations

import os
import re
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "ClusterError",
    "broadcast",
    "check_cache_folder",
    "check_shared_folder",
    "check_versions",
    "cluster_errors",
    "compare_versions",
    "connect",
    "joblib_backend",
    "limit_worker_threads",
    "open_cluster",
    "parse_local",
    "parse_scheduler",
    "start_local",
    "warm_up_process",
    "warm_up_workers",
]

# Packages whose versions must be identical on the client and every worker: the client
# pickles mmlearn estimators (and, in the bench, fitted encoders travel back through the
# cache), and scikit-learn's pickles are only promised to load in the version that wrote them.
REQUIRED_SAME = ("mmlearn", "scikit-learn")
# Packages whose versions should match; a difference is reported as a warning.
SHOULD_MATCH = ("python", "torch", "numpy", "pandas", "joblib", "distributed")

# Address schemes a Dask scheduler listens on.
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
_LOCAL = re.compile(r"local(?::(?P<n>.*))?")
# Seconds ``mmlearn bench --scheduler`` waits for a scheduler before giving up.
CONNECT_TIMEOUT = 10.0


class ClusterError(RuntimeError):
    """The cluster cannot run the work: unreachable, mismatched, or it lost a task."""


# ------------------------------------------------------------------ the scheduler address

def _checked_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"scheduler must be a string, got {type(text).__name__}.")
    return text.strip()


def parse_local(text: str, unit: str) -> tuple[str, int | None] | None:
    """``("local", N)`` (N None when not given) for ``"local[:N]"``, or None for any other
    address; ``unit`` names what N counts in the error (``"workers"``, ``"CPUs"``).

    Raises
    ------
    ValueError
        When N is not a positive integer.
    """
    local = _LOCAL.fullmatch(_checked_text(text))
    if not local:
        return None
    n = local.group("n")
    if n is None:
        return "local", None
    if not n.isdigit() or int(n) < 1:
        raise ValueError(f"scheduler {text.strip()!r}: 'local:N' needs a positive number of "
                         f"{unit} N, got {n!r}.")
    return "local", int(n)


def parse_scheduler(text: str) -> tuple[str, str | int | None]:
    """Split a ``--scheduler`` value into ``("local", n_workers)`` or ``("remote", address)``.

    Parameters
    ----------
    text : str
        ``"local"`` (one worker per core), ``"local:N"`` (``N`` workers), or a scheduler
        address ``SCHEME://HOST:PORT`` (``tcp://10.0.0.5:8786``); a bare ``HOST:PORT`` means
        ``tcp://HOST:PORT``.

    Returns
    -------
    kind : {"local", "remote"}
    value : int, str or None
        The number of local workers (None: one per core), or the full address.

    Raises
    ------
    ValueError
        If ``text`` is neither form, naming it and what is wrong.

    Examples
    --------
    >>> parse_scheduler("local:2")
    ('local', 2)
    >>> parse_scheduler("10.0.0.5:8786")
    ('remote', 'tcp://10.0.0.5:8786')
    """
    text = _checked_text(text)
    local = parse_local(text, "workers")
    if local is not None:
        return local
    scheme, sep, location = text.partition("://")
    if not sep:
        scheme, location = "tcp", text
    if scheme not in _SCHEMES:
        raise ValueError(f"scheduler {text!r}: unknown scheme {scheme!r}; expected "
                         f"{', '.join(s + '://' for s in _SCHEMES)} or 'local[:N]'.")
    if scheme == "inproc":
        return "remote", text
    host, colon, port = location.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"scheduler {text!r} is not an address of the form "
                         "SCHEME://HOST:PORT (e.g. tcp://10.0.0.5:8786) nor 'local[:N]'.")
    return "remote", f"{scheme}://{location}"


# ----------------------------------------------------------- opening and closing a cluster

def connect(address: str, *, timeout: float = 10.0):
    """Open a ``distributed.Client`` on the scheduler at ``address``.

    Parameters
    ----------
    address : str
        ``SCHEME://HOST:PORT`` (see :func:`parse_scheduler`).
    timeout : float, default=10.0
        Seconds to wait for the scheduler before giving up.

    Returns
    -------
    client : distributed.Client

    Raises
    ------
    ValueError
        If the address is malformed.
    ClusterError
        If no scheduler answers at ``address`` within ``timeout`` seconds.
    """
    from distributed import Client

    kind, address = parse_scheduler(address)
    if kind != "remote":
        raise ValueError(f"connect() needs a scheduler address, got {address!r}; use "
                         "start_local() for a local cluster.")
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:
        # OSError/TimeoutError: nothing answers; anything else (a MemoryError reading a
        # "frame length" from an HTTP proxy, say): what answers is not a Dask scheduler.
        raise ClusterError(
            f"cannot reach a Dask scheduler at {address!r} within {timeout:g} s "
            f"({type(exc).__name__}: {' '.join(str(exc).split())}). Is `dask scheduler` "
            "running there, and is the port open from this machine?"
        ) from exc


# Without a dashboard the scheduler still serves its health routes over HTTP, by default on
# port 8787, which another cluster on the machine may hold: any free local port will do.
_NO_FIXED_HTTP_PORT = {"dashboard_address": "127.0.0.1:0"}

# dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_ set, to hand freed memory back to
# the OS sooner. Setting it at all turns off glibc's adaptive mmap threshold, so each large
# tensor a training step allocates is mapped and page-faulted afresh: torch training in
# such a worker runs far slower than the same code in a plain process
# (benchmarks/dask_grid_speedup.py shows both). The clusters mmlearn starts leave glibc's
# defaults alone: None removes the variable from dask's settings (dask's documented way to
# unset it), and the variable is kept out of this process's environment while the workers
# start, because a nanny writes it there for good (any earlier dask cluster of the process
# has).
GLIBC_MALLOC_DEFAULTS = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


@contextmanager
def _without_environ(name: str) -> Iterator[None]:
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def start_local(n_workers: int | None = None, *, threads_per_worker: int = 1):
    """Start a ``LocalCluster`` of worker processes on 127.0.0.1, and a client on it.

    Parameters
    ----------
    n_workers : int, default=None
        Worker processes; None starts one per usable core.
    threads_per_worker : int, default=1
        Tasks each worker runs at once.

    Returns
    -------
    cluster : distributed.LocalCluster
    client : distributed.Client
        Close the client, then the cluster, when done (:func:`open_cluster` does).
    """
    import dask
    from distributed import Client, LocalCluster

    if n_workers is None:
        n_workers = max(1, _usable_cores() // threads_per_worker)
    # Nannies read the setting when they are made; restarted workers keep it.
    with dask.config.set(GLIBC_MALLOC_DEFAULTS), _without_environ("MALLOC_TRIM_THRESHOLD_"):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                               processes=True, host="127.0.0.1", dashboard_address=None,
                               scheduler_kwargs=_NO_FIXED_HTTP_PORT)
    try:
        client = Client(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    return cluster, client


@contextmanager
def open_cluster(scheduler: str, *, timeout: float = 10.0, threads: int | None = None,
                 warm_up: bool = True) -> Iterator[object]:
    """A ready client for ``scheduler``: connected, checked, threads limited, warmed up.

    ``"local[:N]"`` starts a ``LocalCluster`` for the block and closes it afterwards; an
    address connects to an existing scheduler and leaves it running.

    Parameters
    ----------
    scheduler : str
        See :func:`parse_scheduler`.
    timeout : float, default=10.0
        Seconds to wait for a remote scheduler.
    threads : int, default=None
        torch/BLAS threads per worker task slot; None: its share of its machine's cores
        (see :func:`limit_worker_threads`).
    warm_up : bool, default=True
        Import mmlearn and torch's training code in every worker before the block
        (:func:`warm_up_workers`), so that no worker's first task pays for it.

    Yields
    ------
    client : distributed.Client

    Examples
    --------
    >>> from mmlearn.bench.cluster import joblib_backend, open_cluster
    >>> with open_cluster("local:1") as client, joblib_backend(client):  # doctest: +SKIP
    ...     results = run_benchmark("av_digits", cv=2, max_samples=60)
    """
    kind, value = parse_scheduler(scheduler)
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ClusterError(f"running on a Dask cluster needs the 'distributed' package "
                           f"({exc}); install it with: pip install 'scikit-mmlearn[dask]'"
                           ) from exc
    if kind == "local":
        cluster, client = start_local(value)
    else:
        cluster, client = None, connect(value, timeout=timeout)
    try:
        check_versions(client)
        limit_worker_threads(client, threads)
        if warm_up:
            warm_up_workers(client)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------- the versions

def _package_versions() -> dict[str, str | None]:
    # Runs on the workers, shipped by value (see below): it must work where mmlearn is not
    # installed, so it imports nothing from mmlearn at module level. mmlearn's version is
    # the imported package's; the others' come from their metadata, without importing
    # them (importing torch on every worker of a classical grid would cost seconds).
    import importlib
    import importlib.metadata
    import platform

    found: dict[str, str | None] = {"python": platform.python_version()}
    try:
        found["mmlearn"] = importlib.import_module("mmlearn").__version__
    except ImportError:
        found["mmlearn"] = None
    for name in ("scikit-learn", "torch", "numpy", "pandas", "joblib", "distributed"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


# cloudpickle sends a function whose module it cannot find by value, with its code. The
# probe must run on a worker that lacks mmlearn (or has a version without this module),
# so it must not be pickled as a reference to mmlearn.bench.cluster.
_package_versions.__module__ = "__mmlearn_version_probe__"


def check_versions(client) -> dict[str, dict[str, str | None]]:
    """Raise a :class:`ClusterError` unless every worker has the client's mmlearn.

    ``mmlearn`` and ``scikit-learn`` must be the same version on every worker as on the
    client; a different Python, ``torch``, ``numpy``, ``pandas``, ``joblib`` or
    ``distributed`` is a warning.

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    versions : dict
        Worker address -> package -> version (None: not installed).
    """
    workers = client.run(_package_versions, on_error="return")
    compare_versions(workers)
    return workers


def compare_versions(workers: dict) -> None:
    """Raise or warn as :func:`check_versions` does, for versions the workers reported.

    Parameters
    ----------
    workers : dict
        Worker (or node) name -> what :func:`_package_versions` returned there, or the
        exception it raised.

    Raises
    ------
    ClusterError
        If a worker lacks this process's mmlearn or scikit-learn version.
    """
    here = _package_versions()
    problems, differences = [], []
    for address, found in sorted(workers.items()):
        if isinstance(found, BaseException):
            problems.append(f"{address} could not report its versions "
                            f"({type(found).__name__}: {found})")
            continue
        for name in REQUIRED_SAME:
            if found.get(name) is None:
                problems.append(f"{address} has no {name} installed (client: {here[name]})")
            elif found[name] != here[name]:
                problems.append(f"{address} has {name} {found[name]} (client: {here[name]})")
        differences += [f"{address} has {name} {found.get(name)} (client: {here[name]})"
                        for name in SHOULD_MATCH if found.get(name) != here[name]]
    if problems:
        raise ClusterError(
            "the cluster's workers must run the client's mmlearn and scikit-learn: "
            + "; ".join(problems) + ". Install the same versions on every worker "
            "(e.g. the same environment or container image) and restart them."
        )
    if differences:
        warnings.warn("package versions differ between the client and the workers: "
                      + "; ".join(differences), UserWarning, stacklevel=3)


# ------------------------------------------------------------------------ the warm-up

def warm_up_process() -> float:
    """Import what fitting mmlearn's estimators imports on first use; returns the seconds.

    A fresh Python process pays for these imports in its first fit: mmlearn's encoders
    and fusions, torch, and torch's compiler stack, which torch imports the first time an
    optimizer is made (seconds). A worker that pays for them in its first task makes that
    task the run's longest, and records the imports in its fit time.

    Returns
    -------
    seconds : float
        How long the imports took in this process (near 0 once they are done).

    Examples
    --------
    >>> warm_up_process() >= 0
    True
    """
    import time

    start = time.perf_counter()
    import torch

    import mmlearn.encoders
    import mmlearn.fusion  # noqa: F401

    # Make one optimizer: whatever torch loads for it, this version included, is loaded.
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    return time.perf_counter() - start


def warm_up_workers(client) -> dict[str, float]:
    """Run :func:`warm_up_process` in every worker of ``client``, all at once.

    As one task per worker, not with ``Client.run``: a task runs in the worker's task
    thread, where the grid's tasks will run, and some of what a first fit sets up (torch's
    per-thread state) belongs to the thread.

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    seconds : dict
        Worker address -> seconds its imports took.
    """
    workers = sorted(client.nthreads())
    # Other workers allowed: a task pinned to a worker that dies would wait forever (its
    # replacement has another address); run elsewhere, it costs nothing.
    futures = [client.submit(_warm_up_where, warm_up_process, workers=[w],
                             allow_other_workers=True, pure=False,
                             key=f"mmlearn-warm-up-{secrets.token_hex(4)}")
               for w in workers]
    return dict(client.gather(futures))


def _warm_up_where(warm_up) -> tuple[str, float]:
    from distributed import get_worker

    return get_worker().address, warm_up()


# -------------------------------------------------------------------------- the threads

def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _host(address: str) -> str:
    return address.split("://")[-1].rsplit(":", 1)[0]


def thread_shares(nthreads: dict[str, int], cores: dict[str, int]) -> dict[str, int]:
    """Threads per task slot on each host: its cores over the task slots of its workers.

    Parameters
    ----------
    nthreads : dict
        Worker address -> its task slots (threads), as ``Client.nthreads()`` gives them.
    cores : dict
        Worker address -> usable cores of its machine.

    Returns
    -------
    shares : dict
        Host -> threads each task on that host may use (at least 1).

    Examples
    --------
    >>> nthreads = {"tcp://10.0.0.1:4001": 1, "tcp://10.0.0.1:4002": 1, "tcp://10.0.0.2:4001": 2}
    >>> thread_shares(nthreads, dict.fromkeys(nthreads, 8))
    {'10.0.0.1': 4, '10.0.0.2': 4}
    """
    slots: dict[str, int] = {}
    host_cores: dict[str, int] = {}
    for address, n in nthreads.items():
        host = _host(address)
        slots[host] = slots.get(host, 0) + int(n)
        host_cores[host] = int(cores.get(address) or 1)
    return {host: max(1, host_cores[host] // max(1, n)) for host, n in slots.items()}


def apply_thread_limit(n_threads: int) -> None:
    """Limit this process's torch and BLAS/OpenMP thread pools to ``n_threads``.

    Sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` (read by
    libraries when they load, torch included, and by subprocesses), limits the pools
    already loaded with ``threadpoolctl``, and calls ``torch.set_num_threads`` if torch is
    imported. It does not import torch: a classical grid's workers never pay for it.
    """
    import sys

    from threadpoolctl import threadpool_limits

    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(n_threads)
    threadpool_limits(limits=n_threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n_threads)


def _thread_limits_class() -> type:
    from distributed.diagnostics.plugin import WorkerPlugin

    class ThreadLimits(WorkerPlugin):
        """A worker plugin that applies :func:`apply_thread_limit` when a worker starts.

        Registered once on the client, it runs in every worker, including those that join
        or are restarted later (a killed worker's replacement gets the same limit).

        Parameters
        ----------
        shares : dict
            Host -> threads per task slot; a host not listed gets its usable cores over
            its worker's task slots.
        n_threads : int, default=None
            The same number for every worker, instead of ``shares``.
        """

        name = "mmlearn-thread-limits"

        def __init__(self, shares: dict[str, int], n_threads: int | None = None) -> None:
            self.shares = dict(shares)
            self.n_threads = n_threads

        def setup(self, worker) -> None:
            n = self.n_threads
            if n is None:
                n = (self.shares.get(_host(worker.address))
                     or max(1, _usable_cores() // worker.state.nthreads))
            apply_thread_limit(n)

    ThreadLimits.__module__ = __name__
    ThreadLimits.__qualname__ = "ThreadLimits"
    return ThreadLimits


def __getattr__(name: str):
    # The plugin must subclass distributed's WorkerPlugin, but importing distributed takes
    # about a second, and the bench imports this module on every run (for
    # check_cache_folder): the class is made on first use, here and on the workers, where
    # unpickling the registered plugin looks it up by this name.
    if name == "ThreadLimits":
        globals()[name] = cls = _thread_limits_class()
        return cls  # later look-ups find it in globals() without coming here
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def limit_worker_threads(client, n_threads: int | None = None) -> dict[str, int]:
    """Give each worker's torch and BLAS thread pools its share of its machine's cores.

    Without it, a ``distributed`` worker started by a nanny runs BLAS and torch with one
    thread (``distributed.nanny.pre-spawn-environ``), and one started otherwise with every
    core of its machine, so several workers on one machine oversubscribe it. With it, a
    machine's usable cores are divided among the task slots (worker threads) on it.

    Parameters
    ----------
    client : distributed.Client
    n_threads : int, default=None
        Threads per task slot on every worker; None: each host's cores divided by its
        task slots (at least 1).

    Returns
    -------
    threads : dict
        Worker address -> the thread count it applied.
    """
    if n_threads is not None and (not isinstance(n_threads, int) or n_threads < 1):
        raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}.")
    shares = thread_shares(client.nthreads(), client.run(_usable_cores))
    plugin = (globals().get("ThreadLimits") or __getattr__("ThreadLimits"))(shares, n_threads)
    client.register_plugin(plugin, name=plugin.name)
    return client.run(_torch_threads)


def _torch_threads() -> int:
    # The limit this worker's torch runs (or will run, once imported) with.
    import sys

    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    return int(os.environ["OMP_NUM_THREADS"])


# ---------------------------------------------------------------- joblib and the engine

@contextmanager
def joblib_backend(client, *, wait_for_workers_timeout: float = 30.0) -> Iterator[None]:
    """Send the joblib tasks started inside the block to ``client``'s cluster.

    ``joblib.parallel_config(backend="dask", client=client)``, except that each task runs
    the joblib calls nested in it in its own worker, not on the cluster (see
    :class:`~mmlearn.bench.dask_backend.OneProcessPerTask`); inside it, ``GridSearchCV``,
    ``cross_validate`` and :func:`~mmlearn.bench.run_benchmark` run their tasks on the
    cluster's workers. Engine failures surface as :class:`ClusterError`
    (:func:`cluster_errors`).

    Parameters
    ----------
    client : distributed.Client
    wait_for_workers_timeout : float, default=30.0
        How long joblib waits for a worker when the cluster has none.
    """
    from joblib import parallel_config

    from mmlearn.bench.dask_backend import OneProcessPerTask

    with cluster_errors(), parallel_config(backend=OneProcessPerTask(
            client=client, wait_for_workers_timeout=wait_for_workers_timeout)):
        yield


@contextmanager
def cluster_errors() -> Iterator[None]:
    """Turn the engine's own failures inside the block into a :class:`ClusterError`.

    A task whose worker died more than ``distributed.scheduler.allowed-failures`` times
    (``KilledWorker``), and a scheduler connection lost mid-run, stop the run with a
    message that says so; errors raised by the tasks themselves pass through unchanged.
    """
    from distributed import TimeoutError as DaskTimeout
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    try:
        yield
    except FutureCancelledError as exc:
        # joblib sends a large argument (X, a fold's indices) to one worker and the tasks
        # refer to that copy; when that worker dies the copy is gone and the tasks are
        # cancelled. mmlearn.bench broadcasts its data (broadcast()) to avoid this.
        raise ClusterError(
            f"a worker holding data the tasks needed died ({' '.join(str(exc).split())}); "
            "the run stopped and wrote no results. Send the data to every worker with "
            "joblib.parallel_config(backend='dask', scatter=[X, y]) so that a worker's "
            "death loses no data, and see the workers' logs for why it died."
        ) from exc
    except KilledWorker as exc:
        raise ClusterError(
            f"a task was running on workers that died too many times ({exc}); the run "
            "stopped and wrote no results. Workers die when they run out of memory (see "
            "the workers' logs) or are killed; give them more memory or fewer threads, or "
            "raise distributed.scheduler.allowed-failures."
        ) from exc
    except (CommClosedError, DaskTimeout) as exc:
        raise ClusterError(
            f"lost the connection to the Dask scheduler during the run ({type(exc).__name__}"
            f": {exc}); the run stopped and wrote no results."
        ) from exc


@contextmanager
def broadcast(*objects) -> Iterator[None]:
    """Under joblib's Dask backend, put a copy of ``objects`` on every worker for the block.

    joblib sends each large argument of its tasks to one worker only; if that worker dies,
    the argument is lost and every task that needs it is cancelled. Broadcast, each worker
    holds a copy, so the scheduler reruns a dead worker's tasks elsewhere and the run
    finishes. A no-op under any other backend.

    Parameters
    ----------
    *objects
        The tasks' shared arguments, the very objects passed to them (joblib matches them
        by identity).
    """
    from joblib.parallel import get_active_backend

    client = active_client()
    if client is None or not objects:
        yield
        return
    from joblib import parallel_config

    # The same kind of backend, now with the objects on every worker.
    backend, _ = get_active_backend()
    with parallel_config(backend=type(backend)(
            client=client, scatter=list(objects),
            wait_for_workers_timeout=backend.wait_for_workers_timeout)):
        yield


def active_client():
    """The ``distributed.Client`` of the active joblib backend, or None if it is not Dask."""
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    # joblib's DaskDistributedBackend or a subclass (OneProcessPerTask), without importing
    # distributed when the backend is another.
    dask = any(c.__name__ == "DaskDistributedBackend" for c in type(backend).__mro__)
    return getattr(backend, "client", None) if dask else None


# ------------------------------------------------------------------ a shared cache folder

def _write_probe(folder: str, token: str) -> str | None:
    # None: this worker cannot write there (no such folder on its machine, no permission).
    name = f".mmlearn-probe-{token}-{secrets.token_hex(4)}"
    try:
        Path(folder, name).write_text(token)
    except OSError:
        return None
    return name


def _read_probes(folder: str, names: list[str], token: str) -> list[str]:
    # The probes this worker cannot read: another filesystem, or no such folder here.
    missing = []
    for name in names:
        try:
            if Path(folder, name).read_text() != token:
                missing.append(name)
        except OSError:
            missing.append(name)
    return missing


def _remove_probes(folder: str, token: str) -> None:
    try:
        for path in Path(folder).glob(f".mmlearn-probe-{token}-*"):
            path.unlink(missing_ok=True)
    except OSError:
        pass  # a folder this worker cannot use holds no probe of its own


def check_shared_folder(client, folder: str | os.PathLike) -> bool:
    """Warn unless every worker of ``client`` sees the same ``folder``.

    Each worker writes a probe file in ``folder``, then reads every worker's probe; a
    worker that cannot read one of them has a different folder of that name (a local disk,
    not a shared filesystem), so cache entries would not be shared: each worker would
    recompute the encoders for itself.

    Parameters
    ----------
    client : distributed.Client
    folder : str or path

    Returns
    -------
    shared : bool
    """
    folder = os.fspath(folder)
    token = secrets.token_hex(8)
    try:
        written = client.run(_write_probe, folder, token)
        names = [n for n in written.values() if isinstance(n, str)]
        unread = client.run(_read_probes, folder, names, token)
    finally:
        client.run(_remove_probes, folder, token, on_error="return")
    failed = sorted(address for address, name in written.items() if not isinstance(name, str))
    blind = sorted(address for address, missing in unread.items() if missing)
    if not failed and not blind:
        return True
    warnings.warn(
        f"the cache folder {folder!r} is not shared by the cluster's workers ("
        + "; ".join(filter(None, [
            f"cannot write there: {', '.join(failed)}" if failed else "",
            f"cannot see the other workers' files: {', '.join(blind)}" if blind else ""]))
        + "): each worker computes its own encoder results. Put the cache on a filesystem "
        "every worker mounts at the same path (run_benchmark(cache_dir=...), mmlearn bench "
        "--cache-dir).", UserWarning, stacklevel=2)
    return False


def check_cache_folder(folder: str | os.PathLike) -> bool | None:
    """Under joblib's Dask backend, :func:`check_shared_folder` for the active client.

    Returns None (nothing checked) when the active joblib backend is not Dask.
    """
    client = active_client()
    return None if client is None else check_shared_folder(client, folder)


# ------------------------------------------------------------------------ for the CLI

def scheduler_option(text: str) -> str:
    """The ``type=`` of ``mmlearn bench --scheduler``: ``text``, once it parses.

    A Dask address or ``local[:N]``, or a Ray Client address (``ray://HOST:PORT``); the
    backend's own rules apply when the run starts (:func:`on_cluster`).
    """
    import argparse

    try:
        parse_scheduler(text)
    except ValueError as exc:
        if not (isinstance(text, str) and text.strip().startswith("ray://")):
            raise argparse.ArgumentTypeError(str(exc)) from None
        from mmlearn.bench.ray_backend import parse_ray_address

        try:
            parse_ray_address(text)
        except ValueError as ray_exc:
            raise argparse.ArgumentTypeError(str(ray_exc)) from None
    return text


@contextmanager
def on_cluster(scheduler: str | None, *, timeout: float | None = None,
               backend: str = "dask") -> Iterator[object]:
    """Run the joblib tasks of the block on ``scheduler``'s cluster; None: locally.

    :func:`open_cluster` and :func:`joblib_backend` in one block (with ``backend="ray"``,
    :func:`mmlearn.bench.ray_backend.open_ray` and its ``joblib_backend``); yields the
    Dask client (None under Ray), or None when ``scheduler`` is None. ``timeout``: seconds
    to wait for a remote scheduler (default: :data:`CONNECT_TIMEOUT`).
    """
    if scheduler is None:
        yield None
        return
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    if backend == "ray":
        from mmlearn.bench import ray_backend

        with ray_backend.open_ray(scheduler, timeout=timeout), ray_backend.joblib_backend():
            yield None
        return
    if backend != "dask":
        raise ValueError(f"backend must be 'dask' or 'ray', got {backend!r}.")
    with open_cluster(scheduler, timeout=timeout) as client, joblib_backend(client):
        yield client
