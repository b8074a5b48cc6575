"""Benchmark every modality and fusion strategy against each other: ``mmlearn bench``.

See ``docs/bench.md``.
"""

from mmlearn.bench.data import BenchData, load_builtin, load_table, subsample
from mmlearn.bench.grid import (
    ENCODERS,
    FUSIONS,
    HEADS,
    PRESETS,
    Candidate,
    EncoderOptions,
    Preset,
    build_candidates,
)
from mmlearn.bench.metrics import METRICS, choose_metric
from mmlearn.bench.predict import predict_table, refit_best
from mmlearn.bench.report import describe_ranking, format_table, plot_results, write_results
from mmlearn.bench.runner import RESULT_COLUMNS, run_benchmark
from mmlearn.bench.stats import compare_to_best, corrected_t_test, mean_confidence_interval

__all__ = [
    "ENCODERS",
    "FUSIONS",
    "HEADS",
    "METRICS",
    "PRESETS",
    "RESULT_COLUMNS",
    "BenchData",
    "Candidate",
    "EncoderOptions",
    "Preset",
    "build_candidates",
    "choose_metric",
    "compare_to_best",
    "corrected_t_test",
    "describe_ranking",
    "format_table",
    "load_builtin",
    "load_table",
    "mean_confidence_interval",
    "plot_results",
    "predict_table",
    "refit_best",
    "run_benchmark",
    "subsample",
    "write_results",
]
