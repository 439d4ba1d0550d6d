"""Cluster bootstrap of a whole MSM analysis: msm.bootstrap with 1 and 2 worker processes.

Two analyses (``--analysis``):

``jdm`` (the default): the README's main job, the JDM IVIG analysis of
``examples/jdm_ivig.py`` on 500 simulated patients (``msm.datasets.simulate_jdm``, about
7,500 patient-months).  The statistic is the example's ``msm_estimates``: stabilized treatment
x censoring weights (four pooled logistic models), the weighted pooled logistic MSM and the
risk curves under always/never IVIG.  JDM cohorts are small (Lam et al. 2011: 78 children),
so what a user waits for is the fixed cost of one analysis times the replicates.  Target: 200
replicates in under 5 s with 2 warm workers.

``panel``: each replicate resamples 10,000 subjects x 10 visits
(``msm.datasets.simulate_panel``) with replacement and re-runs the analysis on the resample:

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
resample, iptw, glm, risk curves; and the share of the IRLS kernel).  Target: 200 replicates in
under 60 s on 2 cores.

The machine may be shared: the load average (1 min) before and after each run is printed and
recorded, since other processes on the same cores slow the workers down in proportion.

Run from the repository root::

    python benchmarks/bootstrap.py                      # JDM IVIG, 200 replicates
    python benchmarks/bootstrap.py --analysis panel     # 10,000 subjects (about a minute)
    python benchmarks/bootstrap.py --analysis panel --n-boot 50 --subjects 2000
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

try:  # replicates re-use work done once on the original (absent before issue 11, item 8)
    from msm._bootstrap import Origin
except ImportError:  # an older checkout, for a before/after comparison
    Origin = None

RESULTS = ROOT / "benchmarks" / "results"
TARGET_S = {"panel": 60.0, "jdm": 5.0}  # warm 2 workers for jdm, cold for panel
sys.path.insert(0, str(ROOT / "examples"))
import jdm_ivig  # noqa: E402


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


def jdm_steps(d: pd.DataFrame):
    """The JDM statistic's steps, for the profile (same calls as ``msm_estimates``)."""
    w = jdm_ivig.weights(d)
    yield "iptw"
    fit = msm.glm(jdm_ivig.MSM, d, weights=w, cluster="id", family="binomial")
    yield "glm"
    msm.risk_curves(fit, d, id="id", time="month", treatment="ivig")
    yield "risk_curves"


def panel_steps(d: pd.DataFrame, risk_curves: bool):
    w = weights(d)
    yield "iptw"
    fit = outcome(d, w)
    yield "glm"
    if risk_curves:
        msm.risk_curves(fit, d, id="id", time="time", treatment="a")
        yield "risk_curves"


