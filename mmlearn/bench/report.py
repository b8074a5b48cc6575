"""Benchmark reports: the ranked text table, CSV, JSON and a bar chart."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["RESULT_FILES", "check_output_folder", "format_table", "plot_results", "write_results"]

# Per-fold lists stay out of the CSV (one scalar per cell); the JSON keeps them.
_LIST_COLUMNS = ("accuracy_folds", "f1_macro_folds")

#: The files :func:`write_results` writes into its folder.
RESULT_FILES = ("results.csv", "results.json", "results.png")


def format_table(results: pd.DataFrame) -> str:
    """The ranked results as an aligned plain-text table.

    Parameters
    ----------
    results : DataFrame
        As returned by :func:`mmlearn.bench.run_benchmark`.

    Returns
    -------
    table : str

    Examples
    --------
    >>> import pandas as pd
    >>> from mmlearn.bench import format_table
    >>> row = dict(rank=1, family="classical", fusion="early", modalities="image+audio",
    ...            head="svc", accuracy_mean=0.98, accuracy_std=0.01, f1_macro_mean=0.979,
    ...            fit_seconds=1.5, predict_seconds=0.25)
    >>> print(format_table(pd.DataFrame([row])))
    rank  family     fusion  modalities   head  accuracy       macro-F1  fit s  predict s
       1  classical  early   image+audio  svc   0.980 ± 0.010     0.979   1.50       0.25
    """
    cells = pd.DataFrame({
        "rank": results["rank"].astype(str),
        "family": results["family"],
        "fusion": results["fusion"],
        "modalities": results["modalities"],
        "head": results["head"],
        "accuracy": [f"{m:.3f} ± {s:.3f}"
                     for m, s in zip(results["accuracy_mean"], results["accuracy_std"],
                                     strict=True)],
        "macro-F1": [f"{v:.3f}" for v in results["f1_macro_mean"]],
        "fit s": [f"{v:.2f}" for v in results["fit_seconds"]],
        "predict s": [f"{v:.2f}" for v in results["predict_seconds"]],
    })
    right = {"rank", "macro-F1", "fit s", "predict s"}
    widths = {c: max(len(c), *(len(v) for v in cells[c])) if len(cells) else len(c)
              for c in cells.columns}

    def line(values):
        parts = [v.rjust(widths[c]) if c in right else v.ljust(widths[c])
                 for c, v in zip(cells.columns, values, strict=True)]
        return "  ".join(parts).rstrip()

    rows = [line(list(cells.columns))]
    rows += [line(list(map(str, r))) for r in cells.itertuples(index=False)]
    return "\n".join(rows)


def plot_results(results: pd.DataFrame, path: str | Path, *, title: str | None = None) -> Path:
    """Save a horizontal bar chart of mean accuracy (± std across folds), best on top.

    Parameters
    ----------
    results : DataFrame
        As returned by :func:`mmlearn.bench.run_benchmark`.
    path : str or Path
        The PNG file to write.
    title : str, default=None

    Returns
    -------
    path : Path
    """
    # A bare Figure renders with Agg and never touches pyplot's global backend or state.
    from matplotlib.figure import Figure

    labels = [f"{f} · {h}" if f.endswith(" only") else f"{f} · {m} · {h}"
              for f, m, h in zip(results["fusion"], results["modalities"], results["head"],
                                 strict=True)]
    if results["family"].nunique() > 1:
        labels = [f"{fam} · {lab}" for fam, lab in zip(results["family"], labels, strict=True)]
    n = len(results)
    fig = Figure(figsize=(8, 1.2 + 0.35 * max(n, 1)), layout="constrained")
    ax = fig.add_subplot()
    positions = np.arange(n)[::-1]
    ax.barh(positions, results["accuracy_mean"], xerr=results["accuracy_std"],
            color="#4C72B0", ecolor="#333333", capsize=3)
    ax.set_yticks(positions, labels)
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("accuracy (mean ± std over folds)")
    for y, mean in zip(positions, results["accuracy_mean"], strict=True):
        # Inside the bar's end, clear of the error bar; outside when the bar is too short.
        inside = mean > 0.15
        ax.text(mean - 0.02 if inside else mean + 0.02, y, f"{mean:.3f}", va="center",
                ha="right" if inside else "left", fontsize=8,
                color="white" if inside else "black")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title)
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
    scalar = results.drop(columns=[c for c in _LIST_COLUMNS if c in results.columns])
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
        title = (f"{metadata['dataset']}: {metadata['n_samples']} samples, "
                 f"{metadata['cv']}-fold {metadata['splitter']}")
    plot_results(results, paths["png"], title=title)
    return paths
