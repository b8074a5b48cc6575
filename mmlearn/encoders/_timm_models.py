"""timm's models for :class:`~mmlearn.encoders.PretrainedImageEncoder`: names, weights,
preprocessing and fine-tuning groups.

timm names a few architectures as torchvision does (``resnet18``, ``convnext_tiny``), with
other parameter names and weights: its models are asked for as ``"timm:<name>"``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
from torch import nn

__all__ = ["TIMM_PREFIX", "check_name", "data_config", "default_weights", "fixed_size",
           "import_timm", "timm_name", "units"]

TIMM_PREFIX = "timm:"


def import_timm():
    try:
        import timm
    except Exception as exc:  # missing, or its torchvision built for another torch
        raise ModuleNotFoundError(
            "models named 'timm:<name>' come from timm, which could not be imported "
            f"({type(exc).__name__}: {exc}); install the timm extra: pip install "
            "\"scikit-mmlearn[timm]\" (timm needs a torchvision built for your torch).",
            name="timm") from exc
    return timm


def timm_name(model: str) -> str | None:
    """The timm name after the ``"timm:"`` prefix, or None for another model."""
    return model[len(TIMM_PREFIX):] if model.startswith(TIMM_PREFIX) else None


def check_name(model: str) -> None:
    name = timm_name(model)
    timm = import_timm()
    if not name or not timm.is_model(name):
        import difflib

        close = difflib.get_close_matches(name or "", timm.list_models(), n=5)
        hint = f" Close names: {', '.join(TIMM_PREFIX + c for c in close)}." if close else ""
        raise ValueError(f"unknown model={model!r}: timm has no model {name!r} "
                         f"(timm.list_models() lists them; a pretrained tag such as "
                         f"'timm:resnet18.a1_in1k' is allowed).{hint}")
    try:
        timm.models.get_pretrained_cfg(name)
    except RuntimeError as exc:  # timm's answer to an unknown pretrained tag
        arch = name.partition(".")[0]
        raise ValueError(f"unknown model={model!r}: {exc} timm.list_pretrained("
                         f"'{arch}.*') lists its tags.") from None


def fixed_size(model: str) -> bool:
    """Whether timm's ``model`` only runs at its pretrained input size (ViT and the like)."""
    cfg = import_timm().models.get_pretrained_cfg(timm_name(model))
    return bool(cfg is not None and cfg.fixed_input_size)


@functools.cache
def data_config(model: str) -> dict:
    """timm's preprocessing for ``model`` (input size, mean, std), from its pretrained_cfg."""
    timm = import_timm()
    with torch.device("meta"):
        net = timm.create_model(timm_name(model), pretrained=False)
    return timm.data.resolve_data_config({}, model=net)


def default_weights(model: str) -> Path:
    """timm's pretrained weights file for ``model`` (its pretrained_cfg): from the Hugging Face
    cache, or torch's hub cache for the few configs that only have a URL; downloaded there as
    timm would if missing and the machine can; never random weights."""
    import huggingface_hub
    from huggingface_hub import constants

    cfg = import_timm().models.get_pretrained_cfg(timm_name(model))
    hub_id, url = (cfg.hf_hub_id, cfg.url) if cfg is not None else (None, None)
    if hub_id:
        repo, _, revision = hub_id.partition("@")
        revision = revision or None
        # timm's own order: safetensors first, then the pickled file.
        files = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors",
                                                                    "pytorch_model.bin"]
        cache = constants.HF_HUB_CACHE
        for filename in files:
            cached = huggingface_hub.try_to_load_from_cache(repo, filename, cache_dir=cache,
                                                            revision=revision)
            if isinstance(cached, str):
                return Path(cached)
        errors = []
        for filename in files:
            try:
                return Path(huggingface_hub.hf_hub_download(repo, filename, cache_dir=cache,
                                                            revision=revision))
            except Exception as exc:  # offline, or this repository has the other file
                errors.append(f"{type(exc).__name__}: {exc}")
        raise FileNotFoundError(
            f"model={model!r}: no pretrained weights in the Hugging Face cache and they could "
            f"not be downloaded ({errors[0]}). Download https://huggingface.co/{repo}/resolve/"
            f"{revision or 'main'}/{files[0]} on a machine that can and pass weights=<path to "
            f"that file>, or fill this machine's cache {cache} (HF_HUB_CACHE moves it) by "
            f"copying the folder models--{repo.replace('/', '--')} from that machine's cache."
        ) from None
    if url:
        target = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
        if not target.is_file():
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(url, str(target), progress=False)
            except Exception as exc:
                raise FileNotFoundError(
                    f"model={model!r}: no pretrained weights in torch's hub cache and they "
                    f"could not be downloaded ({type(exc).__name__}: {exc}). Download {url} on "
                    f"a machine that can, and put it at {target} (TORCH_HOME moves it), or "
                    "pass weights=<path to the file>.") from exc
        return target
    raise FileNotFoundError(f"model={model!r}: timm has no pretrained weights for it; pass "
                            "weights=<path to a state_dict of that model>.")


def units(net: nn.Module) -> list[list[nn.Module | nn.Parameter]]:
    """timm's coarse parameter groups (stem, each stage or transformer block, final norm), as
    the modules that own their parameters; a parameter of the network itself (a ViT's
    ``cls_token``, ``pos_embed``) stands for itself."""
    from timm.models import group_parameters

    groups = group_parameters(net, net.group_matcher(coarse=True))
    units = []
    for _, names in sorted(groups.items()):
        unit = {}
        for name in names:
            owner, _, leaf = name.rpartition(".")
            item = net.get_submodule(owner) if owner else getattr(net, leaf)
            unit[id(item)] = item
        units.append(list(unit.values()))
    return units
