"""Cluster bootstrap of a whole MSM analysis: msm.bootstrap with 1 and 2 worker processes.

Each replicate resamples 10,000 subjects x 10 visits (``msm.datasets.simulate_panel``) with
replacement and re-runs the analysis on the resample:

- ``msm.iptw``  stabilized weights for an absorbing treatment (denominator ``x + l + time``,
                numerator ``x + time``: two pooled logistic models on the rows up to
                initiation)
- ``msm.glm``   the pooled logistic MSM ``y ~ a + time + x`` with those weights and
                cluster-robust variance; the statistic is its coefficients
                (``--risk-curves`` adds ``msm.risk_curves`` under always/never treated)

Runs, in this order, on the same data and seed: ``n_jobs=2`` started cold (the time includes
starting the worker processes and importing msm in them), ``n_jobs=1`` (in this process,
numba on all cores), and ``n_jobs=2`` again with the workers already running.  The replicates
of the runs are compared: each replicate draws from its own SeedSequence child, so the
resamples are identical and the estimates agree to rounding (workers run numba kernels on one
thread, this process on all, and parallel sums may round differently).  A profile of single
replicates in this process says where a replicate's time goes (drawing and relabelling the
resample, iptw, glm).  Target: 200 replicates in under 60 s on 2 cores.

The machine may be shared: the load average (1 min) before and after each run is printed and
recorded, since other processes on the same cores slow the workers down in proportion.

Run from the repository root::

    python benchmarks/bootstrap.py                      # 200 replicates (about a minute)
    python benchmarks/bootstrap.py --n-boot 50 --subjects 2000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import joblib  # noqa: E402
from _machine import machine_info  # noqa: E402

import msm  # noqa: E402
from msm._bootstrap import Resampler  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TARGET_S = 60.0


def weights(d: pd.DataFrame) -> msm.Weights:
    return msm.iptw(
        d,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + time",
        numerator="x + time",
        absorbing=True,
    )


def outcome(d: pd.DataFrame, w: msm.Weights) -> msm.GLMResults:
    return msm.glm("y ~ a + time + x", d, weights=w, cluster="id", family="binomial")


def msm_params(d: pd.DataFrame) -> pd.Series:
    """The statistic: weights re-estimated, then the MSM's coefficients."""
    return outcome(d, weights(d)).params


def msm_params_and_risks(d: pd.DataFrame) -> pd.Series:
    """The statistic with ``--risk-curves``: coefficients and the risk curves, stacked."""
    fit = outcome(d, weights(d))
    risks = msm.risk_curves(fit, d, id="id", time="time", treatment="a")["risk"]
    risks.index = [f"risk_{regime}_{t}" for regime, t in risks.index]
    return pd.concat([fit.params, risks])


def profile_replicate(data: pd.DataFrame, statistic, n: int, seed: int) -> dict[str, float]:
    """Mean seconds per replicate, by step, over ``n`` replicates run in this process."""
    resampler = Resampler.from_data(data, "id")
    children = np.random.SeedSequence(seed).spawn(n)
    steps = {"resample (draw + relabel)": 0.0, "iptw": 0.0, "glm": 0.0}
    if statistic is msm_params_and_risks:
        steps["risk_curves"] = 0.0
    for child in children:
        t0 = time.perf_counter()
        frame = resampler.resample(data, np.random.default_rng(child))
        t1 = time.perf_counter()
        w = weights(frame)
        t2 = time.perf_counter()
        fit = outcome(frame, w)
        t3 = time.perf_counter()
        steps["resample (draw + relabel)"] += t1 - t0
        steps["iptw"] += t2 - t1
        steps["glm"] += t3 - t2
        if "risk_curves" in steps:
            msm.risk_curves(fit, frame, id="id", time="time", treatment="a")
            steps["risk_curves"] += time.perf_counter() - t3
    per = {k: v / n for k, v in steps.items()}
    per["total"] = sum(per.values())
    return per


