"""Modality dropout: the one rule that hides present modalities, for NumPy and torch alike.

:func:`dropout_mask` holds the rule and reads only the operators NumPy arrays and torch
tensors share (``&``, ``>=``, ``+``, ``.any(1)``, ``.argmax(1)``, indexing), so the same code
runs on both: :func:`sample_kept` draws from a NumPy ``RandomState`` (EarlyFusion and
LateFusion, once per ``fit_transform``), and :func:`mmlearn.fusion.ops.drop_modalities`
draws torch random numbers (JointFusion's network, once per training batch). This module
imports no torch.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["dropout_mask", "sample_kept"]

Mask = TypeVar("Mask")


def dropout_mask(present: Mask, rate: float, hide: object, pick: object) -> Mask:
    """Which present modalities each row keeps under modality dropout, given the draws.

    Each present modality of each row is hidden when its ``hide`` draw is below ``rate``.
    A row never loses all of its present modalities: when every one was hidden, the present
    modality with the highest ``pick`` draw is kept. Rows that had none stay empty, and an
    absent modality is never made present.

    Parameters
    ----------
    present : bool ndarray or bool torch.Tensor of shape (n_rows, n_modalities)
        Which modalities each row has.
    rate : float in [0, 1)
        The probability of hiding a present modality.
    hide, pick : ndarray or torch.Tensor of shape (n_rows, n_modalities)
        Independent uniform draws in [0, 1), of the same library as ``present``.

    Returns
    -------
    kept : bool ndarray or torch.Tensor of shape (n_rows, n_modalities)
        A new mask of the type of ``present`` (``present`` itself when ``rate <= 0``); a
        subset of ``present`` with a present modality in every row that had one.

    Examples
    --------
    >>> import numpy as np
    >>> present = np.array([[True, True], [True, False], [False, False]])
    >>> hide = np.array([[0.1, 0.2], [0.1, 0.9], [0.1, 0.1]])
    >>> pick = np.array([[0.3, 0.7], [0.5, 0.5], [0.5, 0.5]])
    >>> dropout_mask(present, 0.5, hide, pick).tolist()
    [[False, True], [True, False], [False, False]]
    """
    if tuple(hide.shape) != tuple(present.shape) or tuple(pick.shape) != tuple(present.shape):
        raise ValueError(
            f"modality dropout: the draws have shapes {tuple(hide.shape)} and "
            f"{tuple(pick.shape)}; the present mask has shape {tuple(present.shape)}."
        )
    if rate <= 0:
        return present
    kept = present & (hide >= rate)
    emptied = present.any(1) & ~kept.any(1)
    # A present modality scores 1 + its draw, an absent one its draw alone (< 1): the
    # argmax is a uniformly chosen present modality whenever the row has one.
    restore = (pick + present).argmax(1)
    kept[emptied, restore[emptied]] = True
    return kept


def sample_kept(present: np.ndarray, rate: float, random_state: object) -> np.ndarray:
    """:func:`dropout_mask` with draws from a NumPy random state.

    Parameters
    ----------
    present : bool ndarray of shape (n_rows, n_modalities)
    rate : float in [0, 1)
    random_state : int, RandomState instance or None
        Resolved with :func:`sklearn.utils.check_random_state`. The ``hide`` draws come
        first, then the ``pick`` draws; nothing is drawn when ``rate`` is 0.

    Returns
    -------
    kept : bool ndarray of shape (n_rows, n_modalities)
    """
    present = np.asarray(present, dtype=bool)
    if rate <= 0:
        return present
    rng = check_random_state(random_state)
    hide = rng.random_sample(present.shape)
    pick = rng.random_sample(present.shape)
    return dropout_mask(present, rate, hide, pick)
