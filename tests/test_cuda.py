"""The ``device="cuda"`` paths, run only where torch finds a CUDA GPU.

The suite never needs a GPU (CI has none): without one, this module is skipped as a whole.
On a GPU machine each deep estimator is fitted on the GPU on a small real subset, its
module is checked to live there, and its outputs are compared with a CPU copy loaded by
``mmlearn.io`` (the route a model trained on a GPU takes to a CPU server), with TF32
turned off so that the two agree to float32 rounding.
"""

import numpy as np
import pytest
import torch

import mmlearn.io as mio
from mmlearn.encoders import (
    AudioCNNEncoder,
    ImageCNNEncoder,
    PretrainedAudioEncoder,
    PretrainedImageEncoder,
    TextRNNEncoder,
)
from mmlearn.fusion import JointFusion
from mmlearn.heads import MLPHead

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (the device='cuda' paths)")

IMAGE = dict(width=8, depth=2, embedding_dim=16, max_epochs=2, random_state=0)
AUDIO = dict(sample_rate=8000, n_mels=16, width=8, depth=2, embedding_dim=16, max_epochs=2,
             random_state=0)


@pytest.fixture(autouse=True)
def full_float32():
    """TF32 off, so that GPU and CPU outputs may be compared at float32 tolerances."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _device_of(estimator) -> str:
    module = getattr(estimator, "module_", None)
    if module is None:
        module = estimator.net_.module_
    return next(module.parameters()).device.type


def _on_cpu_after_saving(estimator, tmp_path):
    path = tmp_path / "model.mmlearn"
    mio.save(estimator, path)
    return mio.load(path, device="cpu")


def _close(a, b):
    scale = max(float(np.abs(b).max()), 1.0)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-3 * scale)


@pytest.fixture(scope="module")
def av(av_small):
    X, y = av_small
    return X, y


@pytest.mark.parametrize("name", ["image_cnn", "audio_cnn", "pretrained_image",
                                  "pretrained_image_tuned", "pretrained_audio"])
def test_an_encoder_fitted_on_the_gpu_transforms_there_and_on_the_cpu(name, av, tmp_path):
    X, y = av
    column, encoder = {
        "image_cnn": ("image", ImageCNNEncoder(**IMAGE, device="cuda")),
        "audio_cnn": ("audio", AudioCNNEncoder(**AUDIO, device="cuda")),
        "pretrained_image": ("image", PretrainedImageEncoder(size=64, device="cuda")),
        "pretrained_image_tuned": ("image", PretrainedImageEncoder(
            size=64, trainable_layers=2, max_epochs=2, random_state=0, device="cuda")),
        "pretrained_audio": ("audio", PretrainedAudioEncoder(size=64, device="cuda")),
    }[name]
    gpu = encoder.fit(X[column], y)
    assert _device_of(gpu) == "cuda"
    out = gpu.transform(X[column])
    assert out.dtype == np.float32 and np.isfinite(out).all()
    cpu = _on_cpu_after_saving(gpu, tmp_path)
    assert _device_of(cpu) == "cpu"
    _close(cpu.transform(X[column]), out)


def test_text_rnn_and_mlp_head_on_the_gpu(emoji, tmp_path):
    names = emoji.data["name"].iloc[:300]
    y = emoji.target[:300]
    text = TextRNNEncoder(max_epochs=2, random_state=0, device="cuda").fit(names, y)
    assert _device_of(text) == "cuda"
    features = text.transform(names)
    _close(_on_cpu_after_saving(text, tmp_path).transform(names), features)
    head = MLPHead(max_epochs=5, random_state=0, device="cuda").fit(features, y)
    assert _device_of(head) == "cuda"
    proba = head.predict_proba(features)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    _close(_on_cpu_after_saving(head, tmp_path).predict_proba(features), proba)


def test_joint_fusion_on_the_gpu(av, tmp_path):
    X, y = av
    fusion = JointFusion([("image", ImageCNNEncoder(width=8, depth=2, embedding_dim=16),
                           "image"),
                          ("audio", AudioCNNEncoder(sample_rate=8000, n_mels=16, width=8,
                                                    depth=2, embedding_dim=16), "audio")],
                         fusion_dim=16, hidden_sizes=(32,), max_epochs=3, batch_size=16,
                         validation_fraction=None, random_state=0, device="cuda")
    fusion.fit(X, y)
    assert _device_of(fusion) == "cuda"
    proba = fusion.predict_proba(X)
    assert fusion.score(X, y) > 0.3  # above the 0.1 of chance after 3 epochs on 10 classes
    _close(_on_cpu_after_saving(fusion, tmp_path).predict_proba(X), proba)
