"""mmlearn.compress: int8 quantisation and pruning of fitted networks, on real subsets."""

import copy
import pickle
import zipfile

import numpy as np
import pytest
import safetensors.torch
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmlearn.compress import (
    QuantizedBlock,
    WeightOnlyInt8,
    find_networks,
    load_quantized,
    network_bytes,
    network_inputs,
    prune,
    quantization_plan,
    quantize,
    quantized_tensors,
    sparsity,
)
from mmlearn.encoders import ImageCNNEncoder, TextAttentionEncoder, TextRNNEncoder
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
    small = quantize(text_encoder, min_width=0)
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
    small = quantize(pipe, method="static", calibration=X["image"], min_width=0)
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
    with pytest.raises(ValueError, match="min_width must be a non-negative int"):
        quantize(text_encoder, min_width=-1)
    with pytest.raises(ValueError, match="is already quantised; quantise the float model"):
        quantize(quantize(text_encoder, min_width=0))


def test_narrow_layers_stay_float(text_encoder, emoji):
    # At the default min_width every layer of the 64-unit encoder is too narrow for int8
    # to pay: nothing changes, and the user is told.
    with pytest.warns(UserWarning, match="no layer of TextRNNEncoder was quantised"):
        same = quantize(text_encoder)
    assert type(same.net_.module_.rnn) is torch.nn.GRU
    assert quantization_plan(same.net_.module_) is None
    # A threshold between the widths: the recurrent and embedding layers (64 wide) are
    # quantised, the classifier (64 -> 8 classes) stays float.
    n_classes = len(text_encoder.classes_)
    assert n_classes < 64
    small = quantize(text_encoder, min_width=n_classes + 1)
    module = small.net_.module_
    assert quantization_plan(module)["dynamic"] == ["rnn", "embedding.0"]
    assert type(module.classifier) is torch.nn.Linear
    assert isinstance(module.rnn, torch.ao.nn.quantized.dynamic.GRU)


def test_transformer_layers_keep_float_linears(emoji):
    # A Transformer layer reads its linear weights as tensors, which dynamic int8 layers
    # are not; weight-only int8 layers give them the expanded float weight.
    names, y = emoji.data["name"][:200], emoji.target[:200]
    encoder = TextAttentionEncoder(max_epochs=1, min_df=1, random_state=0).fit(names, y)
    module = encoder.net_.module_
    inside = [n for n, m in module.named_modules()
              if isinstance(m, torch.nn.Linear) and ".linear" in n]
    assert inside  # the Transformer layer's feed-forward linears exist
    small = quantize(encoder, min_width=0)
    assert not set(inside) & set(quantization_plan(small.net_.module_)["dynamic"])
    light = quantize(encoder, method="weight_only")
    for model in (small, light):
        assert np.corrcoef(model.transform(names).ravel(),
                           encoder.transform(names).ravel())[0, 1] > 0.99


def test_weight_only_int8_of_a_conv_encoder(image_encoder, av_digits):
    held = av_digits.data["image"][1000:1200]
    small = quantize(image_encoder, method="weight_only")  # no calibration needed
    module = small.net_.module_
    assert isinstance(module.features[0], WeightOnlyInt8)
    assert module.features[0].weight_int8.dtype == torch.int8
    assert isinstance(module.classifier, WeightOnlyInt8)
    assert np.mean(small.predict(held) == image_encoder.predict(held)) > 0.95
    assert network_bytes(small) < 0.4 * network_bytes(image_encoder)
    restored = pickle.loads(pickle.dumps(small))
    np.testing.assert_array_equal(restored.transform(held), small.transform(held))
    with pytest.raises(ValueError, match="is quantised; prune the float model"):
        prune(small, 0.3)


class _EmbeddingOnly(BaseEstimator):
    """A fitted estimator whose only network has no linear or convolution layer."""

    def fit(self, X=None, y=None):
        self.module_ = torch.nn.Embedding(3, 2)
        return self


def test_weight_only_needs_a_linear_or_conv_layer():
    with pytest.raises(ValueError, match="_EmbeddingOnly has no linear or convolution layer"):
        quantize(_EmbeddingOnly().fit(), method="weight_only")


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


