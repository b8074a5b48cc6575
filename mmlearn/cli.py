"""The ``mmlearn`` command line: ``mmlearn bench`` compares modalities, fusions and heads;
``mmlearn predict`` applies the model ``mmlearn bench --save-best`` saved."""

from __future__ import annotations

import argparse
import os
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


# Each evaluation process holds the data set and its candidate's models: a bound on the
# default keeps a many-core machine's memory in check; --n-jobs overrides it.
MAX_DEFAULT_JOBS = 4


def default_jobs() -> int:
    """The number of ``mmlearn bench`` evaluations run in parallel when ``--n-jobs`` is not
    given: one per CPU core this process may use, at most :data:`MAX_DEFAULT_JOBS`.

    Examples
    --------
    >>> 1 <= default_jobs() <= MAX_DEFAULT_JOBS
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_JOBS))


def _add_bench(commands) -> None:
    from mmlearn.bench.cluster import scheduler_option
    from mmlearn.bench.grid import ENCODERS, FUSIONS, HEADS, PRESETS
    from mmlearn.bench.metrics import METRICS

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
                        help="audio sample rate (default: a built-in dataset's declared rate, else "
                             "the column's first file's; one that disagrees with a declared "
                             "rate is an error)")
    source.add_argument("--image-size", type=_image_size, metavar="N|HxW",
                        help="resize images (needed when their sizes differ)")
    source.add_argument("--groups", nargs="?", const=True, metavar="COL",
                        help="group-aware folds (StratifiedGroupKFold): the dataset's groups, "
                             "or the file's COL")
    source.add_argument("--max-samples", type=_positive, metavar="N",
                        help="use a stratified random subset of N rows")

    grid = bench.add_argument_group(
        "grid", "--preset picks the grid; --heads, --families and --fusions replace its axes")
    default = PRESETS["default"]
    grid.add_argument("--preset", choices=PRESETS, default="default",
                      help="default: families " + ",".join(default.families) + " x fusions "
                           + ",".join(default.fusions) + " x heads " + ",".join(default.heads)
                           + "".join(f", without {f} {u} fusion" for f, u in default.skip)
                           + ", deep models capped at "
                           + f"{default.max_epochs} epochs; full: every family, fusion and "
                           "head, no cap (see docs/bench.md)")
    grid.add_argument("--heads", type=_columns,
                      help=f"comma-separated heads ({', '.join(HEADS)})")
    grid.add_argument("--families", type=_columns,
                      help=f"encoder families ({', '.join(ENCODERS)})")
    grid.add_argument("--fusions", type=_columns,
                      help=f"fusion strategies ({', '.join(FUSIONS)})")

    run = bench.add_argument_group("evaluation and output")
    run.add_argument("--cv", type=_positive, default=5, help="number of folds (default: 5)")
    run.add_argument("--seed", type=int, default=0, help="seed of folds and subsample (0)")
    run.add_argument("--n-jobs", type=int, default=None, metavar="N",
                     help="evaluations run in parallel (default: one per CPU core this process "
                          f"may use, at most {MAX_DEFAULT_JOBS}; -1: all cores)")
    run.add_argument("--no-cache", action="store_true",
                     help="recompute the encoders for every candidate")
    run.add_argument("--scheduler", type=scheduler_option, metavar="ADDRESS",
                     help="run the evaluations on a Dask cluster: tcp://HOST:PORT of its "
                          "scheduler, or local[:N] to start N local workers (not with "
                          "--n-jobs; see docs/cluster.md)")
    run.add_argument("--backend", choices=("dask", "ray"), default="dask",
                     help="the engine behind --scheduler: dask (default) or ray (its "
                          "address ray://HOST:PORT or HOST:PORT, or local[:N] CPUs)")
    run.add_argument("--cache-dir", type=Path, metavar="DIR",
                     help="make the encoder cache in DIR (on a cluster: a folder every "
                          "worker mounts at the same path; default: a temporary folder)")
    run.add_argument("--metric", choices=METRICS, metavar="NAME",
                     help=f"rank by this metric ({', '.join(METRICS)}; default: macro_f1 "
                          "when the smallest class has under half the rows of the largest, "
                          "else accuracy)")
    run.add_argument("--out", type=Path, default=Path("bench-results"),
                     help="output folder (default: bench-results/)")
    run.add_argument("--save-best", type=Path, metavar="FILE",
                     help="refit the best candidate on all rows and save it to FILE "
                          "(mmlearn.io format; use it with mmlearn predict)")
    run.add_argument("--quiet", action="store_true", help="no progress bar or file list")
    # The handler reports usage errors through its own subcommand's parser, so that they
    # read `mmlearn bench: error: ...` with that subcommand's usage line.
    bench.set_defaults(handler=_bench, command_parser=bench)


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
    _add_predict(commands)
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
    from mmlearn.bench.cluster import ClusterError, on_cluster
    from mmlearn.bench.grid import ENCODERS, FUSIONS, HEADS, PRESETS
    from mmlearn.bench.predict import check_model_path
    from mmlearn.bench.report import check_output_folder, describe_ranking

    if args.backend != "dask" and not args.scheduler:
        parser.error(f"--backend {args.backend} needs --scheduler (its address, or "
                     "local[:N])")
    if args.scheduler and args.n_jobs is not None:
        parser.error("--n-jobs and --scheduler together: with --scheduler the cluster's "
                     "workers run the evaluations, one per worker thread; drop --n-jobs")
    n_jobs = args.n_jobs
    if n_jobs is None and not args.scheduler:
        n_jobs = default_jobs()
    if args.cache_dir is not None and not args.cache_dir.is_dir():
        parser.error(f"--cache-dir: no such folder: {str(args.cache_dir)!r}")
    try:
        # Before the run, which may take minutes: an unusable --out would only fail after it.
        check_output_folder(args.out)
    except OSError as exc:
        parser.error(f"--out: {_one_line(exc)}")
    if args.save_best is not None:
        try:
            check_model_path(args.save_best)
        except OSError as exc:
            parser.error(f"--save-best: {_one_line(exc)}")
    preset = PRESETS[args.preset]
    # The cells a preset leaves out are (family, fusion) pairs: an explicit --families or
    # --fusions asks for its cells in full, a change of --heads does not.
    explicit = args.families is not None or args.fusions is not None
    for axis, value in preset.axes().items():
        if getattr(args, axis) is None:
            setattr(args, axis, list(value))
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
        with on_cluster(args.scheduler, backend=args.backend):
            results = run_benchmark(
                data, families=args.families, fusions=args.fusions, heads=args.heads,
                cv=args.cv, seed=args.seed, groups=True if args.groups else None,
                max_samples=args.max_samples, sample_rate=args.sample_rate,
                image_size=args.image_size, n_jobs=n_jobs, cache=not args.no_cache,
                cache_dir=args.cache_dir, progress=not args.quiet, metric=args.metric,
                skip=() if explicit else preset.skip, max_epochs=preset.max_epochs,
            )
    except ClusterError as exc:  # unreachable, mismatched versions, a task lost
        parser.error(f"--scheduler {args.scheduler}: {_one_line(exc)}")
    except (ValueError, TypeError) as exc:
        # Data problems (a single class, too few rows per class for --cv, images of mixed
        # sizes without --image-size, cells of the wrong type for their encoder...) are the
        # user's to fix, and mmlearn's messages name the column: no traceback.
        parser.error(_one_line(exc))
    meta = results.attrs["metadata"]
    print(f"{meta['dataset']}: {meta['n_samples']} samples, {meta['n_classes']} classes, "
          f"{meta['cv']}-fold {meta['splitter']} (seed {meta['seed']}), "
          f"{meta['n_candidates']} candidates, {meta['wall_seconds']:.0f} s")
    print(describe_ranking(results))
    print(format_table(results))
    try:
        paths = write_results(results, args.out)
    except OSError as exc:  # the folder changed during the run
        parser.error(f"--out: {_one_line(exc)}")
    if args.save_best is not None:
        _save_best(results, data, args, parser)
        paths["model"] = args.save_best
    if not args.quiet:
        print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0


def _save_best(results, data, args, parser) -> None:
    from mmlearn.bench.predict import refit_best
    from mmlearn.io import save

    if not args.quiet:
        print(f"refitting {results.loc[0, 'candidate']} on all rows for --save-best",
              file=sys.stderr)
    try:
        save(refit_best(results, data), args.save_best)
    except OSError as exc:  # the folder changed during the run
        parser.error(f"--save-best: {_one_line(exc)}")


def _add_predict(commands) -> None:
    predict = commands.add_parser(
        "predict",
        help="predict with a model saved by mmlearn bench --save-best",
        description=(
            "Predict every row of a CSV or parquet file with a saved model; write the "
            "predictions (and class probabilities where the model has them) keyed by the "
            "input's index."
        ),
    )
    predict.add_argument("model", type=Path, help="a model file (mmlearn bench --save-best)")
    predict.add_argument("data", type=Path,
                         help="a CSV or parquet file holding the model's columns")
    predict.add_argument("--out", type=Path, default=Path("predictions.parquet"),
                         help="the predictions file, .parquet or .csv "
                              "(default: predictions.parquet)")
    predict.set_defaults(handler=_predict, command_parser=predict)


def _predict(args, parser) -> int:
    from mmlearn.bench.predict import predict_file

    try:
        predictions = predict_file(args.model, args.data, args.out)
    except OSError as exc:
        parser.error(_one_line(exc))
    except (ValueError, TypeError) as exc:
        # Not a model file, absent columns, cells an encoder cannot read: the user's to fix.
        parser.error(_one_line(exc))
    print(f"wrote {len(predictions)} predictions to {args.out}", file=sys.stderr)
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
    ...       "--families", "classical", "--fusions", "early", "--heads", "knn", "--quiet",
    ...       "--out", __import__("tempfile").mkdtemp()])
    ... # doctest: +ELLIPSIS
    av_digits: 60 samples, 10 classes, 2-fold StratifiedKFold (seed 0), 4 candidates, ...
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args, args.command_parser)
