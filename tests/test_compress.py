"""mmlearn.compress: int8 quantisation and pruning of fitted networks, on real subsets."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmlearn.compress import (
    QuantizedBlock,
    find_networks,
    network_bytes,
    network_inputs,
    prune,
    quantize,
    sparsity,
)
from mmlearn.encoders import ImageCNNEncoder, TextRNNEncoder
from mmlearn.heads import MLPHead


@pytest.fixture(scope="module")
def image_encoder(av_small):
    X, y = av_small
    return ImageCNNEncoder(max_epochs=3, random_state=0).fit(X["image"], y)


@pytest.fixture(scope="module")
def text_encoder(emoji):
    names, y = emoji.data["name"][:300], emoji.target[:300]
    return TextRNNEncoder(max_epochs=2, min_df=1, random_state=0).fit(names, y)


def test_dynamic_quantization_keeps_the_api_and_shrinks_the_network(text_encoder, emoji):
    names = emoji.data["name"][300:400]
    small = quantize(text_encoder)
    assert type(small) is TextRNNEncoder
    assert isinstance(small.net_.module_.rnn, torch.ao.nn.quantized.dynamic.GRU)
    # The original is untouched.
    assert type(text_encoder.net_.module_.rnn) is torch.nn.GRU
    before, after = text_encoder.transform(names), small.transform(names)
    assert after.shape == before.shape and after.dtype == np.float32
    assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.99
    assert np.mean(small.predict(names) == text_encoder.predict(names)) > 0.9
    assert network_bytes(small) < 0.6 * network_bytes(text_encoder)
    restored = pickle.loads(pickle.dumps(small))
    np.testing.assert_array_equal(restored.transform(names), after)


def test_static_quantization_of_conv_blocks(image_encoder, av_digits):
    X = av_digits.data["image"]
    small = quantize(image_encoder, method="static", calibration=X[:200])
    assert isinstance(small.net_.module_.features, QuantizedBlock)
    held = X[1000:1200]
    agree = np.mean(small.predict(held) == image_encoder.predict(held))
    assert agree > 0.9
    assert network_bytes(small) < 0.5 * network_bytes(image_encoder)
    # torch's own quantised convolutions do not pickle; QuantizedBlock rebuilds them.
    restored = pickle.loads(pickle.dumps(small))
    np.testing.assert_array_equal(restored.transform(held), small.transform(held))


def test_quantize_reaches_the_networks_inside_a_pipeline(av_small):
    X, y = av_small
    pipe = make_pipeline(ImageCNNEncoder(max_epochs=1, random_state=0),
                         MLPHead(max_epochs=2, random_state=0)).fit(X["image"], y)
    assert len(find_networks(pipe)) == 2
    small = quantize(pipe, method="static", calibration=X["image"])
    assert isinstance(small[0].net_.module_.features, QuantizedBlock)
    assert isinstance(small[1].net_.module_.out, torch.ao.nn.quantized.dynamic.Linear)
    assert small.predict_proba(X["image"][:5]).shape == (5, 10)


def test_quantize_bad_input(image_encoder, text_encoder, av_small):
    X, y = av_small
    with pytest.raises(NotFittedError):
        quantize(ImageCNNEncoder())
    plain = make_pipeline(StandardScaler(), LogisticRegression(max_iter=50)).fit(
        np.stack(X["image"].map(np.ravel)), y)
    with pytest.raises(TypeError, match="LogisticRegression.*holds no torch network"):
        quantize(plain)
    with pytest.raises(ValueError, match="needs calibration rows"):
        quantize(image_encoder, method="static")
    with pytest.raises(ValueError, match="no convolution block"):
        quantize(text_encoder, method="static", calibration=["red apple", "cat"])
    with pytest.raises(ValueError, match="method must be one of"):
        quantize(image_encoder, method="int4")


def test_unstructured_pruning_and_fine_tune(image_encoder, av_small):
    X, y = av_small
    pruned = prune(image_encoder, 0.6)
    assert sparsity(pruned) == pytest.approx(0.6, abs=0.01)
    assert sparsity(image_encoder) < 0.01  # the original is untouched
    tuned = prune(image_encoder, 0.6, fine_tune=(X["image"], y), epochs=1)
    # Pruned weights stay zero through the fine-tune; the weights did move.
    assert sparsity(tuned) >= 0.6 - 0.01
    assert not np.allclose(tuned.transform(X["image"][:5]), pruned.transform(X["image"][:5]))
    assert not hasattr(tuned.net_.module_.features[0], "weight_orig")  # pruning made permanent
    pickle.loads(pickle.dumps(tuned)).predict(X["image"][:3])


def test_structured_pruning_removes_channels(image_encoder, av_small):
    X, _ = av_small
    pruned = prune(image_encoder, 0.5, structured=True)
    features = pruned.net_.module_.features
    assert features[0].out_channels == 16 and features[1].num_features == 16
    assert features[4].in_channels == 16 and features[4].out_channels == 64
    assert pruned.transform(X["image"][:4]).shape == (4, image_encoder.embedding_dim)


def test_prune_bad_input(image_encoder, av_small):
    X, y = av_small
    with pytest.raises(ValueError, match="amount must be a float in"):
        prune(image_encoder, 1.5)
    with pytest.raises(NotFittedError):
        prune(MLPHead(), 0.5)
    head = MLPHead(max_epochs=1, random_state=0).fit(np.stack(X["image"].map(np.ravel)), y)
    with pytest.raises(ValueError, match="nothing can shrink"):
        prune(head, 0.5, structured=True)
    pipe = make_pipeline(image_encoder, LogisticRegression(max_iter=50))
    pipe.fit(X["image"], y)
    with pytest.raises(ValueError, match="gives features to a later step"):
        prune(pipe, 0.3, fine_tune=(X["image"], y))
    with pytest.raises(ValueError, match="labels the estimator was not fitted on"):
        prune(image_encoder, 0.3, fine_tune=(X["image"], np.full(len(y), 99)))


def test_network_inputs_are_the_converted_rows(image_encoder, av_digits):
    inputs = network_inputs(image_encoder, av_digits.data["image"][:7])
    assert list(inputs[0]) == ["x"] and inputs[0]["x"].shape == (7, 1, 8, 8)


def test_saving_compressed_models(image_encoder, tmp_path):
    from mmlearn import io as mio

    # Same shapes: the secure format holds it (loading is test_io's, and slow to import).
    mio.save(prune(image_encoder, 0.5), tmp_path / "pruned.mmlearn")
    assert (tmp_path / "pruned.mmlearn").stat().st_size > 0
    for compressed in (quantize(image_encoder), prune(image_encoder, 0.5, structured=True)):
        with pytest.raises(TypeError, match="compressed by mmlearn.compress"):
            mio.save(compressed, tmp_path / "small.mmlearn")
