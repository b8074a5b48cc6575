"""What a pretrained encoder is when frozen and when fine-tuned, shared by the image and
audio backbones.

``trainable_layers == 0``: a plain transformer around a frozen module (``module_``), no
labels, no predictions. ``trainable_layers > 0``: a classifier whose fine-tuning head gives
``predict``/``predict_proba``/``score``, with the module living inside the skorch net.
"""

from __future__ import annotations

import copy

import torch
from sklearn.utils.metaestimators import available_if

__all__ = ["FrozenOrFineTuned"]


class FrozenOrFineTuned:
    """Mixin placed before :class:`~mmlearn.encoders.DeepEncoder` in a pretrained encoder's
    bases; the encoder has a ``trainable_layers`` parameter and a ``module_`` (the frozen
    backbone, or the fine-tuned net's module)."""

    def _frozen(self) -> bool:
        return self.trainable_layers == 0

    def _fine_tuned(self) -> bool:
        return not self._frozen()

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
        elif "module_" in state and self.device.startswith("cuda") and \
                torch.cuda.is_available():
            self.module_ = self.module_.to(self.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self._frozen():
            # A frozen backbone is a plain transformer: no labels, no predictions.
            tags.estimator_type = None
            tags.classifier_tags = None
            tags.target_tags.required = False
        return tags
