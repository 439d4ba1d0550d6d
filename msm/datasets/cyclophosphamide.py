"""A synthetic JDM cohort in which some children start a six-month cyclophosphamide course.

``simulate_cyc()`` draws monthly visits of children with juvenile dermatomyositis (JDM) from
diagnosis; ``cyc_truth()`` runs the same process under "start cyclophosphamide (CYC) at month
m" and "no CYC" for a large cohort, with common random numbers, and returns the true effect of
starting CYC on skin disease activity (DAS skin) twelve months later.  It is the simulation
behind ``examples/jdm_cyclophosphamide.py``, in the spirit of Deakin et al. (2018), who found
lower skin disease activity and physician global assessment a year after starting CYC in UK
JDM patients.

The disease course (latent activity, the scores, the steroid taper and its flares, loss to
follow-up) is that of ``simulate_jdm`` (rescue IVIG), from the module ``_course``; what is this
file's own is the treatment and the truth.  In ``simulate_jdm`` the treatment stays on once
started and its column stays 1, and the truth is about quiescence; here CYC is a course of six
monthly pulses (``cyc`` is 1 during the course, ``cyc_started`` from the first pulse on), skin
activity has a persistent patient-level part, and the truth is a difference in mean DAS skin.

The process, month by month (row ``month = t`` holds visit t and what happens before visit
t + 1)::

    baseline   sex, age at diagnosis, an unmeasured frailty U ~ N(0, 1), a skin propensity
               K ~ N(0, skin_sd) (persistent skin disease, seen through DAS skin)
    visit t    activity_t = x_t - cyc_activity * min(k_t / cyc_ramp, 1)
                   (k_t = months since the first CYC pulse, 0 before and at it)
               -> physician global (pga, 0-10) from expit(activity_t), CMAS (0-52) likewise,
                  DAS skin (0-9) from expit(activity_t + K)
               prednisone: the taper, back to 1 mg/kg/day on a flare (pga >= 4 from month 3)
               CYC started, if not yet, with a probability that rises with DAS skin, pga now
               and at the previous visit, and a flare (measured variables only)
    month t    x_{t+1} = rho x_t + (1 - rho) target_t + noise, the target rising with U and
               falling with prednisone and with time
               loss to follow-up after the visit, more likely with high pga

So DAS skin and the physician global are confounders by indication (they drive CYC and
predict later skin activity), U acts on activity and outcome but not directly on treatment,
and loss to follow-up depends on activity.  CYC lowers activity by ``cyc_activity`` on the
latent scale once the six pulses are given (the effect builds up over the course and then
persists), which also means fewer flares and less prednisone later.

References: Deakin CT, Campanilho-Marques R, Simou S, et al. Efficacy and safety of
cyclophosphamide treatment in severe juvenile dermatomyositis shown by marginal structural
modeling. Arthritis Rheumatol 2018;70:785-93.  Bode RK, Klein-Gitelman MS, Miller ML, et al.
Disease activity score for children with dermatomyositis: reliability and validity evidence.
Arthritis Rheum 2003;49:7-15 (the DAS: skin 0-9, muscle 0-11).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm.datasets import _course

__all__ = ["CYCParameters", "CYCTruth", "cyc_truth", "simulate_cyc"]


@dataclass(frozen=True)
class CYCParameters(_course.CourseParameters):
    """Every number of the cyclophosphamide simulation.

    Latent activity is on a logit scale as in ``JDMParameters``: ``expit(activity)`` is the
    fraction of maximal activity.  Rates are per month.  The defaults were chosen so that the
    cohort looks like a tertiary-centre JDM cohort of severe disease (about 9% of the
    children start CYC at diagnosis, 30% within a year and 37% within two, mostly those with
    active skin disease; a quarter are lost to follow-up over three years) and so that the
    unadjusted comparison of treated and untreated children is badly biased while the
    IP-weighted one is not (see ``examples/jdm_cyclophosphamide.py``).

    Attributes
    ----------
    female_fraction : float
        P(female) = 0.68 (JDM affects girls about twice as often as boys).
    age_median, age_sdlog, age_min, age_max : float
        Age at diagnosis in years: log-normal, median 7, log-sd 0.45, kept in [2, 15].
    activity_diagnosis, activity_diagnosis_sd : float
        Mean (0.5) and sd (0.6) of latent activity at diagnosis (physician global about
        6/10).
    frailty_diagnosis, frailty_activity : float
        Effects of the unmeasured frailty U on activity at diagnosis (0.4) and on the
        activity level (0.7): a chronic course, whatever is done.
    skin_sd : float
        Sd of the persistent skin propensity K (0.6): some children have more skin disease
        than their global activity says.  K enters DAS skin only; it is measured through it.
    activity_level, activity_trend : float
        The untreated activity level of an average child (0.1) and its change per month
        (-0.03): JDM tends to burn out.
    persistence, activity_sd : float
        rho = 0.75, the monthly autocorrelation of activity, and the sd of its monthly
        innovation (0.35).
    prednisone_effect : float
        Fall of the activity target per mg/kg/day of prednisone (0.9).
    taper, flare_pga, flare_month, flare_step
        Prednisone: 2 mg/kg/day at diagnosis tapering to 1 over two months and 0.2 over
        the next four, 0.1 from the first year, off after 18 months; a physician global of
        at least 4 from month 3 is a flare and sends the taper back to step 2 (1 mg/kg/day).
    cyc_activity, cyc_ramp, cyc_course : float, int, int
        CYC lowers latent activity by 1.0 once its effect is complete, building up linearly
        over ``cyc_ramp`` = 6 months; the course is ``cyc_course`` = 6 monthly pulses
        (``cyc`` = 1 during it).  The effect persists after the course (remission).
    cyc_intercept, cyc_skin, cyc_pga, cyc_pga_prev, cyc_flare : float
        logit P(start CYC at visit t | not started) = -4.3 + 0.35 (das_skin_t - 4)
        + 0.3 (pga_t - 5) + 0.25 (pga_prev_t - 5) + 0.8 flare_t: CYC for severe or
        refractory disease, skin disease especially.
    pga_sd, cmas_sd, das_sd : float
        Measurement noise of the physician global (0.6), CMAS (2.5) and DAS skin (0.8).
    lost_intercept, lost_pga : float
        logit P(lost to follow-up after visit t) = -5.8 + 0.3 pga_t: about 0.7% a month,
        more with active disease.
    """

    # female_fraction .. lost_pga: the disease course's fields, from _course.CourseParameters;
    # five of them differ from JDMParameters' (severer disease)
    activity_diagnosis: float = 0.5
    frailty_activity: float = 0.7
    activity_trend: float = -0.03
    lost_intercept: float = -5.8
    lost_pga: float = 0.3
    skin_sd: float = 0.6
    cyc_activity: float = 1.0
    cyc_ramp: int = 6
    cyc_course: int = 6
    cyc_intercept: float = -4.3
    cyc_skin: float = 0.35
    cyc_pga: float = 0.3
    cyc_pga_prev: float = 0.25
    cyc_flare: float = 0.8


# ----------------------------------------------------------------------------------------------
# the CYC policy and the skin propensity on the shared disease course (``_course``), with the
# random numbers of each month from their own stream, so that every world (the observed one,
# "no CYC", "CYC from month m") and every subset of patients sees the same draws


def _streams(seed: int, n: int) -> _course.MonthStreams:
    return _course.MonthStreams(seed, n, normals=5, uniforms=1, noise=3, month_uniforms=2)


@dataclass
class _Course(_course.Course):
    """The shared course, with each patient's skin propensity K."""

    skin: np.ndarray


