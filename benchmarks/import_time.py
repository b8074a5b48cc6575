"""Import time of the classical path, and whether it loads torch, skorch, librosa, matplotlib.

Times ``from mmlearn.fusion import EarlyFusion; from mmlearn.encoders import
ImagePixelEncoder`` in a fresh interpreter (wall clock around the statement, so numpy,
pandas and scikit-learn, which it needs, are counted), three times, and prints the heavy
libraries found in ``sys.modules`` afterwards. ``python -X importtime -c "..."`` shows
where the time goes. The last line is the median import time in seconds (target: at most
1.0 s on a quiet machine, and no torch).

    python benchmarks/import_time.py
"""

import json
import statistics
import subprocess
import sys

CODE = """
import json, sys, time
start = time.perf_counter()
from mmlearn.fusion import EarlyFusion
from mmlearn.encoders import ImagePixelEncoder
seconds = time.perf_counter() - start
heavy = [m for m in ("torch", "skorch", "librosa", "matplotlib") if m in sys.modules]
print(json.dumps({"seconds": seconds, "heavy": heavy}))
"""


def one_run() -> dict:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def main() -> None:
    runs = [one_run() for _ in range(3)]
    for run in runs:
        print(f"import {run['seconds']:.2f} s; heavy modules loaded: {run['heavy']}")
    print(f"median import time of EarlyFusion + ImagePixelEncoder: "
          f"{statistics.median(r['seconds'] for r in runs):.2f} s")


if __name__ == "__main__":
    main()
