"""Save and load fitted mmlearn models in one file with no pickle in it.

:func:`save` writes a zip archive of three kinds of member:

``meta.json``
    The format's name and version, and the versions of mmlearn, scikit-learn, torch,
    skorch, skops, safetensors and NumPy that wrote the file (plain JSON).
``skeleton.skops``
    The estimator, written by :mod:`skops.io`: every scikit-learn object, array and
    mmlearn object, with each trained skorch net replaced by a reference (:class:`NetRef`)
    and with a description of the net (its net, module, criterion and optimizer classes,
    the module's keyword arguments, a few training parameters and the training history).
    skops rebuilds objects from an explicit schema and only from the types it is told to
    trust; it never unpickles.
``nets/<i>.safetensors``
    The ``state_dict`` of the ``i``-th net's module, in the safetensors format (a JSON
    header and raw tensor bytes: nothing in it can run code). A network quantised by
    :func:`mmlearn.compress.quantize` is stored as its int8 weights (integer tensors and
    their scales, :func:`mmlearn.compress.quantized_tensors`) and its description adds
    the quantisation plan (JSON: which layers are int8), from which :func:`load`
    rebuilds the same int8 network on the float one
    (:func:`mmlearn.compress.load_quantized`). A network shrunk by structured pruning
    adds its pruning plan (JSON: the new sizes of its shrunk layers), from which
    :func:`load` shrinks the float one (:func:`mmlearn.compress.storage.load_pruned`).

:func:`load` checks the archive, reads the skeleton with skops against mmlearn's list of
trusted types (:func:`trusted_types`) plus the caller's ``trusted``, rebuilds each net from
its description (skorch ``initialize()``) and loads its weights, on CPU when the saving
device is not available here. See ``docs/persistence.md``.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import json
import os
import pkgutil
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

import mmlearn
from mmlearn.utils._sklearn_compat import SKLEARN_TRUSTED_TYPE_NAMES

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModuleRef",
    "NetRef",
    "UnsafeModelFileError",
    "VersionMismatchWarning",
    "load",
    "save",
    "trusted_types",
]

FORMAT = "mmlearn-model"
FORMAT_VERSION = 1

_META = "meta.json"
_SKELETON = "skeleton.skops"
_NET_DIR = "nets/"

# The libraries whose objects or behaviour the file depends on: a different version on
# load is reported (VersionMismatchWarning).
_LIBRARIES = ("mmlearn", "sklearn", "torch", "skorch")
_INFO_LIBRARIES = ("skops", "safetensors", "numpy")

# Types outside mmlearn that a saved file may name, beyond what skops trusts by default:
# the pieces of a net's description (net, loss and optimizer classes), and scikit-learn /
# NumPy helpers that appear inside fitted mmlearn estimators. Each is a plain class or a
# pure function whose construction from skops' schema runs no user-controlled code.
_THIRD_PARTY_TRUSTED = (
    "skorch.classifier.NeuralNetClassifier",
    "skorch.regressor.NeuralNetRegressor",
    "torch.nn.modules.loss.CrossEntropyLoss",
    "torch.nn.modules.loss.MSELoss",
    "torch.optim.adamw.AdamW",
    *SKLEARN_TRUSTED_TYPE_NAMES,
    "builtins.slice",
    "numpy.dtype",
)


class UnsafeModelFileError(ValueError):
    """The file is not an mmlearn model file, or a part of it cannot be read safely
    (an untrusted type in the skeleton, a weights part that is not safetensors)."""


class VersionMismatchWarning(UserWarning):
    """The file was written with other versions of mmlearn or of the libraries it uses."""


class NetRef:
    """Stands for the ``index``-th trained skorch net in a saved skeleton."""

    def __init__(self, index: int = 0):
        self.index = index

    @property
    def module_(self) -> ModuleRef:
        """The net's module, for an estimator whose ``__setstate__`` reads
        ``net_.module_`` (it runs while the skeleton is copied and read)."""
        return ModuleRef(self.index)


class ModuleRef:
    """Stands for the module (``net.module_``) of the ``index``-th net in a saved skeleton,
    where an estimator keeps it under a second name (``module_``)."""

    def __init__(self, index: int = 0):
        self.index = index

    def parameters(self):
        """One empty CPU tensor: an estimator's ``__getstate__`` (called by skops while it
        writes the skeleton) may ask where its module's parameters live; the saved weights
        are always on the CPU."""
        return iter([torch.empty(0)])


# --------------------------------------------------------------------------- trusted types
def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def trusted_types() -> list[str]:
    """mmlearn's list of types a saved file may contain, for :func:`load`.

    Every class defined in an ``mmlearn`` module (estimators, fitted inputs, network
    modules, helpers), the classes of a net's description (skorch's net classes, the
    losses and optimizer mmlearn trains with) and a few scikit-learn helpers found inside
    fitted estimators. Types skops trusts by default (scikit-learn estimators, NumPy and
    SciPy types) are trusted as well.

    Returns
    -------
    names : list of str
        Fully qualified type names, the form ``skops.io.loads(trusted=...)`` takes.
    """
    return list(_mmlearn_types())


@functools.cache
def _mmlearn_types() -> tuple[str, ...]:
    names = set(_THIRD_PARTY_TRUSTED)
    for info in pkgutil.walk_packages(mmlearn.__path__, prefix="mmlearn."):
        # The command line and the benchmark runner define no fitted objects; importing
        # them would pull in plotting.
        if info.name.startswith(("mmlearn.cli", "mmlearn.__main__", "mmlearn.bench")):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            # An optional dependency is missing: its classes cannot be in a file that can
            # be loaded here anyway.
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == info.name:
                names.add(_type_name(obj))
    return tuple(sorted(names))


# ------------------------------------------------------------------------------ versions
def _versions() -> dict[str, str]:
    import safetensors
    import sklearn
    import skops
    import skorch

    return {
        "mmlearn": mmlearn.__version__,
        "sklearn": sklearn.__version__,
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "skops": skops.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


def _check_versions(saved: dict, path: object) -> None:
    current = _versions()
    diffs = [f"{lib} {saved.get(lib, '?')} (now {current[lib]})"
             for lib in _LIBRARIES if saved.get(lib) != current[lib]]
    if diffs:
        warnings.warn(
            f"{path}: the model was saved with " + ", ".join(diffs) + ". It may behave "
            "differently or fail to load; refit it with the current versions, or install "
            "the saved ones, to be sure of its predictions.",
            VersionMismatchWarning,
            stacklevel=3,
        )


# -------------------------------------------------------------------------- finding nets
_LEAVES = (str, bytes, int, float, complex, bool, type(None), type, np.generic)


def _state_of(obj: object) -> dict | None:
    """What pickle and ``copy.deepcopy`` keep of ``obj`` (its ``__getstate__``): a cache an
    estimator leaves out of its state is left out of the file too."""
    try:
        state = obj.__getstate__()
    except TypeError:
        return None
    if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) of a slotted class
        state = state[0]
    return state if isinstance(state, dict) else None


def _find_nets(estimator: object) -> tuple[list, dict[int, object], list[tuple]]:
    """Every network reachable from ``estimator`` (each once), a map from the id of
    each net and of its module to the reference that replaces it in the skeleton, and the
    ``(owner, attribute, reference)`` of each bare module.

    A network is a trained skorch net, or a bare module kept as ``module_`` by an
    estimator whose public ``make_module(input_, n_classes)`` names its class and
    arguments (a frozen pretrained encoder). Any other torch module or tensor cannot be
    rebuilt from parameters: it is refused, naming where it was found.
    """
    from skorch import NeuralNet

    nets: list = []
    refs: dict[int, object] = {}
    bare: list[tuple[str, object, object, str]] = []
    owned: list[tuple[object, str, ModuleRef]] = []
    seen: set[int] = set()
    stack: list[tuple[str, object, object, str]] = [("estimator", estimator, None, "")]
    while stack:
        where, obj, owner, attr = stack.pop()
        if isinstance(obj, _LEAVES) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, NeuralNet):
            if getattr(obj, "module_", None) is None:
                raise TypeError(f"mmlearn.io.save: {where} is a skorch net that was never "
                                "initialized; save the estimator after fitting it.")
            refs[id(obj)] = NetRef(len(nets))
            refs[id(obj.module_)] = ModuleRef(len(nets))
            nets.append(obj)
            continue
        if isinstance(obj, torch.nn.Module | torch.Tensor):
            bare.append((where, obj, owner, attr))
            continue
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((f"{where}[{i}]", v, None, "") for i, v in enumerate(obj.ravel()))
            continue
        if isinstance(obj, dict):
            stack.extend((f"{where}[{k!r}]", v, None, "") for k, v in obj.items())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend((f"{where}[{i}]", v, None, "") for i, v in enumerate(obj))
        else:
            state = _state_of(obj)
            if state is not None:
                stack.extend((f"{where}.{k}", v, obj, k) for k, v in state.items())
    for where, obj, owner, attr in bare:
        # A fine-tuned encoder keeps its net's module under a second name.
        if id(obj) in refs:
            continue
        spec = _module_spec(owner, attr, obj)
        if spec is None:
            raise TypeError(
                f"mmlearn.io.save: {where} is a {type(obj).__name__} held outside a trained "
                "skorch net, and its owner has no make_module() naming its class; "
                "mmlearn.io cannot rebuild it from parameters. Save this model with joblib "
                "(see docs/persistence.md)."
            )
        refs[id(obj)] = ModuleRef(len(nets))
        owned.append((owner, attr, refs[id(obj)]))
        nets.append(spec)
    return nets, refs, owned


def _find_torch(skeleton: object) -> str | None:
    """Where a torch module or tensor is left in ``skeleton``, or None."""
    seen: set[int] = set()
    stack: list[tuple[str, object]] = [("estimator", skeleton)]
    while stack:
        where, obj = stack.pop()
        if isinstance(obj, (*_LEAVES, NetRef, ModuleRef)) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.nn.Module | torch.Tensor):
            return where
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend((f"{where}[{i}]", v) for i, v in enumerate(obj.ravel()))
        elif isinstance(obj, dict):
            stack.extend((f"{where}[{k!r}]", v) for k, v in obj.items())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(obj))
        elif hasattr(obj, "__dict__"):
            stack.extend((f"{where}.{k}", v) for k, v in vars(obj).items())
    return None


class _BareModule:
    """A module an estimator builds itself (no skorch net), with its class and arguments."""

    def __init__(self, module: torch.nn.Module, module_class: type, kwargs: dict):
        self.module_ = module
        self.module_class = module_class
        self.kwargs = kwargs


def _module_spec(owner: object, attr: str, module: object) -> _BareModule | None:
    """The bare ``owner.module_`` as its class and arguments, from ``owner``'s public
    ``make_module(input_, n_classes)``; None when that does not describe ``module``."""
    if attr != "module_" or not isinstance(module, torch.nn.Module):
        return None
    make_module = getattr(owner, "make_module", None)
    input_ = getattr(owner, "input_", None)
    if make_module is None or input_ is None:
        return None
    classes = getattr(owner, "classes_", None)
    module_class, kwargs = make_module(input_, None if classes is None else len(classes))
    if type(module) is not module_class:
        return None
    return _BareModule(module, module_class, dict(kwargs))


def _describe_net(net: object, where: int) -> dict:
    """What rebuilding ``net`` needs, in plain values and classes (no instances)."""
    from mmlearn.compress import quantization_plan
    from mmlearn.compress.storage import pruning_plan

    # A quantised network is its float class and arguments plus the plan that turns
    # them into its int8 structure (stored as JSON), and its int8 weights; a
    # structured-pruned one, plus the plan that gives its layers their shrunk sizes.
    plan, pruned = quantization_plan(net.module_), pruning_plan(net.module_)
    extra = ({"quantization": json.dumps(plan)} if plan is not None
             else {"pruning": json.dumps(pruned)} if pruned is not None else {})
    compressed = getattr(net.module_, "mmlearn_compressed", None)
    if compressed is not None and plan is None and (pruned is None or "int8" in compressed):
        # No plan describes it (a shrunk network quantised afterwards): its class and
        # arguments alone would rebuild the full-width float network.
        raise TypeError(
            f"mmlearn.io.save: net {where} was compressed by mmlearn.compress ({compressed}); "
            "save the uncompressed model and compress it again after loading, or save "
            "this one with joblib (see docs/compression.md)."
        )
    if isinstance(net, _BareModule):
        module = net.module_
        device = next(iter(module.parameters()), torch.empty(0)).device
        return {"kind": "module", "module": net.module_class, "module_kwargs": net.kwargs,
                "device": str(device), "training": bool(module.training), **extra}
    params = net.get_params(deep=False)
    module = params["module"]
    if not isinstance(module, type):
        raise TypeError(
            f"mmlearn.io.save: net {where} was built from a module instance "
            f"({type(module).__name__}); mmlearn.io rebuilds a net from its module class "
            "and keyword arguments."
        )
    for name in ("criterion", "optimizer"):
        if not isinstance(params[name], type):
            raise TypeError(f"mmlearn.io.save: net {where} has a {name} instance; "
                            "a class is expected.")
    module_kwargs = {k[len("module__"):]: v for k, v in params.items()
                     if k.startswith("module__")}
    return {
        "kind": "net",
        "net_class": type(net),
        "module": module,
        "module_kwargs": module_kwargs,
        "criterion": params["criterion"],
        "optimizer": params["optimizer"],
        "lr": float(params["lr"]),
        "max_epochs": int(params["max_epochs"]),
        "batch_size": int(params["batch_size"]),
        "device": str(params["device"]),
        "training": bool(net.module_.training),
        # The per-epoch records (losses, durations) users read from ``net_.history``.
        "history": json.dumps(list(net.history), default=_json_default),
        **extra,
    }


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    raise TypeError(f"history value of type {type(value).__name__} is not JSON")


def _state_bytes(net: object) -> bytes:
    from safetensors.torch import save as save_tensors

    from mmlearn.compress import quantization_plan, quantized_tensors

    # A quantised network's int8 weights become plain integer tensors and scales.
    source = (net.module_.state_dict() if quantization_plan(net.module_) is None
              else quantized_tensors(net.module_))
    # Copies on CPU: safetensors refuses tensors that share memory, and the file must not
    # depend on the saving device.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in source.items()}
    return save_tensors(state, metadata={"format": FORMAT})


# ------------------------------------------------------------------------------- saving
def save(estimator: object, path: str | Path) -> None:
    """Write a fitted (or unfitted) estimator to ``path``, with no pickle in the file.

    Parameters
    ----------
    estimator : estimator
        Any mmlearn estimator, or a scikit-learn object (Pipeline, GridSearchCV, ...)
        containing them. Trained networks are those of skorch nets (``net_``).
    path : str or Path
        The file to write (a zip archive; ``.mmlearn`` is a good suffix). Overwritten if
        it exists.

    Raises
    ------
    TypeError
        When the estimator holds a torch module or tensor outside a skorch net, or an
        object skops cannot write.
    """
    import skops.io as sio

    nets, refs, owned = _find_nets(estimator)
    # Every net and its module become references in a copy; the caller's estimator is
    # left untouched and the nets are not copied.
    memo = dict(refs)
    skeleton = copy.deepcopy(estimator, memo)
    # A frozen encoder fitted on a GPU hands out a new CPU copy of its module each time
    # its state is taken, so the deep copy holds a module the references above never saw:
    # the copied owner gets the reference instead.
    for owner, attr, ref in owned:
        copied = memo.get(id(owner))
        if copied is not None and isinstance(vars(copied).get(attr), torch.nn.Module):
            vars(copied)[attr] = ref
    # An estimator whose __getstate__ returns a new copy of a module (to move it off a
    # GPU) escapes the references above: refuse rather than write an unreadable file.
    leftover = _find_torch(skeleton)
    if leftover is not None:
        raise TypeError(
            f"mmlearn.io.save: {leftover} is a torch object that the estimator's "
            "__getstate__ copies; move the estimator to the CPU first (device='cpu' and "
            "its module_ with .cpu()), or save it with joblib."
        )
    payload = {"estimator": skeleton,
               "nets": [_describe_net(net, i) for i, net in enumerate(nets)]}
    try:
        skeleton_bytes = sio.dumps(payload)
    except TypeError as exc:
        raise TypeError(f"mmlearn.io.save: skops cannot write this estimator: {exc}") from exc
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "versions": _versions(),
            "estimator": type(estimator).__name__, "n_nets": len(nets)}
    path = Path(path)
    # Written beside the target and renamed: a failed or interrupted save leaves any
    # previous file at ``path`` intact, never a half-written one.
    partial = path.with_name(path.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(_META, json.dumps(meta, indent=2))
            archive.writestr(_SKELETON, skeleton_bytes)
            for i, net in enumerate(nets):
                archive.writestr(f"{_NET_DIR}{i}.safetensors", _state_bytes(net))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# ------------------------------------------------------------------------------ loading
def _target_device(saved: str, device: str | None) -> str:
    if device is not None:
        return device
    if saved.startswith("cuda") and not torch.cuda.is_available():
        return "cpu"
    if saved.startswith("mps") and not torch.backends.mps.is_available():
        return "cpu"
    return saved


def _check_spec(spec: object, where: str) -> None:
    """Refuse a net description whose classes are not what they claim: a trusted type
    used as a "module" would otherwise be called with the file's arguments."""
    from skorch import NeuralNet

    def is_sub(value, base):
        return isinstance(value, type) and issubclass(value, base)

    ok = (isinstance(spec, dict) and spec.get("kind") in ("net", "module")
          and is_sub(spec.get("module"), torch.nn.Module)
          and isinstance(spec.get("module_kwargs"), dict)
          and isinstance(spec.get("training"), bool)
          and isinstance(spec.get("device"), str)
          and isinstance(spec.get("quantization", ""), str)
          and isinstance(spec.get("pruning", ""), str))
    if ok and spec["kind"] == "net":
        ok = (is_sub(spec.get("net_class"), NeuralNet)
              and is_sub(spec.get("criterion"), torch.nn.Module)
              and is_sub(spec.get("optimizer"), torch.optim.Optimizer)
              and isinstance(spec.get("history"), str))
    if not ok:
        raise UnsafeModelFileError(
            f"{where}: a network description is malformed (its net, module, criterion or "
            "optimizer is not the kind of class it should be); nothing was built."
        )


