"""Weighted Cox model with cluster-robust variance on counting-process rows: msm vs lifelines.

Simulated person-time data: subjects with 1 to 19 consecutive intervals each, entering late
(staggered entry), three covariates (one binary), lognormal weights, about 1% of rows ending in
an event.  Two time scales:

- ``grid``: integer times (person-months): few distinct event times, many ties;
- ``continuous``: interval lengths drawn from a continuum: an event time per event.

Compared side by side, in the same run, on the same data (Efron ties everywhere):

- ``msm cox()``        ``msm.cox(frame, ..., weights="w", cluster="id")``: validation,
                       design matrix, fit and clustered robust variance
- ``msm cox() model``  the same without ``cluster``: fit and model-based SEs only (the work
                       lifelines CTV does)
- ``msm engine``       ``msm._survival.fit_cox`` on arrays plus ``robust_cov(ids)``
- ``lifelines CoxPH``  ``CoxPHFitter().fit(..., entry_col=, weights_col=, cluster_col=,
                       robust=True)``: lifelines' only way to a robust variance with late entry
                       (its sandwich ignores the entry times, so its robust SEs differ)
- ``lifelines CTV``    ``CoxTimeVaryingFitter().fit(..., weights_col=, id_col=)``: no robust
                       variance (``robust=True`` raises NotImplementedError in lifelines 0.30),
                       so it does less work than the others

msm's methods are timed ``--repeats`` times, interleaved; lifelines ``--lifelines-repeats``
times (once by default: it is slow).  A lifelines method is skipped at a size where its
extrapolated time (linear in rows on the grid, quadratic for continuous times, where the
distinct event times grow with the rows) exceeds ``--budget`` seconds.  Target: msm cox() at
least 10x faster than lifelines.

Run from the repository root::

    python benchmarks/cox.py                          # 1e5 and 1e6 rows, both time scales
    python benchmarks/cox.py --rows 1e5 3e5 1e6 --times grid --budget 600
"""

from __future__ import annotations

import argparse
import json
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

from _machine import machine_info  # noqa: E402

from msm._survival import fit_cox  # noqa: E402
from msm.outcome import cox  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
COVARIATES = ["x0", "x1", "x2"]


