"""Int8 against float32 on the CPU: throughput, accuracy and size of quantised networks.

One thread, the same rows and batch size for both, runs interleaved (median of 5).
Sections (run alone by naming them; all but ``pretrained`` and ``profile`` by default):

- ``layers``: single layers, int8 / float32 by width: a linear layer ``2w -> w`` on a batch
  of 64 rows, and a bidirectional GRU of ``w`` units over a batch of 64 packed emoji names
  (token vectors ``w`` wide). This is where ``quantize``'s ``min_width`` comes from.
  Then a 3x3 convolution by input channels, int8 against the folded channels-last float32
  that static quantisation keeps narrow convolutions in: where ``INT8_CONV_WIDTH`` comes
  from.
- ``text``: TextRNNEncoder (dynamic int8 GRU and linear layers), emoji names -> category,
  at widths 64 (the default), 128, 256 and 512 (hidden units, token and embedding sizes);
  every layer quantised (``min_width=0``) and the default policy.
- ``image``: ImageCNNEncoder, emoji images (32x32 RGB): static int8 conv blocks, and
  weight-only int8 (``method="weight_only"``).
- ``av``: AV-digits, 5-fold: ImageCNNEncoder on the digit images (static and weight-only
  int8), and JointFusion (image
  CNN + audio CNN branches, static int8 convs, 8 epochs); JointFusion's throughput as a
  whole ``predict_proba`` and for its network alone (the arrays it receives), and a
  control: the float network with batch norm folded and channels-last maps, no int8.
- ``pretrained``: PretrainedImageEncoder (frozen EfficientNet-Lite0, 64x64 emoji images),
  weight-only int8 (the default rule, and every layer int8): how far the embedding moves,
  a logistic regression's accuracy on it (hold-out and 5-fold).
- ``profile``: where the time of the default TextRNNEncoder and of JointFusion goes: the
  network's share of a whole call, and the torch operators that take the most time in
  the float32 and int8 networks (``torch.profiler``), and the most a whole call could
  gain if the network (for TextRNNEncoder: its recurrent layer) took no time.

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
import copy
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
from mmlearn.compress.quantization import INT8_CONV_WIDTH, FloatConvRun
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
    conv_section()


def conv_section() -> None:
    """A 3x3 convolution ``c -> 32`` with ReLU on 64 maps of 20x20, by input channels c:
    int8 (quantised input, fused ConvReLU2d) against float32 channels-last (how static
    quantisation runs the convolutions it keeps float: ``FloatConvRun``)."""
    ratios = {}
    for channels in (1, 3, 8, 16, 32, 64, 128):
        # In place, as in the encoders: a second large map per call costs fresh pages.
        block = torch.nn.Sequential(torch.nn.Conv2d(channels, 32, 3, padding=1),
                                    torch.nn.ReLU(inplace=True)).eval()
        fp32 = FloatConvRun(copy.deepcopy(block))
        x = torch.rand(BATCH, channels, 20, 20)
        wrapped = torch.ao.quantization.QuantWrapper(copy.deepcopy(block))
        wrapped.qconfig = torch.ao.quantization.get_default_qconfig(
            torch.backends.quantized.engine)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore")
            wrapped = torch.ao.quantization.fuse_modules(wrapped, [["module.0", "module.1"]])
            torch.ao.quantization.prepare(wrapped, inplace=True)
            wrapped(x)
            torch.ao.quantization.convert(wrapped, inplace=True)
        qx = wrapped.quant(x)

        def net(run, calls=20):
            with torch.inference_mode():
                for _ in range(calls):
                    run()

        times = alternate({"fp32": lambda m=fp32, x=x: net(lambda: m(x)),
                           "int8": lambda m=wrapped.module, x=qx: net(lambda: m(x))},
                          repeats=REPEATS)
        ratios[channels] = times["fp32"] / times["int8"]
        print(f"conv 3x3 {channels:3d} -> 32 (width {9 * channels:4d}): int8/fp32 "
              f"{ratios[channels]:5.2f}")
    faster = [c for c in sorted(ratios) if all(ratios[d] > 1 for d in ratios if d >= c)]
    print("int8 convolution is faster from width (input channels x 9): "
          + (str(9 * faster[0]) if faster else "never")
          + f"; static quantisation keeps narrower ones float32 (INT8_CONV_WIDTH "
          f"{INT8_CONV_WIDTH})")


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
    its embedding moves, and a logistic regression's accuracy on it (the hold-out, and
    5-fold cross-validation over all rows, whose change is less noisy: one hold-out row
    is 0.2 points), with the default rule (the smallest layers, 1 % of the weights, stay
    float32) and with every layer int8."""
    import copy

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from mmlearn.compress.weight_only import replace_with_weight_only, weight_only_names
    from mmlearn.encoders import PretrainedImageEncoder

    images, y = emoji.data["image"], emoji.target
    model = PretrainedImageEncoder(size=64, random_state=0).fit(images.iloc[tr], y[tr])
    light = quantize(model, method="weight_only")
    every = copy.deepcopy(model)  # the rule off: every linear and convolution layer int8
    replace_with_weight_only(every.module_, weight_only_names(every.module_, float_share=0))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    features, scores = {}, {}
    for name, encoder in (("fp32", model), ("int8", light), ("int8 every layer", every)):
        # A frozen encoder learns nothing from its fit rows: encoding every row once
        # serves the hold-out and the cross-validation alike.
        features[name] = encoder.transform(images)
        head = LogisticRegression(max_iter=2000)
        held = head.fit(features[name][tr], y[tr]).score(features[name][te], y[te])
        scores[name] = (held, cross_val_score(head, features[name], y, cv=folds).mean())
    a, cv_a = scores["fp32"]
    for name in ("int8", "int8 every layer"):
        b, cv_b = scores[name]
        moved = (np.linalg.norm(features[name] - features["fp32"])
                 / np.linalg.norm(features["fp32"]))
        encoder = light if name == "int8" else every
        layers = [m for m in encoder.module_.modules() if isinstance(m, WeightOnlyInt8)]
        print(f"PretrainedImageEncoder weight-only ({name}): {len(layers)} int8 layers, "
              f"size int8/fp32 {network_bytes(encoder) / network_bytes(model):.3f}, "
              f"embedding moved {moved:.1%} (relative norm); logistic regression emoji "
              f"accuracy hold-out fp32 {a:.4f} int8 {b:.4f} change {100 * (b - a):+.2f} "
              f"points; 5-fold fp32 {cv_a:.4f} int8 {cv_b:.4f} change "
              f"{100 * (cv_b - cv_a):+.2f} points")
    # How the embedding's move depends on the share kept float32 (the rule's one number).
    moves = []
    for share in (0.001, 0.005, 0.02, 0.05):
        other = copy.deepcopy(model)
        replace_with_weight_only(other.module_, weight_only_names(other.module_, share))
        moved = (np.linalg.norm(other.transform(images) - features["fp32"])
                 / np.linalg.norm(features["fp32"]))
        size = network_bytes(other) / network_bytes(model)
        moves.append(f"{share:g}: {moved:.1%} (size {size:.3f})")
    print("  embedding moved, by float_share: " + ", ".join(moves))
    # Which layers the rounding hurts: one layer int8 at a time, on every 10th row.
    rows, reference = images.iloc[::10], features["fp32"][::10]
    alone = {}
    for name in weight_only_names(model.module_, float_share=0):
        other = copy.deepcopy(model)
        replace_with_weight_only(other.module_, [name])
        alone[name] = (np.linalg.norm(other.transform(rows) - reference)
                       / np.linalg.norm(reference))
    sizes = {name: model.module_.get_submodule(name).weight.numel() for name in alone}
    kept = set(alone) - set(weight_only_names(model.module_))
    print("  one layer int8 alone, the 6 that move the embedding most: " + ", ".join(
        f"{name} ({sizes[name]} weights{', float by default' if name in kept else ''}) "
        f"{alone[name]:.1%}" for name in sorted(alone, key=alone.get, reverse=True)[:6]))
    return {"PretrainedImageEncoder weight-only": ratio_line(
        "PretrainedImageEncoder weight-only", model, light, images.iloc[te])}


