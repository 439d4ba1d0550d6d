"""What every benchmark records about the run: machine, versions, threads, load, commit."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ENV = ["NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS"]


def machine_info(**extra) -> dict:
    """The run's context; ``extra`` adds script-specific entries (other package versions)."""
    try:
        commit = subprocess.run(  # "-dirty": msm had uncommitted edits when this ran
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = "unknown"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": layer,
        "git_commit": commit,
        "env": {name: os.environ.get(name) for name in ENV},
        "load_average_1min": os.getloadavg()[0],  # the machine is shared: note the noise
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }


def best_of(fn, repeats: int) -> tuple[list[float], object]:
    """Wall times of ``repeats`` calls of ``fn`` (garbage collected before each) and the last
    result."""
    times = []
    result = None
    for _ in range(repeats):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result
