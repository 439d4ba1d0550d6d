"""Rescue IVIG in juvenile dermatomyositis as a target trial: clone, censor, weight.

Run:  python examples/jdm_target_trial.py [--n-patients 4000] [--seed 1] [--n-boot 200]
      [--out out/]

The question of a trial nobody ran: in children whose JDM stays active after three months of
steroids, does starting IVIG within 3 months give more children inactive disease
(quiescence) at 2 years than not starting IVIG?  The simulated cohort
(``msm.datasets.simulate_jdm(..., eligible=True)``) marks the visits at which a child would
have been eligible; time zero is the first.  At time zero every eligible child's data still
agree with every strategy (the decision is still open), so each child is cloned into every
strategy, each clone is censored when its observed treatment stops following its strategy,
and the censoring is undone by inverse-probability weights (``msm.clone_censor``).  The truth under
each strategy is known (``msm.datasets.jdm_strategy_truth``, common random numbers).

Steps: the protocol -> eligibility and time zero -> clone, censor, weight (and where the
weights come from) -> risks at 12 and 24 months with a patient bootstrap -> the naive
comparisons (initiators against non-initiators; per-protocol without weights) -> one table
against the truth; the risk curves go to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import msm
from msm.trials.clones import protocol_text

# The strategies, from each child's time zero (interval 0; one interval is one month).  The
# difference reported is the first against the second.
STRATEGIES = {
    "IVIG within 3": msm.start_within(3),  # natural start in months 0-1, else start at 2
    "no IVIG": msm.never(),
    "no IVIG in year 1": msm.never(before=12),  # free to start from month 12 on
}
GRACE = 3
# The censoring (IVIG initiation) models: what drives the decision to start IVIG at a visit in
# the simulator -- current and previous physician global, CMAS, a flare, prednisone and the
# month since diagnosis.  Loss to follow-up is weighted for by default (these terms + ivig).
CENSOR_DENOMINATOR = "pga + pga_prev + cmas + flare + prednisone + month"
FOLLOWUP = 24  # months since time zero
TIMES = (12, 24)
MONTHS = 30  # months simulated: 24 months after the last possible time zero (month 5), and 1


def emulate(cohort: pd.DataFrame) -> msm.CloneCensor:
    """Clone every eligible child into each strategy, censor at deviation, weight."""
    return msm.clone_censor(
        cohort,
        id="id",
        time="month",
        treatment="ivig",
        outcome="quiescence",
        eligible="eligible",
        strategies=STRATEGIES,
        censor_denominator=CENSOR_DENOMINATOR,
        censor="lost",
        followup_max=FOLLOWUP,
    )


def from_time_zero(cohort: pd.DataFrame) -> pd.DataFrame:
    """Each eligible child's rows from time zero on, with ``followup`` (0 at time zero)."""
    time_zero = cohort[cohort["eligible"] == 1].groupby("id")["month"].min()
    rows = cohort[cohort["id"].isin(time_zero.index)]
    rows = rows.assign(followup=rows["month"] - rows["id"].map(time_zero))
    return rows[(rows["followup"] >= 0) & (rows["followup"] < FOLLOWUP)]


def initiators(cohort: pd.DataFrame) -> pd.Series:
    """Naive: children who started IVIG in the first 3 months against those who did not.

    Each eligible child is put in one group by what it did in intervals 0-2 (started IVIG
    or not), and each group's cumulative incidence of quiescence is estimated without
    weights (loss to follow-up censors).  A child who reaches quiescence at interval 0 or 1
    before it could start counts as a non-initiator: immortal time in the initiators' group,
    and the sicker children, the ones who get IVIG, in it too.
    """
    rows = from_time_zero(cohort)
    started = rows[rows["followup"] < GRACE].groupby("id")["ivig"].max()
    group = rows["id"].map(started).to_numpy()
    k = rows["followup"].to_numpy()
    y = rows["quiescence"].to_numpy(dtype=np.float64)
    out = {}
    for name, g in [("IVIG within 3", 1), ("no IVIG", 0)]:
        at = group == g
        events = np.bincount(k[at], weights=y[at], minlength=FOLLOWUP)
        at_risk = np.bincount(k[at], minlength=FOLLOWUP)
        risk = 1.0 - np.cumprod(1.0 - events / np.maximum(at_risk, 1))
        for t in TIMES:
            out[f"{t}|{name}"] = risk[t - 1]
    for t in TIMES:
        out[f"{t}|difference"] = out[f"{t}|IVIG within 3"] - out[f"{t}|no IVIG"]
    return pd.Series(out)


