"""Quick start: stabilized IP weights on a simulated cohort with time-varying confounding.

Run:  python examples/quickstart.py [--n-subjects 2000] [--seed 1]

A confounder ``l`` drives treatment ``a`` (absorbing: once started, never stopped) and is itself
lowered by earlier treatment.  We weight, look at the weights, and check that the weighted
treatment model no longer sees ``l``.
"""

from __future__ import annotations

import argparse

import pandas as pd

import msm


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-subjects", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    pd.set_option("display.width", 140)
    pd.set_option("display.max_columns", 20)

    # %% simulate a cohort: 10 visits, loss to follow-up that depends on l
    cohort = msm.datasets.simulate_panel(
        args.n_subjects, 10, seed=args.seed, censor_coefs=(-3.5, 0.5)
    )
    print(
        f"{cohort['id'].nunique()} subjects, {len(cohort)} person-visits, "
        f"{cohort.groupby('id')['a'].max().sum()} ever treated\n"
    )

    # %% stabilized weights: treatment and censoring, truncated at the 1st/99th percentiles
    w = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l + time",
        numerator="x + time",
        absorbing=True,
        censor="lost",
        truncate=(1, 99),
    )
    print(w, "\n")
    print("Treatment denominator model:")
    print(w.models["denominator"].summary().round(4), "\n")
    print("Weights by visit:")
    print(w.summary(by="time").round(3), "\n")
    print("Largest weights:")
    print(w.extreme(5).round(3))


if __name__ == "__main__":
    main()
