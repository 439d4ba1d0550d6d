"""Weighted binomial GLM with cluster-robust variance: msm.glm against statsmodels GLM.

Compared side by side, in the same run, on the same data (8 covariates + intercept, subjects
of about 10 rows as clusters, log-normal weights, a binomial outcome):

- ``msm.glm``      ``msm.glm("y ~ x1 + ... + x8", frame, weights="w", cluster="id",
                   family="binomial")``: end to end from the DataFrame (validation, design
                   matrix, Newton fit, clustered sandwich)
- ``statsmodels``  ``sm.GLM(y, X, family=Binomial(), freq_weights=w).fit(cov_type="cluster",
                   cov_kwds={"groups": id})`` on prebuilt numpy arrays (its fastest path; the
                   design matrix is not timed for statsmodels)

Both fit to their own convergence criteria (statsmodels' default IRLS tolerance 1e-8 on the
deviance); agreement is checked and reported: coefficients, and statsmodels' cluster standard
errors against msm's ``cr1s`` (the same G/(G-1) (n-1)/(n-k) factor).  Methods are interleaved
in each round so that machine noise hits them alike; the table shows the best time, the JSON
also the median.  A profile of one msm fit says where its time goes.  Target: msm >= 10x
statsmodels.

Threads: numba's default OpenMP layer spins its threads at every barrier.  When the machine
is oversubscribed (other processes on the same cores) the fused passes then slow down by up to
10x and swing from run to run; ``OMP_WAIT_POLICY=PASSIVE`` (or
``NUMBA_THREADING_LAYER=workqueue``) removes that.  The layer, the policy and the load
average at start and end are recorded with the results.

Run from the repository root::

    python benchmarks/glm.py                       # 1e6 and 1e7 rows (a few minutes)
    python benchmarks/glm.py --rows 1e6 --repeats 5
    OMP_WAIT_POLICY=PASSIVE python benchmarks/glm.py --output /tmp/glm_passive.json
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import numba  # noqa: E402
import statsmodels  # noqa: E402
import statsmodels.api as sm  # noqa: E402
from _machine import machine_info  # noqa: E402

from msm.outcome import glm  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
N_COVARIATES = 8


def make_data(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """Person-time rows: id (about 10 rows each), 8 covariates, outcome y, weights w."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.integers(0, max(1, n_rows // 10), size=n_rows))
    columns = {}
    for j in range(1, N_COVARIATES + 1):
        if j % 4 == 0:
            columns[f"x{j}"] = rng.binomial(1, 0.3, size=n_rows).astype(np.float64)
        else:
            columns[f"x{j}"] = rng.normal(size=n_rows)
    frame = pd.DataFrame({"id": ids, **columns})
    beta = np.linspace(-0.5, 0.5, N_COVARIATES)
    eta = -2.0 + frame[list(columns)].to_numpy() @ beta
    eta += rng.normal(scale=0.5, size=ids[-1] + 1)[ids]  # a subject effect: clusters matter
    frame["y"] = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
    frame["w"] = rng.lognormal(sigma=0.5, size=n_rows)
    return frame


FORMULA = "y ~ " + " + ".join(f"x{j}" for j in range(1, N_COVARIATES + 1))


def fit_msm(frame: pd.DataFrame):
    return glm(FORMULA, frame, weights="w", cluster="id", family="binomial")


