"""A deep encoder written outside mmlearn, as docs/architecture.md shows it, on real data.

The encoder below is copied verbatim from "How to add a new encoder" in
docs/architecture.md (``test_the_docs_show_this_code`` keeps the two the same). It subclasses
only scikit-learn's bases and plugs in through mmlearn's public surface: a transformer in
EarlyFusion, a network branch of JointFusion (``modality``, ``embedding_dim``,
``make_input()``, ``make_module()``).
"""
# The example comes first, exactly as the page shows it (imports included); this file's own
# imports follow it.
# ruff: noqa: E402

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from mmlearn.inputs import ImageInput, as_cells


class TinyMLP(torch.nn.Module):
    """Flattened pixels -> ``embed`` (one ReLU layer) -> ``forward`` (class logits)."""

    def __init__(self, n_inputs, embedding_dim, n_classes):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(n_inputs, embedding_dim), torch.nn.ReLU()
        )
        self.head = torch.nn.Linear(embedding_dim, n_classes)

    def embed(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.embed(x))


class TinyImageMLPEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Grayscale pixels resized to ``size`` -> a one-layer MLP trained on the labels."""

    modality = "image"  # the kind of cells it reads: "image", "audio" or "text"

    def __init__(self, *, size=8, embedding_dim=16, max_epochs=20, lr=1e-2, batch_size=32,
                 random_state=None):
        self.size = size
        self.embedding_dim = embedding_dim
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state

    # The public surface that makes this encoder a JointFusion branch.
    def make_input(self):
        return ImageInput(self.size, grayscale=True)

    def make_module(self, input, n_classes):
        params = {"n_inputs": int(np.prod(input.tail())),
                  "embedding_dim": self.embedding_dim, "n_classes": n_classes}
        return TinyMLP, params

    # A transformer of its own: EarlyFusion, a Pipeline, or standalone.
    def fit(self, X, y):
        cells = as_cells(X, kind=self.modality)
        rows = np.flatnonzero(~cells.missing_mask())  # learn from the present cells
        self.classes_, targets = np.unique(np.asarray(y)[rows], return_inverse=True)
        self.input_ = self.make_input().fit(cells.subset(rows))
        module, params = self.make_module(self.input_, len(self.classes_))
        rng = check_random_state(self.random_state)
        with torch.random.fork_rng():  # seed torch without moving the caller's generator
            torch.manual_seed(rng.randint(2**31 - 1))
            self.module_ = module(**params)
            optimizer = torch.optim.Adam(self.module_.parameters(), lr=self.lr)
            for _ in range(self.max_epochs):
                order = rng.permutation(len(rows))
                for start in range(0, len(order), self.batch_size):
                    batch = order[start:start + self.batch_size]
                    logits = self.module_(self._convert(cells, rows[batch]))
                    loss = torch.nn.functional.cross_entropy(
                        logits, torch.from_numpy(targets[batch]))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        self.module_.eval()
        self.n_features_in_ = cells.n_features
        self._n_features_out = self.embedding_dim  # names: tinyimagemlpencoder0, ...
        return self

    def transform(self, X):
        check_is_fitted(self)
        cells = as_cells(X, kind=self.modality)
        rows = np.flatnonzero(~cells.missing_mask())
        out = np.full((len(cells), self.embedding_dim), np.nan, dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(rows), self.batch_size):
                batch = rows[start:start + self.batch_size]
                out[batch] = self.module_.embed(self._convert(cells, batch)).numpy()
        return out  # a missing cell gives a row of NaN

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # float32 embeddings, whatever comes in
        return tags

    def _convert(self, cells, rows):
        # Only these rows' cells are decoded: a column of paths is read a batch at a time.
        return torch.from_numpy(self.input_.convert(cells.subset(rows)))

# ------------------------------------------------------------------- end of the example

import pathlib
import pickle
import re

import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from mmlearn.encoders import AudioMFCCEncoder, DeepEncoder
from mmlearn.fusion import EarlyFusion, JointFusion, is_deep_encoder
from mmlearn.inputs import LogMelInput

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
# JointFusion training that learns these 200 rows in a few seconds.
FAST = dict(fusion_dim=16, max_epochs=20, lr=3e-3, random_state=0)


class MeanSpectrumInput:
    """An input of one's own, on no mmlearn base: a clip's mean log-magnitude spectrum.

    It has exactly the methods docs/architecture.md lists for an input, so JointFusion
    relying on anything else fails here.
    """

    def __init__(self, n_bins=32):
        self.n_bins = n_bins

    def _spectra(self, cells):
        n_fft = 2 * (self.n_bins - 1)
        rows = []
        for wave in cells.cells:
            wave = np.asarray(wave, dtype=np.float32)
            wave = np.pad(wave, (0, -len(wave) % n_fft)).reshape(-1, n_fft)
            rows.append(np.log1p(np.abs(np.fft.rfft(wave, axis=1)).mean(axis=0)))
        return np.stack(rows).astype(np.float32)

    def fit(self, cells, y=None):
        spectra = self._spectra(cells)
        self.mean_, self.scale_ = spectra.mean(axis=0), spectra.std(axis=0) + 1e-6
        return self

    def convert(self, cells):
        return (self._spectra(cells) - self.mean_) / self.scale_

    def tail(self):
        return (self.n_bins,)

    def module_params(self):
        return {}

    def empty(self, n_rows, tail=None):
        return np.zeros((n_rows, *(self.tail() if tail is None else tail)), dtype=np.float32)

    def streams(self, cells):
        return False


class MeanSpectrumEncoder(TinyImageMLPEncoder):
    """The same MLP on an audio clip's mean spectrum, through the input above."""

    modality = "audio"

    def __init__(self, *, n_bins=32, embedding_dim=16, max_epochs=20, lr=1e-2, batch_size=32,
                 random_state=None):
        self.n_bins = n_bins
        self.embedding_dim = embedding_dim
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state

    def make_input(self):
        return MeanSpectrumInput(self.n_bins)


