"""Export fitted networks, and the pipelines around them, to ONNX for onnxruntime.

An exported graph begins where a network's own computation begins: at the arrays mmlearn's
fitted input hands it (:func:`onnx_inputs`: decoded and resized images, masked
standardised log-mel spectrograms, a fusion's per-branch arrays and presence mask), because
the steps before it are not tensor programs: decoding PNG/JPEG/WAV files, resampling and
the librosa STFT/mel filter bank of :class:`~mmlearn.encoders.AudioCNNEncoder`, and the
regular-expression tokeniser and vocabulary of the text encoders. Serving is then two
stages: ``onnx_inputs(model, X)`` in Python (mmlearn installed), then
``onnxruntime.InferenceSession(path).run(None, inputs)``.

After the network, the steps of a scikit-learn ``Pipeline`` that skl2onnx converts
(``StandardScaler``, ``PCA``, ``LogisticRegression``, ``SVC``...) and an
:class:`~mmlearn.heads.MLPHead` (with its standardisation) are joined into the same graph
(:func:`onnx.compose.merge_models`), so one file gives the pipeline's probabilities.

The networks are exported with torch's TorchScript route (``torch.onnx.export(...,
dynamo=False)``): the dynamo route (``torch.export``) refuses the modules' shape-dependent
branches (pooling only where a map is at least 2 wide, a fusion branch run only on the rows
that have its modality); the tracer records them for the sample's shapes, which are fixed
by fit for images (size, channels) and audio (mel bands, frames). Every export is checked:
onnxruntime must reproduce the estimator's own output on ``X_sample`` within ``atol``.

Not exported (a clear error names the step): the text encoders (``TextRNNEncoder``'s packed
variable-length sequences and both text encoders' per-batch trimming of padding are not
traced correctly), the pretrained encoders, ``EarlyFusion``/``LateFusion`` (export their
encoders one by one), and any step skl2onnx has no converter for.
"""

from __future__ import annotations

import copy
import io
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from torch import nn

from mmlearn.compress import find_networks, network_inputs

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "onnx_inputs", "to_onnx"]

# LayerNormalization (JointFusion's projections) is one ONNX operator from opset 17.
MIN_OPSET = 17
DEFAULT_OPSET = 18
# skl2onnx's classifiers use the ONNX-ML domain; version 3 is what its converters target.
_ML_OPSET = 3


def _require_onnx():
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "mmlearn.export needs onnx and onnxruntime: pip install 'scikit-mmlearn[onnx]'."
        ) from exc
    return onnx


class _Exported(nn.Module):
    """What the graph computes for one torch step, from its named input arrays."""

    def __init__(self, module: nn.Module, method: str, names: list[str], softmax: bool,
                 mean: np.ndarray | None = None, scale: np.ndarray | None = None):
        super().__init__()
        self.module = module
        self.method = method
        self.names = names
        self.softmax = softmax
        self.standardize = mean is not None
        if self.standardize:
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, inputs: dict):
        fn = getattr(self.module, self.method)
        if self.names == ["x"]:
            x = inputs["x"]
            out = fn((x - self.mean) / self.scale if self.standardize else x)
        else:
            out = fn(**inputs)
        return torch.softmax(out, dim=1) if self.softmax else out


def _step_kind(name: str, step: object) -> str:
    """"deep" (a network that reads cells), "head" (MLPHead), or "sklearn"; an error for
    a step that holds a network mmlearn cannot export."""
    from mmlearn.encoders._deep import DeepEncoder
    from mmlearn.fusion import JointFusion
    from mmlearn.heads import MLPHead

    if isinstance(step, MLPHead):
        return "head"
    text = None
    if isinstance(step, DeepEncoder):
        text = type(step).__name__ if step.modality == "text" else None
    elif isinstance(step, JointFusion):
        text = next((type(b.encoder).__name__ for b in step.branches_
                     if getattr(b.encoder, "modality", None) == "text"), None)
    elif find_networks(step):
        raise TypeError(
            f"to_onnx: step {name!r} ({type(step).__name__}) holds networks mmlearn does not "
            "export (only deep image/audio encoders, JointFusion and MLPHead are); export "
            "its encoders one by one."
        )
    else:
        return "sklearn"
    if text is not None:
        raise TypeError(
            f"to_onnx: step {name!r} uses {text}, whose network cannot be exported: its "
            "per-batch trimming of padding (and, for TextRNNEncoder, packed variable-length "
            "sequences) would be traced as constants of the sample. Keep it in torch."
        )
    return "deep"


def _steps(estimator: object) -> list[tuple[str, object]]:
    if isinstance(estimator, Pipeline):
        return [(name, step) for name, step in estimator.steps
                if step is not None and step != "passthrough"]
    return [(type(estimator).__name__, estimator)]


def _as_float(X: object) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(X, dtype=np.float32))


