"""Benchmark reports: the ranked text table, CSV, JSON and a bar chart."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from mmlearn.bench.metrics import METRIC_LABELS, METRICS

__all__ = [
    "RESULT_FILES",
    "check_output_folder",
    "describe_ranking",
    "format_table",
    "plot_results",
    "write_results",
]

# Table headers short enough to keep the table narrow.
SHORT_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "bal. acc.",
                "macro_f1": "macro-F1", "roc_auc": "ROC AUC"}

#: The files :func:`write_results` writes into its folder.
RESULT_FILES = ("results.csv", "results.json", "results.png")


def _metric_of(results: pd.DataFrame, metric: str | None) -> str:
    if metric is not None:
        return metric
    return results.attrs.get("metadata", {}).get("metric", "accuracy")


def format_table(results: pd.DataFrame, *, metric: str | None = None) -> str:
    """The ranked results as an aligned plain-text table.

    The ranking metric comes first, as its mean with the 95 % confidence interval, then
    ``≈best``: ``yes`` where the corrected resampled t-test finds no difference from
    rank 1 (p >= 0.05), then the other metrics' means and the times.

    Parameters
    ----------
    results : DataFrame
        As returned by :func:`mmlearn.bench.run_benchmark`.
    metric : str, default=None
        The ranking metric; default: ``results.attrs["metadata"]["metric"]``, else
        ``"accuracy"``.

    Returns
    -------
    table : str

    Examples
    --------
    >>> import pandas as pd
    >>> from mmlearn.bench import format_table
    >>> row = dict(rank=1, family="classical", fusion="early", modalities="image+audio",
    ...            head="svc", accuracy_mean=0.98, balanced_accuracy_mean=0.979,
    ...            macro_f1_mean=0.979, ci_low=0.97, ci_high=0.99, tied_with_best=True,
    ...            fit_seconds=1.5, predict_seconds=0.25)
    >>> print(format_table(pd.DataFrame([row]), metric="accuracy"))
    ... # doctest: +NORMALIZE_WHITESPACE
    rank  family     fusion  modalities   head  accuracy (95% CI)      ≈best  bal. acc.
      macro-F1  fit s  predict s
       1  classical  early   image+audio  svc   0.980 [0.970, 0.990]  yes        0.979
         0.979   1.50       0.25
    """
    metric = _metric_of(results, metric)
    others = [m for m in METRICS if m != metric and f"{m}_mean" in results.columns]
    ranked = f"{SHORT_LABELS[metric]} (95% CI)"
    cells = pd.DataFrame({
        "rank": results["rank"].astype(str),
        "family": results["family"],
        "fusion": results["fusion"],
        "modalities": results["modalities"],
        "head": results["head"],
        ranked: [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else f"{m:.3f}"
                 for m, lo, hi in zip(results[f"{metric}_mean"], results["ci_low"],
                                      results["ci_high"], strict=True)],
        "≈best": ["yes" if t else "" for t in results["tied_with_best"]],
        **{SHORT_LABELS[m]: [f"{v:.3f}" for v in results[f"{m}_mean"]] for m in others},
        "fit s": [f"{v:.2f}" for v in results["fit_seconds"]],
        "predict s": [f"{v:.2f}" for v in results["predict_seconds"]],
    })
    right = {"rank", "fit s", "predict s", *(SHORT_LABELS[m] for m in others)}
    widths = {c: max(len(c), *(len(v) for v in cells[c])) if len(cells) else len(c)
              for c in cells.columns}

    def line(values):
        parts = [v.rjust(widths[c]) if c in right else v.ljust(widths[c])
                 for c, v in zip(cells.columns, values, strict=True)]
        return "  ".join(parts).rstrip()

    rows = [line(list(cells.columns))]
    rows += [line(list(map(str, r))) for r in cells.itertuples(index=False)]
    return "\n".join(rows)


def describe_ranking(results: pd.DataFrame) -> str:
    """One line saying what the table is ranked by and how ``≈best`` is decided.

    Parameters
    ----------
    results : DataFrame
        As returned by :func:`mmlearn.bench.run_benchmark`.

    Returns
    -------
    line : str
    """
    meta = results.attrs.get("metadata", {})
    metric = meta.get("metric", "accuracy")
    reason = meta.get("metric_reason")
    alpha = meta.get("alpha", 0.05)
    return (f"ranked by {METRIC_LABELS[metric]}" + (f" ({reason})" if reason else "")
            + f"; ≈best: no detectable difference from rank 1 (corrected resampled t-test, "
            f"p >= {alpha:g}); 95% CI of the mean over folds")


# Colour per encoder family (colour-blind-safe Okabe-Ito hues), marker per fusion level.
_FAMILY_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
_FUSION_MARKERS = {"single": "o", "early": "s", "late": "^", "voting": "v", "joint": "D"}
_OTHER_MARKERS = ("P", "X", "*", "h")


def _fusion_level(fusion: str) -> str:
    return "single" if fusion.endswith(" only") else fusion


def _styles(results: pd.DataFrame) -> tuple[dict, dict]:
    families = [f for f in dict.fromkeys(results["family"]) if f != "baseline"]
    colours = {f: _FAMILY_COLOURS[i % len(_FAMILY_COLOURS)] for i, f in enumerate(families)}
    levels = [_fusion_level(f) for f in dict.fromkeys(results["fusion"])
              if f != "majority class"]
    extra = iter(_OTHER_MARKERS * len(levels))
    markers = {lv: _FUSION_MARKERS.get(lv) or next(extra) for lv in dict.fromkeys(levels)}
    return colours, markers


def _label(row) -> str:
    if row.family == "baseline":
        return f"{row.rank}. majority class (baseline)"
    where = row.fusion if row.fusion.endswith(" only") else f"{row.fusion} · {row.modalities}"
    return f"{row.rank}. {row.family} · {where} · {row.head}"


def _axis_range(low: np.ndarray, high: np.ndarray, baseline: float | None) -> tuple:
    """An x range fitted to the candidates' intervals; the baseline joins it when it is
    less than a quarter of that range below it (otherwise it is drawn at the edge, marked
    off scale, so that it does not squeeze the differences between candidates)."""
    lo, hi = float(np.nanmin(low)), float(np.nanmax(high))
    if baseline is not None and baseline >= lo - 0.25 * (hi - lo):
        lo = min(lo, baseline)
    pad = max(hi - lo, 0.01) * 0.06
    # Every metric lies in [0, 1].
    return max(lo - pad, 0.0), min(hi + pad, 1.0)


def _pareto(seconds: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices of the candidates no other is both faster and at least as good as, by
    increasing time: the cost/benefit front."""
    order = np.lexsort((-scores, seconds))
    front, best = [], -np.inf
    for i in order:
        if scores[i] > best:
            front.append(i)
            best = scores[i]
    return np.array(front, dtype=int)