def _load_weights(module: torch.nn.Module, spec: dict, state: dict) -> torch.nn.Module:
    """``module`` with the saved weights; a quantised or structured-pruned network is
    rebuilt from its plan."""
    if "pruning" in spec:
        from mmlearn.compress.storage import load_pruned

        try:
            return load_pruned(module, json.loads(spec["pruning"]), state)
        except ValueError as exc:
            raise UnsafeModelFileError(f"a pruned network cannot be rebuilt: {exc}") from exc
    if "quantization" not in spec:
        module.load_state_dict(state)
        return module
    from mmlearn.compress import load_quantized

    try:
        return load_quantized(module, json.loads(spec["quantization"]), state)
    except ValueError as exc:  # json's errors are ValueErrors too
        raise UnsafeModelFileError(f"a quantised network cannot be rebuilt: {exc}") from exc


def _rebuild_net(spec: dict, state: dict, device: str | None) -> object:
    from skorch.history import History

    if spec["kind"] == "module":
        module = _load_weights(spec["module"](**spec["module_kwargs"]), spec, state)
        module.train(spec["training"])
        return _BareModule(module.to(_target_device(spec["device"], device)), spec["module"],
                           spec["module_kwargs"])
    net_class = spec["net_class"]
    net = net_class(
        spec["module"],
        criterion=spec["criterion"],
        optimizer=spec["optimizer"],
        lr=spec["lr"],
        max_epochs=spec["max_epochs"],
        batch_size=spec["batch_size"],
        train_split=None,
        device=_target_device(spec["device"], device),
        **{f"module__{k}": v for k, v in spec["module_kwargs"].items()},
    )
    net.initialize()
    net.module_ = _load_weights(net.module_, spec, state)
    net.module_.train(spec["training"])
    net.history_ = History(json.loads(spec["history"]))
    return net