def onnx_inputs(estimator: object, X: object) -> dict[str, np.ndarray]:
    """The arrays the graph :func:`to_onnx` writes for ``estimator`` takes, for rows ``X``.

    For a deep encoder or JointFusion (first step), the output of its fitted input
    (decoding, resizing, log-mel features, which stay in Python); for an ``MLPHead`` or a
    scikit-learn first step, ``X`` as float32.

    Parameters
    ----------
    estimator : estimator
        Fitted, as given to :func:`to_onnx`.
    X : object
        Rows in the estimator's input format.

    Returns
    -------
    dict of str -> ndarray
        Feed it to ``onnxruntime.InferenceSession(path).run(None, inputs)``.
    """
    check_is_fitted(estimator)
    name, first = _steps(estimator)[0]
    if _step_kind(name, first) == "deep":
        return network_inputs(first, X)[0]
    return {"x": _as_float(X)}


def _check_opset(opset: object) -> int:
    if not isinstance(opset, Integral) or isinstance(opset, bool):
        raise TypeError(f"opset must be an int, got {type(opset).__name__}.")
    if opset < MIN_OPSET:
        raise ValueError(
            f"opset={opset} is too old: mmlearn exports at opset {MIN_OPSET} or newer "
            "(LayerNormalization is one operator from 17; onnxruntime >= 1.14 runs it)."
        )
    return int(opset)


def _torch_stage(name: str, step: object, kind: str, inputs: dict[str, np.ndarray],
                 method: str, opset: int):
    """The ONNX model of one torch step, with graph inputs named as ``inputs``."""
    import onnx

    step_copy = copy.deepcopy(step)
    module = step_copy.net_.module_.eval()
    mean = scale = None
    if kind == "head":
        mean, scale = step_copy.mean_, step_copy.scale_
    softmax = method == "predict_proba"
    network_method = "forward" if softmax or kind == "head" else "embed"
    names = list(inputs)
    wrapper = _Exported(module, network_method, names, softmax, mean, scale).eval()
    tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    output = "probabilities" if softmax else "embedding"
    stream = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # The tracer warns about each shape it records as a constant: these shapes
            # (image size, frames) are fixed by fit.
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (tensors, {}), stream, dynamo=False,
                              opset_version=opset, input_names=names, output_names=[output],
                              dynamic_axes={**{k: {0: "batch"} for k in names},
                                            output: {0: "batch"}})
    except Exception as exc:
        raise RuntimeError(f"to_onnx: torch.onnx could not export step {name!r} "
                           f"({type(step).__name__}): {exc}") from exc
    return onnx.load_from_string(stream.getvalue()), output


def _sklearn_stage(steps: list[tuple[str, object]], n_features: int, method: str,
                   opset: int):
    """The ONNX model of consecutive scikit-learn steps (skl2onnx), input ``"x"``."""
    import onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    pipe = Pipeline(steps) if len(steps) > 1 else steps[0][1]
    options = {id(step): {"zipmap": False} for _, step in steps if is_classifier(step)}
    try:
        model = convert_sklearn(pipe, initial_types=[("x", FloatTensorType([None, n_features]))],
                                target_opset={"": opset, "ai.onnx.ml": _ML_OPSET},
                                options=options or None)
    except Exception as exc:
        # skl2onnx names the class it lacks a converter (or shape calculator) for.
        names = ", ".join(f"{n!r} ({type(s).__name__})" for n, s in steps)
        raise TypeError(
            f"to_onnx: step(s) {names} cannot be converted by skl2onnx: {exc}. Register a "
            "converter with skl2onnx.update_registered_converter, or export the network "
            "alone and run the rest in scikit-learn."
        ) from exc
    outputs = [o.name for o in model.graph.output]
    if method == "predict_proba" and "probabilities" in outputs:
        output = "probabilities"
    else:
        output = outputs[0]
    return onnx.shape_inference.infer_shapes(model), output


def _merge(first, first_out: str, second, second_in: str, index: int, keep: list[str]):
    import onnx

    second = onnx.compose.add_prefix(second, f"s{index}_", rename_outputs=False)
    version = max(first.ir_version, second.ir_version)
    first.ir_version = second.ir_version = version
    # Each model imports the domains it uses; the merged one imports them all.
    domains = {o.domain: o.version for o in [*first.opset_import, *second.opset_import]}
    for model in (first, second):
        del model.opset_import[:]
        model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in domains.items())
    return onnx.compose.merge_models(first, second, io_map=[(first_out, f"s{index}_{second_in}")],
                                     outputs=keep)


def _expected(estimator: object, X: object, method: str) -> np.ndarray:
    out = getattr(estimator, method)(X)
    return np.asarray(out, dtype=np.float32)


