"""A grid over heads with a fixed fusion step fits the encoders once per fold (Pipeline memory)."""

import pathlib

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from mmlearn.encoders import AudioMFCCEncoder, ImageCNNEncoder
from mmlearn.fusion import EarlyFusion


def _fusion():
    cnn = ImageCNNEncoder(width=8, depth=1, max_epochs=2, validation_fraction=None,
                          random_state=0)
    return EarlyFusion([("image", cnn, "image"),
                        ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")])


def _search(memory):
    grid = {"head": [SVC(), KNeighborsClassifier(), LogisticRegression(max_iter=500)]}
    pipe = Pipeline([("fusion", _fusion()), ("head", SVC())], memory=memory)
    return GridSearchCV(pipe, grid, cv=StratifiedKFold(2, shuffle=True, random_state=0))


def test_cached_grid_fits_each_fold_once_and_matches_uncached(av_small, tmp_path):
    X, y = av_small
    cached = _search(str(tmp_path)).fit(X, y)
    plain = _search(None).fit(X, y)
    for key in ("mean_test_score", "split0_test_score", "split1_test_score", "rank_test_score"):
        np.testing.assert_array_equal(cached.cv_results_[key], plain.cv_results_[key])
    assert cached.best_params_["head"].__class__ is plain.best_params_["head"].__class__
    np.testing.assert_array_equal(cached.predict(X), plain.predict(X))
    # One stored fusion fit per fold plus the final refit: 3 heads did not mean 3 fits.
    stored = list(pathlib.Path(tmp_path).rglob("output.pkl"))
    assert len(stored) == 2 + 1


def test_changing_an_encoder_parameter_misses_the_cache(av_small, tmp_path):
    X, y = av_small
    pipe = Pipeline([("fusion", _fusion()), ("head", SVC())], memory=str(tmp_path))
    pipe.fit(X, y)
    pipe.set_params(fusion__image__width=4).fit(X, y)
    assert len(list(pathlib.Path(tmp_path).rglob("output.pkl"))) == 2
