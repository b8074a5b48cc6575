"""Run mmlearn's parallel work on a Ray cluster through joblib: ``--backend ray``.

Ray ships a joblib backend (``ray.util.joblib.register_ray()``, then
``joblib.parallel_config(backend="ray")``): each joblib task runs in a pool of Ray actors
spread over the cluster's CPUs. mmlearn goes through joblib only, so its grids run there
unchanged; this module adds what :mod:`mmlearn.bench.cluster` adds for Dask:

- :func:`parse_ray_address`: ``local[:N]``, ``ray://HOST:PORT`` (Ray Client) or
  ``HOST:PORT`` (the cluster's GCS address, from one of its nodes);
- :func:`open_ray`: starts a local Ray or connects to one, with a bounded wait and an error
  naming the address, checks that every node runs this mmlearn, and disconnects (or stops
  what it started) at the end;
- :func:`joblib_backend`: the ``parallel_config(backend="ray")`` block.

Ray itself is imported only by :func:`open_ray` and :func:`joblib_backend`: parsing an
address needs no Ray. See ``docs/cluster.md``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from mmlearn.bench.cluster import ClusterError, compare_versions, parse_local

__all__ = ["check_ray_versions", "joblib_backend", "open_ray", "parse_ray_address"]


def parse_ray_address(text: str) -> tuple[str, str | int | None]:
    """Split a Ray ``--scheduler`` value into ``("local", n_cpus)`` or ``("remote", address)``.

    Parameters
    ----------
    text : str
        ``"local"`` (a Ray on this machine with all its cores), ``"local:N"`` (with ``N``
        CPUs, so ``N`` tasks at once), ``"ray://HOST:PORT"`` (a Ray Client server, port
        10001 by default) or ``"HOST:PORT"`` (the GCS address ``ray start --head`` prints,
        port 6379 by default).

    Returns
    -------
    kind : {"local", "remote"}
    value : int, str or None

    Raises
    ------
    ValueError
        If ``text`` is none of these forms, naming it and what is wrong.

    Examples
    --------
    >>> parse_ray_address("local:2")
    ('local', 2)
    >>> parse_ray_address("ray://head:10001")
    ('remote', 'ray://head:10001')
    """
    local = parse_local(text, "CPUs")
    if local is not None:
        return local
    text = text.strip()
    scheme, sep, location = text.rpartition("://")
    if sep and scheme != "ray":
        raise ValueError(f"scheduler {text!r}: a Ray cluster's address is "
                         f"ray://HOST:PORT or HOST:PORT, not {scheme}://; "
                         f"{scheme}:// is a Dask scheduler's (--backend dask).")
    host, colon, port = location.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"scheduler {text!r} is not a Ray address of the form "
                         "ray://HOST:PORT or HOST:PORT, nor 'local[:N]'.")
    return "remote", text


def _wait_for_port(address: str, timeout: float) -> None:
    # ray.init retries an address where nothing answers for minutes: check the port first.
    location = address.rpartition("://")[2]
    host, _, port = location.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(
            f"cannot reach a Ray cluster at {address!r} within {timeout:g} s "
            f"({type(exc).__name__}: {exc}). Is `ray start --head` running there, and is "
            "the port open from this machine?"
        ) from exc


def _connected_to(address: str) -> bool:
    import ray

    if not ray.is_initialized() or address.startswith("ray://"):
        return False  # a Ray Client connection is a session of its own: open one
    here_host, _, here_port = ray.get_runtime_context().gcs_address.rpartition(":")
    host, _, port = address.rpartition(":")
    # Ray names a cluster started on this machine by the machine's address, not loopback.
    return port == here_port and host in (here_host, "127.0.0.1", "localhost")


@contextmanager
def open_ray(scheduler: str, *, timeout: float = 10.0) -> Iterator[None]:
    """Ray ready for the block: started or connected, and its nodes' versions checked.

    ``"local[:N]"`` starts a Ray on this machine for the block and stops it afterwards; an
    address connects to that cluster and disconnects afterwards (the cluster keeps
    running). If this process is already connected to that cluster (``ray.init`` was
    called), the block uses that connection and leaves it open.

    Parameters
    ----------
    scheduler : str
        See :func:`parse_ray_address`.
    timeout : float, default=10.0
        Seconds to wait for a remote cluster's port to answer.

    Raises
    ------
    ClusterError
        If Ray is not installed, the address is not Ray's, nothing answers there, or a
        node lacks this process's mmlearn or scikit-learn version.

    Examples
    --------
    >>> with open_ray("local:2"), joblib_backend():  # doctest: +SKIP
    ...     search.fit(X, y)
    """
    try:
        kind, value = parse_ray_address(scheduler)
    except ValueError as exc:
        raise ClusterError(str(exc)) from None
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(f"--backend ray needs the 'ray' package ({exc}); install it "
                           "with: pip install 'scikit-mmlearn[ray]'") from exc
    if kind == "local":
        if ray.is_initialized():
            raise ClusterError("this process is already connected to a Ray cluster: pass "
                               "its address instead of 'local', or call ray.shutdown().")
        ray.init(address="local", num_cpus=value, include_dashboard=False,
                 log_to_driver=False)
        opened = True
    elif _connected_to(value):
        opened = False
    else:
        if ray.is_initialized():
            raise ClusterError(f"this process is connected to another Ray cluster "
                               f"({ray.get_runtime_context().gcs_address}), not to "
                               f"{value!r}: call ray.shutdown() first.")
        _wait_for_port(value, timeout)
        try:
            ray.init(address=value, log_to_driver=False)
        except Exception as exc:
            raise ClusterError(f"cannot connect to the Ray cluster at {value!r} "
                               f"({type(exc).__name__}: {' '.join(str(exc).split())})"
                               ) from exc
        opened = True
    try:
        check_ray_versions()
        yield
    finally:
        if opened:
            ray.shutdown()


def check_ray_versions() -> dict[str, dict]:
    """Raise a :class:`ClusterError` unless every live Ray node has this mmlearn.

    The rules of :func:`mmlearn.bench.cluster.check_versions`: mmlearn and scikit-learn
    must be the same version as here, other packages should be.

    Returns
    -------
    versions : dict
        Node address -> package -> version (None: not installed).
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from mmlearn.bench.cluster import _package_versions

    # num_cpus=0: the probe runs even where every CPU is busy with someone's tasks.
    probe = ray.remote(num_cpus=0)(_package_versions)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    futures = {n["NodeManagerAddress"]: probe.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
        for n in nodes}
    found = {}
    for address, future in futures.items():
        try:
            found[address] = ray.get(future)
        except Exception as exc:  # the probe could not run there: report, not crash
            found[address] = exc
    compare_versions(found)
    return found


@contextmanager
def joblib_backend() -> Iterator[None]:
    """Send the joblib tasks started inside the block to the connected Ray cluster.

    ``ray.util.joblib.register_ray()`` and ``joblib.parallel_config(backend="ray")``.
    The joblib calls nested in a task run in that task's process (joblib's default in a
    worker process), and each task uses one of the cluster's CPUs: Ray sets
    ``OMP_NUM_THREADS=1`` in its workers, which torch and BLAS follow.
    """
    from joblib import parallel_config
    from ray.util.joblib import register_ray

    register_ray()
    with parallel_config(backend="ray"):
        yield