def fit_statsmodels(y, X, w, groups):
    model = sm.GLM(y, X, family=sm.families.Binomial(), freq_weights=w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "cov_type not fully supported with freq_weights"
        return model.fit(cov_type="cluster", cov_kwds={"groups": groups})


def profile_msm(frame: pd.DataFrame) -> dict[str, float]:
    """Seconds spent in the main pieces of one msm fit (cProfile cumulative times)."""
    profiler = cProfile.Profile()
    profiler.enable()
    fit_msm(frame)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    pieces = {
        "newton passes (glm_irls_pass)": "glm_irls_pass",
        "cluster score sums": "cluster_score_sums",
        "design matrix": "design_matrix",
        "finite checks": "_check_finite",
        "weights (resolve_weights)": "resolve_weights",
        "outcome check": "_outcome_values",
        "cluster codes (factorize)": "factorize",
    }
    out = {"total": max(v[3] for v in stats.values())}
    for label, function in pieces.items():
        out[label] = max((v[3] for key, v in stats.items() if key[2] == function), default=0.0)
    counts = [v[1] for key, v in stats.items() if key[2] == "glm_irls_pass"]
    out["newton passes (count)"] = counts[0] if counts else 0
    return out


def bench_size(n_rows: int, repeats: int, sm_repeats: int, seed: int) -> dict:
    frame = make_data(n_rows, seed)
    X = sm.add_constant(frame[[f"x{j}" for j in range(1, N_COVARIATES + 1)]].to_numpy())
    y = frame["y"].to_numpy()
    w = frame["w"].to_numpy()
    groups = frame["id"].to_numpy()

    times: dict[str, list[float]] = {"msm.glm": [], "statsmodels": []}
    fit = ref = None
    for round_ in range(max(repeats, sm_repeats)):
        if round_ < repeats:
            t0 = time.perf_counter()
            fit = fit_msm(frame)
            times["msm.glm"].append(time.perf_counter() - t0)
        if round_ < sm_repeats:
            t0 = time.perf_counter()
            ref = fit_statsmodels(y, X, w, groups)
            times["statsmodels"].append(time.perf_counter() - t0)

    params_rel = float(np.max(np.abs(fit.params.to_numpy() / ref.params - 1.0)))
    bse_rel = float(np.max(np.abs(fit.with_variance("cr1s").bse.to_numpy() / ref.bse - 1.0)))
    best = {name: min(ts) for name, ts in times.items()}
    return {
        "rows": n_rows,
        "clusters": fit.n_clusters,
        "covariates": N_COVARIATES,
        "msm_best_s": best["msm.glm"],
        "msm_median_s": statistics.median(times["msm.glm"]),
        "msm_repeats": len(times["msm.glm"]),
        "msm_newton_iterations": fit.n_iter,
        "statsmodels_best_s": best["statsmodels"],
        "statsmodels_median_s": statistics.median(times["statsmodels"]),
        "statsmodels_repeats": len(times["statsmodels"]),
        "statsmodels_iterations": int(ref.fit_history["iteration"]),
        "speedup": best["statsmodels"] / best["msm.glm"],
        "speedup_median": statistics.median(times["statsmodels"])
        / statistics.median(times["msm.glm"]),
        "max_rel_diff_params": params_rel,
        "max_rel_diff_cluster_se": bse_rel,
        "msm_profile_s": profile_msm(frame),
    }


def print_table(results: list[dict]) -> None:
    header = (
        f"{'rows':>8} {'clusters':>9} {'msm s':>8} {'sm s':>8} {'speedup':>8} "
        f"{'(median)':>9} {'iter msm/sm':>12} {'params rel':>11} {'se rel':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['rows']:>8.0e} {r['clusters']:>9d} {r['msm_best_s']:>8.3f} "
            f"{r['statsmodels_best_s']:>8.3f} {r['speedup']:>7.1f}x "
            f"{r['speedup_median']:>8.1f}x "
            f"{r['msm_newton_iterations']:>5d}/{r['statsmodels_iterations']:<6d} "
            f"{r['max_rel_diff_params']:>11.1e} {r['max_rel_diff_cluster_se']:>9.1e}"
        )
    for r in results:
        prof = r["msm_profile_s"]
        total = prof["total"]
        parts = ", ".join(
            f"{label} {seconds:.3f}s ({100 * seconds / total:.0f}%)"
            for label, seconds in prof.items()
            if label not in {"total", "newton passes (count)"} and seconds > 0.005 * total
        )
        print(
            f"\nmsm at {r['rows']:.0e} rows, profiled ({total:.3f}s in all; "
            f"{prof['newton passes (count)']} fused passes): {parts}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=float, nargs="+", default=[1e6, 1e7], help="row counts to time"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed msm fits per size")
    parser.add_argument(
        "--sm-repeats",
        type=int,
        default=None,
        help="timed statsmodels fits per size (default: --repeats, but 1 from 5e6 rows)",
    )
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS / "glm.json")
    args = parser.parse_args(argv)

    if args.threads is not None:
        numba.set_num_threads(args.threads)
    fit_msm(make_data(2000))  # compile (or load from the cache) before anything is timed

    info = machine_info(statsmodels=statsmodels.__version__)
    print(
        f"weighted binomial GLM, {N_COVARIATES} covariates + intercept, cluster-robust; "
        f"numba {info['numba']} with {info['numba_threads']} thread(s) on "
        f"{info['cpu_count']} CPU(s) ({info['numba_threading_layer']} layer, "
        f"OMP_WAIT_POLICY={info['env']['OMP_WAIT_POLICY']}); statsmodels "
        f"{info['statsmodels']}; load average "
        f"{info['load_average_1min']:.2f} at start"
    )
    results = []
    for n in args.rows:
        n = int(n)
        sm_repeats = args.sm_repeats or (args.repeats if n < 5_000_000 else 1)
        results.append(bench_size(n, args.repeats, sm_repeats, args.seed))
        print(f"  {n:.0e} rows done", flush=True)
    print()
    print_table(results)
    info["load_average_1min_end"] = os.getloadavg()[0]

    summary = {
        "target_speedup": 10.0,
        "speedup_by_rows": {str(r["rows"]): r["speedup"] for r in results},
        "meets_target": bool(all(r["speedup"] >= 10.0 for r in results)),
    }
    print(
        "\nspeedup over statsmodels (best times): "
        + ", ".join(f"{r['rows']:.0e} rows {r['speedup']:.1f}x" for r in results)
        + f" (target 10x); load average {info['load_average_1min_end']:.2f} at end"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {"benchmark": "glm", "machine": info, "summary": summary, "results": results},
            indent=2,
        )
        + "\n"
    )
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
