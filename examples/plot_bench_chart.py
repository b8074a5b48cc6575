"""
Benchmark modalities and fusion strategies on the same folds
============================================================

:func:`mmlearn.bench.run_benchmark` is what ``mmlearn bench`` runs: every candidate of a
grid (each modality alone, and the modalities fused by each strategy, each followed by each
head) cross-validated on the same folds, ranked, and drawn by
:func:`mmlearn.bench.plot_results` as the chart ``mmlearn bench`` writes to
``bench-results/results.png``.

To keep the site's build short this runs a 3-fold grid on 300 of the 1,797 AV-digit pairs;
the full run is ``mmlearn bench --dataset av_digits`` (see the user guide page
*Benchmarking modalities and fusion*).
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from mmlearn.bench import format_table, plot_results, run_benchmark

# %%
# Run the grid
# ------------
# Two fusion strategies (early: concatenated features; late: stacked per-modality class
# probabilities) and two heads, beside each modality alone.
results = run_benchmark("av_digits", fusions=["early", "late"], heads=["logreg", "knn"],
                        cv=3, max_samples=300, seed=0)
print(format_table(results))

# %%
# The chart
# ---------
# The candidates ranked, best on top, with the uncertainty of each score across the folds
# (the user guide page says how to read it). ``plot_results`` writes a PNG file, as the
# command line does; here it is read back to show it.
with tempfile.TemporaryDirectory() as tmp:
    chart = plot_results(results, Path(tmp) / "results.png",
                         title="AV-digits, 300 pairs, 3-fold CV")
    image = plt.imread(chart)

height, width = image.shape[:2]
fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
fig.figimage(image)
plt.show()
