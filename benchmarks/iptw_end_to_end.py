"""End to end: ``msm.iptw`` against the same weights computed with statsmodels GLM + pandas.

Data: ``msm.datasets.simulate_panel`` with N subjects x 10 visits (baseline covariate ``x``,
``time``, time-varying confounder ``l`` lowered by past treatment, absorbing treatment ``a``).
Both sides compute stabilized weights for an absorbing treatment (R ipw ``type="first"``)::

    msm.iptw(data, id="id", time="time", treatment="a",
             denominator="x + l + time", numerator="x + time", absorbing=True)

The baseline is the obvious hand-written way: sort, keep the risk set (rows up to the first
treated row), ``sm.GLM(..., family=Binomial())`` for both models, ``predict``, the ratio of
the probabilities of the observed treatment, ``groupby(id).cumprod()``.  The two must agree
(the maximum relative difference is printed).

Also measured, at the largest N:

- peak memory of ``msm.iptw`` in a fresh subprocess: tracemalloc peak (numpy and pandas
  allocations) and the peak RSS increase (sampled every 2 ms), against the bytes of the input
  columns it reads (id, time, treatment and covariates);
- where ``msm.iptw``'s time goes: msm's internal steps are wrapped with timers (exclusive time:
  a step's children are subtracted) and grouped into phases.

Targets (issue 2): 1e6 subjects x 10 visits in under 3 s on 2 cores, >= 5x the statsmodels
baseline, peak memory <= 4x the input columns used.

Run from the repository root::

    python benchmarks/iptw_end_to_end.py                  # N = 1e3 ... 1e6
    python benchmarks/iptw_end_to_end.py --max-n 1e5      # quicker
    python benchmarks/iptw_end_to_end.py --shuffle        # rows in random order: sorts
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import threading
import time
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
import msm.weights  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
N_VISITS = 10
SPEC = {
    "id": "id",
    "time": "time",
    "treatment": "a",
    "denominator": "x + l + time",
    "numerator": "x + time",
    "absorbing": True,
}
USED_COLUMNS = ["id", "time", "a", "x", "l"]


# ---------------------------------------------------------------------------------------------
# the two ways of computing the weights


def make_data(n_subjects: int, seed: int, shuffle: bool) -> pd.DataFrame:
    data = msm.datasets.simulate_panel(n_subjects=n_subjects, n_visits=N_VISITS, seed=seed)
    if shuffle:
        order = np.random.default_rng(seed + 1).permutation(len(data))
        data = data.iloc[order]
    return data


def run_msm(data: pd.DataFrame) -> msm.weights.Weights:
    return msm.iptw(data, **SPEC)


def run_statsmodels(data: pd.DataFrame) -> pd.Series:
    """Stabilized absorbing-treatment weights, the obvious way: statsmodels GLM + pandas."""
    df = data.sort_values(["id", "time"], kind="stable")
    treated_before = df.groupby("id")["a"].cumsum() - df["a"]
    risk = df[treated_before == 0]  # rows up to and including the first treated row
    binomial = sm.families.Binomial()
    x_den = sm.add_constant(risk[["x", "l", "time"]])
    x_num = sm.add_constant(risk[["x", "time"]])
    p_den = sm.GLM(risk["a"], x_den, family=binomial).fit().predict(x_den)
    p_num = sm.GLM(risk["a"], x_num, family=binomial).fit().predict(x_num)
    treated = risk["a"] == 1
    ratio = np.where(treated, p_num / p_den, (1 - p_num) / (1 - p_den))
    factor = pd.Series(1.0, index=df.index)
    factor[risk.index] = ratio
    weights = factor.groupby(df["id"]).cumprod()
    return weights.reindex(data.index)


# ---------------------------------------------------------------------------------------------
# where the time goes: msm's internal steps wrapped with exclusive timers


# (phase, defining module, name or Class.method).  msm is being edited by others: hooks whose
# target does not exist are skipped (their time then shows up as iptw body).  A function is
# patched wherever an msm module holds a reference to it, so ``from x import f`` is covered.
PHASE_HOOKS = [
    ("validation", "msm.panel", "check_frame"),
    ("validation", "msm.panel", "check_columns_exist"),
    ("validation", "msm.panel", "check_finite"),
    ("validation", "msm.panel", "binary_values"),
    ("validation", "msm.weights", "treatment_values"),
    ("validation", "msm.panel", "check_absorbing"),
    ("validation", "msm.weights", "_check_truncate"),
    ("validation", "msm.weights", "_check_censor_last"),
    ("validation", "msm.weights", "_check_representable"),
    ("formula parsing", "msm._formula", "parse_terms"),
    ("panel: validate + sort", "msm.panel", "build_panel"),
    ("panel: gathers (sort, subject_of_row)", "msm.panel", "Panel.sort"),
    ("panel: gathers (sort, subject_of_row)", "msm.panel", "Panel.subject_of_row"),
    ("design matrix: formulaic", "msm._formula", "model_matrix"),
    ("design matrix: msm (columns, copy)", "msm._formula", "design_matrix"),
    ("design matrix: msm (parallel gather)", "msm._formula", "design_rows"),
    ("model frame (pandas iloc copy)", "msm._formula", "model_frame"),
    ("fit: Newton passes (numba)", "msm._kernels.glm", "glm_irls_pass"),
    ("fit: other (solve, checks, results)", "msm.models.logit", "fit_logit"),
    ("fit: other (solve, checks, results)", "msm._glm", "fit_glm"),
    ("score: log P(observed) (numba)", "msm.models.logit", "log_prob"),
    ("weights kernel: cumsum (numba)", "msm._kernels.weights", "cumulative_log_weights"),
    ("results: unsort + Series + Weights", "msm.panel", "Panel.unsort"),
    ("results: unsort + Series + Weights", "msm.panel", "Panel.series"),
    ("results: unsort + Series + Weights", "msm.weights", "Weights"),
]
GLUE = "iptw body (np.exp, log-factor arithmetic, masks)"


class PhaseTimer:
    """Exclusive wall time per phase: time spent in a wrapped child is not the parent's."""

    def __init__(self):
        self.exclusive: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.missing: list[str] = []
        self._stack: list[list] = []  # [phase, child_time]
        self._saved: list[tuple[object, str, object]] = []

    def wrap(self, phase: str, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            self._stack.append([phase, 0.0])
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                _, child = self._stack.pop()
                self.exclusive[phase] = self.exclusive.get(phase, 0.0) + elapsed - child
                self.calls[phase] = self.calls.get(phase, 0) + 1
                if self._stack:
                    self._stack[-1][1] += elapsed

        return wrapper

    def _patch(self, owner, name: str, replacement) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    def __enter__(self):
        for phase, module_name, name in PHASE_HOOKS:
            module = sys.modules.get(module_name)
            owner_name, _, method = name.rpartition(".")
            owner = getattr(module, owner_name, None) if owner_name else module
            target = getattr(owner, method, None) if owner is not None else None
            if target is None:
                self.missing.append(f"{module_name}.{name}")
                continue
            wrapped = self.wrap(phase, target)
            if owner_name:  # a method: patch it on its class
                self._patch(owner, method, wrapped)
                continue
            for mod_name, mod in list(sys.modules.items()):  # every reference in msm
                if mod is None or not (mod_name == "msm" or mod_name.startswith("msm.")):
                    continue
                for attr, value in list(vars(mod).items()):
                    if value is target:
                        self._patch(mod, attr, wrapped)
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()


def profile_phases(data: pd.DataFrame, repeats: int) -> dict:
    """Best-of-``repeats`` split of one ``msm.iptw`` call into phases (run with the least total)."""
    best = None
    for _ in range(repeats):
        gc.collect()
        with PhaseTimer() as timer:
            t0 = time.perf_counter()
            run_msm(data)
            total = time.perf_counter() - t0
        if best is None or total < best[0]:
            best = (total, dict(timer.exclusive), dict(timer.calls), list(timer.missing))
    total, exclusive, calls, missing = best
    phases = {}
    for phase, _, _ in PHASE_HOOKS:
        if phase in exclusive and phase not in phases:
            phases[phase] = {"seconds": exclusive[phase], "calls": calls[phase]}
    phases[GLUE] = {"seconds": total - sum(exclusive.values()), "calls": 1}
    return {"total_s": total, "phases": phases, "hooks_not_found": missing}


def cprofile_top(data: pd.DataFrame, limit: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run_msm(data)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(limit)
    return stream.getvalue()


# ---------------------------------------------------------------------------------------------
# peak memory, in a fresh subprocess so nothing else is resident


def measure_memory_child(n_subjects: int, seed: int, shuffle: bool) -> dict:
    import psutil

    warm = make_data(200, seed, shuffle)
    run_msm(warm)  # compile / load numba kernels, import formulaic machinery
    data = make_data(n_subjects, seed, shuffle)
    input_bytes = int(sum(data[c].to_numpy().nbytes for c in USED_COLUMNS))
    del warm
    gc.collect()

    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    weights = run_msm(data)
    done.set()
    sampler.join()
    peak[0] = max(peak[0], process.memory_info().rss)
    rss_delta = peak[0] - baseline
    del weights
    gc.collect()

    tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    weights = run_msm(data)
    after, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    inputs = [data[c].to_numpy() for c in USED_COLUMNS]
    return {
        "n_subjects": n_subjects,
        "rows": len(data),
        "input_columns": USED_COLUMNS,
        "input_bytes": input_bytes,
        "rss_peak_increase_bytes": int(rss_delta),
        "tracemalloc_peak_bytes": int(traced_peak - before),
        "tracemalloc_retained_bytes": int(after - before),
        "result_weights_bytes": int(weights.weights.to_numpy().nbytes),
        "retained_by_result": retained_breakdown(weights, inputs),
        "rss_ratio": rss_delta / input_bytes,
        "tracemalloc_ratio": (traced_peak - before) / input_bytes,
    }


def retained_breakdown(w, inputs: list[np.ndarray]) -> dict[str, int]:
    """Bytes the returned Weights object keeps alive, by part (views of the input count 0)."""
    seen: list[np.ndarray] = []

    def new_bytes(values) -> int:
        if values is None:
            return 0
        array = np.asarray(values)
        if any(np.shares_memory(array, other) for other in inputs + seen):
            return 0
        seen.append(array)
        return int(array.nbytes)

    parts = {
        "log_factors": sum(new_bytes(v) for v in w.log_factors.values()),
        "fitted_rows": sum(new_bytes(v) for v in w.fitted_rows.values()),
        "panel (order, starts, ids, time)": sum(
            new_bytes(getattr(w.panel, k)) for k in ("order", "starts", "ids", "time")
        ),
    }
    # the weights are held once as arrays (Series are built on access, not counted here)
    for name in ("final", "truncated_rows", "log_treatment", "log_censoring", "untruncated_final"):
        parts[f"array {name}"] = new_bytes(getattr(w, name))
    return parts


def measure_memory(n_subjects: int, seed: int, shuffle: bool) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--memory-child",
        str(n_subjects),
        "--seed",
        str(seed),
    ]
    if shuffle:
        cmd.append("--shuffle")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"memory subprocess failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# reporting


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'subjects':>9} {'rows':>9} {'risk set':>9} {'msm s':>8} {'(median)':>8} "
        f"{'Mrows/s':>8} {'statsm. s':>9} {'ratio':>7} {'max rel diff':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        sm_s = f"{r['statsmodels_s']:9.3f}" if r["statsmodels_s"] is not None else f"{'-':>9}"
        ratio = f"{r['speedup']:6.1f}x" if r["speedup"] is not None else f"{'-':>7}"
        diff = f"{r['max_rel_diff']:12.1e}" if r["max_rel_diff"] is not None else f"{'-':>12}"
        print(
            f"{r['n_subjects']:>9.0e} {r['rows']:>9d} {r['risk_set_rows']:>9d} "
            f"{r['msm_s']:8.3f} {r['msm_median_s']:8.3f} {r['rows'] / r['msm_s'] / 1e6:8.1f} "
            f"{sm_s} {ratio} {diff}"
        )


