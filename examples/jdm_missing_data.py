"""Missing scores in the JDM cohort: complete-case analysis vs multiple imputation, and the truth.

Run:  python examples/jdm_missing_data.py [--n-patients 500] [--seed 1] [--m 10]

The IVIG analysis of ``examples/jdm_ivig.py`` (stabilized IP weights for starting IVIG and for
loss to follow-up, a pooled logistic MSM of quiescence) on a cohort whose scores (CMAS, MMT8,
DAS skin and muscle, CK) go unrecorded at some visits: children doing well are seen briefly,
with the physician global only, and so are many IVIG infusion visits
(``msm.datasets.JDMMissingness``).  The values are missing at random given what is always
recorded, and the truth is the one of the complete process (``msm.datasets.jdm_truth``).

Steps: the missing data (per column and per visit) -> complete-case analysis (the rows with
every score) -> ``msm.impute`` (chained equations on the long frame, m imputations) -> the
whole analysis (weights and MSM) within each imputation, pooled by Rubin's rules
(``msm.mi.analyze``) -> a final table against the truth, with the analysis of the same cohort
before its values were hidden.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
import pandas as pd

import msm

# the IVIG example's models: its denominators, numerators and MSM
_SPEC = importlib.util.spec_from_file_location("jdm_ivig", Path(__file__).with_name("jdm_ivig.py"))
ivig = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ivig)

SCORES = ["cmas", "mmt8", "das_skin", "das_muscle", "ck"]


def analysis(cohort: pd.DataFrame) -> msm.GLMResults:
    """The IVIG example's analysis on one data set: derived columns, weights, the MSM.

    ``das_total`` and ``log_ck`` are computed from the (imputed) scores, never imputed
    themselves.  The MSM's variance is cluster-robust by patient (the within-imputation
    variance of Rubin's rules must allow for the estimated weights: robust or stacked).
    """
    data = ivig.prepare(cohort.assign(das_total=cohort["das_skin"] + cohort["das_muscle"]))
    w = ivig.weights(data)
    return msm.glm(ivig.MSM, data, weights=w, cluster="id", family="binomial")


def analysis_stacked(cohort: pd.DataFrame) -> msm.GLMResults:
    """The same fit with the stacked variance (weight-model uncertainty included)."""
    return analysis(cohort).with_variance("stacked")


def row(method: str, log_or: float, lower: float, upper: float, truth: float, **extra) -> dict:
    return {
        "method": method,
        "OR": np.exp(log_or),
        "lower": np.exp(lower),
        "upper": np.exp(upper),
        "truth": np.exp(truth),
        "covers truth": lower <= truth <= upper,
        **extra,
    }


def analyse(
    cohort: pd.DataFrame,
    full: pd.DataFrame | None,
    truth,
    *,
    m: int = 10,
    seed: int = 1,
    max_iter: int = 10,
    verbose: bool = True,
) -> dict:
    """Run the comparison; returns the final table and the pieces (for tests and the docs)."""
    say = print if verbose else (lambda *a, **k: None)
    true_log_or = truth.msm_log_or
    rows = []

    say("\n== 1. Missing data ==")
    started = time.perf_counter()
    data = cohort.drop(columns="das_total")  # derived: recomputed from its parts
    imp = msm.impute(
        data, id="id", time="month", treatment="ivig", outcome=["quiescence", "lost"],
        m=m, seed=seed, max_iter=max_iter,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    say(imp)

    say("\n== 2. Complete-case analysis: the rows with every score ==")
    complete = cohort.dropna(subset=SCORES).reset_index(drop=True)
    lost_events = int(cohort["quiescence"].sum() - complete["quiescence"].sum())
    say(
        f"{len(complete)} of {len(cohort)} patient-months kept "
        f"({100 * len(complete) / len(cohort):.0f}%), "
        f"{complete['id'].nunique()} of {cohort['id'].nunique()} patients; "
        f"{int(complete['quiescence'].sum())} of {int(cohort['quiescence'].sum())} quiescences "
        f"kept ({lost_events} fall in months dropped)"
    )
    share = pd.DataFrame(
        {
            "all rows": cohort.groupby("ivig")["quiescence"].mean(),
            "complete rows": complete.groupby("ivig")["quiescence"].mean(),
            "all rows, pga": cohort.groupby("ivig")["pga"].mean(),
            "complete rows, pga": complete.groupby("ivig")["pga"].mean(),
        }
    )
    say("Monthly rate of quiescence and mean physician global, by IVIG:")
    say(share.round(3).to_string())
    fit = analysis(complete)
    lo, up = fit.conf_int().loc["ivig"]
    rows.append(row("complete case (rows), robust SE", fit.params["ivig"], lo, up, true_log_or))

    say(f"\n== 3. The imputations ({m}, {max_iter} iterations, {seconds:.1f} s) ==")
    say("Observed and imputed scores (imputed: all imputations pooled):")
    say(imp.compare().round(2).to_string())
    last = imp.chains.xs(max_iter, level="iteration")
    say(f"Mean of the imputed values at the last iteration, by imputation ({m}):")
    say(last.xs("mean", axis=1, level=1).round(2).to_string())

    say("\n== 4. The MSM within each imputation, pooled by Rubin's rules ==")
    res = msm.mi.analyze(imp, analysis)
    say(res)
    pooled = res.pool().loc["ivig"]
    rows.append(
        row(
            f"multiple imputation (m={m}), robust SE",
            pooled["estimate"], pooled["lower"], pooled["upper"], true_log_or,
            fmi=pooled["fmi"],
        )
    )  # fmt: skip
    stacked = msm.mi.analyze(imp, analysis_stacked).pool().loc["ivig"]
    rows.append(
        row(
            f"multiple imputation (m={m}), stacked SE",
            stacked["estimate"], stacked["lower"], stacked["upper"], true_log_or,
            fmi=stacked["fmi"],
        )
    )  # fmt: skip
    if full is not None:
        fit = analysis(full)
        lo, up = fit.conf_int().loc["ivig"]
        rows.append(
            row(
                "the same cohort before hiding, robust SE", fit.params["ivig"], lo, up, true_log_or
            )  # fmt: skip
        )
    table = pd.DataFrame(rows).set_index("method")

    say("\n== Summary: odds ratio of quiescence for IVIG (MSM), 95% CI and the truth ==")
    say(table.round(3).to_string())
    return {"table": table, "imputations": imp, "pooled": res, "complete": complete}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--m", type=int, default=10)
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument(
        "--out", type=Path, default=None, help="(no figures: accepted for the docs)"
    )
    args = parser.parse_args(argv)
    pd.set_option("display.width", 140)
    pd.set_option("display.max_columns", 20)

    started = time.perf_counter()
    cohort = msm.datasets.simulate_jdm(n_patients=args.n_patients, seed=args.seed, missing=True)
    full = msm.datasets.simulate_jdm(n_patients=args.n_patients, seed=args.seed)
    truth = msm.datasets.jdm_truth()
    print(
        f"Simulated JDM cohort: {cohort['id'].nunique()} patients, {len(cohort)} "
        f"patient-months; {int(cohort[SCORES].isna().any(axis=1).sum())} patient-months lack "
        "some score"
    )
    print(truth)
    result = analyse(cohort, full, truth, m=args.m, seed=args.seed, max_iter=args.max_iter)
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return result


if __name__ == "__main__":
    main()