def test_quantized_models_round_trip_through_the_secure_format(image_encoder, emoji,
                                                              av_digits, tmp_path):
    from mmlearn import io as mio

    names = emoji.data["name"][:300]
    text = TextRNNEncoder("lstm", max_epochs=1, min_df=1, random_state=0).fit(
        names, emoji.target[:300])
    images = av_digits.data["image"][:200]
    for model, X in ((quantize(text, min_width=0), names),
                     (quantize(image_encoder, method="static", calibration=images,
                               min_width=0), images)):
        path = tmp_path / "small.mmlearn"
        mio.save(model, path)
        with zipfile.ZipFile(path) as archive:
            weights = safetensors.torch.load(archive.read("nets/0.safetensors"))
        assert any(v.dtype == torch.int8 for v in weights.values())  # int8 on disk
        loaded = mio.load(path)
        np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
        assert quantization_plan(loaded.net_.module_) == quantization_plan(model.net_.module_)
    # Weight-only int8 stores int8 weights as plain buffers.
    small = quantize(image_encoder, method="weight_only")
    mio.save(small, tmp_path / "weights.mmlearn")
    np.testing.assert_array_equal(mio.load(tmp_path / "weights.mmlearn").transform(images),
                                  small.transform(images))
    # Same shapes: the unstructured-pruned network saves as a float one.
    mio.save(prune(image_encoder, 0.5), tmp_path / "pruned.mmlearn")
    assert (tmp_path / "pruned.mmlearn").stat().st_size > 0
    # A structured-pruned network quantised afterwards has no plan for both changes.
    thin = prune(image_encoder, 0.5, structured=True)
    with pytest.raises(TypeError, match="compressed by mmlearn.compress"):
        mio.save(quantize(thin, method="static", calibration=images), tmp_path / "thin.mmlearn")


def test_load_quantized_refuses_a_plan_that_does_not_fit(image_encoder):
    small = quantize(image_encoder, min_width=0)
    module = small.net_.module_
    tensors = quantized_tensors(module)
    assert tensors["classifier.weight.int"].dtype == torch.int8

    def fresh():
        return copy.deepcopy(image_encoder.net_.module_)

    with pytest.raises(ValueError, match="plan is malformed"):
        load_quantized(fresh(), {"method": "dynamic", "blocks": [], "dynamic": "all"}, tensors)
    with pytest.raises(ValueError, match="has no layers"):
        load_quantized(fresh(), {"method": "dynamic", "blocks": [], "dynamic": ["nope"]},
                       tensors)
    del tensors["classifier.weight.scale"]
    with pytest.raises(ValueError, match="classifier.weight is missing"):
        load_quantized(fresh(), quantization_plan(module), tensors)


# --------------------------------------------------------------------------------------
# Saving pruned models with mmlearn.io (structured: a pruning plan + safetensors).


def test_pruned_models_round_trip_through_the_secure_format(image_encoder, av_small,
                                                            av_digits, tmp_path):
    from mmlearn import io as mio
    from mmlearn.compress.storage import pruning_plan

    X, y = av_small
    held = av_digits.data["image"][1000:1100]
    thin = prune(image_encoder, 0.5, structured=True, fine_tune=(X["image"], y), epochs=1)
    sparse = prune(image_encoder, 0.5)
    for name, model in (("thin", thin), ("sparse", sparse)):
        path = tmp_path / f"{name}.mmlearn"
        mio.save(model, path)
        loaded = mio.load(path)
        np.testing.assert_array_equal(loaded.transform(held), model.transform(held))
        np.testing.assert_array_equal(loaded.predict_proba(held), model.predict_proba(held))
    # Unstructured: plain weights with their zeros, no plan.
    assert sparsity(loaded) == sparsity(sparse)
    assert pruning_plan(loaded.net_.module_) is None
    # Structured: the shrunk sizes, by layer, and a loaded model that saves again.
    loaded = mio.load(tmp_path / "thin.mmlearn")
    plan = pruning_plan(loaded.net_.module_)
    assert plan == pruning_plan(thin.net_.module_)
    assert plan["layers"]["features.0"] == {"in_channels": 1, "out_channels": 16}
    assert plan["layers"]["features.1"] == {"num_features": 16}
    assert loaded.net_.module_.features[4].in_channels == 16
    mio.save(loaded, tmp_path / "again.mmlearn")
    np.testing.assert_array_equal(mio.load(tmp_path / "again.mmlearn").transform(held),
                                  thin.transform(held))


