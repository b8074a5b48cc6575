"""Int8 against float32 on the CPU: throughput, accuracy and size of quantised networks.

One thread, the same rows and batch size for both, runs interleaved (median of 5).
Sections (run alone by naming them; all but ``pretrained`` and ``profile`` by default):

- ``layers``: single layers, int8 / float32 by width: a linear layer ``2w -> w`` on a batch
  of 64 rows, and a bidirectional GRU of ``w`` units over a batch of 64 packed emoji names
  (token vectors ``w`` wide). This is where ``quantize``'s ``min_width`` comes from.
- ``text``: TextRNNEncoder (dynamic int8 GRU and linear layers), emoji names -> category,
  at widths 64 (the default), 128, 256 and 512 (hidden units, token and embedding sizes);
  every layer quantised (``min_width=0``) and the default policy.
- ``image``: ImageCNNEncoder, emoji images (32x32 RGB): static int8 conv blocks, and
  weight-only int8 (``method="weight_only"``).
- ``av``: AV-digits, 5-fold: ImageCNNEncoder on the digit images (static and weight-only
  int8), and JointFusion (image
  CNN + audio CNN branches, static int8 convs, 8 epochs); JointFusion's throughput as a
  whole ``predict_proba`` and for its network alone (the arrays it receives).
- ``pretrained``: PretrainedImageEncoder (frozen EfficientNet-Lite0, 64x64 emoji images),
  weight-only int8: how far the embedding moves, a logistic regression's accuracy on it.
- ``profile``: where the time of the default TextRNNEncoder and of JointFusion goes: the
  network's share of a whole call, and the torch operators that take the most time in
  the float32 and int8 networks (``torch.profiler``).

Accuracy: AV-digits by 5-fold stratified cross-validation (fp32 and int8 of the same fitted
fold), emoji on a stratified 25 % hold-out. Throughput is ``transform`` for the encoders and
``predict_proba`` for JointFusion, over whole estimator calls (data conversion included).
The machine is shared: ratios measured in one process are meaningful, absolute times are
not. The last line gives the int8 / fp32 throughput ratios.

    python benchmarks/quantize_throughput.py                 # layers, text, image, av
    python benchmarks/quantize_throughput.py layers text     # one or more sections
    python benchmarks/quantize_throughput.py profile
"""

import argparse
import warnings

import numpy as np
import torch
from _common import alternate, emoji_images
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch.nn.utils.rnn import pack_padded_sequence

from mmlearn.compress import (
    WeightOnlyInt8,
    network_bytes,
    network_inputs,
    quantization_plan,
    quantize,
)
from mmlearn.datasets import load_av_digits, load_emoji
from mmlearn.encoders import AudioCNNEncoder, ImageCNNEncoder, TextRNNEncoder
from mmlearn.fusion import JointFusion

BATCH = 64
REPEATS = 5
TEXT_WIDTHS = ((64, 30), (128, 20), (256, 10), (512, 10))  # (width, epochs)


def ratio_line(name, fp32, int8, X, method="transform"):
    times = alternate({"fp32": lambda: getattr(fp32, method)(X),
                       "int8": lambda: getattr(int8, method)(X)}, repeats=REPEATS)
    size = network_bytes(int8) / network_bytes(fp32)
    speed = times["fp32"] / times["int8"]
    print(f"{name:26s} throughput int8/fp32 {speed:5.2f}   size int8/fp32 {size:5.2f}   "
          f"({len(X) / times['fp32']:.0f} -> {len(X) / times['int8']:.0f} rows/s)")
    return speed


def quiet_quantize(model, **kwargs):
    # The default policy warns when it leaves every layer float; the table says so.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="quantize: no layer")
        return quantize(model, **kwargs)


def held_out(model, X_train, y_train, X_test, y_test, method, calibration, min_width=256):
    model.fit(X_train, y_train)
    small = quiet_quantize(model, method=method, calibration=calibration, min_width=min_width)
    return model, small, model.score(X_test, y_test), small.score(X_test, y_test)