def _resolve(obj: object, nets: list, seen: dict[int, object]) -> object:
    """``obj`` with every NetRef / ModuleRef replaced by the rebuilt net / module."""
    if isinstance(obj, NetRef | ModuleRef):
        index = obj.index
        if not isinstance(index, int) or not 0 <= index < len(nets) or (
                isinstance(obj, NetRef) and isinstance(nets[index], _BareModule)):
            raise UnsafeModelFileError(f"a network reference ({index!r}) names no saved net.")
        return nets[index] if isinstance(obj, NetRef) else nets[index].module_
    if isinstance(obj, _LEAVES) or id(obj) in seen:
        return seen.get(id(obj), obj)
    seen[id(obj)] = obj
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            flat = obj.reshape(-1)
            for i, v in enumerate(flat):
                flat[i] = _resolve(v, nets, seen)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            obj[k] = _resolve(v, nets, seen)
    elif isinstance(obj, list):
        obj[:] = [_resolve(v, nets, seen) for v in obj]
    elif isinstance(obj, tuple):
        new = [_resolve(v, nets, seen) for v in obj]
        if any(a is not b for a, b in zip(new, obj, strict=True)):
            rebuilt = type(obj)(*new) if hasattr(obj, "_fields") else type(obj)(new)
            seen[id(obj)] = rebuilt
            return rebuilt
    elif isinstance(obj, set | frozenset):
        pass  # Refs are never hashed into sets by mmlearn estimators.
    elif hasattr(obj, "__dict__"):
        for k, v in vars(obj).items():
            new = _resolve(v, nets, seen)
            if new is not v:
                setattr(obj, k, new)
    return obj