def test_load_pruned_refuses_a_plan_that_does_not_fit(image_encoder, tmp_path):
    from mmlearn import io as mio
    from mmlearn.compress.storage import load_pruned, pruning_plan

    thin = prune(image_encoder, 0.5, structured=True)
    plan, tensors = pruning_plan(thin.net_.module_), thin.net_.module_.state_dict()

    def fresh():
        return copy.deepcopy(image_encoder.net_.module_)

    with pytest.raises(ValueError, match="pruning plan is malformed"):
        load_pruned(fresh(), {"method": "structured", "layers": {"features.0": 16}}, tensors)
    with pytest.raises(ValueError, match="has no layer 'features.99'"):
        load_pruned(fresh(), {"method": "structured",
                              "layers": {"features.99": {"out_channels": 4}}}, tensors)
    with pytest.raises(ValueError, match="'features.1' .BatchNorm2d. has no sizes"):
        load_pruned(fresh(), {"method": "structured",
                              "layers": {"features.1": {"out_channels": 4}}}, tensors)
    with pytest.raises(ValueError, match="would grow layer 'features.0'"):
        load_pruned(fresh(), {"method": "structured",
                              "layers": {"features.0": {"out_channels": 999}}}, tensors)
    # A plan that disagrees with the weights (another amount's plan).
    other = pruning_plan(prune(image_encoder, 0.25, structured=True).net_.module_)
    with pytest.raises(ValueError, match=r"features.0.weight \(16, 1, 3, 3\) \(the plan gives "
                                         r"\(24, 1, 3, 3\)\)"):
        load_pruned(fresh(), other, tensors)
    np.testing.assert_array_equal(  # the right plan and weights still load
        load_pruned(fresh(), plan, tensors).features[0].weight.detach(),
        thin.net_.module_.features[0].weight.detach())
    # In a saved file: weights replaced by another model's are refused on load.
    mio.save(thin, tmp_path / "thin.mmlearn")
    wide = safetensors.torch.save(image_encoder.net_.module_.state_dict())
    with zipfile.ZipFile(tmp_path / "thin.mmlearn") as source, \
            zipfile.ZipFile(tmp_path / "bad.mmlearn", "w") as target:
        for item in source.namelist():
            target.writestr(item, wide if item == "nets/0.safetensors" else source.read(item))
    with pytest.raises(mio.UnsafeModelFileError, match="pruned network cannot be rebuilt"):
        mio.load(tmp_path / "bad.mmlearn")


# --------------------------------------------------------------------------------------
# Weight-only int8: the smallest layers (FLOAT_SHARE of the weights) stay float32.


class _SmallStem(BaseEstimator):
    """A fitted estimator whose network is a 3 -> 8 stem (0.6 % of the weights) and a
    wide convolution."""

    def fit(self, X=None, y=None):
        torch.manual_seed(0)
        self.module_ = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
                                           torch.nn.Conv2d(8, 512, 3))
        return self


def test_weight_only_keeps_the_smallest_layers_float():
    from mmlearn.compress.weight_only import FLOAT_SHARE, weight_only_names

    model = _SmallStem().fit()
    small = quantize(model, method="weight_only")
    module = small.module_
    assert type(module[0]) is torch.nn.Conv2d and isinstance(module[2], WeightOnlyInt8)
    assert quantization_plan(module)["weight_only"] == ["2"]
    stem = module[0].weight.numel() / (module[0].weight.numel() + 8 * 512 * 9)
    assert stem < FLOAT_SHARE
    # The share bounds what stays float; 0 turns the rule off; the largest is always int8.
    assert weight_only_names(model.module_, float_share=stem / 2) == ["0", "2"]
    assert weight_only_names(model.module_, float_share=0.99) == ["2"]
    for bad in (1.0, -0.1, True, "0.01"):
        with pytest.raises(ValueError, match="float_share must be a float in"):
            weight_only_names(model.module_, float_share=bad)


# ------------------------------------------------- static int8: narrow convolutions in float32


@pytest.fixture(scope="module")
def audio_encoder(av_small):
    from mmlearn.encoders import AudioCNNEncoder

    X, y = av_small
    # Convolutions 1 -> 16 and 16 -> 32 (9 and 144 products per output) stay float32 under
    # static quantisation; 32 -> 64 (288) is computed in int8.
    return AudioCNNEncoder(sample_rate=8000, n_mels=20, width=16, depth=3, max_epochs=2,
                           validation_fraction=None, random_state=0).fit(X["audio"], y)