def main(sections: list[str]) -> None:
    torch.set_num_threads(1)
    speeds = {}
    emoji = load_emoji()
    y = emoji.target
    tr, te = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=0)
    if "layers" in sections:
        layers_section(emoji)
    if "text" in sections:
        speeds.update(text_section(emoji, tr, te))
    if "image" in sections:
        speeds.update(image_section(y, tr, te))
    if "av" in sections:
        speeds.update(av_section())
    if "pretrained" in sections:
        speeds.update(pretrained_section(emoji, tr, te))
    if "profile" in sections:
        profile_section(emoji)
    if speeds:
        print("int8 / fp32 throughput, one thread: "
              + ", ".join(f"{name} {value:.2f}" for name, value in speeds.items()))


def _packed_names(emoji, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of 64 emoji names as token-length-shaped inputs of a ``width`` GRU."""
    names = emoji.data["name"].iloc[:BATCH]
    lengths = torch.tensor([max(1, len(n.split())) for n in names])
    generator = torch.Generator().manual_seed(0)
    return torch.randn(BATCH, int(lengths.max()), width, generator=generator), lengths


def layers_section(emoji) -> None:
    """Single layers in int8 against float32, by width."""
    def net(module, run, calls=50):
        with torch.inference_mode():
            for _ in range(calls):
                run(module)

    ratios = {"linear": {}, "GRU": {}}
    for width in (32, 64, 128, 256, 512, 1024):
        linear = torch.nn.Linear(2 * width, width).eval()
        small = quantize_layer(linear)
        x = torch.randn(BATCH, 2 * width)
        times = alternate({name: (lambda m=m, x=x: net(m, lambda layer: layer(x), 500))
                           for name, m in (("fp32", linear), ("int8", small))},
                          repeats=REPEATS)
        ratios["linear"][width] = times["fp32"] / times["int8"]
        line = f"width {width:5d}  linear {2 * width}->{width}: int8/fp32 " \
               f"{ratios['linear'][width]:5.2f}"
        if width <= 512:
            gru = torch.nn.GRU(width, width, batch_first=True, bidirectional=True).eval()
            small = quantize_layer(gru)
            tokens, lengths = _packed_names(emoji, width)

            def run(m, tokens=tokens, lengths=lengths):
                return m(pack_padded_sequence(tokens, lengths, batch_first=True,
                                              enforce_sorted=False))

            times = alternate({name: (lambda m=m, run=run: net(m, run))
                               for name, m in (("fp32", gru), ("int8", small))},
                              repeats=REPEATS)
            ratios["GRU"][width] = times["fp32"] / times["int8"]
            line += f"   bidirectional GRU {width} units, packed names: int8/fp32 " \
                    f"{ratios['GRU'][width]:5.2f}"
        print(line)
    # The narrowest width from which int8 is faster at every width measured.
    pays = {}
    for kind, by_width in ratios.items():
        widths = sorted(by_width)
        faster = [w for i, w in enumerate(widths) if all(by_width[v] > 1 for v in widths[i:])]
        pays[kind] = str(faster[0]) if faster else "never"
    print("int8 is faster from width: " + ", ".join(f"{k} {v}" for k, v in pays.items()))


def quantize_layer(layer):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(layer),
                                                      {type(layer)}, dtype=torch.qint8)[0]


def text_section(emoji, tr, te) -> dict:
    """TextRNNEncoder on emoji names, by width: every layer int8, and the default policy."""
    speeds = {}
    names, y = emoji.data["name"], emoji.target
    rows = names.iloc[np.arange(4000) % len(names)]
    for width, epochs in TEXT_WIDTHS:
        label = f"TextRNNEncoder-{width}"
        model = TextRNNEncoder(hidden_size=width, token_dim=width, embedding_dim=width,
                               batch_size=BATCH, max_epochs=epochs, random_state=0)
        text, text8, a, b = held_out(model, names.iloc[tr], y[tr], names.iloc[te], y[te],
                                     "dynamic", None, min_width=0)
        print(f"{label:26s} emoji accuracy fp32 {a:.4f}  int8 {b:.4f}  "
              f"change {100 * (b - a):+.2f} points")
        speeds[label] = ratio_line(label + " all int8", text, text8, rows)
        policy = quiet_quantize(text)
        if quantization_plan(policy.net_.module_) is None:
            print(f"{label + ' min_width=256':26s} every layer narrower: float32 kept")
        else:
            speeds[label + " default"] = ratio_line(label + " min_width=256", text, policy,
                                                    rows)
    return speeds


def image_section(y, tr, te) -> dict:
    """ImageCNNEncoder on emoji images."""
    speeds = {}
    images, _ = emoji_images(size=32)
    image, image8, a, b = held_out(
        ImageCNNEncoder(batch_size=BATCH, max_epochs=15, random_state=0), images[tr], y[tr],
        images[te], y[te], "static", images[tr][:512])
    print(f"ImageCNNEncoder            emoji accuracy fp32 {a:.4f}  int8 {b:.4f}  "
          f"change {100 * (b - a):+.2f} points")
    rows = emoji_images(n=4000, size=32)[0]
    speeds["ImageCNNEncoder"] = ratio_line("ImageCNNEncoder", image, image8, rows)
    light = quantize(image, method="weight_only")
    print(f"ImageCNNEncoder weight-only emoji accuracy fp32 {a:.4f}  int8 "
          f"{light.score(images[te], y[te]):.4f}")
    speeds["ImageCNNEncoder weight-only"] = ratio_line("ImageCNNEncoder weight-only", image,
                                                       light, rows)
    return speeds


def pretrained_section(emoji, tr, te) -> dict:
    """Weight-only int8 of the frozen EfficientNet-Lite0 (64x64 emoji images): how far
    its embedding moves, and a logistic regression's hold-out accuracy on it."""
    from sklearn.linear_model import LogisticRegression

    from mmlearn.encoders import PretrainedImageEncoder

    images, y = emoji.data["image"], emoji.target
    model = PretrainedImageEncoder(size=64, random_state=0).fit(images.iloc[tr], y[tr])
    light = quantize(model, method="weight_only")
    scores = {}
    for name, encoder in (("fp32", model), ("int8", light)):
        train, test = encoder.transform(images.iloc[tr]), encoder.transform(images.iloc[te])
        head = LogisticRegression(max_iter=2000).fit(train, y[tr])
        scores[name] = (head.score(test, y[te]), test)
    a, b = scores["fp32"][0], scores["int8"][0]
    moved = (np.linalg.norm(scores["int8"][1] - scores["fp32"][1])
             / np.linalg.norm(scores["fp32"][1]))
    print(f"PretrainedImageEncoder weight-only: embedding moved {moved:.1%} (relative norm); "
          f"logistic regression emoji accuracy fp32 {a:.4f}  int8 {b:.4f}  "
          f"change {100 * (b - a):+.2f} points")
    floats = dict(model.module_.named_modules())
    layer_moves = [float((m.weight - floats[name].weight).norm() / floats[name].weight.norm())
                   for name, m in light.module_.named_modules()
                   if isinstance(m, WeightOnlyInt8)]
    print(f"  {len(layer_moves)} int8 layers; their weights moved by at most "
          f"{max(layer_moves):.2%} (relative norm)")
    return {"PretrainedImageEncoder weight-only": ratio_line(
        "PretrainedImageEncoder weight-only", model, light, images.iloc[te])}


def network_ratio(fp32, int8, X) -> float:
    """int8 / fp32 throughput of the networks alone, on the arrays they receive for X."""
    arrays = {k: torch.as_tensor(v) for k, v in network_inputs(fp32, X)[0].items()}
    modules = {"fp32": fp32.net_.module_.eval(), "int8": int8.net_.module_.eval()}

    def run(module):
        with torch.inference_mode():
            for start in range(0, len(X), BATCH):
                module(**{k: v[start:start + BATCH] for k, v in arrays.items()})

    times = alternate({name: (lambda m=m: run(m)) for name, m in modules.items()},
                      repeats=REPEATS)
    return times["fp32"] / times["int8"]


def av_section() -> dict:
    """AV-digits, 5-fold: ImageCNNEncoder on the digit images, and JointFusion."""
    speeds = {}
    X, y = load_av_digits(return_X_y=True)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = {"ImageCNNEncoder": [], "ImageCNNEncoder weight-only": [], "JointFusion": []}
    for k, (tr, te) in enumerate(folds.split(X, y)):
        enc, enc8, a, b = held_out(ImageCNNEncoder(batch_size=BATCH, max_epochs=20,
                                                   random_state=k),
                                   X["image"].iloc[tr], y[tr], X["image"].iloc[te], y[te],
                                   "static", X["image"].iloc[tr[:512]])
        scores["ImageCNNEncoder"].append((a, b))
        light = quantize(enc, method="weight_only")
        scores["ImageCNNEncoder weight-only"].append((a, light.score(X["image"].iloc[te],
                                                                     y[te])))
        joint = JointFusion([("image", ImageCNNEncoder(), "image"),
                             ("audio", AudioCNNEncoder(sample_rate=8000), "audio")],
                            batch_size=BATCH, max_epochs=8, random_state=k)
        joint, joint8, a, b = held_out(joint, X.iloc[tr], y[tr], X.iloc[te], y[te], "static",
                                       X.iloc[tr[:512]])
        scores["JointFusion"].append((a, b))
    for name, pairs in scores.items():
        a, b = np.mean(pairs, axis=0)
        print(f"{name:26s} AV-digits 5-fold accuracy fp32 {a:.4f}  int8 {b:.4f}  "
              f"change {100 * (b - a):+.2f} points")
    speeds["JointFusion"] = ratio_line("JointFusion", joint, joint8, X, "predict_proba")
    speeds["JointFusion network"] = network_ratio(joint, joint8, X)
    print(f"{'JointFusion network only':26s} throughput int8/fp32 "
          f"{speeds['JointFusion network']:5.2f}")
    return speeds


def profile_section(emoji) -> None:
    """Where the time goes in the default TextRNNEncoder and in JointFusion."""
    from torch.profiler import ProfilerActivity, profile

    names, y = emoji.data["name"], emoji.target
    text = TextRNNEncoder(batch_size=BATCH, max_epochs=5, random_state=0).fit(names, y)
    X, digits = load_av_digits(return_X_y=True)
    joint = JointFusion([("image", ImageCNNEncoder(), "image"),
                         ("audio", AudioCNNEncoder(sample_rate=8000), "audio")],
                        batch_size=BATCH, max_epochs=2, random_state=0).fit(X, digits)
    cases = [("TextRNNEncoder", text, quantize(text, min_width=0),
              names.iloc[np.arange(4000) % len(names)], "transform", "embed"),
             ("JointFusion", joint, quantize(joint, method="static", calibration=X.iloc[:512]),
              X, "predict_proba", "forward")]
    for label, fp32, int8, rows, method, entry in cases:
        arrays = {k: torch.as_tensor(v) for k, v in network_inputs(fp32, rows)[0].items()}
        arrays = arrays if len(arrays) > 1 else arrays["x"]

        def run(module, arrays=arrays, entry=entry):
            fn = getattr(module.eval(), entry)
            n = len(arrays["x0"] if isinstance(arrays, dict) else arrays)
            with torch.inference_mode():
                for start in range(0, n, BATCH):
                    if isinstance(arrays, dict):
                        fn(**{k: v[start:start + BATCH] for k, v in arrays.items()})
                    else:
                        fn(arrays[start:start + BATCH])

        for kind, model in (("fp32", fp32), ("int8", int8)):
            times = alternate({"call": lambda m=model, f=method, r=rows: getattr(m, f)(r),
                               "net": lambda m=model, run=run: run(m.net_.module_)},
                              repeats=REPEATS)
            print(f"{label} {kind}: the network is {times['net'] / times['call']:.0%} of a "
                  f"whole {method} call")
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                run(model.net_.module_)
            events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
            total = sum(e.self_cpu_time_total for e in events)
            print("   top operators (share of the network's time): " + ", ".join(
                f"{e.key} {e.self_cpu_time_total / total:.0%}" for e in events[:6]))


SECTIONS = ("layers", "text", "image", "av", "pretrained", "profile")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", choices=SECTIONS,
                        default=["layers", "text", "image", "av"],
                        help="sections to run (default: layers text image av)")
    main(parser.parse_args().sections)
