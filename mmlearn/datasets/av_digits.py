"""AV-digits: sklearn's handwritten digit images paired with spoken digits (FSDD)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.utils import Bunch

from mmlearn._audio_rate import set_sample_rate

from ._base import (
    FSDD_SAMPLE_RATE,
    fsdd_audio_cells,
    fsdd_index,
    make_bunch,
    object_column,
    read_csv,
)

__all__ = ["load_av_digits"]


def load_av_digits(*, return_X_y: bool = False) -> Bunch | tuple[pd.DataFrame, np.ndarray]:
    """Load AV-digits: 1,797 digit images, each paired with a recording of the same digit.

    Every 8x8 image of :func:`sklearn.datasets.load_digits` is paired with one distinct
    Free Spoken Digit Dataset (FSDD) recording of the same digit, drawn at random within
    each class with a fixed seed (the "AV-MNIST" construction). The pairing is stored in
    the package (``data/av_digits_pairing.csv``), so it never depends on a random stream.

    =================  ====================================================
    Samples            1,797 (rows in ``load_digits`` order)
    Classes            10 (digits 0-9)
    ``image`` cell     float32 ndarray ``(8, 8)`` in [0, 1] (pixel / 16)
    ``audio`` cell     float32 1-D ndarray in [-1, 1), 8 kHz, 1,148-18,262 samples
    Test split         ``test_mask``: the recording's take is 0-4 (FSDD's own split)
    Groups             ``groups``: the recording's speaker (6 speakers)
    =================  ====================================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : pandas.DataFrame of shape (1797, 2)
            Columns ``image`` and ``audio`` (``object`` dtype, one ndarray per cell). It
            declares the audio rate (:func:`mmlearn.set_sample_rate`), which audio encoders
            read.
        target : ndarray of shape (1797,), dtype int64
            The digit.
        frame : pandas.DataFrame of shape (1797, 3)
            ``data`` with the ``digit`` target column.
        target_names : ndarray of shape (10,)
            The digits 0-9.
        feature_names : list of str
            ``["image", "audio"]``.
        modalities : dict
            ``{"image": "image", "audio": "audio"}``.
        test_mask : ndarray of shape (1797,), dtype bool
            True where the paired recording belongs to FSDD's test split (takes 0-4).
        groups : ndarray of shape (1797,), dtype object
            Speaker of the paired recording, for :class:`~sklearn.model_selection.GroupKFold`.
        recording : ndarray of shape (1797,), dtype object
            FSDD file name of the paired recording (``"{digit}_{speaker}_{take}.wav"``).
        take : ndarray of shape (1797,), dtype int64
            Take number of the paired recording.
        sample_rate : int
            8000 (Hz), the audio sampling rate.
        DESCR : str
            Description, sources, licences and attribution.

    (data, target) : tuple if ``return_X_y`` is True

    See Also
    --------
    load_spoken_digits : All 3,000 FSDD recordings, audio only.

    Examples
    --------
    >>> from mmlearn.datasets import load_av_digits
    >>> bunch = load_av_digits()
    >>> bunch.data.shape
    (1797, 2)
    >>> bunch.data["image"].iloc[0].shape, bunch.data["image"].iloc[0].dtype
    ((8, 8), dtype('float32'))
    >>> bunch.sample_rate
    8000
    >>> X, y = load_av_digits(return_X_y=True)
    >>> int(y[0])
    0
    """
    pairing = read_csv("av_digits_pairing.csv")
    digits = load_digits()
    if not np.array_equal(digits.target, pairing["digit"].to_numpy()):
        # The pairing was built against sklearn's digits; a reordered copy would pair
        # images with recordings of other digits, which must never pass silently.
        raise RuntimeError(
            "sklearn's load_digits() no longer matches the stored AV-digits pairing; "
            "rebuild it with scripts/build_datasets.py"
        )
    index = fsdd_index().set_index("recording")
    clips = index.loc[pairing["recording"]]

    images = (digits.images / 16.0).astype(np.float32)
    data = pd.DataFrame(
        {
            "image": pd.Series(object_column(list(images)), dtype=object),
            "audio": pd.Series(
                fsdd_audio_cells(clips["offset"].to_numpy(), clips["length"].to_numpy()),
                dtype=object,
            ),
        }
    )
    # The rate travels with the frame: audio encoders read it, nobody has to remember it.
    set_sample_rate(data, {"audio": FSDD_SAMPLE_RATE})
    take = clips["take"].to_numpy(dtype=np.int64)
    return make_bunch(
        data=data,
        target=pairing["digit"].to_numpy(dtype=np.int64),
        target_column="digit",
        target_names=np.arange(10),
        modalities={"image": "image", "audio": "audio"},
        descr="av_digits",
        test_mask=take <= 4,
        return_X_y=return_X_y,
        groups=clips["speaker"].to_numpy(dtype=object),
        recording=pairing["recording"].to_numpy(dtype=object),
        take=take,
        sample_rate=FSDD_SAMPLE_RATE,
    )
