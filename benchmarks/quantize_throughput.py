"""Int8 against float32 on the CPU: throughput, accuracy and size of quantised networks.

One thread, the same rows and batch size for both, runs interleaved (median of 5):

- TextRNNEncoder (dynamic int8 GRU and linear layers), emoji names -> category, at the
  default width (64) and a wide one (512 hidden units, token and embedding sizes);
- ImageCNNEncoder (static int8 conv blocks + dynamic int8 linear layers), emoji images
  (32x32 RGB) -> category, and AV-digit images;
- JointFusion (image CNN + audio CNN branches, static int8 convs + dynamic int8 linear
  layers, 8 epochs), AV-digits.

Accuracy: AV-digits by 5-fold stratified cross-validation (fp32 and int8 of the same fitted
fold), emoji on a stratified 25 % hold-out. Throughput is ``transform`` for the encoders and
``predict_proba`` for JointFusion, over whole estimator calls (data conversion included).
The machine is shared: ratios measured in one process are meaningful, absolute times are
not. The last line gives the int8 / fp32 throughput ratios. Sections can be run alone:

    python benchmarks/quantize_throughput.py            # text, image and av
    python benchmarks/quantize_throughput.py text image # the emoji sections
    python benchmarks/quantize_throughput.py av         # AV-digits, 5-fold
"""

import sys

import numpy as np
import torch
from _common import alternate, emoji_images
from sklearn.model_selection import StratifiedKFold, train_test_split

from mmlearn.compress import network_bytes, quantize
from mmlearn.datasets import load_av_digits, load_emoji
from mmlearn.encoders import AudioCNNEncoder, ImageCNNEncoder, TextRNNEncoder
from mmlearn.fusion import JointFusion

BATCH = 64
REPEATS = 5


def ratio_line(name, fp32, int8, X, method="transform", calibration=None):
    times = alternate({"fp32": lambda: getattr(fp32, method)(X),
                       "int8": lambda: getattr(int8, method)(X)}, repeats=REPEATS)
    size = network_bytes(int8) / network_bytes(fp32)
    speed = times["fp32"] / times["int8"]
    print(f"{name:18s} throughput int8/fp32 {speed:5.2f}   size int8/fp32 {size:5.2f}   "
          f"({len(X) / times['fp32']:.0f} -> {len(X) / times['int8']:.0f} rows/s)")
    return speed


def held_out(model, X_train, y_train, X_test, y_test, method, calibration):
    model.fit(X_train, y_train)
    small = quantize(model, method=method, calibration=calibration)
    return model, small, model.score(X_test, y_test), small.score(X_test, y_test)


def main(sections: list[str]) -> None:
    torch.set_num_threads(1)
    speeds = {}
    emoji = load_emoji()
    y = emoji.target
    tr, te = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=0)
    if "text" in sections:
        speeds.update(text_section(emoji, tr, te))
    if "image" in sections:
        speeds.update(image_section(y, tr, te))
    if "av" in sections:
        speeds.update(av_section())
    print("int8 / fp32 throughput, one thread: "
          + ", ".join(f"{name} {value:.2f}" for name, value in speeds.items()))


def text_section(emoji, tr, te) -> dict:
    """TextRNNEncoder on emoji names: the default width, and a wide one."""
    speeds = {}
    names, y = emoji.data["name"], emoji.target
    rows = names.iloc[np.arange(4000) % len(names)]
    for label, width, epochs in (("TextRNNEncoder", 64, 30), ("TextRNNEncoder-512", 512, 10)):
        model = TextRNNEncoder(hidden_size=width, token_dim=width, embedding_dim=width,
                               batch_size=BATCH, max_epochs=epochs, random_state=0)
        text, text8, a, b = held_out(model, names.iloc[tr], y[tr], names.iloc[te], y[te],
                                     "dynamic", None)
        print(f"{label:18s} emoji accuracy fp32 {a:.4f}  int8 {b:.4f}  "
              f"change {100 * (b - a):+.2f} points")
        speeds[label] = ratio_line(label, text, text8, rows)
    return speeds


def image_section(y, tr, te) -> dict:
    """ImageCNNEncoder on emoji images."""
    speeds = {}
    images, _ = emoji_images(size=32)
    image, image8, a, b = held_out(
        ImageCNNEncoder(batch_size=BATCH, max_epochs=15, random_state=0), images[tr], y[tr],
        images[te], y[te], "static", images[tr][:512])
    print(f"ImageCNNEncoder    emoji accuracy fp32 {a:.4f}  int8 {b:.4f}  "
          f"change {100 * (b - a):+.2f} points")
    speeds["ImageCNNEncoder"] = ratio_line("ImageCNNEncoder", image, image8,
                                           emoji_images(n=4000, size=32)[0])
    return speeds


def av_section() -> dict:
    """AV-digits, 5-fold: ImageCNNEncoder on the digit images, and JointFusion."""
    speeds = {}
    X, y = load_av_digits(return_X_y=True)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = {"ImageCNNEncoder": [], "JointFusion": []}
    for k, (tr, te) in enumerate(folds.split(X, y)):
        enc, enc8, a, b = held_out(ImageCNNEncoder(batch_size=BATCH, max_epochs=20,
                                                   random_state=k),
                                   X["image"].iloc[tr], y[tr], X["image"].iloc[te], y[te],
                                   "static", X["image"].iloc[tr[:512]])
        scores["ImageCNNEncoder"].append((a, b))
        joint = JointFusion([("image", ImageCNNEncoder(), "image"),
                             ("audio", AudioCNNEncoder(sample_rate=8000), "audio")],
                            batch_size=BATCH, max_epochs=8, random_state=k)
        joint, joint8, a, b = held_out(joint, X.iloc[tr], y[tr], X.iloc[te], y[te], "static",
                                       X.iloc[tr[:512]])
        scores["JointFusion"].append((a, b))
    for name, pairs in scores.items():
        a, b = np.mean(pairs, axis=0)
        print(f"{name:18s} AV-digits 5-fold accuracy fp32 {a:.4f}  int8 {b:.4f}  "
              f"change {100 * (b - a):+.2f} points")
    speeds["JointFusion"] = ratio_line("JointFusion", joint, joint8, X, "predict_proba")
    return speeds


if __name__ == "__main__":
    main(sys.argv[1:] or ["text", "image", "av"])
