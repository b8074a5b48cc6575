"""Benchmark every modality and fusion strategy against each other: ``mmlearn bench``.

See ``docs/bench.md``.
"""

from mmlearn.bench.data import BenchData, load_builtin, load_table, subsample
from mmlearn.bench.grid import (
    ENCODERS,
    FUSIONS,
    HEADS,
    Candidate,
    EncoderOptions,
    build_candidates,
)
from mmlearn.bench.report import format_table, plot_results, write_results
from mmlearn.bench.runner import RESULT_COLUMNS, run_benchmark

__all__ = [
    "ENCODERS",
    "FUSIONS",
    "HEADS",
    "RESULT_COLUMNS",
    "BenchData",
    "Candidate",
    "EncoderOptions",
    "build_candidates",
    "format_table",
    "load_builtin",
    "load_table",
    "plot_results",
    "run_benchmark",
    "subsample",
    "write_results",
]
