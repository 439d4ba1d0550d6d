"""Inactive disease or treatment failure first: competing events, restricted mean time, E-values.

Run:  python examples/jdm_competing.py [--n-patients 1500] [--seed 1] [--n-boot 40]

A child with JDM on rescue IVIG either reaches inactive disease (quiescence) or fails
treatment first (switched to another agent): the two events compete, and a curve that
censors failures answers a question nobody asked.  The cohort is ``simulate_jdm(...,
competing=True)``: each month a child may fail treatment (more often with high disease
activity, less often on IVIG) before the visit where quiescence would be seen.  The truth
under "always IVIG" and "never IVIG" from diagnosis is ``jdm_competing_truth`` (common random
numbers).

Steps: the cohort -> one IP-weighted pooled logistic MSM per cause (quiescence, failure), with
the IVIG example's treatment and loss-to-follow-up weights -> the cumulative incidence of each
event under each regime (``risk_curves(..., competing=..., handling="total")``) and with
failure prevented (``handling="eliminate"``: failure treated as censoring and weighted for)
with patient-bootstrap intervals -> restricted mean time (months of inactive disease gained by
24 months) -> E-values of the main estimates -> the weighted Aalen-Johansen estimator of
"never IVIG" (censoring at IVIG start, with the treatment weights) as a nonparametric check ->
one table against the truth.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
import pandas as pd

import msm

# the IVIG example's models: its treatment and loss-to-follow-up weights
_SPEC = importlib.util.spec_from_file_location("jdm_ivig", Path(__file__).with_name("jdm_ivig.py"))
ivig = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ivig)

HAZARD = "ivig + month + I(month**2)"
MSM_QUIESCENCE = f"quiescence ~ {HAZARD}"
MSM_FAILURE = f"failure ~ {HAZARD}"
BY_MONTHS = (12, 24)
TAU = 24  # the horizon of the restricted mean times


def eliminate_weights(data: pd.DataFrame) -> msm.Weights:
    """Weights for the world without failure: IVIG, and leaving follow-up by loss or by
    failure, each weighted for (failure treated as censoring, depending on the history)."""
    gone = data.assign(gone=((data["lost"] == 1) | (data["failure"] == 1)).astype(int))
    return msm.iptw(
        gone,
        id="id",
        time="month",
        treatment="ivig",
        absorbing=True,
        denominator=ivig.DENOMINATOR,
        numerator=ivig.NUMERATOR,
        censor="gone",
        censor_denominator=ivig.CENSOR_DENOMINATOR,
        censor_numerator=ivig.CENSOR_NUMERATOR,
    )


def curves(data: pd.DataFrame) -> dict:
    """Both handlings' risk curves from one data set (the statistic of the bootstrap)."""
    w = ivig.weights(data)
    fit_q = msm.glm(MSM_QUIESCENCE, data, weights=w, cluster="id", family="binomial")
    fit_f = msm.glm(MSM_FAILURE, data, weights=w, cluster="id", family="binomial")
    total = msm.risk_curves(fit_q, data, id="id", time="month", treatment="ivig",
                            competing={"failure": fit_f}, handling="total")  # fmt: skip
    # failure prevented: a failure row's quiescence is not seen (weight 0), and the others
    # carry the inverse probability of not having failed (nor been lost) so far
    we = eliminate_weights(data).weights.where(data["failure"] == 0, 0.0)
    fit_qe = msm.glm(MSM_QUIESCENCE, data, weights=we, cluster="id", family="binomial")
    eliminate = msm.risk_curves(fit_qe, data, id="id", time="month", treatment="ivig",
                                competing={"failure": fit_f}, handling="eliminate")  # fmt: skip
    return {"fit": fit_q, "total": total, "eliminate": eliminate}


def statistic(data: pd.DataFrame) -> pd.Series:
    """The numbers the bootstrap resamples: risks by 12 and 24 months, RMST and RMTL."""
    c = curves(data)
    out = {"log OR quiescence": c["fit"].params["ivig"]}
    for handling in ("total", "eliminate"):
        table = c[handling]
        for months in BY_MONTHS:
            at = table.xs(months - 1, level="month")
            for regime in ("always", "never"):
                out[f"{handling} quiescence {months} {regime}"] = at.loc[regime, "risk"]
                if handling == "total":
                    out[f"total failure {months} {regime}"] = at.loc[regime, "failure_risk"]
            out[f"{handling} quiescence {months} ratio"] = at.loc["always", "ratio"]
    rmst = msm.rmst(c["total"], TAU).set_index("regime")
    for regime in ("always", "never"):
        out[f"months inactive {regime}"] = rmst.loc[regime, "rmtl"]
        out[f"months failed {regime}"] = rmst.loc[regime, "rmtl_failure"]
    out["months inactive gained"] = out["months inactive always"] - out["months inactive never"]
    return pd.Series(out)


def never_by_aalen_johansen(data: pd.DataFrame) -> msm.CumulativeIncidence:
    """'Never IVIG' without a model for the outcome: each child's months before IVIG starts,
    weighted by the inverse probability of not having started (and of not being lost), in
    the weighted Aalen-Johansen estimator with quiescence and failure as competing states."""
    w = ivig.weights(data)
    rows = data.assign(w=w.weights)[data.groupby("id")["ivig"].cumsum() == 0]
    rows = rows.assign(
        start=rows["month"].astype(float),
        stop=rows["month"] + 1.0,
        event=np.where(rows["quiescence"] == 1, 1, np.where(rows["failure"] == 1, 2, 0)),
    )
    states = {1: "quiescence", 2: "failure"}
    return msm.cumulative_incidence(rows, id="id", start="start", stop="stop", event="event",
                                    weights="w", states=states)  # fmt: skip


