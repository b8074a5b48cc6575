"""The ``mmlearn`` command line: ``mmlearn bench`` compares modalities, fusions and heads."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mmlearn.bench.data import DATASETS, MODALITIES

__all__ = ["main", "build_parser"]


def _columns(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"empty column name in {text!r}")
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _image_size(text: str) -> int | tuple[int, int]:
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW (e.g. 32 or 32x48), got {text!r}")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _add_bench(commands) -> None:
    from mmlearn.bench.grid import DEFAULT_HEADS, ENCODERS, FUSIONS, HEADS

    bench = commands.add_parser(
        "bench",
        help="cross-validate each modality alone and fused, with several heads",
        description=(
            "Cross-validate every modality alone and all modalities fused, with several "
            "heads, on the same folds; print a ranked table and write results.csv, "
            "results.json and results.png."
        ),
    )
    source = bench.add_argument_group("data")
    source.add_argument("file", nargs="?", type=Path,
                        help="a CSV or parquet file (with --target and modality columns)")
    source.add_argument("--dataset", choices=DATASETS, help="a built-in dataset instead")
    source.add_argument("--target", help="the file's label column")
    for kind in MODALITIES:
        source.add_argument(
            f"--{kind}", type=_columns, action="extend", default=[], metavar="COLS",
            help=f"comma-separated {kind} columns"
                 + (" (file paths)" if kind in ("image", "audio") else ""),
        )
    source.add_argument("--sample-rate", type=_positive, metavar="HZ",
                        help="audio sample rate (default: the dataset's, else 16000)")
    source.add_argument("--image-size", type=_image_size, metavar="N|HxW",
                        help="resize images (needed when their sizes differ)")
    source.add_argument("--groups", nargs="?", const=True, metavar="COL",
                        help="group-aware folds (StratifiedGroupKFold): the dataset's groups, "
                             "or the file's COL")
    source.add_argument("--max-samples", type=_positive, metavar="N",
                        help="use a stratified random subset of N rows")

    grid = bench.add_argument_group("grid")
    grid.add_argument("--heads", type=_columns, default=list(DEFAULT_HEADS),
                      help=f"comma-separated heads ({', '.join(HEADS)}; "
                           f"default: {','.join(DEFAULT_HEADS)})")
    grid.add_argument("--families", type=_columns, default=["classical"],
                      help=f"encoder families ({', '.join(ENCODERS)}; default: classical)")
    grid.add_argument("--fusions", type=_columns, default=["early"],
                      help=f"fusion strategies ({', '.join(FUSIONS)}; default: early)")

    run = bench.add_argument_group("evaluation and output")
    run.add_argument("--cv", type=_positive, default=5, help="number of folds (default: 5)")
    run.add_argument("--seed", type=int, default=0, help="seed of folds and subsample (0)")
    run.add_argument("--n-jobs", type=int, default=None, metavar="N",
                     help="evaluations run in parallel (default: 1; -1: all cores)")
    run.add_argument("--no-cache", action="store_true",
                     help="recompute the encoders for every candidate")
    run.add_argument("--out", type=Path, default=Path("bench-results"),
                     help="output folder (default: bench-results/)")
    run.add_argument("--quiet", action="store_true", help="no progress bar or file list")
    bench.set_defaults(handler=_bench)


def build_parser() -> argparse.ArgumentParser:
    """The ``mmlearn`` argument parser.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    import mmlearn

    parser = argparse.ArgumentParser(prog="mmlearn",
                                     description="scikit-learn-compatible multimodal learning")
    parser.add_argument("--version", action="version", version=f"mmlearn {mmlearn.__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True)
    _add_bench(commands)
    return parser


def _load(args, parser):
    from mmlearn.bench.data import load_builtin, load_table, select_modalities

    chosen = {c: kind for kind in MODALITIES for c in getattr(args, kind)}
    if args.dataset and args.file:
        parser.error("give either a data file or --dataset, not both")
    if args.dataset:
        if args.target:
            parser.error("--target is for a data file; built-in datasets know their target")
        if isinstance(args.groups, str):
            parser.error("--groups COL is for a data file; use plain --groups for a dataset's")
        data = load_builtin(args.dataset)
        return select_modalities(data, chosen) if chosen else data
    if args.file is None:
        parser.error("give a data file (CSV or parquet) or --dataset NAME")
    if not args.file.is_file():
        parser.error(f"data file not found: {str(args.file)!r}")
    if not args.target:
        parser.error("--target COLUMN is required with a data file")
    if not chosen:
        parser.error("no modality columns given: use --image, --audio, --text and/or --tabular")
    groups = args.groups if isinstance(args.groups, str) else None
    return load_table(args.file, target=args.target, image=args.image, audio=args.audio,
                      text=args.text, tabular=args.tabular, sample_rate=args.sample_rate,
                      groups=groups)


def _one_line(exc: BaseException) -> str:
    # A wrapped library message may span lines (scikit-learn's NaN advice does); the CLI
    # reports one line after "mmlearn bench: error:".
    return " ".join(str(exc).split())


def _bench(args, parser) -> int:
    from mmlearn.bench import format_table, run_benchmark, write_results
    from mmlearn.bench.grid import ENCODERS, FUSIONS, HEADS
    from mmlearn.bench.report import check_output_folder

    try:
        # Before the run, which may take minutes: an unusable --out would only fail after it.
        check_output_folder(args.out)
    except OSError as exc:
        parser.error(f"--out: {_one_line(exc)}")
    try:
        data = _load(args, parser)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    for axis, registry in (("heads", HEADS), ("families", ENCODERS), ("fusions", FUSIONS)):
        unknown = [v for v in getattr(args, axis) if v not in registry]
        if unknown:
            parser.error(f"unknown --{axis} {', '.join(unknown)}; "
                         f"choose from {', '.join(registry)}")
    try:
        results = run_benchmark(
            data, families=args.families, fusions=args.fusions, heads=args.heads,
            cv=args.cv, seed=args.seed, groups=True if args.groups else None,
            max_samples=args.max_samples, sample_rate=args.sample_rate,
            image_size=args.image_size, n_jobs=args.n_jobs, cache=not args.no_cache,
            progress=not args.quiet,
        )
    except (ValueError, TypeError) as exc:
        # Data problems (a single class, too few rows per class for --cv, images of mixed
        # sizes without --image-size, cells of the wrong type for their encoder...) are the
        # user's to fix, and mmlearn's messages name the column: no traceback.
        parser.error(_one_line(exc))
    meta = results.attrs["metadata"]
    print(f"{meta['dataset']}: {meta['n_samples']} samples, {meta['n_classes']} classes, "
          f"{meta['cv']}-fold {meta['splitter']} (seed {meta['seed']}), "
          f"{meta['n_candidates']} candidates, {meta['wall_seconds']:.0f} s")
    print(format_table(results))
    try:
        paths = write_results(results, args.out)
    except OSError as exc:  # the folder changed during the run
        parser.error(f"--out: {_one_line(exc)}")
    if not args.quiet:
        print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mmlearn`` command.

    Parameters
    ----------
    argv : sequence of str, default=None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success (usage errors exit through ``SystemExit(2)``).

    Examples
    --------
    >>> from mmlearn.cli import main
    >>> main(["bench", "--dataset", "av_digits", "--max-samples", "60", "--cv", "2",
    ...       "--heads", "knn", "--quiet", "--out", __import__("tempfile").mkdtemp()])
    ... # doctest: +ELLIPSIS
    av_digits: 60 samples, 10 classes, 2-fold StratifiedKFold (seed 0), 3 candidates, ...
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args, parser)
