"""Cyclophosphamide in juvenile dermatomyositis: skin disease a year after starting, linear MSM.

Run:  python examples/jdm_cyclophosphamide.py [--n-patients 400] [--seed 1]

In the spirit of Deakin et al. (Arthritis Rheumatol 2018), who used marginal structural models
to compare skin disease activity a year after starting cyclophosphamide (CYC) with no CYC in
the UK JDM cohort.  Children with active skin disease and a high physician global are the ones
who start CYC (confounding by indication), so a plain comparison makes CYC look harmful.

The question is asked as a sequence of emulated trials, one per month m = 1..23 of follow-up:

- eligible: seen at visit m, CYC not started before, active skin disease (DAS skin >= 5) at m;
- arms: first CYC pulse at visit m, versus no CYC for the next twelve months (a control who
  starts CYC later leaves that trial's control arm when they start: artificial censoring);
- outcome: DAS skin (0-9) at visit m + 12; a child lost to follow-up before it is censored.

The weights come from ``msm.iptw`` on the whole person-month data (absorbing treatment
``cyc_started``, with censoring for loss to follow-up).  A child's weight in trial m is the
product of their factors from visit m on (the start at m, or each month without CYC up to
m + 11) times their censoring weight up to visit m + 12, so the weighted trials represent
every eligible child under both arms.  The MSM, ``E[DAS skin^a] = b0 + b1 a``, is a weighted
linear regression (``msm.glm(family="gaussian")``) with standard errors clustered by child
(a child is in many trials).  Its target is the mean over the trials of the per-trial effects
weighted by the number eligible, which ``msm.datasets.cyc_truth`` computes by simulating both
arms for 20,000 children.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import msm

TRIALS = tuple(range(1, 24))  # trial months; the outcome visit m + 12 is at most month 35
HORIZON = 12
MIN_DAS_SKIN = 5  # eligibility: active skin disease at the trial's visit
CONFOUNDERS = ["das_skin", "pga", "pga_prev", "flare"]  # what drives the start of CYC


def weights(cohort: pd.DataFrame) -> msm.Weights:
    """IP weights for starting CYC (absorbing) and for loss to follow-up.

    Unstabilized: with a saturated MSM (``das_skin ~ cyc``) a numerator that is constant
    within each arm changes nothing, and without one each trial keeps all its eligible
    children, so the trials are weighted by their numbers eligible, as in the truth.
    """
    return msm.iptw(
        cohort,
        id="id",
        time="month",
        treatment="cyc_started",
        denominator="das_skin + pga + pga_prev + flare",
        absorbing=True,
        censor="lost",
        censor_denominator="pga + das_skin",
    )


def emulate_trials(
    cohort: pd.DataFrame,
    w: msm.Weights | None = None,
    trials=TRIALS,
    horizon=HORIZON,
    min_das_skin=MIN_DAS_SKIN,
) -> pd.DataFrame:
    """One row per child and trial month m, with arm, confounders at m, outcome and weight.

    Keeps the eligible children whose outcome is observed and who follow their arm (treated at
    m; or untreated at m and through m + horizon - 1).  ``weight`` is NaN without ``w``.
    """
    frame = cohort.assign(
        treatment_weight=np.nan if w is None else w.treatment_weights,
        censoring_weight=np.nan if w is None else w.censoring_weights,
    )
    wide = frame.pivot(index="id", columns="month")
    months = wide.columns.get_level_values("month").unique()

    def at(column: str, month: int) -> pd.Series:
        if month < 0:
            return pd.Series(1.0 if column == "treatment_weight" else 0.0, index=wide.index)
        return wide[(column, month)] if month in months else pd.Series(np.nan, wide.index)

    pieces = []
    for m in trials:
        seen = at("cyc_started", m).notna()
        eligible = seen & (at("cyc_started", m - 1) == 0) & (at("das_skin", m) >= min_das_skin)
        arm = at("cyc_started", m)
        on_protocol = (arm == 1) | (at("cyc_started", m + horizon - 1) == 0)
        outcome = at("das_skin", m + horizon)
        keep = eligible & on_protocol & outcome.notna()
        # factors from visit m to m + horizon - 1: a ratio of cumulative treatment weights
        treatment = at("treatment_weight", m + horizon - 1) / at("treatment_weight", m - 1)
        censoring = at("censoring_weight", m + horizon - 1)
        piece = pd.DataFrame(
            {
                "id": wide.index[keep],
                "trial": m,
                "cyc": arm[keep].astype(int).to_numpy(),
                **{c: at(c, m)[keep].to_numpy() for c in CONFOUNDERS},
                "das_skin_12": outcome[keep].to_numpy(),
                "weight": (treatment * censoring)[keep].to_numpy(),
            }
        )
        pieces.append(piece)
    return pd.concat(pieces, ignore_index=True)


def estimates(cohort: pd.DataFrame) -> tuple[pd.DataFrame, msm.Weights, pd.DataFrame]:
    """Naive and MSM estimates of the effect of starting CYC on DAS skin a year later.

    Returns the table (method, estimate, lower, upper), the weights and the trial rows.
    """
    w = weights(cohort)
    trials = emulate_trials(cohort, w)
    fits = {
        "unadjusted (trial rows, no weights)": msm.glm(
            "das_skin_12 ~ cyc", trials, cluster="id", family="gaussian"
        ),
        "adjusted for activity at the trial start": msm.glm(
            "das_skin_12 ~ cyc + " + " + ".join(CONFOUNDERS),
            trials,
            cluster="id",
            family="gaussian",
        ),
        "MSM (IPTW x IPCW, robust SE)": msm.glm(
            "das_skin_12 ~ cyc", trials, weights="weight", cluster="id", family="gaussian"
        ),
    }
    rows = []
    for method, fit in fits.items():
        lower, upper = fit.conf_int().loc["cyc"]
        rows.append(
            {"method": method, "estimate": fit.params["cyc"], "lower": lower, "upper": upper}
        )
    return pd.DataFrame(rows).set_index("method"), w, trials


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--truth-patients", type=int, default=20_000, help="population simulated for the truth"
    )
    args = parser.parse_args(argv)
    pd.set_option("display.width", 140)
    pd.set_option("display.max_columns", 20)
    clock = time.perf_counter()

    # %% the cohort: monthly visits for three years from diagnosis
    cohort = msm.datasets.simulate_cyc(n_patients=args.n_patients, seed=args.seed)
    first = cohort[cohort["cyc_started"] == 1].groupby("id")["month"].min()
    print(
        f"{cohort['id'].nunique()} children, {len(cohort)} visits; {first.size} started CYC "
        f"(median month {first.median():.0f}); "
        f"{cohort.groupby('id')['lost'].max().sum()} lost to follow-up\n"
    )
    at_start = cohort[cohort.groupby("id")["cyc_started"].shift(fill_value=0) == 0]
    print("Visits at risk of starting CYC, mean scores by whether CYC was started there:")
    print(at_start.groupby("cyc_started")[CONFOUNDERS].mean().round(2), "\n")

    # %% weights, trials, estimates
    table, w, trials = estimates(cohort)
    print("Model for starting CYC (denominator of the weights), log odds ratios:")
    print(w.models["denominator"].summary().round(3), "\n")
    arms = trials.groupby("cyc").agg(
        rows=("id", "size"),
        children=("id", "nunique"),
        das_skin_at_start=("das_skin", "mean"),
        weight_median=("weight", "median"),
        weight_max=("weight", "max"),
        ess=("weight", lambda v: v.sum() ** 2 / (v**2).sum()),
    )
    print(
        f"Emulated trials: months {TRIALS[0]}-{TRIALS[-1]}, DAS skin >= {MIN_DAS_SKIN} at the "
        "start, by arm (arm 1: first CYC pulse at the trial's visit):"
    )
    print(arms.round(2), "\n")
    b = msm.balance(trials, treatment="cyc", covariates=CONFOUNDERS, weights="weight")
    print(b, "\n")

    # %% the truth, by simulating both arms for a large population
    truth = msm.datasets.cyc_truth(
        n_patients=args.truth_patients, trials=TRIALS, horizon=HORIZON, min_das_skin=MIN_DAS_SKIN
    )
    table["truth"] = truth.effect
    table["covers"] = (table["lower"] <= truth.effect) & (truth.effect <= table["upper"])
    print("Effect of starting CYC on DAS skin (0-9) 12 months later, with 95% CIs:")
    print(table.round(3).to_string(), "\n")
    print(f"({time.perf_counter() - clock:.1f} s)")
    return table


if __name__ == "__main__":
    main()