INITIATORS, PER_PROTOCOL = "initiators vs non-initiators", "per-protocol, no weights"


def naive_estimates(cohort: pd.DataFrame) -> pd.Series:
    """Both naive analyses of a cohort, as one statistic for the bootstrap.

    ``initiators`` and the clones without their weights (``risk_curves(weighted=False)``:
    those who deviate are censored, nothing makes up for it), keyed "method|time|quantity".
    """
    plain = emulate(cohort).risk_curves(times=list(TIMES), ci=False, weighted=False)
    out = {f"{PER_PROTOCOL}|{t}|{q}": v for (t, q), v in plain["estimate"].items() if q != "ratio"}
    out.update({f"{INITIATORS}|{k}": v for k, v in initiators(cohort).items()})
    return pd.Series(out)


def grace_period_weights(cc: msm.CloneCensor, cohort: pd.DataFrame) -> pd.DataFrame:
    """Where the weights of "IVIG within 3" come from: the clones at interval g-1 = 2.

    Clones still untreated at interval 2 must start there.  Those that do carry
    1 / P(start at 2 | history) and stand in for every clone censored there; the effective
    sample size of those starters is what the estimate under "IVIG within 3" rests on.
    """
    name = "IVIG within 3"
    risk = cohort.iloc[cc.risk_sets[name]]  # untreated before interval 2: the model's rows
    starters = risk.loc[risk["ivig"] == 1, "id"]
    e = cc.expanded
    at = e[(e["strategy"] == name) & (e["followup"] == GRACE - 1)]
    w = at.loc[at["id"].isin(starters), "weight"].to_numpy()  # (times their loss weights)
    return pd.DataFrame(
        {
            "value": [
                len(risk),
                len(starters),
                np.median(w),
                w.max(),
                w.sum() ** 2 / np.sum(w**2),
            ]
        },
        index=pd.Index(
            [
                "clones untreated at interval 2 (must start there)",
                "of them, starting IVIG at interval 2 (kept, weighted)",
                "their weight: median",
                "their weight: largest",
                "their effective sample size (Kish)",
            ],
            name=f"{name}: the last interval of the grace period",
        ),
    )


