"""mmlearn on a real Ray cluster, started here on 127.0.0.1 with two CPUs.

Through Ray's joblib backend (``--backend ray``): a GridSearchCV over classical and deep
encoders and ``mmlearn bench`` give the ``n_jobs=1`` results; bad Ray addresses.
"""

from __future__ import annotations

import os
import socket
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from mmlearn.bench.cluster import ClusterError
from mmlearn.bench.ray_backend import joblib_backend, open_ray, parse_ray_address
from mmlearn.cli import main
from mmlearn.encoders import AudioMFCCEncoder, ImageCNNEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion

CNN = dict(width=4, depth=1, embedding_dim=8, max_epochs=2, batch_size=32, random_state=0)


def test_parse_ray_address_forms():
    assert parse_ray_address("local") == ("local", None)
    assert parse_ray_address(" local:3 ") == ("local", 3)
    assert parse_ray_address("10.0.0.5:6379") == ("remote", "10.0.0.5:6379")
    assert parse_ray_address("ray://head:10001") == ("remote", "ray://head:10001")
    with pytest.raises(ValueError, match=r"'tcp://head:8786'.*not tcp://; tcp:// is a "
                                         r"Dask scheduler's \(--backend dask\)"):
        parse_ray_address("tcp://head:8786")
    with pytest.raises(ValueError, match="'ray://head' is not a Ray address"):
        parse_ray_address("ray://head")
    with pytest.raises(ValueError, match="positive number of CPUs N, got '0'"):
        parse_ray_address("local:0")
    with pytest.raises(TypeError, match="scheduler must be a string"):
        parse_ray_address(6379)


def test_cli_backend_ray_needs_a_scheduler(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--dataset", "av_digits", "--backend", "ray"])
    assert exit_.value.code == 2
    assert "--backend ray needs --scheduler" in capsys.readouterr().err


def test_cli_ray_scheme_with_the_dask_backend_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--dataset", "av_digits", "--scheduler", "ray://127.0.0.1:10001",
              "--quiet"])
    # --backend dask (the default) cannot use a Ray address.
    assert "unknown scheme 'ray'" in capsys.readouterr().err


def test_cli_backend_ray_without_ray_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--dataset", "av_digits", "--max-samples", "60", "--quiet",
              "--backend", "ray", "--scheduler", "local:1", "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert ("--scheduler local:1: --backend ray needs the 'ray' package"
            in capsys.readouterr().err)
    assert not (tmp_path / "out" / "results.csv").exists()


# Everything below runs Ray itself. Ray names a node by the machine's network address
# unless told that it runs alone, which keeps its processes on 127.0.0.1; it reads this
# when it is imported.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
try:
    import ray
except ImportError:
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason="the 'ray' extra (ray) is not installed")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_ray
def test_unreachable_ray_cluster_fails_in_bounded_time_naming_it():
    address = f"127.0.0.1:{_free_port()}"
    with pytest.raises(ClusterError, match=f"cannot reach a Ray cluster at '{address}' "
                                           "within 1 s"), open_ray(address, timeout=1):
        pass


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray of 2 CPUs on this machine, on the loopback interface, for this module."""
    if ray.is_initialized():
        pytest.skip("this process is already connected to a Ray cluster")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@needs_ray
def test_grid_search_on_ray_equals_n_jobs_1(ray_cluster, av_tiny, torch_threads):
    assert ray_cluster.startswith("127.0.0.1:")
    X, y = av_tiny
    classical = EarlyFusion([("image", ImagePixelEncoder(size=8), "image"),
                             ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")])
    deep = EarlyFusion([("image", ImageCNNEncoder(**CNN), "image")])
    pipe = Pipeline([("fusion", classical), ("head", LogisticRegression(max_iter=200))])
    grid = {"fusion": [classical, deep],
            "head": [LogisticRegression(max_iter=200), KNeighborsClassifier(3)]}
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    with torch_threads(1):  # what each Ray task gets (OMP_NUM_THREADS=1)
        local = GridSearchCV(pipe, grid, cv=cv, n_jobs=1).fit(X, y)
    # The process is connected already: open_ray uses that connection and keeps it.
    with open_ray(ray_cluster), joblib_backend():
        remote = GridSearchCV(pipe, grid, cv=cv, n_jobs=-1).fit(X, y)
    assert ray.is_initialized()
    for key, value in local.cv_results_.items():
        if key.endswith("test_score"):  # split<i>_, mean_, std_, rank_ (times aside)
            np.testing.assert_array_equal(remote.cv_results_[key], value, err_msg=key)
    assert (remote.predict(X) == local.predict(X)).all()


@needs_ray
def test_cli_bench_on_ray_writes_the_local_results(ray_cluster, tmp_path, capsys,
                                                   torch_threads):
    bench = ["bench", "--dataset", "av_digits", "--max-samples", "60", "--cv", "2",
             "--heads", "knn", "--families", "classical"]
    with torch_threads(1):
        assert main([*bench, "--quiet", "--n-jobs", "1", "--out", str(tmp_path / "local")]) == 0
    assert main([*bench, "--backend", "ray", "--scheduler", ray_cluster,
                 "--out", str(tmp_path / "ray")]) == 0
    assert "100%" in capsys.readouterr().err  # the progress bar ran to the end
    local = pd.read_csv(tmp_path / "local" / "results.csv")
    remote = pd.read_csv(tmp_path / "ray" / "results.csv")
    scores = [c for c in local.columns if "seconds" not in c]
    pd.testing.assert_frame_equal(remote[scores], local[scores])


@needs_ray
def test_a_node_with_another_mmlearn_is_refused(ray_cluster, monkeypatch):
    import mmlearn

    # The client's version changes, as if the workers ran another one.
    monkeypatch.setattr(mmlearn, "__version__", "0.0.1")
    with pytest.raises(ClusterError, match=r"has mmlearn .* \(client: 0\.0\.1\)"), \
            open_ray(ray_cluster):
        pass