def summary_table(estimate, boot, truth) -> pd.DataFrame:
    rows = []
    for handling in ("total", "eliminate"):
        for cause in ("quiescence", "failure"):
            if handling == "eliminate" and cause == "failure":
                continue
            for months in BY_MONTHS:
                for regime in ("always", "never"):
                    key = f"{handling} {cause} {months} {regime}"
                    ci = boot.conf_int().loc[key]
                    true = truth.cif_at(months, regime, cause, handling=handling)
                    rows.append({
                        "handling": handling, "cause": cause, "months": months,
                        "regime": regime, "estimate": estimate[key], "lower": ci["lower"],
                        "upper": ci["upper"], "truth": true,
                        "covers truth": bool(ci["lower"] <= true <= ci["upper"]),
                    })  # fmt: skip
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--n-boot", type=int, default=40)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--truth-patients", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args(argv)
    pd.set_option("display.width", 140)
    pd.set_option("display.max_columns", 20)
    started = time.perf_counter()

    cohort = msm.datasets.simulate_jdm(n_patients=args.n_patients, seed=args.seed,
                                       competing=True)  # fmt: skip
    data = ivig.prepare(cohort)
    truth = msm.datasets.jdm_competing_truth(n_patients=args.truth_patients, seed=args.seed)
    per = data.groupby("id").agg(ivig=("ivig", "max"), quiescence=("quiescence", "max"),
                                 failure=("failure", "max"), lost=("lost", "max"))  # fmt: skip
    print(f"Simulated JDM cohort with treatment failure: {len(per)} children, {len(data)} "
          f"child-months; {int(per.quiescence.sum())} reached inactive disease first, "
          f"{int(per.failure.sum())} failed treatment first, {int(per.lost.sum())} were lost; "
          f"{int(per.ivig.sum())} received IVIG")  # fmt: skip

    print("\n== 1. One IP-weighted MSM per cause (treatment and loss-to-follow-up weights)")
    c = curves(data)
    print(c["fit"].summary().round(4).to_string())
    print("(the failure model has the same terms; each is a cause-specific discrete-time hazard)")

    print("\n== 2. Cumulative incidence under each regime, failure as a competing state (total)")
    at = c["total"].loc[(slice(None), [m - 1 for m in BY_MONTHS]), :]
    print(at[["risk", "failure_risk", "difference", "failure_difference"]].round(3).to_string())
    print("With failure prevented (eliminate: failure treated as censoring, weighted for):")
    at = c["eliminate"].loc[(slice(None), [m - 1 for m in BY_MONTHS]), :]
    print(at[["risk", "difference", "ratio"]].round(3).to_string())

    print(f"\n== 3. Restricted mean time over the first {TAU} months (total)")
    rmst = msm.rmst(c["total"], TAU)
    print(rmst.round(2).to_string(index=False))
    print("rmtl: months after reaching inactive disease (within 24 months, gained time); "
          "rmtl_failure: months after failing treatment")  # fmt: skip

    boot = msm.bootstrap(statistic, data, cluster="id", n_boot=args.n_boot, seed=args.seed,
                         n_jobs=args.n_jobs, progress=False)  # fmt: skip
    estimate = boot.estimate

    print("\n== 4. E-values: how strong an unmeasured confounder would have to be")
    e_or = c["fit"].evalue("ivig")
    print("MSM odds ratio of quiescence for current IVIG (rare outcome: false):")
    print(e_or.round(3).to_string())
    ci = boot.conf_int().loc["total quiescence 24 ratio"]
    e_rr = msm.evalue(estimate["total quiescence 24 ratio"], ci["lower"], ci["upper"])
    print("Risk ratio of inactive disease by 24 months, always vs never IVIG (bootstrap CI):")
    print(e_rr.round(3).to_string())

    print("\n== 5. 'Never IVIG' without an outcome model: the weighted Aalen-Johansen estimator")
    aj = never_by_aalen_johansen(data).table
    for months in BY_MONTHS:
        for cause in ("quiescence", "failure"):
            r = aj[(aj.state.astype(str) == cause) & (aj.time <= months)].iloc[-1]
            print(f"  by {months} months, {cause:<10}: {r.probability:.3f} "
                  f"({r.lower:.3f}, {r.upper:.3f}); "
                  f"MSM {estimate[f'total {cause} {months} never']:.3f}; "
                  f"truth {truth.cif_at(months, 'never', cause):.3f}")  # fmt: skip

    print("\n== Summary: cumulative incidence against the truth (bootstrap 95% CIs)")
    table = summary_table(estimate, boot, truth)
    print(table.round(3).to_string(index=False))
    gained = boot.conf_int().loc["months inactive gained"]
    print(f"Months of inactive disease gained by 24 months with IVIG: "
          f"{estimate['months inactive gained']:.2f} ({gained['lower']:.2f}, "
          f"{gained['upper']:.2f})")  # fmt: skip

    args.out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    fig = msm.plot.risk_curves(c["total"][["risk"]])
    fig.axes[0].set_title("Inactive disease, failure competing (total)")
    fig.savefig(args.out / "competing_quiescence.png", dpi=110)
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return {"table": table, "rmst": rmst, "boot": boot, "evalue_or": e_or, "evalue_rr": e_rr}


if __name__ == "__main__":
    main()
