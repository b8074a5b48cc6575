"""mmlearn.export: ONNX graphs of fitted networks and pipelines, checked by onnxruntime."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
pytest.importorskip("skl2onnx", reason="the onnx extra is not installed")

from mmlearn.encoders import AudioCNNEncoder, ImageCNNEncoder, TextRNNEncoder  # noqa: E402
from mmlearn.export import onnx_inputs, to_onnx  # noqa: E402
from mmlearn.fusion import JointFusion  # noqa: E402
from mmlearn.heads import MLPHead  # noqa: E402


class Doubler(TransformerMixin, BaseEstimator):
    """A step skl2onnx has no converter for."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return 2 * np.asarray(X)


@pytest.fixture(scope="module")
def image_encoder(av_small):
    X, y = av_small
    return ImageCNNEncoder(max_epochs=2, random_state=0).fit(X["image"], y)


def _run(path, inputs):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, inputs)


def test_image_encoder_embedding_and_probabilities(image_encoder, av_digits, tmp_path):
    X = av_digits.data["image"]
    held = X[1000:1100]  # rows the export never saw
    path = to_onnx(image_encoder, X[:30], tmp_path / "image.onnx")
    (embedding,) = _run(path, onnx_inputs(image_encoder, held))
    np.testing.assert_allclose(embedding, image_encoder.transform(held), atol=1e-4)
    path = to_onnx(image_encoder, X[:30], tmp_path / "proba.onnx", method="predict_proba")
    (proba,) = _run(path, onnx_inputs(image_encoder, held))
    np.testing.assert_allclose(proba, image_encoder.predict_proba(held), atol=1e-4)


def test_pipeline_with_skl2onnx_steps_is_one_graph(image_encoder, av_small, av_digits,
                                                   tmp_path):
    X, y = av_small
    pipe = make_pipeline(image_encoder, StandardScaler(), LogisticRegression(max_iter=300))
    pipe.fit(X["image"], y)
    path = to_onnx(pipe, X["image"][:30], tmp_path / "pipe.onnx")
    held = av_digits.data["image"][1000:1100]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    label, proba = session.run(None, onnx_inputs(pipe, held))
    np.testing.assert_allclose(proba, pipe.predict_proba(held), atol=1e-4)
    np.testing.assert_array_equal(pipe.classes_[label], pipe.predict(held))


def test_joint_fusion_and_mlp_head(av_small, tmp_path):
    X, y = av_small
    joint = JointFusion([("image", ImageCNNEncoder(width=8), "image"),
                         ("audio", AudioCNNEncoder(sample_rate=8000, width=4, depth=2), "audio")],
                        max_epochs=1, random_state=0).fit(X, y)
    path = to_onnx(joint, X[:20], tmp_path / "joint.onnx", method="predict_proba")
    inputs = onnx_inputs(joint, X[20:60])
    assert sorted(inputs) == ["present", "x0", "x1"]
    np.testing.assert_allclose(_run(path, inputs)[0], joint.predict_proba(X[20:60]), atol=1e-4)

    features = np.stack(X["image"].map(np.ravel)).astype(np.float32)
    head = MLPHead(max_epochs=2, random_state=0).fit(features, y)
    path = to_onnx(head, features[:20], tmp_path / "head.onnx")
    # The graph begins at the raw features: the head's standardisation is inside it.
    np.testing.assert_allclose(_run(path, {"x": features[20:80]})[0],
                               head.predict_proba(features[20:80]), atol=1e-4)


def test_export_bad_input(image_encoder, av_small, emoji, tmp_path):
    X, y = av_small
    with pytest.raises(NotFittedError):
        to_onnx(ImageCNNEncoder(), X["image"][:5], tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="opset=11 is too old"):
        to_onnx(image_encoder, X["image"][:5], tmp_path / "a.onnx", opset=11)
    pipe = make_pipeline(image_encoder, Doubler(), LogisticRegression(max_iter=50))
    pipe.fit(X["image"], y)
    with pytest.raises(TypeError, match="'doubler' \\(Doubler\\).*cannot be converted"):
        to_onnx(pipe, X["image"][:5], tmp_path / "a.onnx")
    names, labels = emoji.data["name"][:120], emoji.target[:120]
    text = TextRNNEncoder(max_epochs=1, min_df=1, random_state=0).fit(names, labels)
    with pytest.raises(TypeError, match="TextRNNEncoder.*cannot be exported"):
        to_onnx(text, names[:5], tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="method must be"):
        to_onnx(image_encoder, X["image"][:5], tmp_path / "a.onnx", method="predict")
    assert not (tmp_path / "a.onnx").exists()
