"""Audio sample rates travel with the data (mmlearn.set_sample_rate) or fail loudly."""

import numpy as np
import pandas as pd
import pytest
import soundfile
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

import mmlearn
from mmlearn._audio_rate import RATE_KEY, resolve_sample_rate
from mmlearn._columns import ColumnCells, as_cells
from mmlearn.bench import load_builtin, load_table
from mmlearn.datasets import load_av_digits, load_spoken_digits
from mmlearn.encoders import AudioCNNEncoder, AudioMFCCEncoder, ImagePixelEncoder
from mmlearn.fusion import EarlyFusion, JointFusion
from mmlearn.fusion._routing import select_columns
from mmlearn.inputs import LogMelInput
from mmlearn.utils._sklearn_compat import safe_indexing

CNN = dict(n_mels=16, n_fft=256, width=4, depth=1, embedding_dim=8, max_epochs=1,
           validation_fraction=None, augment=False, random_state=0)


def _undeclared(column: pd.Series) -> pd.Series:
    return pd.Series(list(column), name=column.name, dtype=object)


# ------------------------------------------------------------------ the declaration

def test_shipped_audio_loaders_declare_their_rate():
    av = load_av_digits()
    assert av.data.attrs[RATE_KEY] == {"audio": 8000} == av.frame.attrs[RATE_KEY]
    assert load_av_digits(return_X_y=True)[0].attrs[RATE_KEY] == {"audio": 8000}
    assert load_spoken_digits().data.attrs[RATE_KEY] == {"audio": 8000}
    assert load_builtin("spoken_digits").X.attrs[RATE_KEY] == {"audio": 8000}


def test_the_declaration_survives_what_fusion_and_cross_validation_do(av_tiny):
    X, y = av_tiny
    assert as_cells(X["audio"], kind="audio").sample_rate == 8000
    assert as_cells(X[["audio"]], kind="audio").sample_rate == 8000
    for part in (X[["image", "audio"]], X.iloc[[3, 1]], X.take([0, 5]), X.copy(),
                 safe_indexing(X, np.arange(4), axis=0), X.sample(5, random_state=0)):
        assert as_cells(part["audio"], kind="audio").sample_rate == 8000
    for columns in ("audio", ["audio"]):
        part = select_columns(X, columns, owner="EarlyFusion", name="audio")
        assert as_cells(part, kind="audio").sample_rate == 8000
    for train, _ in StratifiedKFold(3).split(X, y):
        fold = safe_indexing(X, train, axis=0)
        assert as_cells(fold["audio"], kind="audio").subset(np.arange(2)).sample_rate == 8000
    # A frame built anew from the values declares nothing.
    assert as_cells(_undeclared(X["audio"]), kind="audio").sample_rate is None


def test_set_sample_rate_on_a_series_and_keeps_other_columns(av_tiny):
    X, _ = av_tiny
    frame = mmlearn.set_sample_rate(X[["image"]].assign(mic=X["audio"]), {"mic": 16000})
    assert frame.attrs[RATE_KEY] == {"audio": 8000, "mic": 16000}
    assert X.attrs[RATE_KEY] == {"audio": 8000}  # the parent frame is not changed
    series = mmlearn.set_sample_rate(_undeclared(X["audio"]), 8000)
    assert as_cells(series, kind="audio").sample_rate == 8000


@pytest.mark.parametrize("target, rates, error, message", [
    ("frame", {"sound": 8000}, ValueError, r"column\(s\) \['sound'\] not found"),
    ("frame", {"audio": 0}, ValueError, "column 'audio': a sample rate must be a positive"),
    ("frame", {"audio": 8000.5}, ValueError, "positive integer number of Hz, got 8000.5"),
    ("frame", {"audio": True}, ValueError, "positive integer number of Hz, got True"),
    ("frame", 8000, TypeError, r"takes a mapping \{column: rate\}, got int"),
    ("array", 8000, TypeError, "got ndarray; for arrays or lists pass the encoder's sample_rate"),
])
def test_bad_declarations_are_refused(av_tiny, target, rates, error, message):
    X, _ = av_tiny
    obj = X[["audio"]].copy() if target == "frame" else np.zeros((2, 80))
    with pytest.raises(error, match=message):
        mmlearn.set_sample_rate(obj, rates)