def timed_run(data, statistic, n_boot: int, n_jobs: int, seed: int, label: str) -> dict:
    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    boot = msm.bootstrap(
        statistic, data, cluster="id", n_boot=n_boot, seed=seed, n_jobs=n_jobs, progress=False
    )
    wall = time.perf_counter() - t0
    load_end = os.getloadavg()[0]
    print(f"  {label}: {wall:.1f}s (load average {load_start:.2f} -> {load_end:.2f})", flush=True)
    return {
        "label": label,
        "load_average_1min": [load_start, load_end],
        "n_jobs": n_jobs,
        "wall_s": wall,
        "per_replicate_s": wall / n_boot,
        "n_succeeded": boot.n_succeeded,
        "n_failed": boot.n_failed,
        "boot": boot,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--visits", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--risk-curves", action="store_true", help="add risk curves")
    parser.add_argument("--profile", type=int, default=10, help="replicates profiled")
    parser.add_argument("--output", type=Path, default=RESULTS / "bootstrap.json")
    args = parser.parse_args(argv)

    data = msm.datasets.simulate_panel(args.subjects, args.visits, seed=args.seed)
    statistic = msm_params_and_risks if args.risk_curves else msm_params
    statistic(data.head(2000))  # compile (or load from the cache) before anything is timed
    info = machine_info(usable_cpus=joblib.cpu_count(), joblib=joblib.__version__)
    print(
        f"bootstrap of iptw + pooled logistic MSM{' + risk curves' if args.risk_curves else ''}"
        f": {args.n_boot} replicates of {args.subjects} subjects x {args.visits} visits "
        f"({len(data)} rows); {info['usable_cpus']} CPU(s), numba {info['numba']} "
        f"({info['numba_threading_layer']} layer, {info['numba_threads']} threads in this "
        f"process); load average {info['load_average_1min']:.2f} at start"
    )
    t0 = time.perf_counter()
    statistic(data)
    estimate_s = time.perf_counter() - t0
    runs = [
        timed_run(data, statistic, args.n_boot, 2, args.seed, "n_jobs=2 (cold workers)"),
        timed_run(data, statistic, args.n_boot, 1, args.seed, "n_jobs=1"),
        timed_run(data, statistic, args.n_boot, 2, args.seed, "n_jobs=2 (warm workers)"),
    ]
    reference = runs[1]["boot"].replicates
    for run in runs:
        diff = (run["boot"].replicates - reference).abs().to_numpy().max()
        run["max_abs_diff_vs_n_jobs_1"] = float(diff)
    profile = profile_replicate(data, statistic, args.profile, args.seed)
    info["load_average_1min_end"] = os.getloadavg()[0]

    serial = runs[1]["wall_s"]
    header = f"{'run':<26} {'wall s':>8} {'s/replicate':>12} {'vs n_jobs=1':>12} {'max |diff|':>11}"
    print()
    print(header)
    print("-" * len(header))
    for run in runs:
        print(
            f"{run['label']:<26} {run['wall_s']:>8.1f} {run['per_replicate_s']:>12.3f} "
            f"{serial / run['wall_s']:>11.2f}x {run['max_abs_diff_vs_n_jobs_1']:>11.1e}"
        )
    print(
        f"\nestimate on the full data (in this process): {estimate_s:.3f}s; one replicate, "
        f"profiled in this process over {args.profile}: "
        + ", ".join(f"{k} {v:.3f}s" for k, v in profile.items())
    )
    cold = runs[0]["wall_s"]
    print(
        f"{args.n_boot} replicates on 2 workers: {cold:.1f}s cold, {runs[2]['wall_s']:.1f}s "
        f"warm (target < {TARGET_S:.0f}s); load average {info['load_average_1min_end']:.2f} "
        "at end"
    )
    results = [{k: v for k, v in run.items() if k != "boot"} for run in runs]
    summary = {
        "target_s": TARGET_S,
        "n_jobs_2_cold_s": cold,
        "n_jobs_2_warm_s": runs[2]["wall_s"],
        "n_jobs_1_s": serial,
        "meets_target": bool(cold < TARGET_S),
        "max_abs_diff_between_runs": max(r["max_abs_diff_vs_n_jobs_1"] for r in results),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "bootstrap",
        "settings": {
            "n_boot": args.n_boot,
            "subjects": args.subjects,
            "visits": args.visits,
            "rows": len(data),
            "seed": args.seed,
            "risk_curves": args.risk_curves,
        },
        "machine": info,
        "summary": summary,
        "estimate_s": estimate_s,
        "profile_per_replicate_s": profile,
        "results": results,
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