def _baseline(
    draws: _course.MonthStreams, p: CYCParameters
) -> tuple[dict[str, np.ndarray], _Course]:
    z = draws.z
    female, age = _course.sex_and_age(p, draws.u[0], z[0])
    frailty = z[1]
    state = _Course.at_diagnosis(p, frailty, z[2], skin=p.skin_sd * z[3])
    return {"sex": female, "age": age, "frailty": frailty}, state


def _visit(
    state: _Course,
    rows: np.ndarray,
    draws: _course.MonthStreams,
    p: CYCParameters,
    start: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Visit ``state.t`` and the month after it, for the patients ``rows`` (state updated).

    ``start=None`` lets CYC follow the observational treatment model; otherwise it is the
    boolean array of patients whose first pulse is given at this visit (others never start
    here).
    """
    d = draws.month(state.t).take(rows)
    v = _course.visit(state, p, d.noise[0], p.cyc_activity, max(p.cyc_ramp, 1))
    cmas = _course.cmas(v.s, d.noise[1], p.cmas_sd)
    das_skin = _course.das_skin(_course.expit(v.activity + state.skin), d.noise[2], p.das_sd)

    if start is None:
        eta = (
            p.cyc_intercept
            + p.cyc_skin * (das_skin - 4.0)
            + p.cyc_pga * (v.pga - 5.0)
            + p.cyc_pga_prev * (v.pga_prev - 5.0)
            + p.cyc_flare * v.flare
        )
        start = ~state.started & (d.u[0] < _course.expit(eta))
    else:
        start = ~state.started & start
    started = state.started | start
    on_course = started & (state.months_on < p.cyc_course)
    lost = _course.lost(p, v.pga, d.u[1])
    _course.advance(state, p, v, started, d.eps)  # the month after a pulse counts
    return {
        "activity": v.activity,
        "pga": v.pga,
        "pga_prev": v.pga_prev,
        "cmas": cmas,
        "das_skin": das_skin,
        "flare": v.flare,
        "prednisone": v.prednisone,
        "cyc": on_course,
        "cyc_started": started,
        "lost": lost,
    }


def _seed(seed: int | None) -> int:
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


# ----------------------------------------------------------------------------------------------
# the observed cohort

COLUMNS = [
    "id",
    "month",
    "sex",
    "age",
    "pga",
    "pga_prev",
    "cmas",
    "das_skin",
    "flare",
    "prednisone",
    "cyc",
    "cyc_started",
    "lost",
]
_INTEGER = ["cmas", "das_skin", "flare", "cyc", "cyc_started", "lost"]


def simulate_cyc(
    n_patients: int = 400,
    months: int = 36,
    seed: int | None = None,
    *,
    parameters: CYCParameters | None = None,
    latent: bool = False,
    **overrides: float,
) -> pd.DataFrame:
    """Simulate a JDM cohort with monthly visits in which some children start cyclophosphamide.

    One row per patient-month, ``month = 0 .. months - 1`` from diagnosis.  Row ``month = t``
    holds the scores measured at visit t and the treatment given from it; ``lost`` is 1 on
    the last row of a patient lost to follow-up after that visit.  Cyclophosphamide (CYC) is
    started more often with active skin disease, a high physician global now and at the
    previous visit, and a flare (confounding by indication, through time-varying activity),
    is given as six monthly pulses, and lowers later activity; an unmeasured frailty raises
    activity without acting on treatment directly; loss to follow-up is more likely with high
    physician global.  See the module docstring and ``CYCParameters``; the true effect of
    starting CYC on DAS skin a year later is given by ``cyc_truth``.

    Parameters
    ----------
    n_patients, months : int
        Cohort size and months of follow-up.
    seed : int, optional
        The same seed gives the same cohort.
    parameters : CYCParameters, optional
        All the simulation's numbers; default ``CYCParameters()``.
    latent : bool
        Add the unobserved columns ``activity`` (latent activity at the visit) and
        ``frailty`` (U), for teaching and checks.  An analysis must not use them.
    **overrides
        Individual parameters by name, e.g. ``cyc_activity=0.0`` for a CYC without effect.

    Returns
    -------
    DataFrame
        Sorted by ``id, month`` with a default RangeIndex, columns ``id``, ``month``,
        ``sex`` (1 female), ``age`` (years at diagnosis), ``pga`` (physician global activity
        0-10), ``pga_prev`` (at the previous visit; at month 0 the same visit), ``cmas``
        (Childhood Myositis Assessment Scale 0-52, higher is better), ``das_skin`` (skin
        disease activity score 0-9), ``flare`` (1 when the taper failed at this visit),
        ``prednisone`` (mg/kg/day), ``cyc`` (1 during the six-month course), ``cyc_started``
        (1 from the first pulse on: absorbing), ``lost``.

    Notes
    -----
    The CYC start model is logistic in ``das_skin``, ``pga``, ``pga_prev`` and ``flare``, so
    an IPTW denominator (``treatment="cyc_started"``, ``absorbing=True``) with these terms is
    correctly specified; loss to follow-up is logistic in ``pga``.

    Examples
    --------
    >>> cohort = simulate_cyc(n_patients=100, seed=1)
    >>> cohort.columns.tolist()[:6]
    ['id', 'month', 'sex', 'age', 'pga', 'pga_prev']
    >>> bool(cohort.groupby("id")["cyc"].sum().max() <= 6)
    True
    """
    p = _course.resolve(CYCParameters, parameters, overrides)
    _course.check_positive(n_patients=n_patients, months=months)
    draws = _streams(_seed(seed), n_patients)
    baseline, state = _baseline(draws, p)
    rows = np.arange(n_patients)
    pieces: dict[str, list[np.ndarray]] = {}
    for t in range(months):
        out = _visit(state, rows, draws, p, start=None)
        if t == months - 1:
            out["lost"] = np.zeros(rows.size, dtype=bool)  # follow-up ends anyway
        out["id"] = rows
        out["month"] = np.full(rows.size, t)
        for name, values in out.items():
            pieces.setdefault(name, []).append(values)
        keep = ~out["lost"]
        rows = rows[keep]
        state = state.take(np.flatnonzero(keep))
        if rows.size == 0:
            break
    names = COLUMNS + (["activity", "frailty"] if latent else [])
    return _course.person_months(pieces, baseline, names, _INTEGER)


# ----------------------------------------------------------------------------------------------
# the truth


@dataclass(frozen=True, repr=False)
class CYCTruth:
    """The true effect of starting cyclophosphamide on DAS skin ``horizon`` months later.

    Attributes
    ----------
    effect : float
        The average over the trials of the per-trial effects, each trial weighted by its
        number of eligible patients: the target of the pooled, IP-weighted comparison in
        ``examples/jdm_cyclophosphamide.py``.
    by_trial : pandas.DataFrame
        One row per trial month m: ``eligible`` (patients not started on CYC before m, with
        DAS skin at least ``min_das_skin`` at m, in a world without loss to follow-up),
        ``start`` and ``no_cyc`` (their mean DAS skin at
        visit m + horizon if all start CYC at m, if none ever does) and ``effect``
        (``start - no_cyc``).
    trials : tuple of int
    horizon, n_patients, months : int
    min_das_skin : float
        The eligibility threshold on DAS skin at the trial's visit.
    seed : int
    parameters : CYCParameters
    """

    effect: float
    by_trial: pd.DataFrame
    trials: tuple[int, ...]
    horizon: int
    min_das_skin: float
    n_patients: int
    months: int
    seed: int
    parameters: CYCParameters

    def __repr__(self) -> str:
        first, last = self.trials[0], self.trials[-1]
        return (
            f"CYCTruth: starting CYC at month m vs no CYC, DAS skin {self.horizon} months "
            f"later, trials m = {first}..{last}, {self.n_patients} patients, seed {self.seed}: "
            f"effect {self.effect:.4f}"
        )


def cyc_truth(
    n_patients: int = 20_000,
    trials: Sequence[int] = tuple(range(1, 24)),
    horizon: int = 12,
    seed: int = 20_180_501,
    *,
    min_das_skin: float = 0.0,
    parameters: CYCParameters | None = None,
    **overrides: float,
) -> CYCTruth:
    """True effect of starting CYC at month m, rather than never, on DAS skin ``horizon`` later.

    For each trial month m, the eligible patients are those who, following the observational
    treatment model without loss to follow-up, have not started CYC before visit m and have a
    DAS skin of at least ``min_das_skin`` at visit m (active skin disease).  Two
    worlds share every random number (common random numbers): in one every eligible patient
    gets the first pulse at visit m, in the other nobody ever gets CYC; both run to visit
    ``m + horizon``.  The trial's effect is the mean difference in DAS skin at that visit; the
    overall effect averages the trials' effects weighted by their numbers eligible, which is
    what a pooled analysis of the trials with unstabilized (or constant-numerator) weights and
    a saturated MSM ``das_skin ~ cyc`` estimates.

    Parameters
    ----------
    n_patients : int
        Size of the simulated population.
    trials : sequence of int
        Trial months m (each with ``m + horizon`` a visit, so below ``months`` of the
        analysed cohort if it is to be estimable there).
    horizon : int
        Months from the start of CYC to the outcome visit.
    min_das_skin : float
        Eligibility: DAS skin at visit m at least this (0: everyone not yet on CYC).
    seed : int
        Seed of the simulated population.
    parameters : CYCParameters, optional
        The simulation's numbers; ``**overrides`` change some.

    Returns
    -------
    CYCTruth

    Examples
    --------
    >>> truth = cyc_truth(n_patients=2_000, trials=(3, 6))
    >>> truth.by_trial.columns.tolist()
    ['eligible', 'start', 'no_cyc', 'effect']
    >>> bool(truth.effect < 0)
    True
    """
    p = _course.resolve(CYCParameters, parameters, overrides)
    trials = tuple(int(m) for m in trials)
    _course.check_positive(n_patients=n_patients, horizon=horizon)
    if not trials or min(trials) < 0:
        raise ValueError(f"trials must be non-empty months >= 0, got {trials!r}")
    seed = _seed(seed)
    months = max(trials) + horizon + 1
    n = n_patients
    draws = _streams(seed, n)
    everybody = np.arange(n)

    # the observational world (no loss): who has not started before each month
    _, natural = _baseline(draws, p)
    not_started = np.empty((months, n), dtype=bool)
    for t in range(months):
        not_started[t] = ~natural.started
        _visit(natural, everybody, draws, p, start=None)

    # "no CYC": skin DAS at every visit, and the state before each trial's visit
    _, never = _baseline(draws, p)
    no_cyc = np.empty((months, n))
    before: dict[int, _Course] = {}
    nobody = np.zeros(n, dtype=bool)
    for t in range(months):
        if t in trials:
            before[t] = never.copy()
        no_cyc[t] = _visit(never, everybody, draws, p, start=nobody)["das_skin"]

    rows = {}
    for m in trials:
        eligible = np.flatnonzero(not_started[m] & (no_cyc[m] >= min_das_skin))
        state = before[m].take(eligible)
        start = np.ones(eligible.size, dtype=bool)
        for t in range(m, m + horizon):
            _visit(state, eligible, draws, p, start=start if t == m else ~start)
        outcome = _visit(state, eligible, draws, p, start=~start)["das_skin"]
        treated, untreated = outcome.mean(), no_cyc[m + horizon, eligible].mean()
        rows[m] = {
            "eligible": eligible.size,
            "start": treated,
            "no_cyc": untreated,
            "effect": treated - untreated,
        }
    by_trial = pd.DataFrame.from_dict(rows, orient="index")
    by_trial.index.name = "trial_month"
    effect = float(np.average(by_trial["effect"], weights=by_trial["eligible"]))
    return CYCTruth(
        effect=effect,
        by_trial=by_trial,
        trials=trials,
        horizon=horizon,
        min_das_skin=float(min_das_skin),
        n_patients=n,
        months=months,
        seed=seed,
        parameters=p,
    )