def plot_results(results: pd.DataFrame, path: str | Path, *, title: str | None = None,
                 metric: str | None = None) -> Path:
    """Save the benchmark chart: ranked scores, and score against fit time.

    Left: each candidate's mean score on the ranking metric with its 95 % confidence
    interval, best on top, on an axis fitted to the data (its range is printed under it);
    filled markers are statistically indistinguishable from the best, hollow ones are
    not. Colour gives the encoder family, marker shape the fusion level; the dashed line
    is the majority-class baseline. Right: the same score against mean fit seconds (log
    scale), numbered by rank, with the cost/benefit front (no candidate is both faster
    and better than a point on it) joined by a line.

    Parameters
    ----------
    results : DataFrame
        As returned by :func:`mmlearn.bench.run_benchmark`.
    path : str or Path
        The PNG file to write.
    title : str, default=None
    metric : str, default=None
        The ranking metric; default: ``results.attrs["metadata"]["metric"]``, else
        ``"accuracy"``.

    Returns
    -------
    path : Path
    """
    # A bare Figure renders with Agg and never touches pyplot's global backend or state.
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    metric = _metric_of(results, metric)
    label = METRIC_LABELS[metric]
    mean = results[f"{metric}_mean"].to_numpy(dtype=float)
    low = results["ci_low"].to_numpy(dtype=float) if "ci_low" in results else mean
    high = results["ci_high"].to_numpy(dtype=float) if "ci_high" in results else mean
    low, high = np.where(np.isfinite(low), low, mean), np.where(np.isfinite(high), high, mean)
    tied = (results["tied_with_best"].to_numpy(dtype=bool) if "tied_with_best" in results
            else np.zeros(len(results), dtype=bool))
    is_base = (results["family"] == "baseline").to_numpy()
    baseline = float(mean[is_base][0]) if is_base.any() else None
    colours, markers = _styles(results)
    keep = ~is_base if (~is_base).any() else np.ones(len(results), dtype=bool)
    x_lo, x_hi = _axis_range(low[keep], high[keep], baseline)

    n = int(keep.sum())
    fig = Figure(figsize=(14, 2.2 + 0.32 * max(n, 3)), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1.25, 1))
    positions = np.arange(n)[::-1]
    rows = results[keep]
    for y, (i, row) in zip(positions, enumerate(rows.itertuples(index=False)), strict=True):
        k = np.flatnonzero(keep)[i]
        colour = colours[row.family]
        marker = markers[_fusion_level(row.fusion)]
        left.plot([low[k], high[k]], [y, y], color=colour, lw=1.5, alpha=0.8)
        left.plot(mean[k], y, marker=marker, ms=7, color=colour, mec=colour,
                  mfc=colour if tied[k] else "white", mew=1.5, ls="none")
    left.set_yticks(positions, [_label(r) for r in rows.itertuples(index=False)],
                    fontsize=8)
    left.set_xlim(x_lo, x_hi)
    left.set_ylim(-0.7, n - 0.3)
    left.grid(axis="x", alpha=0.3)
    left.set_xlabel(f"{label}: mean over folds, 95% CI\n"
                    f"(axis from {x_lo:.3f} to {x_hi:.3f}, not from 0)", fontsize=9)
    left.set_title(f"Ranked by {label}", fontsize=10, loc="left")
    if baseline is not None:
        shown = min(max(baseline, x_lo), x_hi)
        off = " (off scale)" if shown != baseline else ""
        left.axvline(shown, color="0.3", ls="--", lw=1)
        if off:
            right.annotate(f"majority class {baseline:.3f} (off scale)", (0.01, 0.01),
                           xycoords="axes fraction", fontsize=8, color="0.3")
        else:
            right.axhline(baseline, color="0.3", ls="--", lw=1)
        left.annotate(f"majority class {baseline:.3f}{off}", (shown, n - 0.3),
                      xytext=(3, -10), textcoords="offset points", fontsize=8, color="0.3",
                      ha="left" if shown < (x_lo + x_hi) / 2 else "right")

    seconds = results["fit_seconds"].to_numpy(dtype=float)[keep]
    scores = mean[keep]
    for (_, row), s, m, t in zip(rows.iterrows(), seconds, scores, tied[keep], strict=True):
        colour = colours[row["family"]]
        right.plot(max(s, 1e-3), m, marker=markers[_fusion_level(row["fusion"])], ms=7,
                   color=colour, mfc=colour if t else "white", mew=1.5, ls="none")
        right.annotate(str(row["rank"]), (max(s, 1e-3), m), xytext=(4, 3),
                       textcoords="offset points", fontsize=7, color="0.25")
    front = _pareto(np.maximum(seconds, 1e-3), scores)
    right.plot(np.maximum(seconds, 1e-3)[front], scores[front], color="0.5", lw=1, zorder=0,
               drawstyle="steps-post")
    right.set_xscale("log")
    right.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    right.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    right.xaxis.set_minor_formatter(NullFormatter())
    right.set_ylim(x_lo, x_hi)
    right.set_xlabel("fit seconds per fold (log scale; as if uncached)", fontsize=9)
    right.set_ylabel(label, fontsize=9)
    right.set_title("Cost vs benefit (grey: the front; numbers are ranks)", fontsize=10,
                    loc="left")
    right.grid(alpha=0.3)

    handles = [Line2D([], [], color=c, lw=6, label=f) for f, c in colours.items()]
    handles += [Line2D([], [], color="0.3", marker=mk, ls="none", mfc="0.3",
                       label="single modality" if lv == "single" else f"{lv} fusion")
                for lv, mk in markers.items()]
    handles += [Line2D([], [], color="0.3", marker="o", ls="none", mfc="white",
                       label="significantly below the best")]
    if baseline is not None:
        handles.append(Line2D([], [], color="0.3", ls="--", label="majority class"))
    # Beside the panel, not over its points.
    right.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1),
                 borderaxespad=0)
    if title:
        fig.suptitle(title, fontsize=11)
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_output_folder(out: str | Path) -> Path:
    """Raise an OSError unless :func:`write_results` can write into ``out``; create nothing.

    ``mmlearn bench`` calls it before the run, so that an output path that cannot be used
    (an existing file, a folder under a file, a folder without write permission) is
    reported at once rather than after every candidate has been evaluated.

    Parameters
    ----------
    out : str or Path
        The output folder; it need not exist yet.

    Returns
    -------
    out : Path

    Raises
    ------
    NotADirectoryError
        ``out``, or the nearest of its parents that exists, is not a folder.
    IsADirectoryError
        A folder stands where one of the result files goes.
    PermissionError
        The folder (or the parent it would be created in) is not writable.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise NotADirectoryError(
                f"output folder {str(out)!r} is an existing file, not a folder: give a "
                "folder (created if needed) for results.csv, results.json and results.png."
            )
        for name in RESULT_FILES:
            target = out / name
            if target.is_dir():
                raise IsADirectoryError(
                    f"cannot write {str(target)!r}: a folder of that name is in the way."
                )
            if target.exists() and not os.access(target, os.W_OK):
                raise PermissionError(f"cannot overwrite {str(target)!r}: it is read-only.")
        if not os.access(out, os.W_OK | os.X_OK):
            raise PermissionError(f"output folder {str(out)!r} is not writable.")
        return out
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(
            f"cannot create output folder {str(out)!r}: {str(parent)!r} is a file, not a folder."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(
            f"cannot create output folder {str(out)!r}: {str(parent)!r} is not writable."
        )
    return out


def write_results(results: pd.DataFrame, out: str | Path) -> dict[str, Path]:
    """Write ``results.csv``, ``results.json`` and ``results.png`` into ``out``.

    Parameters
    ----------
    results : DataFrame
        As returned by :func:`mmlearn.bench.run_benchmark`; ``results.attrs["metadata"]``
        goes into the JSON.
    out : str or Path
        Folder, created if needed.

    Returns
    -------
    paths : dict of str -> Path
        ``{"csv": ..., "json": ..., "png": ...}``.

    Raises
    ------
    OSError
        Before writing anything, when ``out`` cannot hold the files (see
        :func:`check_output_folder`).
    """
    out = check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "results.csv", "json": out / "results.json",
             "png": out / "results.png"}
    # Per-fold lists stay out of the CSV (one scalar per cell); the JSON keeps them.
    scalar = results.drop(columns=[c for c in results.columns if c.endswith("_folds")])
    scalar.to_csv(paths["csv"], index=False, float_format="%.6g")
    metadata = results.attrs.get("metadata", {})
    document = {
        "metadata": _json_ready(metadata),
        "results": _json_ready(results.to_dict(orient="records")),
    }
    paths["json"].write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    title = None
    if metadata:
        classes = f"{metadata['n_classes']} classes, " if "n_classes" in metadata else ""
        title = (f"{metadata['dataset']}: {metadata['n_samples']} samples, {classes}"
                 f"{metadata['cv']}-fold {metadata['splitter']}")
    plot_results(results, paths["png"], title=title)
    return paths
