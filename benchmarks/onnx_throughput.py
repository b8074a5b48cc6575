"""onnxruntime against PyTorch: inference throughput of the same exported networks.

Both run the network alone on the same converted arrays (``mmlearn.export.onnx_inputs``:
decoding and log-mel features are outside the graph and outside the timing), one thread
each (``torch.set_num_threads(1)``, onnxruntime ``intra_op_num_threads=1``), in batches of
64 rows, interleaved, median of 5:

- ImageCNNEncoder embedding, 4,000 emoji images (32x32 RGB);
- AudioCNNEncoder embedding, the 1,797 AV-digit clips;
- JointFusion (image CNN + audio CNN) probabilities, the 1,797 AV-digit rows.

Each export is first checked against torch (within 1e-4). The machine is shared: the ratio
is meaningful, absolute times are not. The last line gives onnxruntime / torch throughput.

    python benchmarks/onnx_throughput.py
"""

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from _common import alternate, emoji_images

from mmlearn.datasets import load_av_digits
from mmlearn.encoders import AudioCNNEncoder, ImageCNNEncoder
from mmlearn.export import onnx_inputs, to_onnx
from mmlearn.fusion import JointFusion

BATCH = 64


def torch_run(module, method, inputs):
    fn = getattr(module, method)
    names = list(inputs)
    out = []
    with torch.inference_mode():
        for start in range(0, len(inputs[names[0]]), BATCH):
            batch = {k: torch.from_numpy(v[start:start + BATCH]) for k, v in inputs.items()}
            result = fn(batch["x"]) if names == ["x"] else fn(**batch)
            out.append(torch.softmax(result, 1) if method == "forward" else result)
    return torch.cat(out).numpy()


def onnx_run(session, inputs):
    n = len(next(iter(inputs.values())))
    return np.concatenate([session.run(None, {k: v[s:s + BATCH] for k, v in inputs.items()})[0]
                           for s in range(0, n, BATCH)])


def compare(name, estimator, X_fit, y, X_run, method, folder):
    estimator.fit(X_fit, y)
    path = to_onnx(estimator, X_fit[:64], Path(folder) / f"{name}.onnx",
                   method="predict_proba" if method == "forward" else "transform")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = onnx_inputs(estimator, X_run)
    module = estimator.net_.module_.eval()
    np.testing.assert_allclose(onnx_run(session, inputs), torch_run(module, method, inputs),
                               atol=1e-4)
    times = alternate({"torch": lambda: torch_run(module, method, inputs),
                       "onnxruntime": lambda: onnx_run(session, inputs)}, repeats=5)
    ratio = times["torch"] / times["onnxruntime"]
    n = len(next(iter(inputs.values())))
    print(f"{name:16s} onnxruntime/torch {ratio:5.2f}  ({n / times['torch']:.0f} -> "
          f"{n / times['onnxruntime']:.0f} rows/s)")
    return ratio


def main() -> None:
    torch.set_num_threads(1)
    ratios = {}
    X, y = load_av_digits(return_X_y=True)
    images, labels = emoji_images(size=32)
    with tempfile.TemporaryDirectory() as folder:
        ratios["ImageCNNEncoder"] = compare(
            "ImageCNNEncoder", ImageCNNEncoder(max_epochs=3, random_state=0), images, labels,
            emoji_images(n=4000, size=32)[0], "embed", folder)
        ratios["AudioCNNEncoder"] = compare(
            "AudioCNNEncoder", AudioCNNEncoder(sample_rate=8000, max_epochs=3, random_state=0),
            X["audio"], y, X["audio"], "embed", folder)
        joint = JointFusion([("image", ImageCNNEncoder(), "image"),
                             ("audio", AudioCNNEncoder(sample_rate=8000), "audio")],
                            max_epochs=3, random_state=0)
        ratios["JointFusion"] = compare("JointFusion", joint, X, y, X, "forward", folder)
    print("onnxruntime / torch throughput, one thread: "
          + ", ".join(f"{name} {value:.2f}" for name, value in ratios.items()))


if __name__ == "__main__":
    main()