def folded_float(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of a float network with each run of convolution blocks batch-norm-folded and
    channels-last (``FloatConvRun``), no int8: what layout alone gives."""
    module = copy.deepcopy(module).eval()
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if not (isinstance(child, torch.nn.Sequential)
                    and any(isinstance(m, torch.nn.Conv2d) for m in child)):
                continue
            layers, groups = list(child), []
            for i, layer in enumerate(layers):
                if not isinstance(layer, torch.nn.Conv2d):
                    continue
                group, j = [str(i)], i + 1  # conv, then an optional batch norm and ReLU
                for kind in (torch.nn.BatchNorm2d, torch.nn.ReLU):
                    if j < len(layers) and isinstance(layers[j], kind):
                        group.append(str(j))
                        j += 1
                groups.append(group)
            fused = torch.ao.quantization.fuse_modules(child, groups)
            setattr(parent, name, FloatConvRun(fused))
    return module


def network_ratio(fp32, int8, X, *, fp32_module=None) -> float:
    """int8 / fp32 throughput of the networks alone, on the arrays they receive for X
    (``fp32_module``: another float network in place of fp32's)."""
    arrays = {k: torch.as_tensor(v) for k, v in network_inputs(fp32, X)[0].items()}
    modules = {"fp32": (fp32_module or fp32.net_.module_).eval(),
               "int8": int8.net_.module_.eval()}

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
    # Control: how much of that is int8, and how much the folded, channels-last float
    # convolutions that static quantisation also brings.
    folded = folded_float(joint.net_.module_)
    layout = 1 / network_ratio(joint, joint, X, fp32_module=folded)
    own = network_ratio(joint, joint8, X, fp32_module=folded)
    print(f"{'JointFusion network only':26s} float32 folded channels-last / fp32 {layout:5.2f}"
          f";  int8 / float32 folded channels-last {own:5.2f}")
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
            share = times["net"] / times["call"]
            print(f"{label} {kind}: the network is {share:.0%} of a whole {method} call")
            if kind == "fp32":
                # Amdahl: the rest of the call (data conversion, tokens, spectrograms)
                # bounds what any speed-up of the network can give.
                line = (f"   ceiling of int8/fp32 for a whole {method} call: "
                        f"{1 / (1 - share):.2f} if the network took no time")
                rnn = getattr(model.net_.module_, "rnn", None)
                if rnn is not None:
                    inner = _time_inside(rnn, lambda m=model, run=run: run(m.net_.module_))
                    line += (f"; the recurrent layer is {inner:.0%} of the network, "
                             f"{1 / (1 - share * inner):.2f} if it took no time")
                print(line)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                run(model.net_.module_)
            events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
            total = sum(e.self_cpu_time_total for e in events)
            print("   top operators (share of the network's time): " + ", ".join(
                f"{e.key} {e.self_cpu_time_total / total:.0%}" for e in events[:6]))


def _time_inside(layer: torch.nn.Module, run) -> float:
    """The share of ``run``'s time spent inside ``layer``'s calls (median of 5)."""
    import statistics
    import time

    spent = [0.0]

    def enter(module, args):
        spent.append(time.perf_counter())

    def leave(module, args, output):
        spent[0] += time.perf_counter() - spent.pop()

    handles = [layer.register_forward_pre_hook(enter), layer.register_forward_hook(leave)]
    shares = []
    try:
        for _ in range(REPEATS):
            spent[0] = 0.0
            start = time.perf_counter()
            run()
            shares.append(spent[0] / (time.perf_counter() - start))
    finally:
        for handle in handles:
            handle.remove()
    return statistics.median(shares)


SECTIONS = ("layers", "text", "image", "av", "pretrained", "profile")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", choices=SECTIONS,
                        default=["layers", "text", "image", "av"],
                        help="sections to run (default: layers text image av)")
    main(parser.parse_args().sections)
