"""Speed of ``msm.cumulative_incidence``: the Aalen-Johansen kernel against its numpy twin.

Compared side by side, in the same run, on the same data (two arms, two competing causes,
time-varying weights):

- ``msm``     ``msm.cumulative_incidence(...)``: validation, sorting, the numba kernel per arm
- ``kernel``  ``msm._kernels.aalen_johansen`` alone on the prepared arrays of one arm
- ``numpy``   ``tests.naive_cif.aalen_johansen``: the same recursion with whole-array numpy
              operations at each output time (the twin the kernel is tested against), on the
              same arm; skipped above ``--numpy-max`` subjects

Two designs: ``monthly`` (integer visit times, so few distinct output times: ties) and
``continuous`` (exponential event and censoring times: about one output time per subject).
The work is of order output times x subjects for every method (as in R's survfitaj.c); the
numpy twin also rebuilds the risk set with masks over all rows at every time.

Run from the repository root::

    python benchmarks/cif.py                      # 1e3, 1e4, 1e5 subjects
    python benchmarks/cif.py --subjects 1e3 1e4 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from _machine import best_of, machine_info  # noqa: E402

import msm  # noqa: E402
from msm import _kernels  # noqa: E402
from tests import naive_cif  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def simulate(n: int, design: str, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, n)
    if design == "monthly":
        end = rng.integers(1, 25, n).astype(float)
    else:
        end = np.round(rng.exponential(8.0, n), 6) + 1e-3
    cause = np.where(rng.random(n) < 0.6, rng.integers(1, 3, n), 0)
    months = np.ceil(end).astype(int)
    ids = np.repeat(np.arange(n), months)
    k = np.arange(months.sum()) - np.repeat(np.cumsum(months) - months, months)
    start = k.astype(float)
    stop = np.minimum(start + 1.0, end[ids])
    last = k == months[ids] - 1
    return pd.DataFrame(
        {
            "id": ids,
            "start": start,
            "stop": stop,
            "event": np.where(last, cause[ids], 0),
            "arm": arm[ids],
            "w": rng.uniform(0.5, 2.0, ids.size),
        }
    )


def arm_arrays(d: pd.DataFrame):
    part = d[d["arm"] == 0]
    ids, subject = np.unique(part["id"].to_numpy(), return_inverse=True)
    state = part["event"].to_numpy().astype(np.int64)
    last = ~part["id"].duplicated(keep="last").to_numpy()
    start = part["start"].to_numpy(float)
    stop = part["stop"].to_numpy(float)
    times = np.unique(stop[(state > 0) | last])
    return (
        start, stop, part["w"].to_numpy(float), state, subject.astype(np.int64),
        np.argsort(start, kind="stable"), np.argsort(stop, kind="stable"), times, ids.size, 2,
        0.0, np.inf,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=float, nargs="+", default=[1e3, 1e4, 1e5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--numpy-max", type=float, default=1e4)
    args = parser.parse_args()
    rows = []
    for design in ("monthly", "continuous"):
        for n in map(int, args.subjects):
            d = simulate(n, design)
            arrays = arm_arrays(d)
            _kernels.aalen_johansen(*arrays)  # compile outside the timing
            methods = {
                "msm": lambda d=d: msm.cumulative_incidence(
                    d, id="id", start="start", stop="stop", event="event", weights="w", by="arm"
                ),
                "kernel": lambda a=arrays: _kernels.aalen_johansen(*a),
            }
            if n <= args.numpy_max:
                methods["numpy"] = lambda a=arrays: naive_cif.aalen_johansen(*a)
            timed = {}
            for name, fn in methods.items():
                times, _ = best_of(fn, args.repeats if name != "numpy" else 1)
                timed[name] = times
            row = {
                "design": design,
                "subjects": n,
                "rows": len(d),
                "output_times_arm0": int(arrays[7].size),
                **{f"{k}_best_s": min(v) for k, v in timed.items()},
                **{f"{k}_median_s": statistics.median(v) for k, v in timed.items()},
            }
            if "numpy" in timed:
                row["numpy_over_kernel"] = min(timed["numpy"]) / min(timed["kernel"])
            rows.append(row)
            shown = "  ".join(f"{k} {min(v):8.4f}s" for k, v in timed.items())
            print(f"{design:10s} {n:>7d} subjects {len(d):>8d} rows "
                  f"{arrays[7].size:>6d} times   {shown}")  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "cif.json"
    out.write_text(json.dumps({"machine": machine_info(), "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