def simulate(n_rows: int, times: str, seed: int = 0) -> pd.DataFrame:
    """Counting-process rows sorted by (id, start); see the module docstring."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 20, size=n_rows // 5 + 10)
    ends = np.cumsum(sizes)
    n_subjects = int(np.searchsorted(ends, n_rows)) + 1
    sizes = sizes[:n_subjects].copy()
    sizes[-1] -= ends[n_subjects - 1] - n_rows  # the last subject ends exactly at n_rows
    ids = np.repeat(np.arange(n_subjects), sizes)
    first = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    visit = np.arange(n_rows) - np.repeat(first, sizes)
    if times == "grid":
        entry = rng.integers(0, 24, n_subjects).astype(float)
        start = np.repeat(entry, sizes) + visit
        stop = start + 1.0
    else:
        length = rng.uniform(0.5, 1.5, n_rows)
        ends_within = np.cumsum(length)
        offset = np.repeat(ends_within[first] - length[first], sizes)
        stop = np.repeat(rng.uniform(0, 24, n_subjects), sizes) + ends_within - offset
        start = stop - length
    X = rng.normal(size=(n_rows, len(COVARIATES)))
    X[:, 0] = X[:, 0] > 0
    eta = X @ np.array([-0.5, 0.2, 0.4])
    event = (rng.random(n_rows) < 0.01 * np.exp(eta)).astype(np.int64)
    frame = pd.DataFrame(X, columns=COVARIATES)
    frame.insert(0, "id", ids)
    frame.insert(1, "start", start)
    frame.insert(2, "stop", stop)
    frame["event"] = event
    frame["w"] = rng.lognormal(0.0, 0.3, n_rows)
    return frame


def run_msm_cox(frame):
    fit = cox(
        frame,
        start="start",
        stop="stop",
        event="event",
        covariates=COVARIATES,
        weights="w",
        cluster="id",
    )
    return fit.params.to_numpy(), fit.naive_bse.to_numpy(), fit.robust_bse.to_numpy()


def run_msm_cox_model(frame):
    fit = cox(frame, start="start", stop="stop", event="event", covariates=COVARIATES, weights="w")
    return fit.params.to_numpy(), fit.naive_bse.to_numpy(), None


def run_msm_engine(arrays):
    start, stop, event, X, w, ids = arrays
    fit = fit_cox(start, stop, event, X, COVARIATES, w)
    robust = np.sqrt(np.diag(fit.robust_cov(ids)))
    return fit.params, fit.bse, robust


def run_lifelines_coxph(frame):
    from lifelines import CoxPHFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = CoxPHFitter().fit(
            frame[["id", "start", "stop", *COVARIATES, "event", "w"]],
            duration_col="stop",
            event_col="event",
            entry_col="start",
            weights_col="w",
            cluster_col="id",
            robust=True,
        )
    return fit.params_.to_numpy(), None, fit.standard_errors_.to_numpy()


def run_lifelines_ctv(frame):
    from lifelines import CoxTimeVaryingFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = CoxTimeVaryingFitter().fit(
            frame[["id", "start", "stop", *COVARIATES, "event", "w"]],
            event_col="event",
            start_col="start",
            stop_col="stop",
            weights_col="w",
            id_col="id",
        )
    return fit.params_.to_numpy(), fit.standard_errors_.to_numpy(), None


def timed(fn, arg) -> tuple[float, tuple]:
    t0 = time.perf_counter()
    out = fn(arg)
    return time.perf_counter() - t0, out


def max_rel(a, b) -> float | None:
    if a is None or b is None:
        return None
    return float(np.max(np.abs(np.asarray(a) / np.asarray(b) - 1.0)))


def bench(n_rows, kind, args, history) -> list[dict]:
    frame = simulate(n_rows, kind, args.seed)
    arrays = (
        frame["start"].to_numpy(),
        frame["stop"].to_numpy(),
        frame["event"].to_numpy(),
        frame[COVARIATES].to_numpy(),
        frame["w"].to_numpy(),
        frame["id"].to_numpy(),
    )
    n_times = int(np.unique(frame["stop"][frame["event"] == 1]).size)
    n_events = int(frame["event"].sum())
    ours = {
        "msm cox()": (run_msm_cox, frame),
        "msm cox() model": (run_msm_cox_model, frame),
        "msm engine": (run_msm_engine, arrays),
    }
    times: dict[str, list[float]] = {name: [] for name in ours}
    results = {}
    for _ in range(args.repeats):
        for name, (fn, arg) in ours.items():  # interleaved: noise hits both alike
            seconds, results[name] = timed(fn, arg)
            times[name].append(seconds)

    theirs = {"lifelines CoxPH": run_lifelines_coxph, "lifelines CTV": run_lifelines_ctv}
    skipped = {}
    if not args.no_lifelines:
        for name, fn in theirs.items():
            previous = history.get((kind, name))
            if previous is not None:
                power = 1.0 if kind == "grid" else 2.0
                estimate = previous[1] * (n_rows / previous[0]) ** power
                if estimate > args.budget:
                    skipped[name] = estimate
                    continue
            times[name] = []
            for _ in range(args.lifelines_repeats):
                seconds, results[name] = timed(fn, frame)
                times[name].append(seconds)
            history[(kind, name)] = (n_rows, min(times[name]))

    reference = min(times["msm cox()"])
    params, naive_se, robust_se = results["msm cox()"]
    rows = []
    for name in [*ours, *theirs]:
        row = {
            "rows": n_rows,
            "times": kind,
            "subjects": int(frame["id"].nunique()),
            "events": n_events,
            "event_times": n_times,
            "method": name,
        }
        if name in skipped:
            row.update(skipped=True, estimated_s=skipped[name])
        elif name in times:
            best = min(times[name])
            p, nse, rse = results[name]
            row.update(
                skipped=False,
                repeats=len(times[name]),
                best_s=best,
                median_s=statistics.median(times[name]),
                rows_per_s=n_rows / best,
                msm_speedup=best / reference,
                max_rel_diff_params=max_rel(p, params),
                max_rel_diff_naive_se=max_rel(nse, naive_se),
                max_rel_diff_robust_se=max_rel(rse, robust_se),
            )
        else:
            continue
        rows.append(row)
    return rows


def _lifelines_version() -> str | None:
    try:
        import lifelines
    except ImportError:
        return None
    return lifelines.__version__


def _fmt(value, spec) -> str:
    return f"{'-':>8}" if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'rows':>7} {'times':<10} {'ev.times':>8} {'method':<16} {'best s':>9} "
        f"{'Mrows/s':>8} {'msm x':>8} {'d coef':>8} {'d naive':>8} {'d robust':>8}"
    )
    print(header)
    print("-" * len(header))
    last = None
    for r in rows:
        key = (r["rows"], r["times"])
        if last is not None and key != last:
            print()
        last = key
        lead = f"{r['rows']:>7.0e} {r['times']:<10} {r['event_times']:>8} {r['method']:<16}"
        if r["skipped"]:
            print(f"{lead} skipped (estimated {r['estimated_s']:.0f} s > budget)")
            continue
        print(
            f"{lead} {r['best_s']:>9.3f} {r['rows_per_s'] / 1e6:>8.2f} "
            f"{r['msm_speedup']:>8.1f} {_fmt(r['max_rel_diff_params'], '8.1e')} "
            f"{_fmt(r['max_rel_diff_naive_se'], '8.1e')} "
            f"{_fmt(r['max_rel_diff_robust_se'], '8.1e')}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument(
        "--times", nargs="+", choices=["grid", "continuous"], default=["grid", "continuous"]
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of msm's methods")
    parser.add_argument("--lifelines-repeats", type=int, default=1)
    parser.add_argument(
        "--budget", type=float, default=300.0, help="skip a lifelines fit estimated above this"
    )
    parser.add_argument("--no-lifelines", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS / "cox.json")
    args = parser.parse_args(argv)
    if not args.no_lifelines:
        try:
            import lifelines  # noqa: F401
        except ImportError:
            print(
                "lifelines is not installed: timing msm only "
                "(pip install --no-deps -r tests/requirements-lifelines.txt)"
            )
            args.no_lifelines = True

    run_msm_cox(simulate(2000, "grid"))  # warm up: compile or load every kernel
    info = machine_info(lifelines=_lifelines_version())
    print(
        f"weighted Cox, Efron ties, robust variance clustered by subject; numba "
        f"{info['numba']} ({info['numba_threads']} threads) on {info['cpu_count']} CPU(s); "
        f"lifelines {info['lifelines']}; load average {info['load_average_1min']:.2f} at start"
    )
    rows: list[dict] = []
    history: dict = {}
    for kind in args.times:
        for n in sorted(args.rows):
            rows.extend(bench(int(n), kind, args, history))
    print()
    print_table(rows)
    print(
        "\nmsm x: how many times longer the method took than msm cox(); d coef, d naive, "
        "d robust: largest relative difference from msm cox()'s coefficients and naive and "
        "robust SEs (lifelines stops at a looser tolerance; its robust SE ignores late entry)"
    )
    print("\nlike for like (robust vs robust, model-based vs model-based):")
    summary = {"target_speedup": 10.0, "like_for_like": []}
    done = {(r["rows"], r["times"], r["method"]): r for r in rows if not r["skipped"]}
    pairs = [("lifelines CoxPH", "msm cox()"), ("lifelines CTV", "msm cox() model")]
    for (n, kind, method), r in done.items():
        for theirs, ours in pairs:
            if method == theirs:
                speedup = r["best_s"] / done[(n, kind, ours)]["best_s"]
                summary["like_for_like"].append(
                    {"rows": n, "times": kind, "lifelines": theirs, "msm": ours, "speedup": speedup}
                )
                print(f"{n:>7.0e} {kind:<10} {ours:<16} vs {theirs:<16} {speedup:8.1f}x")
    speedups = [c["speedup"] for c in summary["like_for_like"]]
    summary["min_like_for_like_speedup"] = min(speedups, default=None)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "benchmark": "cox",
                "machine": info,
                "config": {
                    k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                },
                "summary": summary,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
