"""Import time of the classical path, against the scikit-learn and pandas it cannot avoid.

Times ``from mmlearn.fusion import EarlyFusion; from mmlearn.encoders import
ImagePixelEncoder`` in a fresh interpreter (wall clock around the statement, so numpy,
pandas and scikit-learn, which it needs, are counted), and, in fresh interpreters of the
same run, the floor: the scikit-learn and pandas modules every mmlearn estimator is built
on (``sklearn.base``, ``sklearn.pipeline``, ``sklearn.compose``, ``pandas``). Prints the
heavy libraries found in ``sys.modules`` after the mmlearn import (target: none of torch,
skorch, librosa, matplotlib). ``python -X importtime -c "..."`` shows where the time goes.
The last line is the median mmlearn import time, the floor's, and their ratio (mmlearn's
own share of the import is what is above 1.0).

    python benchmarks/import_time.py
"""

import json
import statistics
import subprocess
import sys

HEAVY = ("torch", "skorch", "librosa", "matplotlib")

TIMER = """
import json, sys, time
start = time.perf_counter()
{statement}
seconds = time.perf_counter() - start
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"seconds": seconds, "heavy": heavy}}))
"""

MMLEARN = ("from mmlearn.fusion import EarlyFusion\n"
           "from mmlearn.encoders import ImagePixelEncoder")
FLOOR = "import sklearn.base, sklearn.pipeline, sklearn.compose, pandas"


def one_run(statement: str) -> dict:
    code = TIMER.format(statement=statement, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def main(repeats: int = 5) -> None:
    mm, floor = [], []
    # Interleaved so that a burst of load on a shared machine hits both sides alike.
    for _ in range(repeats):
        mm.append(one_run(MMLEARN))
        floor.append(one_run(FLOOR)["seconds"])
    for run, base in zip(mm, floor, strict=True):
        print(f"mmlearn import {run['seconds']:.2f} s (scikit-learn + pandas alone "
              f"{base:.2f} s); heavy modules loaded: {run['heavy']}")
    mm_median = statistics.median(r["seconds"] for r in mm)
    floor_median = statistics.median(floor)
    print(f"median import time of EarlyFusion + ImagePixelEncoder: {mm_median:.2f} s; "
          f"scikit-learn + pandas alone: {floor_median:.2f} s; "
          f"ratio {mm_median / floor_median:.2f}")


if __name__ == "__main__":
    main()
