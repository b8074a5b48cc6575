"""Free Spoken Digit Dataset (FSDD): 3,000 recordings of spoken digits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from mmlearn._audio_rate import set_sample_rate

from ._base import FSDD_SAMPLE_RATE, fsdd_audio_cells, fsdd_index, make_bunch

__all__ = ["load_spoken_digits"]


def load_spoken_digits(*, return_X_y: bool = False) -> Bunch | tuple[pd.DataFrame, np.ndarray]:
    """Load the Free Spoken Digit Dataset: 3,000 clips of 6 speakers saying 0-9.

    =================  ====================================================
    Samples            3,000 (rows sorted by digit, speaker, then take)
    Classes            10 (digits 0-9), 300 clips each
    ``audio`` cell     float32 1-D ndarray in [-1, 1), 8 kHz, 1,148-18,262 samples
    Test split         ``test_mask``: take 0-4 (FSDD's own split, 300 clips)
    Groups             ``groups``: speaker (6 speakers, 500 clips each)
    =================  ====================================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : pandas.DataFrame of shape (3000, 1)
            Column ``audio`` (``object`` dtype, one float32 waveform per cell). It declares
            its rate (:func:`mmlearn.set_sample_rate`), which audio encoders read.
        target : ndarray of shape (3000,), dtype int64
            The spoken digit.
        frame : pandas.DataFrame of shape (3000, 2)
            ``data`` with the ``digit`` target column.
        target_names : ndarray of shape (10,)
            The digits 0-9.
        feature_names : list of str
            ``["audio"]``.
        modalities : dict
            ``{"audio": "audio"}``.
        test_mask : ndarray of shape (3000,), dtype bool
            True for takes 0-4.
        groups : ndarray of shape (3000,), dtype object
            Speaker name, for :class:`~sklearn.model_selection.GroupKFold`.
        recording : ndarray of shape (3000,), dtype object
            Source file name (``"{digit}_{speaker}_{take}.wav"``).
        take : ndarray of shape (3000,), dtype int64
            Take number 0-49.
        sample_rate : int
            8000 (Hz).
        DESCR : str
            Description, source, licence and attribution.

    (data, target) : tuple if ``return_X_y`` is True

    See Also
    --------
    load_av_digits : The same recordings paired with handwritten digit images.

    Examples
    --------
    >>> from mmlearn.datasets import load_spoken_digits
    >>> bunch = load_spoken_digits()
    >>> bunch.data.shape
    (3000, 1)
    >>> sorted(set(bunch.groups))
    ['george', 'jackson', 'lucas', 'nicolas', 'theo', 'yweweler']
    >>> int(bunch.test_mask.sum())
    300
    """
    index = fsdd_index()
    audio = fsdd_audio_cells(index["offset"].to_numpy(), index["length"].to_numpy())
    data = pd.DataFrame({"audio": pd.Series(audio, dtype=object)})
    # The rate travels with the frame: audio encoders read it, nobody has to remember it.
    set_sample_rate(data, {"audio": FSDD_SAMPLE_RATE})
    take = index["take"].to_numpy(dtype=np.int64)
    return make_bunch(
        data=data,
        target=index["digit"].to_numpy(dtype=np.int64),
        target_column="digit",
        target_names=np.arange(10),
        modalities={"audio": "audio"},
        descr="spoken_digits",
        test_mask=take <= 4,
        return_X_y=return_X_y,
        groups=index["speaker"].to_numpy(dtype=object),
        recording=index["recording"].to_numpy(dtype=object),
        take=take,
        sample_rate=FSDD_SAMPLE_RATE,
    )