def print_profile(profile: dict, n_subjects: int) -> None:
    total = profile["total_s"]
    print(f"where msm.iptw's time goes at {n_subjects:.0e} subjects (exclusive wall time):")
    width = max(len(p) for p in profile["phases"])
    for phase, entry in sorted(profile["phases"].items(), key=lambda kv: -kv[1]["seconds"]):
        print(
            f"  {phase:<{width}} {entry['seconds']:7.3f} s {100 * entry['seconds'] / total:5.1f}%"
            f"  ({entry['calls']} call{'s' if entry['calls'] != 1 else ''})"
        )
    print(f"  {'total':<{width}} {total:7.3f} s")
    if profile["hooks_not_found"]:
        print(f"  (steps not found, counted in iptw body: {', '.join(profile['hooks_not_found'])})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6], help="subject counts"
    )
    parser.add_argument("--max-n", type=float, default=None, help="drop sizes above this")
    parser.add_argument("--repeats", type=int, default=3, help="msm.iptw timed repeats")
    parser.add_argument(
        "--baseline-repeats", type=int, default=1, help="statsmodels repeats at N >= 1e5"
    )
    parser.add_argument(
        "--baseline-max-n", type=float, default=1e6, help="skip statsmodels above this N"
    )
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default all)")
    parser.add_argument("--shuffle", action="store_true", help="present rows in random order")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocess")
    parser.add_argument("--no-profile", action="store_true", help="skip the phase profile")
    parser.add_argument(
        "--cprofile", type=int, default=0, metavar="K", help="also print cProfile's top K"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS / "iptw_end_to_end.json")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.threads is not None:
        numba.set_num_threads(args.threads)
    if args.memory_child is not None:
        print(json.dumps(measure_memory_child(args.memory_child, args.seed, args.shuffle)))
        return 0

    sizes = sorted(int(n) for n in args.sizes if args.max_n is None or n <= args.max_n)
    # warm up: compile (or load from the cache) numba kernels; import statsmodels/formulaic
    warm = make_data(500, args.seed, args.shuffle)
    run_msm(warm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_statsmodels(warm)

    info = machine_info(statsmodels=statsmodels.__version__)
    print(
        f"msm.iptw vs statsmodels GLM + pandas; {N_VISITS} visits per subject; numba "
        f"{info['numba_threads']} thread(s) ({info['numba_threading_layer']}) on "
        f"{info['cpu_count']} CPU(s); rows {'shuffled' if args.shuffle else 'sorted'}; "
        f"load average {info['load_average_1min']:.2f} at start"
    )
    rows = []
    data = None
    for n in sizes:
        data = None
        gc.collect()
        t0 = time.perf_counter()
        data = make_data(n, args.seed, args.shuffle)
        gen_s = time.perf_counter() - t0
        repeats = args.repeats if n >= 100_000 else max(args.repeats, 7)
        msm_times, w_msm = best_of(lambda d=data: run_msm(d), repeats)
        sm_times, w_sm, diff = None, None, None
        if n <= args.baseline_max_n:
            b_repeats = args.baseline_repeats if n >= 100_000 else max(args.repeats, 3)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sm_times, w_sm = best_of(lambda d=data: run_statsmodels(d), b_repeats)
            diff = float(np.max(np.abs(w_msm.weights.to_numpy() / w_sm.to_numpy() - 1.0)))
        risk = int(w_msm.fitted_rows["denominator"].sum())
        row = {
            "n_subjects": n,
            "rows": len(data),
            "risk_set_rows": risk,
            "generate_s": gen_s,
            "msm_s": min(msm_times),
            "msm_median_s": statistics.median(msm_times),
            "msm_times": msm_times,
            "statsmodels_s": min(sm_times) if sm_times else None,
            "statsmodels_times": sm_times,
            "speedup": min(sm_times) / min(msm_times) if sm_times else None,
            "max_rel_diff": diff,
        }
        rows.append(row)
        print(
            f"  N={n:.0e}: generated in {gen_s:.1f} s; msm {row['msm_s']:.3f} s"
            + (f", statsmodels {row['statsmodels_s']:.3f} s" if sm_times else ""),
            flush=True,
        )
        w_msm = w_sm = None
    print()
    print_table(rows)

    largest = sizes[-1]
    profile = None
    if not args.no_profile:
        print()
        profile = profile_phases(data, args.repeats)
        print_profile(profile, largest)
        if args.cprofile:
            print(cprofile_top(data, args.cprofile))
    data = None
    gc.collect()

    memory = None
    if not args.no_memory:
        memory = measure_memory(largest, args.seed, args.shuffle)
        print()
        mb = 1e6
        print(
            f"peak memory of msm.iptw at {largest:.0e} subjects ({memory['rows']} rows): input "
            f"columns {'/'.join(USED_COLUMNS)} = {memory['input_bytes'] / mb:.0f} MB; "
            f"tracemalloc peak {memory['tracemalloc_peak_bytes'] / mb:.0f} MB "
            f"({memory['tracemalloc_ratio']:.2f}x); peak RSS increase "
            f"{memory['rss_peak_increase_bytes'] / mb:.0f} MB ({memory['rss_ratio']:.2f}x); "
            "target <= 4x"
        )
        retained = memory["retained_by_result"]
        print(
            f"the returned Weights keeps {memory['tracemalloc_retained_bytes'] / mb:.0f} MB "
            f"alive ({memory['tracemalloc_retained_bytes'] / memory['input_bytes']:.2f}x input):"
        )
        for part, size in sorted(retained.items(), key=lambda kv: -kv[1]):
            if size:
                print(f"  {part:<36} {size / mb:7.0f} MB")

    last = rows[-1]
    summary = {
        "n_subjects": largest,
        "msm_s": last["msm_s"],
        "target_s": 3.0,
        "speedup_vs_statsmodels": last["speedup"],
        "target_speedup": 5.0,
        "memory_ratio_tracemalloc": memory["tracemalloc_ratio"] if memory else None,
        "memory_ratio_rss": memory["rss_ratio"] if memory else None,
        "target_memory_ratio": 4.0,
        "max_rel_diff": max(
            (r["max_rel_diff"] for r in rows if r["max_rel_diff"] is not None), default=None
        ),
    }
    memory_ratio = (
        max(summary["memory_ratio_tracemalloc"], summary["memory_ratio_rss"]) if memory else None
    )
    print()
    print(
        f"at {largest:.0e} subjects x {N_VISITS} visits: msm.iptw {last['msm_s']:.2f} s "
        f"(target < 3 s)"
        + (
            f", {last['speedup']:.1f}x statsmodels (target >= 5x)"
            if last["speedup"] is not None
            else ""
        )
        + (f", peak memory {memory_ratio:.2f}x the input columns (target <= 4x)" if memory else "")
        + (
            f"; weights agree to {summary['max_rel_diff']:.1e} relative"
            if summary["max_rel_diff"] is not None
            else ""
        )
    )
    info["load_average_1min_at_end"] = os.getloadavg()[0]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "benchmark": "iptw_end_to_end",
                "machine": info,
                "settings": {**SPEC, "n_visits": N_VISITS, "shuffled": args.shuffle},
                "summary": summary,
                "rows": rows,
                "profile": profile,
                "memory": memory,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