def test_a_malformed_declaration_written_into_attrs_is_an_error(av_tiny):
    X, _ = av_tiny
    frame = X[["audio"]].copy()
    frame.attrs[RATE_KEY] = {"audio": "8 kHz"}
    with pytest.raises(ValueError, match="column 'audio': a sample rate must be a positive "
                                         "integer number of Hz, got '8 kHz'"):
        AudioMFCCEncoder().fit(frame)


# ------------------------------------------------------------------ the encoders' rule

def test_mfcc_reads_the_declared_rate(av_tiny):
    X, _ = av_tiny
    declared = AudioMFCCEncoder().fit(X["audio"])
    assert declared.sample_rate_ == 8000
    explicit = AudioMFCCEncoder(sample_rate=8000).fit(_undeclared(X["audio"]))
    np.testing.assert_array_equal(declared.transform(X["audio"]),
                                  explicit.transform(_undeclared(X["audio"])))
    # Agreeing explicit and declared rates are fine.
    AudioMFCCEncoder(sample_rate=8000).fit(X["audio"])


@pytest.mark.parametrize("make", [lambda: AudioMFCCEncoder(sample_rate=16000),
                                  lambda: AudioCNNEncoder(sample_rate=16000, **CNN)],
                         ids=["mfcc", "cnn"])
def test_an_explicit_rate_that_disagrees_is_an_error(av_tiny, make):
    X, y = av_tiny
    with pytest.raises(ValueError, match="column 'audio' declares a sample rate of 8000 Hz, "
                                         "but the encoder has sample_rate=16000"):
        make().fit(X["audio"], y)


@pytest.mark.parametrize("make", [AudioMFCCEncoder, lambda: AudioCNNEncoder(**CNN)],
                         ids=["mfcc", "cnn"])
def test_waveforms_without_a_rate_are_an_error(av_tiny, make):
    X, y = av_tiny
    with pytest.raises(ValueError, match=r"column 'audio' holds waveforms \(row 0\) with no "
                                         r"sample rate: declare it with mmlearn.set_sample_rate"):
        make().fit(_undeclared(X["audio"]), y)
    with pytest.raises(ValueError, match="column 'input' holds waveforms"):
        make().fit(np.zeros((4, 800), dtype=np.float32), [0, 1, 0, 1])


def test_transform_checks_the_rate_it_was_fitted_at(av_tiny):
    X, _ = av_tiny
    enc = AudioMFCCEncoder().fit(X["audio"])
    other = mmlearn.set_sample_rate(X[["audio"]].copy(), {"audio": 16000})
    with pytest.raises(ValueError, match="column 'audio' declares a sample rate of 16000 Hz, "
                                         "but the encoder was fitted at 8000 Hz"):
        enc.transform(other["audio"])
    with pytest.raises(ValueError, match="with no sample rate \\(the encoder was fitted at "
                                         "8000 Hz\\)"):
        enc.transform(_undeclared(X["audio"]))
    enc.set_params(sample_rate=16000)  # changed after fit, not refitted
    with pytest.raises(ValueError, match=r"the encoder's sample_rate is now 16000 \(column "
                                         r"'audio'\), but the encoder was fitted at 8000 Hz"):
        enc.transform(_undeclared(X["audio"]))


def test_the_cnn_and_its_input_read_the_declared_rate(av_tiny):
    X, y = av_tiny
    enc = AudioCNNEncoder(**CNN).fit(X["audio"], y)
    assert enc.sample_rate_ == enc.input_.sample_rate_ == 8000
    assert enc.transform(X["audio"].iloc[:3]).shape == (3, 8)
    # LogMelInput's surface: sample_rate=None reads the cells' declaration.
    cells = as_cells(X["audio"], kind="audio")
    assert LogMelInput(n_mels=16).fit(cells).sample_rate_ == 8000
    with pytest.raises(ValueError, match="declares a sample rate of 16000 Hz, but the encoder "
                                         "was fitted at 8000 Hz"):
        enc.transform(mmlearn.set_sample_rate(X[["audio"]].copy(), {"audio": 16000})["audio"])