def to_onnx(estimator, X_sample, path, *, opset: int = DEFAULT_OPSET, method: str | None = None,
            atol: float = 1e-4) -> Path:
    """Write a fitted estimator's computation, from its network's inputs on, as ONNX.

    Parameters
    ----------
    estimator : estimator
        Fitted: a deep image or audio encoder (``ImageCNNEncoder``, ``AudioCNNEncoder``),
        ``JointFusion`` (without text branches), ``MLPHead``, or a ``Pipeline`` whose first
        step is one of them (or a scikit-learn step) and whose other steps are
        ``MLPHead`` or have skl2onnx converters.
    X_sample : object
        A few real rows in the estimator's input format, without missing cells: traced
        through the network, then used to check the graph.
    path : str or Path
        The ``.onnx`` file to write.
    opset : int, default=18
        ONNX operator set (at least :data:`MIN_OPSET`).
    method : {"transform", "predict_proba"}, optional
        What the last step's output is: the embedding / transformed features, or class
        probabilities. By default ``"transform"`` when the last step has it (an encoder,
        JointFusion's fused vector), else ``"predict_proba"``.
    atol : float, default=1e-4
        Largest absolute difference allowed between onnxruntime's output and the
        estimator's on ``X_sample``.

    Returns
    -------
    path : Path
        The written file. Its inputs are named as :func:`onnx_inputs` returns them
        (``"x"``; JointFusion: ``"x0"``, ``"x1"``, ..., ``"present"``), with a free batch
        dimension; its output is ``"embedding"`` (or the last transformer's), or
        ``"probabilities"`` (and ``"label"`` for a scikit-learn classifier).

    Raises
    ------
    NotFittedError
        When the estimator is not fitted.
    TypeError
        For a step that cannot be exported (a text or pretrained encoder, an
        EarlyFusion, a step with no skl2onnx converter), naming it.
    ValueError
        For an opset older than :data:`MIN_OPSET`, an unknown ``method``, or a deep step
        that is not the first.
    RuntimeError
        When onnxruntime's output differs from the estimator's by more than ``atol``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import onnxruntime
    >>> from mmlearn.datasets import load_av_digits
    >>> from mmlearn.encoders import ImageCNNEncoder
    >>> from mmlearn.export import onnx_inputs, to_onnx
    >>> X, y = load_av_digits(return_X_y=True)
    >>> enc = ImageCNNEncoder(max_epochs=1, random_state=0).fit(X["image"][:100], y[:100])
    >>> path = to_onnx(enc, X["image"][:20], Path(tempfile.mkdtemp()) / "image_cnn.onnx")
    >>> session = onnxruntime.InferenceSession(str(path))
    >>> session.run(None, onnx_inputs(enc, X["image"][20:23]))[0].shape
    (3, 64)
    """
    onnx = _require_onnx()
    import onnxruntime as ort

    opset = _check_opset(opset)
    if method not in (None, "transform", "predict_proba"):
        raise ValueError(f"method must be 'transform', 'predict_proba' or None, got {method!r}.")
    check_is_fitted(estimator)
    steps = _steps(estimator)
    kinds = [_step_kind(name, step) for name, step in steps]
    last = steps[-1][1]
    if method is None:
        method = "transform" if hasattr(last, "transform") else "predict_proba"
    if not hasattr(estimator, method):
        raise ValueError(f"to_onnx: {type(estimator).__name__} has no {method}.")
    for (name, step), kind in zip(steps[1:], kinds[1:], strict=True):
        if kind == "deep":
            raise ValueError(f"to_onnx: step {name!r} ({type(step).__name__}) reads cells, so "
                             "it must be the pipeline's first step.")

    inputs = onnx_inputs(estimator, X_sample)
    # Each stage's input: the previous steps' output on the sample.
    model = output = None
    current = X_sample
    i = 0
    while i < len(steps):
        name, step = steps[i]
        is_last_group = i == len(steps) - 1
        if kinds[i] == "sklearn":
            j = i
            while j < len(steps) and kinds[j] == "sklearn":
                j += 1
            group = steps[i:j]
            n_features = _as_float(current).shape[1]
            stage, stage_out = _sklearn_stage(group, n_features,
                                              method if j == len(steps) else "transform", opset)
            stage_in = "x"
            if j < len(steps):
                for _, fitted in group:
                    current = fitted.transform(current)
            i = j
        else:
            step_method = method if is_last_group else "transform"
            stage_inputs = inputs if i == 0 else {"x": _as_float(current)}
            stage, stage_out = _torch_stage(name, step, kinds[i], stage_inputs, step_method,
                                            opset)
            stage_in = "x"
            if not is_last_group:
                current = step.transform(current)
            i += 1
        if model is None:
            model, output = stage, stage_out
        else:
            keep = [stage_out] + (["label"] if stage_out == "probabilities" and "label" in
                                  [o.name for o in stage.graph.output] else [])
            model = _merge(model, output, stage, stage_in, i, keep)
            output = stage_out
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, path)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([output], inputs)[0]
    want = _expected(estimator, X_sample, method)
    want = want[~np.isnan(want).any(axis=1)] if want.ndim == 2 else want
    if got.shape != want.shape or not np.allclose(got, want, atol=atol, rtol=0):
        diff = (np.abs(got - want).max() if got.shape == want.shape
                else f"shape {got.shape} vs {want.shape}")
        path.unlink(missing_ok=True)
        raise RuntimeError(f"to_onnx: onnxruntime's {output} differs from "
                           f"{type(estimator).__name__}.{method} on X_sample by {diff} "
                           f"(atol={atol}); the file was not kept.")
    return path