def profile_replicate(data: pd.DataFrame, steps, n: int, seed: int) -> dict[str, float]:
    """Mean seconds per replicate, by step, over ``n`` replicates run in this process.

    ``steps(frame)`` yields each step's name when it is done.  ``irls kernel`` is the time
    inside the fused IRLS pass (``msm._kernels.glm_irls_pass``, all models), part of the
    iptw and glm steps; the rest of those steps is Python, pandas and formulaic.
    """
    import msm._kernels as kernels

    resampler = Resampler.from_data(data, "id")
    origin = [] if Origin is None else [Origin(data)]  # as msm.bootstrap registers them
    children = np.random.SeedSequence(seed).spawn(n)
    totals: dict[str, float] = {"resample (draw + relabel)": 0.0}
    kernel = kernels.glm_irls_pass
    spent = [0.0]

    def timed_kernel(*args):
        t = time.perf_counter()
        try:
            return kernel(*args)
        finally:
            spent[0] += time.perf_counter() - t

    kernels.glm_irls_pass = timed_kernel
    try:
        for child in children:
            t0 = time.perf_counter()
            frame = resampler.resample(data, np.random.default_rng(child), *origin)
            totals["resample (draw + relabel)"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            for step in steps(frame):
                t1 = time.perf_counter()
                totals[step] = totals.get(step, 0.0) + t1 - t0
                t0 = t1
    finally:
        kernels.glm_irls_pass = kernel
    per = {k: v / n for k, v in totals.items()}
    per["total"] = sum(per.values())
    per["irls kernel (within iptw + glm)"] = spent[0] / n
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
    parser.add_argument("--analysis", choices=["jdm", "panel"], default="jdm")
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--patients", type=int, default=500, help="jdm: patients simulated")
    parser.add_argument("--subjects", type=int, default=10_000, help="panel: subjects")
    parser.add_argument("--visits", type=int, default=10, help="panel: visits")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--risk-curves", action="store_true", help="panel: add risk curves")
    parser.add_argument("--profile", type=int, default=None, help="replicates profiled")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    jdm = args.analysis == "jdm"
    if args.output is None:
        args.output = RESULTS / ("bootstrap_jdm.json" if jdm else "bootstrap.json")
    if args.profile is None:
        args.profile = 50 if jdm else 10

    if jdm:
        cohort = msm.datasets.simulate_jdm(n_patients=args.patients, seed=args.seed)
        data = jdm_ivig.prepare(cohort)
        statistic = jdm_ivig.msm_estimates
        steps = jdm_steps
        what = (
            f"JDM IVIG analysis (4 weight models, MSM, risk curves): {args.n_boot} replicates "
            f"of {args.patients} patients ({len(data)} patient-months)"
        )
        statistic(data)  # compile (or load from the cache) before anything is timed
    else:
        data = msm.datasets.simulate_panel(args.subjects, args.visits, seed=args.seed)
        statistic = msm_params_and_risks if args.risk_curves else msm_params

        def steps(d):
            return panel_steps(d, args.risk_curves)

        what = (
            f"iptw + pooled logistic MSM{' + risk curves' if args.risk_curves else ''}: "
            f"{args.n_boot} replicates of {args.subjects} subjects x {args.visits} visits "
            f"({len(data)} rows)"
        )
        statistic(data.head(2000))  # compile (or load from the cache) before anything is timed
    target = TARGET_S[args.analysis]
    info = machine_info(usable_cpus=joblib.cpu_count(), joblib=joblib.__version__)
    print(
        f"bootstrap of the {what}; {info['usable_cpus']} CPU(s), numba {info['numba']} "
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
    profile = profile_replicate(data, steps, args.profile, args.seed)
    info["load_average_1min_end"] = os.getloadavg()[0]

    serial = runs[1]["wall_s"]
    header = f"{'run':<26} {'wall s':>8} {'s/replicate':>12} {'vs n_jobs=1':>12} {'max |diff|':>11}"
    print()
    print(header)
    print("-" * len(header))
    for run in runs:
        print(
            f"{run['label']:<26} {run['wall_s']:>8.2f} {run['per_replicate_s']:>12.4f} "
            f"{serial / run['wall_s']:>11.2f}x {run['max_abs_diff_vs_n_jobs_1']:>11.1e}"
        )
    print(
        f"\nestimate on the full data (in this process): {estimate_s * 1e3:.1f} ms; one "
        f"replicate, profiled in this process over {args.profile}:"
    )
    for k, v in profile.items():
        print(f"  {k:<32} {v * 1e3:8.2f} ms")
    cold, warm = runs[0]["wall_s"], runs[2]["wall_s"]
    judged = warm if jdm else cold
    print(
        f"{args.n_boot} replicates on 2 workers: {cold:.2f}s cold, {warm:.2f}s warm (target "
        f"< {target:.0f}s {'warm' if jdm else 'cold'}); load average "
        f"{info['load_average_1min_end']:.2f} at end"
    )
    results = [{k: v for k, v in run.items() if k != "boot"} for run in runs]
    summary = {
        "target_s": target,
        "target_run": "n_jobs=2 (warm workers)" if jdm else "n_jobs=2 (cold workers)",
        "n_jobs_2_cold_s": cold,
        "n_jobs_2_warm_s": warm,
        "n_jobs_1_s": serial,
        "meets_target": bool(judged < target),
        "max_abs_diff_between_runs": max(r["max_abs_diff_vs_n_jobs_1"] for r in results),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    settings = {"analysis": args.analysis, "n_boot": args.n_boot, "rows": len(data)}
    if jdm:
        settings["patients"] = args.patients
    else:
        settings.update(subjects=args.subjects, visits=args.visits, risk_curves=args.risk_curves)
    settings["seed"] = args.seed
    payload = {
        "benchmark": "bootstrap",
        "settings": settings,
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