def test_joint_fusion_branches_get_the_declared_rate(av_tiny):
    X, y = av_tiny
    joint = JointFusion([("image", ImagePixelEncoder(), "image"),
                         ("audio", AudioCNNEncoder(**CNN), "audio")],
                        fusion_dim=8, hidden_sizes=(8,), max_epochs=1,
                        validation_fraction=None, random_state=0).fit(X, y)
    assert joint.branches_[1].input_.sample_rate_ == 8000
    assert joint.predict(X.iloc[:4]).shape == (4,)
    wrong = JointFusion([("audio", AudioCNNEncoder(**{**CNN, "sample_rate": 16000}), "audio")],
                        max_epochs=1, validation_fraction=None, random_state=0)
    with pytest.raises(ValueError, match="branch 'audio'.*declares a sample rate of 8000 Hz"):
        wrong.fit(X, y)


def test_early_fusion_cross_validates_on_the_declared_rate(av_tiny):
    X, y = av_tiny
    fused = make_pipeline(EarlyFusion([("image", ImagePixelEncoder(), "image"),
                                       ("audio", AudioMFCCEncoder(), "audio")]), SVC())
    assert cross_val_score(fused, X, y, cv=2).shape == (2,)
    rebuilt = pd.DataFrame({"image": list(X["image"]), "audio": list(X["audio"])})
    with pytest.raises(ValueError, match="column 'audio' holds waveforms"):
        fused.fit(rebuilt, y)


# ----------------------------------------------------------------------------- files

def test_files_use_their_header_rate_or_are_resampled(av_tiny, tmp_path):
    X, _ = av_tiny
    clips = list(X["audio"].iloc[:6])
    paths = []
    for i, clip in enumerate(clips):
        paths.append(str(tmp_path / f"clip{i}.wav"))
        soundfile.write(paths[-1], clip, 8000, subtype="FLOAT")
    files = pd.Series(paths, name="audio")
    from_files = AudioMFCCEncoder().fit(files)
    assert from_files.sample_rate_ == 8000  # the first file's header
    in_memory = AudioMFCCEncoder(sample_rate=8000).fit(_undeclared(X["audio"].iloc[:6]))
    np.testing.assert_allclose(from_files.transform(files), in_memory.transform(clips),
                               rtol=1e-5, atol=1e-5)
    # An explicit (or declared) rate is the analysis rate: files are resampled to it.
    assert AudioMFCCEncoder(sample_rate=16000).fit(files).sample_rate_ == 16000
    declared = mmlearn.set_sample_rate(files.to_frame(), {"audio": 16000})
    assert AudioMFCCEncoder().fit(declared).sample_rate_ == 16000
    with pytest.raises(ValueError, match=r"column 'audio', row 1: cannot read audio file"):
        resolve_sample_rate(ColumnCells([None, str(tmp_path / "nope.wav")], "audio"), None)


def test_bench_tables_declare_the_rate_they_are_given(av_tiny, tmp_path):
    X, y = av_tiny
    for i in range(2):
        soundfile.write(tmp_path / f"c{i}.wav", X["audio"].iloc[i], 8000)
    pd.DataFrame({"clip": ["c0.wav", "c1.wav"], "y": y[:2]}).to_csv(tmp_path / "t.csv")
    data = load_table(tmp_path / "t.csv", target="y", audio=["clip"], sample_rate=8000)
    assert data.X.attrs[RATE_KEY] == {"clip": 8000}
    plain = load_table(tmp_path / "t.csv", target="y", audio=["clip"])
    assert RATE_KEY not in plain.X.attrs
