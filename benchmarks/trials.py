"""Sequential trials (``msm.trial_sequence``, ITT): expansion, censoring weights and the MSM.

Data: a TrialEmulation-like panel simulated here (``simulate``): subjects followed over up to
``periods`` periods, baseline ``x1`` (0/1) and ``x3``, time-varying ``x2``, a treatment that
starts with a hazard depending on ``x1, x2`` and then stays on, eligibility while untreated
before the period (so every subject has many eligible periods), censoring (``censored`` = 1
ends the subject's rows) depending on ``x1, x2``, and a rare outcome.  The analysis is
TrialEmulation's ITT example::

    seq = msm.trial_sequence(data, id="id", time="period", treatment="treatment",
                             outcome="outcome", eligible="eligible", censor="censored",
                             censor_numerator="x2", censor_denominator="x2 + x1",
                             pool_censor="numerator", covariates=["x3"])
    seq.fit("outcome ~ assigned + followup + I(followup**2) + trial + I(trial**2) + x2")

Measured, side by side in one run (best of ``--repeats``):

1. ``expansion``: ``trial_sequence`` at 1e6 person-period rows (about 40 trials per
   subject), with and without the censoring weights; and its peak memory in a fresh
   subprocess (tracemalloc peak: numpy and pandas allocations) against the bytes of the
   columns of ``seq.expanded``.  Target: < 1 s, peak <= 1.5x.
2. ``pandas``: expansion + censoring weights + MSM fit in msm against the same steps written
   plainly in pandas (``groupby``, a ``merge`` of each subject's eligible rows with its rows,
   statsmodels GLM for the censoring models and the MSM with cluster-robust variance).  The
   two must give the same expanded rows (asserted) and weights and MSM coefficients (max
   relative difference printed, asserted < 1e-6: statsmodels stops at its default
   tolerance).  Target: >= 20x.
3. ``R``: data of the size of TrialEmulation's own example (48,400 person-periods, 1.94e6
   expanded rows), msm's whole ITT analysis against R TrialEmulation 0.0.4.8's timings on this
   machine class (``../shared/conformance/trialemulation/cases.json``, ``timing``: 10.2 s to
   expand, 77.3 s expand + fit).  Target: < 2 s.

4. ``stream``: the MSM fitted without storing the expansion (``trial_sequence(...,
   materialize=False)``, Newton passes regenerating the trial rows) beside the stored
   expansion, at about 1e6 and 5e6 expanded rows: time (emulation + fit) and peak memory
   (tracemalloc, each in a fresh subprocess); the two fits' coefficients and standard errors
   must agree to 1e-10 (asserted).

Run from the repository root::

    python benchmarks/trials.py              # all four
    python benchmarks/trials.py --quick      # smaller sizes, one repeat
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import subprocess
import sys
import tracemalloc
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
from _machine import best_of, machine_info  # noqa: E402

import msm  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
R_TIMING = ROOT.parent / "shared" / "conformance" / "trialemulation" / "cases.json"
SPEC = dict(
    id="id",
    time="period",
    treatment="treatment",
    outcome="outcome",
    eligible="eligible",
    censor="censored",
    censor_numerator="x2",
    censor_denominator="x2 + x1",
    pool_censor="numerator",
    covariates=["x3"],
)
NO_CENSOR = {k: v for k, v in SPEC.items() if not k.startswith("censor") and k != "pool_censor"}
MSM_FORMULA = "outcome ~ assigned + followup + I(followup**2) + trial + I(trial**2) + x2"
# sizes: (subjects, periods, treatment-start intercept); about 40 trials per subject at "1e6",
# TrialEmulation's trial_example size (503 subjects, 48,400 rows, ~1.9e6 expanded) at "R"
SIZES = {
    "1e6": (20_000, 60, -4.8),
    "R": (503, 130, -4.8),
    "quick": (2_000, 60, -4.8),
}


def expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def simulate(n_subjects: int, periods: int, start: float, seed: int) -> pd.DataFrame:
    """A TrialEmulation-like person-period panel (see the module docstring)."""
    rng = np.random.default_rng(seed)
    shape = (n_subjects, periods)
    x1 = rng.binomial(1, 0.5, n_subjects)[:, None] * np.ones(shape)
    x3 = rng.normal(size=n_subjects)[:, None] * np.ones(shape)
    x2 = rng.normal(size=shape)
    starts = rng.random(shape) < expit(start + 0.5 * x1 + 0.3 * x2)
    treatment = (np.cumsum(starts, axis=1) > 0).astype(np.int64)
    before = np.zeros(shape, dtype=np.int64)
    before[:, 1:] = treatment[:, :-1]
    eligible = (before == 0).astype(np.int64)
    censored = (rng.random(shape) < expit(-6.0 + 0.4 * x2 + 0.5 * x1)).astype(np.int64)
    outcome = (rng.random(shape) < expit(-6.0 + 0.3 * x2 - 0.4 * treatment + 0.2 * x3)).astype(
        np.int64
    )
    outcome[censored == 1] = 0  # censored at the end of the period: no outcome seen
    stop = (censored == 1) | (outcome == 1)
    stopped_before = np.zeros(shape, dtype=bool)
    stopped_before[:, 1:] = np.cumsum(stop, axis=1)[:, :-1] > 0
    keep = ~stopped_before.ravel()
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_subjects, dtype=np.int64), periods),
            "period": np.tile(np.arange(periods, dtype=np.int64), n_subjects),
            "treatment": treatment.ravel(),
            "x1": x1.ravel(),
            "x2": x2.ravel(),
            "x3": x3.ravel(),
            "eligible": eligible.ravel(),
            "censored": censored.ravel(),
            "outcome": outcome.ravel(),
        }
    )
    return frame[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# the two implementations


def run_msm(data: pd.DataFrame, spec: dict = SPEC):
    return msm.trial_sequence(data, **spec)


def run_msm_all(data: pd.DataFrame):
    seq = run_msm(data)
    return seq, seq.fit(MSM_FORMULA)


def pandas_expand(data: pd.DataFrame) -> pd.DataFrame:
    """ITT expansion with censoring weights, the plain way: pandas + statsmodels GLM."""
    df = data.sort_values(["id", "period"], kind="stable")
    by_id = df.groupby("id", sort=False)
    df = df[by_id["eligible"].cummax() > 0]  # rows from the first eligible one
    events_before = df.groupby("id", sort=False)["outcome"].cumsum() - df["outcome"]
    df = df[events_before == 0].copy()  # rows up to the first outcome
    df["am_1"] = df.groupby("id", sort=False)["treatment"].shift(1, fill_value=0)
    binomial = sm.families.Binomial()
    uncensored = 1 - df["censored"]
    x_num = sm.add_constant(df[["x2"]])
    p_num = sm.GLM(uncensored, x_num, family=binomial).fit().predict(x_num)
    p_den = pd.Series(np.nan, index=df.index)
    for k in (0, 1):  # the denominator by previous treatment (pool_censor="numerator")
        rows = df["am_1"] == k
        x_den = sm.add_constant(df.loc[rows, ["x2", "x1"]])
        fit = sm.GLM(uncensored[rows], x_den, family=binomial).fit()
        p_den[rows] = fit.predict(x_den)
    df["cum"] = (p_num / p_den).groupby(df["id"], sort=False).cumprod()
    trials = df.loc[df["eligible"] == 1, ["id", "period", "treatment", "cum", "x2", "x3"]]
    trials = trials.rename(columns={"period": "trial", "treatment": "assigned", "cum": "base"})
    rows = df[["id", "period", "treatment", "outcome", "cum"]]
    ex = trials.merge(rows, on="id")
    ex = ex[ex["period"] >= ex["trial"]]
    ex = ex.assign(followup=ex["period"] - ex["trial"], weight=ex["cum"] / ex["base"])
    ex = ex.sort_values(["id", "trial", "followup"], kind="stable", ignore_index=True)
    columns = ["id", "trial", "followup", "assigned", "treatment", "outcome", "weight", "x2", "x3"]
    return ex[columns]


def pandas_fit(ex: pd.DataFrame):
    """The MSM: statsmodels weighted pooled logistic, cluster-robust variance by id."""
    x = pd.DataFrame(
        {
            "Intercept": 1.0,
            "assigned": ex["assigned"],
            "followup": ex["followup"],
            "I(followup ** 2)": ex["followup"] ** 2,
            "trial": ex["trial"],
            "I(trial ** 2)": ex["trial"] ** 2,
            "x2": ex["x2"],
        }
    )
    model = sm.GLM(ex["outcome"], x, family=sm.families.Binomial(), var_weights=ex["weight"])
    return model.fit(cov_type="cluster", cov_kwds={"groups": ex["id"].to_numpy()})


def run_pandas_all(data: pd.DataFrame):
    ex = pandas_expand(data)
    return ex, pandas_fit(ex)


def compare(seq, fit, ex, sm_fit) -> dict:
    """Same expanded rows (asserted); max relative differences of weights and the MSM."""
    keys = ["id", "trial", "followup", "assigned", "treatment", "outcome"]
    mine = seq.expanded
    assert len(mine) == len(ex), (len(mine), len(ex))
    for key in keys:
        assert np.array_equal(mine[key].to_numpy(), ex[key].to_numpy()), key
    for key in ("x2", "x3"):
        assert np.array_equal(mine[key].to_numpy(), ex[key].to_numpy()), key
    weight = float(np.max(np.abs(mine["weight"].to_numpy() / ex["weight"].to_numpy() - 1.0)))
    params = np.asarray(fit.params, dtype=float)
    ref = sm_fit.params.to_numpy()
    coef = float(np.max(np.abs(params - ref) / np.maximum(np.abs(ref), 1e-300)))
    bse = float(np.max(np.abs(np.asarray(fit.bse, dtype=float) / sm_fit.bse.to_numpy() - 1.0)))
    # statsmodels stops at its default tolerance (1e-8 on the deviance): agreement to ~1e-9
    assert weight < 1e-6 and coef < 1e-6, (weight, coef)
    return {"weight_max_rel_diff": weight, "params_max_rel_diff": coef, "bse_max_rel_diff": bse}


def expanded_bytes(seq) -> int:
    return int(sum(seq.expanded[c].to_numpy().nbytes for c in seq.expanded.columns))


def describe(data: pd.DataFrame, seq) -> dict:
    n_ids = int(data["id"].nunique())
    return {
        "input_rows": len(data),
        "subjects": n_ids,
        "expanded_rows": len(seq.expanded),
        "trials_per_subject": int((seq.expanded["followup"] == 0).sum()) / n_ids,
        "expanded_bytes": expanded_bytes(seq),
    }


# ---------------------------------------------------------------------------------------------
# the streamed MSM beside the stored expansion, each in a fresh subprocess

# (subjects, periods, treatment-start intercept): about 1e6 and 5e6 expanded rows
STREAM_SIZES = {"1e6": (840, 60, -4.8), "5e6": (4200, 60, -4.8), "quick": (200, 60, -4.8)}


def stream_child(size: str, mode: str, seed: int) -> dict:
    """Time and peak memory of emulation + MSM fit, stored (mode "stored") or streamed."""
    n, periods, start = STREAM_SIZES[size]
    materialize = mode == "stored"

    def run(frame):
        seq = msm.trial_sequence(frame, materialize=materialize, **SPEC)
        return seq, seq.fit(MSM_FORMULA)

    # compile / load the kernels, serial and parallel (above msm's serial threshold)
    run(simulate(2_000, periods, start, seed))
    data = simulate(n, periods, start, seed)
    times, (seq, fit) = best_of(lambda: run(data), 1)
    n_rows = len(seq.expanded) if materialize else seq.n_rows
    fit_kept, seq, fit = fit, None, None
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    run(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "size": size,
        "mode": mode,
        "expanded_rows": n_rows,
        "seconds": min(times),
        "tracemalloc_peak_bytes": int(peak - before),
        "params": fit_kept.params.tolist(),
        "bse": fit_kept.bse.tolist(),
    }


def measure_stream(size: str, seed: int, threads: int | None) -> dict:
    out = {}
    for mode in ("stored", "streamed"):
        command = [sys.executable, __file__, "--stream-child", f"{size}:{mode}", "--seed",
                   str(seed)]  # fmt: skip
        if threads is not None:
            command += ["--threads", str(threads)]
        run = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
        out[mode] = json.loads(run.stdout.strip().splitlines()[-1])
    stored, streamed = out["stored"], out["streamed"]
    params = float(np.max(np.abs(np.array(streamed["params"]) / stored["params"] - 1.0)))
    bse = float(np.max(np.abs(np.array(streamed["bse"]) / stored["bse"] - 1.0)))
    assert params < 1e-10 and bse < 1e-10, (params, bse)
    return {
        **out,
        "params_max_rel_diff": params,
        "bse_max_rel_diff": bse,
        "time_ratio": streamed["seconds"] / stored["seconds"],
        "memory_ratio": streamed["tracemalloc_peak_bytes"] / stored["tracemalloc_peak_bytes"],
    }


# ---------------------------------------------------------------------------------------------
# peak memory of the expansion, in a fresh subprocess


def memory_child(size: str, seed: int) -> dict:
    n, periods, start = SIZES[size]
    run_msm(simulate(200, periods, start, seed))  # compile / load the kernels
    data = simulate(n, periods, start, seed)
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    seq = run_msm(data)
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    nbytes = expanded_bytes(seq)
    return {
        "size": size,
        "expanded_rows": len(seq.expanded),
        "expanded_bytes": nbytes,
        "tracemalloc_peak_bytes": int(peak - before),
        "tracemalloc_retained_bytes": int(after - before),
        "peak_ratio": (peak - before) / nbytes,
        "retained_ratio": (after - before) / nbytes,
    }


def measure_memory(size: str, seed: int, threads: int | None) -> dict:
    command = [sys.executable, __file__, "--memory-child", size, "--seed", str(seed)]
    if threads is not None:
        command += ["--threads", str(threads)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cprofile_top(fn, limit: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


def r_timing() -> dict | None:
    if not R_TIMING.exists():
        return None
    return json.loads(R_TIMING.read_text())["timing"]["trial_example_itt"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (best taken)")
    parser.add_argument("--pandas-size", default="R", choices=sorted(SIZES), help="pandas data")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default all)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocess")
    parser.add_argument("--cprofile", type=int, default=0, metavar="K", help="cProfile's top K")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS / "trials.json")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--stream-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-stream", action="store_true", help="skip the streamed MSM")
    args = parser.parse_args(argv)

    if args.threads is not None:
        numba.set_num_threads(args.threads)
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child, args.seed)))
        return 0
    if args.stream_child is not None:
        size, mode = args.stream_child.split(":")
        print(json.dumps(stream_child(size, mode, args.seed)))
        return 0
    big = "quick" if args.quick else "1e6"
    repeats = 1 if args.quick else args.repeats
    pandas_size = "quick" if args.quick else args.pandas_size

    warm = simulate(*SIZES["quick"], args.seed)  # above the serial threshold: parallel kernels
    run_msm_all(warm)
    run_msm(warm, NO_CENSOR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_pandas_all(warm)
    info = machine_info(statsmodels=statsmodels.__version__)
    print(
        f"msm.trial_sequence (ITT, censoring weights); numba {info['numba_threads']} thread(s) "
        f"({info['numba_threading_layer']}) on {info['cpu_count']} CPU(s); load average "
        f"{info['load_average_1min']:.2f} at start; best of {repeats}"
    )
    results: dict = {}

    # 1. expansion at 1e6 person-periods
    data = simulate(*SIZES[big], args.seed)
    t_weights, seq = best_of(lambda: run_msm(data), repeats)
    t_plain, _ = best_of(lambda: run_msm(data, NO_CENSOR), repeats)
    results["expansion"] = {
        **describe(data, seq),
        "msm_s": min(t_weights),
        "msm_times": t_weights,
        "msm_no_censoring_s": min(t_plain),
        "msm_no_censoring_times": t_plain,
    }
    print(f"  expansion at {big}: {min(t_weights):.3f} s", flush=True)
    if args.cprofile:
        print(cprofile_top(lambda: run_msm(data), args.cprofile))
    seq = data = None
    gc.collect()
    memory = None if args.no_memory else measure_memory(big, args.seed, args.threads)
    results["memory"] = memory

    # 2. and 3. the whole analysis: msm vs pandas + statsmodels, and the R-size data
    for name, size in (("pandas", pandas_size), ("R", "quick" if args.quick else "R")):
        if name == "R" and size == pandas_size and "pandas" in results:
            results["R"] = results["pandas"]
            continue
        data = simulate(*SIZES[size], args.seed)
        t_msm, (seq, fit) = best_of(lambda d=data: run_msm_all(d), repeats)
        t_expand, _ = best_of(lambda d=data: run_msm(d), repeats)
        entry = {
            "size": size,
            **describe(data, seq),
            "msm_s": min(t_msm),
            "msm_times": t_msm,
            "msm_expand_s": min(t_expand),
        }
        if name == "pandas":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_pd, (ex, sm_fit) = best_of(lambda d=data: run_pandas_all(d), repeats)
            entry.update(
                pandas_s=min(t_pd),
                pandas_times=t_pd,
                speedup=min(t_pd) / min(t_msm),
                **compare(seq, fit, ex, sm_fit),
            )
            ex = sm_fit = None
        results[name] = entry
        print(f"  {name} ({size}): msm {min(t_msm):.3f} s", flush=True)
        seq = fit = data = None
        gc.collect()
    r = r_timing()
    results["R"]["r_seconds"] = r["seconds"] if r else None

    # 4. the streamed MSM beside the stored expansion
    stream_sizes = [] if args.no_stream else (["quick"] if args.quick else ["1e6", "5e6"])
    results["stream"] = {}
    for size in stream_sizes:
        results["stream"][size] = measure_stream(size, args.seed, args.threads)
        print(f"  stream ({size}): done", flush=True)

    e, p, rr = results["expansion"], results["pandas"], results["R"]
    print()
    print("| step | data | msm | reference | ratio | target |")
    print("|---|---|---|---|---|---|")
    print(
        f"| expansion + censoring weights | {e['input_rows']:,} rows, "
        f"{e['trials_per_subject']:.1f} trials/subject -> {e['expanded_rows']:,} | "
        f"{e['msm_s']:.2f} s (no weights {e['msm_no_censoring_s']:.2f} s) | | | < 1 s |"
    )
    if memory:
        print(
            f"| expansion peak memory (tracemalloc) | same | "
            f"{memory['tracemalloc_peak_bytes'] / 1e6:.0f} MB | expanded columns "
            f"{memory['expanded_bytes'] / 1e6:.0f} MB | {memory['peak_ratio']:.2f}x | <= 1.5x |"
        )
    print(
        f"| expansion + weights + MSM | {p['input_rows']:,} -> {p['expanded_rows']:,} | "
        f"{p['msm_s']:.2f} s | pandas + statsmodels {p['pandas_s']:.1f} s | "
        f"{p['speedup']:.1f}x | >= 20x |"
    )
    if r:
        rs = r["seconds"]
        print(
            f"| whole ITT analysis vs R | {rr['input_rows']:,} -> {rr['expanded_rows']:,} "
            f"(R: {r['input_rows']:,} -> {r['expanded_rows']:,}) | {rr['msm_s']:.2f} s "
            f"(expand {rr['msm_expand_s']:.2f} s) | TrialEmulation {rs['expand_plus_fit']:.1f} s "
            f"(expand {rs['expand_trials']:.1f} s) | {rs['expand_plus_fit'] / rr['msm_s']:.0f}x"
            f" | < 2 s |"
        )
    for entry in results["stream"].values():
        st, sr = entry["stored"], entry["streamed"]
        print(
            f"| emulation + MSM, streamed vs stored | {st['expanded_rows']:,} expanded rows | "
            f"streamed {sr['seconds']:.2f} s, peak {sr['tracemalloc_peak_bytes'] / 1e6:.0f} MB"
            f" | stored {st['seconds']:.2f} s, peak {st['tracemalloc_peak_bytes'] / 1e6:.0f} MB"
            f" | time {entry['time_ratio']:.2f}x, memory {entry['memory_ratio']:.3f}x | "
            f"params to {entry['params_max_rel_diff']:.0e}, SEs to "
            f"{entry['bse_max_rel_diff']:.0e} |"
        )
    print(
        f"agreement with pandas: same expanded rows; weights {p['weight_max_rel_diff']:.1e}, "
        f"MSM coefficients {p['params_max_rel_diff']:.1e}, robust SEs {p['bse_max_rel_diff']:.1e}"
        " relative (statsmodels' cluster SE has the extra (N-1)/(N-K) factor)"
    )
    info["load_average_1min_at_end"] = os.getloadavg()[0]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "benchmark": "trials",
                "machine": info,
                "settings": {
                    "spec": SPEC,
                    "formula": MSM_FORMULA,
                    "sizes": SIZES,
                    "quick": args.quick,
                    "repeats": repeats,
                },
                "results": results,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