def test_static_keeps_narrow_convolutions_float(audio_encoder, av_small, tmp_path):
    from mmlearn import io as mio
    from mmlearn.compress.quantization import INT8_CONV_WIDTH, FloatConvRun

    clips = av_small[0]["audio"]
    small = quantize(audio_encoder, method="static", calibration=clips[::2])
    blocks = small.net_.module_.blocks
    assert [type(b) for b in blocks] == [FloatConvRun, FloatConvRun, QuantizedBlock]
    for run, channels in zip(blocks[:2], (1, 16), strict=True):
        conv = run.body[0][0]  # batch norm folded in: a plain float convolution, then ReLU
        assert type(conv) is torch.nn.Conv2d and conv.in_channels == channels
        assert channels * 9 < INT8_CONV_WIDTH
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert blocks[2].head is None
    assert isinstance(blocks[2].body[0], torch.ao.nn.intrinsic.quantized.ConvReLU2d)
    assert quantization_plan(small.net_.module_)["blocks"] == ["blocks.2"]
    before, after = audio_encoder.transform(clips), small.transform(clips)
    assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.99
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(small)).transform(clips), after)
    mio.save(small, tmp_path / "audio.mmlearn")
    np.testing.assert_array_equal(mio.load(tmp_path / "audio.mmlearn").transform(clips), after)


def test_static_run_with_a_narrow_stem_gets_a_float_head(image_encoder, av_small):
    from mmlearn.compress.quantization import FloatConvRun

    images = av_small[0]["image"]
    small = quantize(image_encoder, method="static", calibration=images)
    block = small.net_.module_.features
    # conv 1 -> 32 and its pooling in float32, then int8 from conv 32 -> 64 on; the int8
    # part keeps the run's layer names, which saved state dicts refer to.
    assert isinstance(block.head, FloatConvRun)
    assert type(block.head.body[0][0]) is torch.nn.Conv2d
    assert isinstance(block.body[0], torch.ao.nn.intrinsic.quantized.ConvReLU2d)
    assert list(block.body._modules)[0] == "4"
    restored = pickle.loads(pickle.dumps(small))
    assert isinstance(restored.net_.module_.features.head, FloatConvRun)
    np.testing.assert_array_equal(restored.transform(images), small.transform(images))


class _NarrowConvs(BaseEstimator):
    """A fitted estimator whose network has only narrow convolutions (3 -> 8 -> 8)."""

    def fit(self, X=None, y=None):
        torch.manual_seed(0)
        self.module_ = torch.nn.Sequential(
            torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8),
                                torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3), torch.nn.ReLU()),
            torch.nn.Flatten()).eval()
        return self

    def transform(self, X):
        with torch.inference_mode():
            return self.module_(torch.as_tensor(X, dtype=torch.float32)).numpy()


def test_static_quantizes_every_convolution_when_none_is_wide():
    X = np.random.default_rng(0).normal(size=(16, 3, 8, 8))
    model = _NarrowConvs().fit()
    small = quantize(model, method="static", calibration=X)
    block = small.module_[0]
    assert isinstance(block, QuantizedBlock) and block.head is None
    assert isinstance(block.body[0], torch.ao.nn.intrinsic.quantized.ConvReLU2d)
    assert isinstance(block.body[3], torch.ao.nn.intrinsic.quantized.ConvReLU2d)
    assert np.corrcoef(small.transform(X).ravel(), model.transform(X).ravel())[0, 1] > 0.99


def test_static_joint_fusion_audio_branch_runs_int8_where_it_pays(av_small, tmp_path):
    from mmlearn import io as mio
    from mmlearn.compress.quantization import FloatConvRun
    from mmlearn.encoders import AudioCNNEncoder
    from mmlearn.fusion import JointFusion

    X, y = av_small[0][::4], av_small[1][::4]  # 50 pairs, 5 per digit: mechanics only
    joint = JointFusion([("image", ImageCNNEncoder(), "image"),
                         ("audio", AudioCNNEncoder(sample_rate=8000, n_mels=20), "audio")],
                        max_epochs=1, validation_fraction=None, random_state=0).fit(X, y)
    small = quantize(joint, method="static", calibration=X)
    image, audio = small.net_.module_.branches
    assert isinstance(image.features, QuantizedBlock)
    assert isinstance(image.features.head, FloatConvRun)
    assert [type(b) for b in audio.blocks] == [FloatConvRun, FloatConvRun, QuantizedBlock]
    assert quantization_plan(small.net_.module_)["blocks"] == ["branches.0.features",
                                                                "branches.1.blocks.2"]
    before, after = joint.predict_proba(X), small.predict_proba(X)
    assert np.mean(before.argmax(1) == after.argmax(1)) > 0.9
    mio.save(small, tmp_path / "joint.mmlearn")
    np.testing.assert_array_equal(mio.load(tmp_path / "joint.mmlearn").predict_proba(X), after)
