"""Bar chart of a modality_importance or modality_ablation result."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def plot_modality_importance(result: Mapping, *, ax=None):
    """Horizontal bars, one per modality, of an importance or ablation result.

    For :func:`modality_importance` results the bars are the mean score decreases with
    their standard deviation over the repeats as error bars; for
    :func:`modality_ablation` results they are the score drops with the modality missing.
    Modalities read top to bottom in the result's order. matplotlib is imported only here.

    Parameters
    ----------
    result : Bunch
        One result of either function (for several metrics, pass ``result[metric]``).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure's Axes when None.

    Returns
    -------
    ax : matplotlib Axes

    See Also
    --------
    modality_importance, modality_ablation : What it plots.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.utils import Bunch
    >>> from mmlearn.inspection import plot_modality_importance
    >>> result = Bunch(baseline_score=0.9, scores=[0.5, 0.8], drops=[0.4, 0.1],
    ...                modalities=["image", "audio"])
    >>> ax = plot_modality_importance(result)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['image', 'audio']
    """
    if "modalities" not in result:
        if all(isinstance(v, Mapping) and "modalities" in v for v in result.values()):
            raise TypeError(
                f"plot_modality_importance: got one result per metric {sorted(result)}; "
                "pass one of them, e.g. result[metric]."
            )
        raise TypeError(
            "plot_modality_importance expects the Bunch returned by modality_importance or "
            f"modality_ablation, got keys {sorted(result)}."
        )
    if "importances_mean" in result:
        values, errors = result["importances_mean"], result["importances_std"]
        label = "decrease in score with the modality shuffled"
    elif "drops" in result:
        values, errors = result["drops"], None
        label = "decrease in score with the modality missing"
    else:
        raise TypeError(
            "plot_modality_importance: the result has neither importances_mean "
            "(modality_importance) nor drops (modality_ablation)."
        )
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 0.5 + 0.5 * len(result["modalities"])))
    rows = np.arange(len(result["modalities"]))
    ax.barh(rows, values, xerr=errors, capsize=4 if errors is not None else 0)
    ax.set_yticks(rows, labels=[str(m) for m in result["modalities"]])
    ax.invert_yaxis()  # first modality on top, as listed
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel(label)
    ax.set_title(f"baseline score {float(result['baseline_score']):.3f}")
    return ax