def weight_summary(cc: msm.CloneCensor) -> pd.DataFrame:
    """Per strategy: clone rows kept, clones at time zero and still followed, the weights."""
    rows = {}
    for name, g in cc.expanded.groupby("strategy", observed=True, sort=False):
        w = g["weight"]
        rows[name] = {
            "clone rows": len(g),
            "at risk in month 12": int((g["followup"] == 11).sum()),
            "at risk in month 24": int((g["followup"] == 23).sum()),
            "weight mean": w.mean(),
            "weight max": w.max(),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def risk_rows(table: pd.DataFrame, method: str, truth: pd.DataFrame) -> list[dict]:
    """Rows of the final table from a (time, quantity) table with estimate, lower, upper."""
    out = []
    for (t, quantity), r in table.iterrows():
        if t not in TIMES or quantity == "ratio":
            continue
        true = truth.loc[t, quantity]
        out.append(
            {
                "months": t,
                "quantity": quantity,
                "method": method,
                "estimate": r["estimate"],
                "lower": r["lower"],
                "upper": r["upper"],
                "truth": true,
                "covers": bool(r["lower"] <= true <= r["upper"]),
            }
        )
    return out


def analyse(
    cohort: pd.DataFrame,
    truth,
    *,
    n_boot: int = 200,
    seed: int = 1,
    n_jobs: int = 2,
    out: Path | None = None,
    verbose: bool = True,
) -> dict:
    """Run the emulation; returns the final table and the pieces (for tests and the docs)."""
    say = print if verbose else (lambda *a, **k: None)
    cc = emulate(cohort)

    say("\n== 1. The target trial ==")
    say(protocol_text(cc.protocol))

    say("\n== 2. Eligibility and time zero ==")
    n = cohort["id"].nunique()
    time_zero = cohort[cohort["eligible"] == 1].groupby("id")["month"].min()
    say(
        f"{cc.n_eligible} of {n} children are eligible (JDM still active, physician global >= 3,"
        " at a visit of months 3-5, not yet on IVIG); time zero is the first such visit:"
    )
    say(time_zero.value_counts().sort_index().rename_axis("time zero (month)").to_string())
    rows = from_time_zero(cohort)
    first = rows[rows["ivig"] == 1].groupby("id")["followup"].min()
    say(
        "\nIVIG started (observed) in interval 0, 1, 2 since time zero: "
        + ", ".join(str(int((first == k).sum())) for k in range(GRACE))
        + f"; later: {int((first >= GRACE).sum())}; never (in {FOLLOWUP} months): "
        f"{cc.n_eligible - len(first)}"
    )

    say("\n== 3. Clone, censor, weight ==")
    say("\n".join(repr(cc).splitlines()[:2]))
    if cc.notes:
        say("notes: " + "; ".join(cc.notes))
    say(weight_summary(cc).round(2).to_string())
    say("")
    say(grace_period_weights(cc, cohort).round(1).to_string())

    say(f"\n== 4. Risk of quiescence under each strategy ({n_boot} bootstrap replicates) ==")
    started = time.perf_counter()
    curves = cc.risk_curves(times=range(1, FOLLOWUP + 1), n_boot=n_boot, seed=seed, n_jobs=n_jobs)
    say(f"({time.perf_counter() - started:.1f} s: every replicate resamples children and "
        "re-runs the emulation)")  # fmt: skip
    ccw = curves.loc[list(TIMES)]
    say(ccw.round(3).to_string())

    say("\n== 5. Naive comparisons ==")
    boot = msm.bootstrap(
        naive_estimates, cohort, cluster="id", n_boot=n_boot, seed=seed, n_jobs=n_jobs,
        progress=False,
    )  # fmt: skip
    naive = boot.percentile_ci.assign(estimate=boot.estimate)[["estimate", "lower", "upper"]]
    keys = [k.split("|") for k in naive.index]
    naive.index = pd.MultiIndex.from_tuples(
        [(m, int(t), q) for m, t, q in keys], names=["method", "time", "quantity"]
    )
    say("Initiators (IVIG in months 0-2 after time zero) against non-initiators, no weights:")
    initiated = naive.loc[INITIATORS]
    say(initiated.round(3).to_string())
    say("\nPer-protocol without weights (the clones, censored, each counted once):")
    unweighted = naive.loc[PER_PROTOCOL]
    say(unweighted.round(3).to_string())

    say("\n== Summary: estimate, 95% CI and the truth ==")
    true = truth.table
    table = pd.DataFrame(
        risk_rows(ccw, "clone-censor-weight", true)
        + risk_rows(unweighted, PER_PROTOCOL, true)
        + risk_rows(initiated, INITIATORS, true)
    )
    order = {q: k for k, q in enumerate([*STRATEGIES, "difference"])}
    table = table.sort_values(
        ["months", "quantity"], key=lambda c: c.map(order) if c.name == "quantity" else c,
        kind="stable",
    ).set_index(["months", "quantity", "method"])  # fmt: skip
    say(table.round(3).to_string())

    if out is not None:
        write_plot(out, curves, truth)
        say(f"\nplot written to {out}/")
    return {"table": table, "emulation": cc, "curves": curves, "naive": naive}


def write_plot(out: Path, curves: pd.DataFrame, truth) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig = msm.plot.strategy_risk_curves(curves, truth=truth.risk)
    fig.axes[0].set_ylabel("cumulative incidence of quiescence")
    fig.axes[0].set_xlabel("months since time zero")
    fig.savefig(out / "target_trial_risk.png", dpi=120, bbox_inches="tight")
    plt.close("all")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--truth-patients", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args(argv)
    pd.set_option("display.width", 140)
    pd.set_option("display.max_columns", 20)

    started = time.perf_counter()
    cohort = msm.datasets.simulate_jdm(
        n_patients=args.n_patients, months=MONTHS, seed=args.seed, eligible=True
    )
    print(
        f"Simulated JDM cohort: {args.n_patients} children followed monthly from diagnosis "
        f"for up to {MONTHS} months, {len(cohort)} child-months"
    )
    truth = msm.datasets.jdm_strategy_truth(
        STRATEGIES, n_patients=args.truth_patients, times=tuple(range(1, FOLLOWUP + 1))
    )
    print(
        f"The truth: {truth.n_patients} children simulated under each strategy with common "
        f"random numbers, {truth.n_eligible} of them eligible; risk of quiescence by months "
        "since time zero:"
    )
    print(truth.table.loc[list(TIMES)].round(4).to_string())
    result = analyse(
        cohort, truth, n_boot=args.n_boot, seed=args.seed, n_jobs=args.n_jobs, out=args.out
    )
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return result


if __name__ == "__main__":
    main()