@pytest.fixture(scope="module")
def held_out(av_digits):
    """100 AV-digit rows outside ``av_small`` (its 20 per class are the first of each)."""
    y = av_digits.target
    rows = np.concatenate([np.flatnonzero(y == k)[20:30] for k in range(10)])
    return av_digits.data.iloc[rows].reset_index(drop=True), y[rows]


def with_missing(X, column, every):
    X = X.copy()
    X.loc[X.index[::every], column] = None
    return X


def test_the_docs_show_this_code():
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.DOTALL | re.MULTILINE)
    example = [block for block in blocks if "class TinyImageMLPEncoder" in block]
    assert len(example) == 1
    assert example[0] in pathlib.Path(__file__).read_text()


@parametrize_with_checks(
    [TinyImageMLPEncoder(max_epochs=2, random_state=0)],
    expected_failed_checks=lambda estimator: dict.fromkeys(
        ["check_transformer_general", "check_n_features_in_after_fitting"],
        "a stacked 2-D array is read as one-row images, which size= resizes: another width "
        "is another image size, not an error",
    ),
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_clone_and_params_round_trip(av_small):
    X, y = av_small
    encoder = TinyImageMLPEncoder(size=6, embedding_dim=8, max_epochs=3, random_state=1)
    params = encoder.get_params()
    assert params == {"size": 6, "embedding_dim": 8, "max_epochs": 3, "lr": 1e-2,
                      "batch_size": 32, "random_state": 1}
    assert clone(encoder).get_params() == params
    assert encoder.set_params(**params).get_params() == params
    assert encoder.set_params(embedding_dim=4).embedding_dim == 4
    encoder.fit(X["image"], y)
    copy = clone(encoder)
    assert copy.get_params() == encoder.get_params()
    assert not hasattr(copy, "module_") and not hasattr(copy, "input_")
    # A cloned JointFusion route keeps the encoder's parameters (JointFusion clones it).
    joint = JointFusion([("image", encoder, "image")])
    assert clone(joint).get_params()["image__embedding_dim"] == 4


def test_standalone_embedding_learns(av_small, held_out):
    (X, y), (X_test, y_test) = av_small, held_out
    encoder = TinyImageMLPEncoder(random_state=0)
    train = encoder.fit_transform(X["image"], y)
    test = encoder.transform(X_test["image"])
    assert train.shape == (len(X), 16) and test.dtype == np.float32
    assert np.isfinite(test).all()
    head = LogisticRegression(max_iter=1000).fit(train, y)
    assert head.score(test, y_test) > 0.6  # ten classes: chance is 0.1
    assert encoder.get_feature_names_out()[:2].tolist() == [
        "tinyimagemlpencoder0", "tinyimagemlpencoder1"]


def test_seeded_and_leaves_the_global_torch_generator_alone(av_small):
    X, y = av_small
    state = torch.random.get_rng_state()
    first = TinyImageMLPEncoder(max_epochs=3, random_state=0).fit(X["image"], y)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = TinyImageMLPEncoder(max_epochs=3, random_state=0).fit(X["image"], y)
    np.testing.assert_array_equal(first.transform(X["image"]), second.transform(X["image"]))


def test_missing_cells_are_skipped_in_fit_and_nan_in_transform(av_small):
    X, y = av_small
    images = with_missing(X, "image", every=7)["image"]
    encoder = TinyImageMLPEncoder(max_epochs=3, random_state=0).fit(images, y)
    out = encoder.transform(images)
    absent = images.isna().to_numpy()
    assert absent.sum() == len(range(0, len(X), 7))
    assert np.isnan(out[absent]).all() and np.isfinite(out[~absent]).all()


def test_a_column_of_paths_is_decoded_once_per_epoch(av_small, tmp_path, monkeypatch):
    X, y = av_small
    X, y = X.iloc[:60], y[:60]
    pixels = [np.round(image * 255).astype(np.uint8) for image in X["image"]]
    paths = []
    for row, image in enumerate(pixels):
        paths.append(str(tmp_path / f"{row}.png"))
        Image.fromarray(image).save(paths[-1])
    opened = []
    real_open = Image.open

    def counting_open(path, *args, **kwargs):
        opened.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    encoder = TinyImageMLPEncoder(max_epochs=2, batch_size=16, random_state=0)
    encoder.fit(pd.Series(paths), y)
    # The input reads each header once; each epoch decodes each file once.
    assert len(opened) == 3 * len(paths)
    opened.clear()
    from_paths = encoder.transform(pd.Series(paths))
    assert sorted(opened) == sorted(paths)
    np.testing.assert_allclose(from_paths, encoder.transform(pd.Series(pixels)), atol=1e-6)


def test_in_early_fusion_pipeline(av_small, held_out):
    (X, y), (X_test, y_test) = av_small, held_out
    pipe = Pipeline([
        ("fusion", EarlyFusion([("image", TinyImageMLPEncoder(random_state=0), "image"),
                                ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")])),
        ("head", LogisticRegression(max_iter=1000)),
    ])
    pipe.fit(with_missing(X, "image", every=10), y)
    assert pipe.score(X_test, y_test) > 0.8
    names = pipe[0].get_feature_names_out()
    assert names[0] == "image__tinyimagemlpencoder0" and "image__missing" in names
    # A row without its image is still predicted: EarlyFusion imputes the embedding.
    assert len(pipe.predict(with_missing(X_test, "image", every=2))) == len(X_test)
    fitted = pipe[0].named_transformers_["image"]
    assert isinstance(fitted, TinyImageMLPEncoder) and hasattr(fitted, "module_")
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict_proba(X_test), pipe.predict_proba(X_test))


def test_branch_of_joint_fusion(av_small, held_out):
    (X, y), (X_test, y_test) = av_small, held_out
    assert is_deep_encoder(TinyImageMLPEncoder())
    joint = JointFusion([("image", TinyImageMLPEncoder(embedding_dim=12), "image"),
                         ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")],
                        **FAST)
    joint.fit(X, y)
    image, audio = joint.net_.module_.branches
    assert isinstance(image, TinyMLP) and not isinstance(audio, TinyMLP)
    assert image.body[1].in_features == 64 and image.body[1].out_features == 12
    assert isinstance(joint.branches_[0].estimator_, TinyImageMLPEncoder)
    assert joint.score(X_test, y_test) > 0.7
    assert joint.transform(X_test).shape == (len(X_test), 2 * 16)
    # Rows without an image are predicted from the audio branch alone.
    assert len(joint.predict(with_missing(X_test, "image", every=2))) == len(X_test)
    restored = pickle.loads(pickle.dumps(joint))
    np.testing.assert_array_equal(restored.predict_proba(X_test), joint.predict_proba(X_test))


def test_an_input_of_ones_own_is_a_joint_fusion_branch(av_small, held_out):
    (X, y), (X_test, y_test) = av_small, held_out
    # Standalone, the audio variant learns from its own input.
    spectrum = MeanSpectrumEncoder(random_state=0).fit(X["audio"], y)
    assert spectrum.transform(X_test["audio"]).shape == (len(X_test), 16)
    joint = JointFusion([("image", TinyImageMLPEncoder(), "image"),
                         ("audio", MeanSpectrumEncoder(), "audio")], **FAST)
    joint.fit(with_missing(X, "audio", every=5), y)
    assert isinstance(joint.branches_[1].input_, MeanSpectrumInput)
    assert joint.score(X_test, y_test) > 0.7
    assert len(joint.predict(with_missing(X_test, "audio", every=2))) == len(X_test)


class MeanBandMLP(torch.nn.Module):
    """A module for the DeepEncoder subclass below: mean log-mel level per band -> MLP."""

    def __init__(self, n_mels=40, n_classes=2, embedding_dim=16, hidden=32):
        super().__init__()
        self.embedding = torch.nn.Sequential(
            torch.nn.Linear(n_mels, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, embedding_dim), torch.nn.ReLU())
        self.classifier = torch.nn.Linear(embedding_dim, n_classes)

    def embed(self, x):
        mask, spec = x[:, :1], x[:, 1:]
        mean = (spec * mask).sum(dim=2) / mask.sum(dim=2).clamp(min=1.0)
        return self.embedding(mean)

    def forward(self, x):
        return self.classifier(self.embed(x))


class MeanBandEncoder(DeepEncoder):
    """A third-party deep encoder that subclasses the public DeepEncoder base."""

    modality = "audio"
    module_class = MeanBandMLP

    def __init__(self, *, sample_rate=8000, n_mels=24, hidden=32, embedding_dim=16,
                 n_workers=None, max_epochs=20, lr=3e-3, batch_size=32,
                 validation_fraction=None, patience=5, device="cpu", random_state=None,
                 verbose=0):
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.hidden = hidden
        self.embedding_dim = embedding_dim
        self.n_workers = n_workers
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def build_input(self):
        # Not clip-normalised: the mean level per band is what this module reads.
        return LogMelInput(sample_rate=self.sample_rate, n_mels=self.n_mels, n_fft=256,
                           clip_normalize=False)

    def architecture_params(self):
        return {"embedding_dim": self.embedding_dim, "hidden": self.hidden}


def test_a_subclass_of_the_public_deep_encoder_base(av_small, held_out):
    """Subclassing DeepEncoder gives fit/transform/predict and a JointFusion branch."""
    X, y = av_small
    X_test, y_test = held_out
    enc = MeanBandEncoder(random_state=0).fit(X["audio"], y)
    assert enc.transform(X_test["audio"]).shape == (len(X_test), 16)
    assert enc.score(X_test["audio"], y_test) > 0.3  # chance is 0.1
    assert enc.mel_mean_.shape == (24,) and is_deep_encoder(enc)
    joint = JointFusion([("audio", MeanBandEncoder(), "audio"),
                         ("image", "passthrough", "image_pixels")], **FAST)
    X2 = X.assign(image_pixels=[im.mean() for im in X["image"]])
    X2_test = X_test.assign(image_pixels=[im.mean() for im in X_test["image"]])
    assert joint.fit(X2, y).predict(X2_test).shape == (len(X_test),)
    assert type(joint.net_.module_.branches[0]).__name__ == "MeanBandMLP"
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(enc)).transform(X_test["audio"]),
                                  enc.transform(X_test["audio"]))