def _read_meta(archive: zipfile.ZipFile, path: object) -> dict:
    names = set(archive.namelist())
    if _META not in names or _SKELETON not in names:
        raise UnsafeModelFileError(
            f"{path} is not an mmlearn model file (no {_META} / {_SKELETON}); files "
            "written by pickle or joblib are read with joblib.load, only from a source "
            "you trust."
        )
    try:
        meta = json.loads(archive.read(_META))
    except ValueError as exc:
        raise UnsafeModelFileError(f"{path}: {_META} is not valid JSON.") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UnsafeModelFileError(f"{path}: {_META} does not describe an {FORMAT} file.")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UnsafeModelFileError(
            f"{path} has format version {version!r}; this mmlearn "
            f"({mmlearn.__version__}) reads versions up to {FORMAT_VERSION}. Upgrade mmlearn."
        )
    return meta


def load(path: str | Path, *, trusted: Iterable[str | type] | None = None,
         device: str | None = None) -> object:
    """Read an estimator written by :func:`save`, without unpickling anything.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`save`.
    trusted : iterable of str or type, optional
        Types to trust beyond :func:`trusted_types` (your own encoder classes, say), as
        classes or fully qualified names. Any other type the file names makes the load
        fail before an object of it is built.
    device : str, optional
        Where to put the networks. By default the device they were saved from, or the CPU
        when that device is not available here (a model trained on a GPU loads on a
        CPU-only machine). The estimators' ``device`` parameters are not changed; they
        apply when the model is fitted again.

    Returns
    -------
    estimator : the saved estimator, fitted as it was

    Raises
    ------
    UnsafeModelFileError
        When the file is not an mmlearn model file, names a type that is not trusted
        (the message lists them), or has a weights part that is not valid safetensors.

    Warns
    -----
    VersionMismatchWarning
        When mmlearn, scikit-learn, torch or skorch differ from the versions that wrote
        the file.
    """
    import skops.io as sio
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    allowed = trusted_types()
    for entry in trusted or ():
        allowed.append(entry if isinstance(entry, str) else _type_name(entry))
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise UnsafeModelFileError(
            f"{path} is not an mmlearn model file (not a zip archive); files written by "
            "pickle or joblib are read with joblib.load, only from a source you trust."
        ) from exc
    with archive:
        meta = _read_meta(archive, path)
        _check_versions(meta.get("versions", {}), path)
        skeleton_bytes = archive.read(_SKELETON)
        try:
            untrusted = sio.get_untrusted_types(data=skeleton_bytes)
        except Exception as exc:  # skops raises several types on a malformed archive
            raise UnsafeModelFileError(
                f"{path}: {_SKELETON} is not a valid skops archive ({exc})."
            ) from exc
        refused = sorted(set(untrusted) - set(allowed))
        if refused:
            raise UnsafeModelFileError(
                f"{path} names types that are not trusted: {refused}. Nothing was built. "
                "If you trust the file's source and these types, pass them as "
                "load(path, trusted=[...])."
            )
        payload = sio.loads(skeleton_bytes, trusted=sorted(set(untrusted)))
        if not isinstance(payload, dict) or set(payload) != {"estimator", "nets"}:
            raise UnsafeModelFileError(f"{path}: {_SKELETON} does not hold an mmlearn model.")
        specs = payload["nets"]
        if not isinstance(specs, list):
            raise UnsafeModelFileError(f"{path}: {_SKELETON} does not hold an mmlearn model.")
        for spec in specs:
            _check_spec(spec, str(path))
        nets = []
        for i, spec in enumerate(specs):
            member = f"{_NET_DIR}{i}.safetensors"
            try:
                state = load_tensors(archive.read(member))
            except KeyError as exc:
                raise UnsafeModelFileError(f"{path}: {member} is missing.") from exc
            except (SafetensorError, ValueError) as exc:
                raise UnsafeModelFileError(
                    f"{path}: {member} is not a valid safetensors file ({exc}); it was "
                    "not loaded."
                ) from exc
            nets.append(_rebuild_net(spec, state, device))
    return _resolve(payload["estimator"], nets, {})
