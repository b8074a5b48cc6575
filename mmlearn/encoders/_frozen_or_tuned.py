"""What a pretrained encoder is when frozen and when fine-tuned, shared by the image and
audio backbones.

``trainable_layers == 0``: a plain transformer around a frozen module (``module_``), no
labels, no predictions; its embeddings go through the embedding cache when the encoder
has one (``memory=``). ``trainable_layers > 0``: a classifier whose fine-tuning head gives
``predict``/``predict_proba``/``score``, with the module living inside the skorch net.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.utils.metaestimators import available_if

from mmlearn._nn.data import CellDataset, Source, resolve_workers
from mmlearn._nn.inference import run_module

__all__ = ["FrozenOrFineTuned"]


class FrozenOrFineTuned:
    """Mixin placed before :class:`~mmlearn.encoders.DeepEncoder` in a pretrained encoder's
    bases; the encoder has a ``trainable_layers`` parameter and a ``module_`` (the frozen
    backbone, or the fine-tuned net's module), and, when frozen, an ``_embedding_cache``
    (an :class:`~mmlearn.encoders._embedding_cache.EmbeddingCache` or None) set by its
    ``fit``."""

    def _frozen(self) -> bool:
        return self.trainable_layers == 0

    def _fine_tuned(self) -> bool:
        return not self._frozen()

    def _apply(self, dataset: CellDataset, method: str, width: int) -> np.ndarray:
        if not self._frozen():
            return super()._apply(dataset, method, width)
        # The module's own device: an encoder fitted on a GPU and unpickled on a machine
        # without one runs on the CPU.
        device = next(self.module_.parameters()).device

        def run(data: CellDataset) -> np.ndarray:
            return run_module(getattr(self.module_, method), data, width=width,
                              batch_size=self.batch_size, device=device,
                              n_workers=resolve_workers(self.n_workers, data))

        cache = getattr(self, "_embedding_cache", None)
        source = dataset.sources
        if cache is None or method != "embed" or not source.present.all():
            return run(dataset)
        # Only the rows the folder lacks reach the backbone, each distinct cell once.
        return cache.embed(source.cells.cells, lambda rows: run(CellDataset(
            Source(source.input, source.cells.subset(rows), convert_once=False))), width=width)

    @available_if(_fine_tuned)
    def predict_proba(self, X):
        """Class probabilities from the fine-tuning head (only when ``trainable_layers > 0``).

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of the encoder's modality's cells

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float32
        """
        return super().predict_proba(X)

    @available_if(_fine_tuned)
    def predict(self, X):
        """Class labels from the fine-tuning head (only when ``trainable_layers > 0``).

        Parameters
        ----------
        X : Series, one-column DataFrame, list or ndarray of the encoder's modality's cells

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return super().predict(X)

    @available_if(_fine_tuned)
    def score(self, X, y, sample_weight=None):
        """Accuracy of the fine-tuning head (only when ``trainable_layers > 0``)."""
        return super().score(X, y, sample_weight=sample_weight)

    def __getstate__(self):
        # A copy: the default __getstate__ returns the live __dict__, which must not change.
        state = dict(super().__getstate__())
        if "net_" in state:
            # Fine-tuned: the module is the net's; skorch pickles it (and moves it off a GPU
            # the unpickling machine lacks).
            state.pop("module_", None)
        elif state.get("module_") is not None and \
                next(state["module_"].parameters()).device.type != "cpu":
            # Weights go into the pickle on the CPU, so any machine can unpickle them.
            state["module_"] = copy.deepcopy(state["module_"]).cpu()
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "net_" in state:
            self.module_ = self.net_.module_
        elif isinstance(state.get("module_"), torch.nn.Module) and \
                self.device.startswith("cuda") and torch.cuda.is_available():
            # (mmlearn.io loads a placeholder here first and puts the module in after.)
            self.module_ = self.module_.to(self.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self._frozen():
            # A frozen backbone is a plain transformer: no labels, no predictions.
            tags.estimator_type = None
            tags.classifier_tags = None
            tags.target_tags.required = False
        return tags
