"""A synthetic juvenile dermatomyositis (JDM) inception cohort with rescue IVIG, and its truth.

``simulate_jdm()`` draws monthly visits of newly diagnosed children, ``jdm_truth()`` runs the
same process under the interventions "IVIG from month m on" and "never IVIG" for a large
cohort, with common random numbers, and returns the true risks of quiescence and the true
parameter of the marginal structural model the JDM example fits.

For the target trial "rescue IVIG for JDM still active after three months of steroids",
``simulate_jdm(..., eligible=True)`` marks the eligible visits (``JDMEligibility``; time zero
is each patient's first), ``simulate_jdm(..., strategy=msm.start_within(3))`` simulates the
same patients with IVIG set by a strategy from time zero on, and ``jdm_strategy_truth()`` the
true risks of quiescence by months since time zero under each strategy.  With an unmeasured
confounder (``unmeasured=``), ``jdm_confounding_truth()`` gives the true confounding function
(Brumback et al. 2004) of the decision at time zero, for checking ``msm.bias_sensitivity``.

The process, month by month (row ``month = t`` is the interval from visit t to visit t + 1)::

    baseline   sex, age at diagnosis, months from first symptoms to diagnosis (``duration``),
               an unmeasured frailty U ~ N(0, 1)
    visit t    activity_t = x_t - gamma * min(k_t / ramp, 1), k_t = months on IVIG so far
               -> noisy scores: physician global (pga), CMAS, MMT8, DAS skin and muscle, CK
               prednisone: scheduled taper, back to 1 mg/kg/day on a flare (pga >= 4 from
               month 3 on); methotrexate chosen at diagnosis
               IVIG started with a probability that rises with current and previous pga,
               poor CMAS and a failed taper, and falls with the prednisone dose (measured
               variables only); once on, always on
    month t    x_{t+1} = rho x_t + (1 - rho) target_t + noise, the target falling with
               prednisone, methotrexate and time and rising with U
               quiescence (first clinically inactive disease, seen at visit t + 1) with
               logit probability q0 + q_activity * activity_{t+1} + q_frailty * U
               + q_ivig * ivig_t
               loss to follow-up after the month, more likely with high pga

U acts on activity and on quiescence, never on treatment directly, so IP weights built from
the measured scores make the marginal structural model unbiased, while regression on the
same scores (which U and earlier IVIG both move) is not: conditioning on them blocks the part
of IVIG's effect that goes through activity and opens the path IVIG -> scores <- U ->
quiescence.  With the defaults the unadjusted and the score-adjusted odds ratios of IVIG are
close to 1, while the true MSM odds ratio is about 2.

The disease course (latent activity, the scores, the steroid taper and its flares, loss to
follow-up) is shared with ``simulate_cyc`` through the module ``_course``; this file holds what
is IVIG's: the rescue policy, methotrexate and the delay to diagnosis, the quiescence outcome,
and the truth.

References: Lam CG, Manlhiot C, Pullenayegum EM, Feldman BM. Efficacy of intravenous Ig
therapy in juvenile dermatomyositis. Ann Rheum Dis 2011;70:2089-94.  Deakin CT, Campanilho-
Marques R, Simou S, et al. Efficacy and safety of cyclophosphamide treatment in severe
juvenile dermatomyositis shown by marginal structural modeling. Arthritis Rheumatol
2018;70:785-93.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm import strategies as _strategies
from msm.datasets import _course

__all__ = [
    "JDMCompeting",
    "JDMCompetingTruth",
    "JDMConfoundingTruth",
    "JDMEligibility",
    "JDMMissingness",
    "JDMParameters",
    "JDMStrategyTruth",
    "JDMTruth",
    "JDMUnmeasured",
    "jdm_competing_truth",
    "jdm_confounding_truth",
    "jdm_strategy_truth",
    "jdm_truth",
    "simulate_jdm",
]


@dataclass(frozen=True)
class JDMParameters(_course.CourseParameters):
    """Every number of the JDM simulation, with where it comes from.

    Latent disease activity lives on a logit scale: ``s = expit(activity)`` is the fraction of
    maximal activity, so activity 0 is a physician global of about 5/10 and activity -3 about
    0.5/10.  The measured scores are noisy, rounded, clipped functions of ``s`` (see
    ``simulate_jdm``).  Rates are per month.  Defaults were tuned so that the cohort looks like
    a tertiary-centre inception cohort and so that the pooled logistic MSM of the JDM example
    recovers the truth while naive analyses do not (see ``jdm_truth``).

    Attributes
    ----------
    female_fraction : float
        P(female) = 0.68: JDM affects girls about twice as often as boys (UK JDCBS and the
        Toronto inception cohort, female:male near 2:1).
    age_median, age_sdlog, age_min, age_max : float
        Age at diagnosis in years: log-normal, median 7, log-sd 0.45, kept in [2, 15].  JDM
        onset peaks at 5-10 years with a median near 7 (Lam et al. 2011; UK JDCBS).
    duration_median, duration_sdlog, duration_min, duration_max : float
        Months from first symptoms to diagnosis: log-normal, median 4, log-sd 0.9, kept in
        [0.5, 36].  The UK JDCBS reports a median delay of about 4 months with a long tail.
    activity_diagnosis, activity_diagnosis_sd : float
        Mean (0.4) and residual sd (0.6) of latent activity at diagnosis: physician global
        about 6/10, CMAS about 30/52, MMT8 about 55/80, DAS total about 12/20, CK a few
        hundred U/L at diagnosis.
    frailty_diagnosis : float
        Effect of the unmeasured frailty U ~ N(0, 1) on activity at diagnosis (0.4).
    duration_activity : float
        Effect of log(duration / duration_median) on activity at diagnosis and on the activity
        level (0.2): a longer delay to treatment predicts a chronic course.
    activity_level : float
        Untreated activity level of an average patient (0.1): the value the activity process
        drifts to without prednisone, methotrexate or IVIG.
    activity_trend : float
        Change of the untreated level per month (-0.04, about -1 over two years): JDM tends
        to burn out.
    frailty_activity : float
        Effect of U on the activity level (0.8): some children stay active whatever is done.
        With ``quiescence_frailty`` this is the unmeasured common cause of the time-varying
        scores and the outcome.
    persistence : float
        rho, the month-to-month autocorrelation of activity (0.75: activity answers to a
        change of treatment over 3-4 months, as CMAS and skin disease do after diagnosis).
    activity_sd : float
        Monthly innovation sd of the activity process (0.35).
    prednisone_effect : float
        Fall of the activity target per mg/kg/day of prednisone (0.9): with the taper, the
        median physician global of the children still followed falls from 6 at diagnosis to
        about 3 at month 3 and 2.5 at month 6, CMAS rises from 30 to 41 and 43, and median CK
        is normal from month 3.
    methotrexate_effect : float
        Fall of the activity target on methotrexate (0.5).
    ivig_activity, ivig_ramp : float, int
        gamma = 1.0, the fall of latent activity on IVIG once its effect is complete, and the
        number of monthly courses over which it builds up linearly (6): after k months on IVIG
        activity is lower by gamma * min(k / 6, 1).  IVIG is given monthly and judged after
        about six courses; it lowers the physician global of a typical treated child by about
        2 points and raises the monthly odds of quiescence about threefold once complete.
    pga_sd, cmas_sd, mmt8_sd, das_sd, ck_sdlog : float
        Measurement noise of the physician global (0.6 on 0-10), CMAS (2.5 on 0-52), MMT8
        (3 on 0-80), DAS skin (0-9) and muscle (0-11) (0.8 each) and log CK (0.45).  CK is
        log-normal around 80 U/L in inactive disease (normal 26-252 U/L), 15% higher in boys,
        and rises above 1000 U/L in very active myositis.
    taper : tuple of float
        Prednisone dose (mg/kg/day) by step of the taper: 2 at diagnosis, 1 after two months,
        0.2 after four more (the consensus JDM taper), 0.1 from the first year and off after
        18 months.  After the last step the last dose is kept.
    flare_pga, flare_month, flare_step : float, int, int
        A flare (failed taper) is a physician global of at least 4 at a visit from month 3 on;
        prednisone then goes back to taper step 2 (1 mg/kg/day) and the taper restarts from
        there.  About half the children flare at least once (polycyclic or chronic course).
    methotrexate_intercept, methotrexate_pga : float
        logit P(methotrexate from diagnosis) = 1.7 + 0.3 * (pga_0 - 5): about 85% of
        children, as in UK and Canadian practice.
    ivig_intercept, ivig_pga, ivig_pga_prev, ivig_cmas, ivig_flare, ivig_prednisone, ivig_month
        logit P(start IVIG at visit t | not yet on it) = ivig_intercept
        + ivig_pga * (pga_t - 5) + ivig_pga_prev * (pga_prev_t - 5)
        + ivig_cmas * (40 - cmas_t) / 10 + ivig_flare * flare_t
        + ivig_prednisone * prednisone_t + ivig_month * t, with defaults -1.5, 0.45, 0.35,
        0.2, 1.0, -1.5, -0.02.  Rescue IVIG for steroid resistance (high, persistent
        activity) or steroid dependence (failed tapers), seldom while the dose is still high:
        30 of 78 children in the Toronto inception cohort (Lam et al. 2011).  The defaults
        give about 38% over 24 months.  Only measured variables enter, so a denominator
        model with these terms is correctly specified.
    quiescence_intercept, quiescence_activity, quiescence_frailty, quiescence_ivig : float
        logit P(first clinically inactive disease by the next visit) = -5.0
        - 1.0 * activity_{t+1} - 0.5 * U + 0.2 * ivig_t: inactive disease follows low
        activity; frail children reach it later at the same activity; IVIG has a small direct
        effect on top of its effect through activity.  About 27% of untreated children reach
        inactive disease in the first year and 45% in two years.
    lost_intercept, lost_pga : float
        logit P(lost to follow-up after month t) = -5.5 + 0.25 * pga_t: about 1% a month,
        more with active disease (referral elsewhere, second opinions); about 14% of the
        cohort over two years.
    """

    # female_fraction .. lost_pga: the disease course's fields, from _course.CourseParameters
    duration_median: float = 4.0
    duration_sdlog: float = 0.9
    duration_min: float = 0.5
    duration_max: float = 36.0
    duration_activity: float = 0.2
    methotrexate_effect: float = 0.5
    ivig_activity: float = 1.0
    ivig_ramp: int = 6
    mmt8_sd: float = 3.0
    ck_sdlog: float = 0.45
    methotrexate_intercept: float = 1.7
    methotrexate_pga: float = 0.3
    ivig_intercept: float = -1.5
    ivig_pga: float = 0.45
    ivig_pga_prev: float = 0.35
    ivig_cmas: float = 0.2
    ivig_flare: float = 1.0
    ivig_prednisone: float = -1.5
    ivig_month: float = -0.02
    quiescence_intercept: float = -5.0
    quiescence_activity: float = -1.0
    quiescence_frailty: float = -0.5
    quiescence_ivig: float = 0.2


# ----------------------------------------------------------------------------------------------
# the IVIG policy and the quiescence outcome on the shared disease course (``_course``), drawn
# from one generator: the observed cohort and the counterfactual worlds


@dataclass
class _Baseline:
    female: np.ndarray
    age: np.ndarray
    duration: np.ndarray
    frailty: np.ndarray
    methotrexate: np.ndarray
    confounder: np.ndarray | None = None  # with an unmeasured confounder (JDMUnmeasured)


@dataclass
class _Month:
    """One month for all n patients (arrays of length n; scores None when not asked for)."""

    t: int
    activity: np.ndarray
    pga: np.ndarray
    pga_prev: np.ndarray
    cmas: np.ndarray | None
    mmt8: np.ndarray | None
    das_skin: np.ndarray | None
    das_muscle: np.ndarray | None
    ck: np.ndarray | None
    flare: np.ndarray
    prednisone: np.ndarray
    ivig: np.ndarray
    event: np.ndarray
    lost: np.ndarray
    eligible: np.ndarray | None = None  # with an eligibility definition
    interval: np.ndarray | None = None  # intervals since time zero (-1 before it)
    failure: np.ndarray | None = None  # treatment failure this month (with JDMCompeting)
    # the observational model's P(start IVIG at this visit | not yet on it), C included
    start_probability: np.ndarray | None = None


@dataclass(frozen=True)
class JDMEligibility:
    """Who is eligible for the target trial "rescue IVIG for JDM still active on steroids".

    A patient is eligible at the visit of month t when all of these hold:

    - ``first_month <= t <= last_month`` (default 3 .. 5: after three months of steroids,
      within the following three months);
    - not yet on IVIG (``ivig`` was 0 in every month before t; IVIG may start at t);
    - still at risk: no quiescence before t, and followed (not lost before visit t);
    - active disease: physician global ``pga >= pga`` at the visit (default 3 of 10, about
      the median at month 3; about half the patients are eligible at some visit).

    Time zero of the emulated trial is each patient's first eligible visit.  Eligibility uses
    only what is measured at or before the visit, never the treatment decision at it.

    Attributes
    ----------
    first_month, last_month : int
        The months whose visits can be eligible (inclusive).
    pga : float
        The least physician global (0-10) counted as active disease.
    """

    first_month: int = 3
    last_month: int = 5
    pga: float = 3.0

    def __post_init__(self) -> None:
        first, last = self.first_month, self.last_month
        for name, value in [("first_month", first), ("last_month", last)]:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if last < first:
            raise ValueError(f"last_month ({last}) must be at least first_month ({first})")


MISSABLE = ("cmas", "mmt8", "das_skin", "das_muscle", "ck")
"""The scores ``JDMMissingness`` may hide (the physician global is always recorded)."""


@dataclass(frozen=True)
class JDMMissingness:
    """Which scores go unrecorded at a visit: missing at random given what is always seen.

    From the visit of month ``first_month`` on, the full assessment (``columns``: by default
    CMAS, MMT8, the DAS skin and muscle scores and CK) is skipped with probability

        logit P(skipped at visit t) = intercept + pga * (pga_t - 3) + ivig * ivig_t

    (children doing well are seen briefly, with the physician global only; so are many
    visits of children on IVIG, which are infusion visits), and on top of that each of the
    columns is missing by itself with probability ``single`` (a blood test not drawn, a
    form left blank).  ``das_total`` is missing when either DAS score is.  The physician
    global (and so ``pga_prev``), the treatments and the outcomes are always recorded, so
    the scores are missing at random (MAR) given observed data.  Low activity both hides
    the scores and precedes quiescence, and IVIG hides them too, so the complete rows are a
    selection on the outcome's path and on treatment: their analysis is biased (the IVIG
    MSM's log odds ratio by about -0.5 with 500 patients, see ``simulate_jdm``).  With the
    defaults (500 patients, seed 1) 44% of the visits after diagnosis lack the full
    assessment and 54% lack some score.

    The missingness only hides values: the process, and so ``jdm_truth``, is unchanged, and
    the uniforms deciding it are drawn after everything else, so the cohort's values are
    those of the same seed without ``missing=``.

    Attributes
    ----------
    columns : tuple of str
        The scores that can go missing, among ``cmas``, ``mmt8``, ``das_skin``,
        ``das_muscle``, ``ck``.
    first_month : int
        Visits before it (default: diagnosis, month 0) are always complete.
    intercept, pga, ivig : float
        The logistic model of a skipped assessment (defaults -0.9, -0.6, 1.0: off IVIG, a
        child with a physician global of 1 lacks it 57% of the time, one with 6 about 6%;
        on IVIG with a physician global of 3, 52%).
    single : float
        Probability that one of the columns is missing by itself at a visit (0.05).
    """

    columns: tuple[str, ...] = MISSABLE
    first_month: int = 1
    intercept: float = -0.9
    pga: float = -0.6
    ivig: float = 1.0
    single: float = 0.05

    def __post_init__(self) -> None:
        columns = tuple(self.columns)
        unknown = [c for c in columns if c not in MISSABLE]
        if unknown or not columns:
            raise ValueError(
                f"columns must be some of {list(MISSABLE)} (the physician global is always "
                f"recorded), got {list(self.columns)!r}"
            )
        object.__setattr__(self, "columns", columns)
        first = self.first_month
        if isinstance(first, bool) or not isinstance(first, (int, np.integer)) or first < 0:
            raise ValueError(f"first_month must be a non-negative integer, got {first!r}")
        if not 0.0 <= self.single < 1.0:
            raise ValueError(f"single must be a probability in [0, 1), got {self.single!r}")


def _option(value, kind: type, name: str):
    """An optional part of the process as given: False or None (off), True (``kind()``'s
    defaults) or a ``kind``; TypeError naming ``name`` otherwise."""
    if value is False or value is None:
        return None
    if value is True:
        return kind()
    if isinstance(value, kind):
        return value
    raise TypeError(f"{name} must be True, False or a {kind.__name__}, got {value!r}")


def _missingness(missing) -> JDMMissingness | None:
    return _option(missing, JDMMissingness, "missing")


@dataclass(frozen=True)
class JDMCompeting:
    """A competing event: treatment failure (switched to another agent, or death).

    In every month of follow-up before quiescence a child may leave IVIG follow-up by
    treatment failure, with probability

        logit P(failure in month t) = intercept + pga * (pga_t - 5) + ivig * ivig_t

    (active disease at the visit makes failure more likely; IVIG, by controlling the disease,
    less likely).  Failure in month t comes before the visit of month t + 1 at which
    quiescence would be seen, so a month has at most one event: a child who fails is not
    quiescent that month, and leaves follow-up (the outcome is then ``failure = 1`` on that
    row).  The hazard is logistic in measured variables only (``pga``, ``ivig``), so a
    censoring model ``failure ~ pga + ivig`` for "failure eliminated" analyses is correctly
    specified (unless ``JDMUnmeasured.failure`` is not 0).

    The uniforms deciding failure come from a stream of their own (spawned from the
    simulator's generator), so every other value is the one the same seed gives without
    ``competing``, and under "failure eliminated" (``jdm_competing_truth``) the process is that
    of ``simulate_jdm`` without it.

    Attributes
    ----------
    intercept, pga, ivig : float
        The logistic model of failure (defaults -4.0, 0.35, -0.8: about 2% a month at a
        physician global of 5 off IVIG, 0.6% at 2; IVIG more than halves the odds).  With the
        defaults, without loss to follow-up, 19% of the children fail before quiescence
        within 24 months never given IVIG, 6% given it from diagnosis.
    """

    intercept: float = -4.0
    pga: float = 0.35
    ivig: float = -0.8

    def __post_init__(self) -> None:
        for name in ("intercept", "pga", "ivig"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise TypeError(f"JDMCompeting.{name} must be a number, got {value!r}")
            if not np.isfinite(value):
                raise ValueError(f"JDMCompeting.{name} must be finite, got {value!r}")


@dataclass(frozen=True)
class JDMUnmeasured:
    """An unmeasured confounder C of IVIG and quiescence, of known strength.

    C is drawn once per child at diagnosis (standard normal, or binary with P(C = 1) =
    ``prevalence``) and enters

        logit P(start IVIG at visit t)      ... + ivig * C
        logit P(quiescence by visit t + 1)  ... + quiescence * C
        logit P(failure in month t)         ... + failure * C   (with ``JDMCompeting``)

    on top of the terms of ``JDMParameters`` (and ``JDMCompeting``).  C is not among the
    output columns (``simulate_jdm(..., latent=True)`` adds it as ``confounder``), so IP
    weights from the measured scores no longer remove all confounding: with ``ivig > 0`` and
    ``quiescence < 0`` (the defaults: children with worse unmeasured prognosis get IVIG more
    often) the weighted MSM underestimates IVIG's benefit, by an amount set by the two
    log odds ratios, for checking sensitivity analyses.  The truth (``jdm_truth(...,
    unmeasured=...)``, ``jdm_competing_truth``) is marginal over C.

    C is drawn from a stream of its own, so every other random number is the one the same
    seed gives without it.  ``unmeasured=s`` (a number) means ``JDMUnmeasured(ivig=s,
    quiescence=-s)``.

    Attributes
    ----------
    ivig : float
        Log odds ratio of IVIG initiation per unit of C (default 0.7).
    quiescence : float
        Log odds ratio of quiescence per unit of C (default -0.7).
    failure : float
        Log odds ratio of treatment failure per unit of C (default 0).
    distribution : {"normal", "binary"}
        Standard normal (default) or 0/1.
    prevalence : float
        P(C = 1) when binary (default 0.5).
    """

    ivig: float = 0.7
    quiescence: float = -0.7
    failure: float = 0.0
    distribution: str = "normal"
    prevalence: float = 0.5

    def __post_init__(self) -> None:
        for name in ("ivig", "quiescence", "failure", "prevalence"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise TypeError(f"JDMUnmeasured.{name} must be a number, got {value!r}")
            if not np.isfinite(value):
                raise ValueError(f"JDMUnmeasured.{name} must be finite, got {value!r}")
        if self.distribution not in ("normal", "binary"):
            raise ValueError(
                f"JDMUnmeasured.distribution must be 'normal' or 'binary', got "
                f"{self.distribution!r}"
            )
        if not 0.0 < self.prevalence < 1.0:
            raise ValueError(f"JDMUnmeasured.prevalence must be in (0, 1), got {self.prevalence!r}")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """C for ``n`` children from ``rng``."""
        if self.distribution == "binary":
            return (rng.random(n) < self.prevalence).astype(np.float64)
        return rng.standard_normal(n)


def _competing(competing) -> JDMCompeting | None:
    return _option(competing, JDMCompeting, "competing")


def _unmeasured(unmeasured) -> JDMUnmeasured | None:
    if unmeasured is None or isinstance(unmeasured, bool | JDMUnmeasured):
        return _option(unmeasured, JDMUnmeasured, "unmeasured")
    if isinstance(unmeasured, (int, float, np.number)):
        strength = float(unmeasured)
        if not np.isfinite(strength):
            raise ValueError(f"unmeasured must be finite, got {unmeasured!r}")
        return JDMUnmeasured(ivig=strength, quiescence=-strength)
    raise TypeError(
        f"unmeasured must be a number (the log odds ratio of C on IVIG, minus that on "
        f"quiescence), True or a JDMUnmeasured, got {unmeasured!r}"
    )


def _hide(cohort: pd.DataFrame, spec: JDMMissingness, rng: np.random.Generator) -> pd.DataFrame:
    """Set the scores to NaN where ``spec`` says they went unrecorded (after every draw)."""
    n = len(cohort)
    u = rng.random((n, 1 + len(spec.columns)))
    month = cohort["month"].to_numpy()
    ivig = cohort["ivig"].to_numpy().astype(np.float64)
    eta = spec.intercept + spec.pga * (cohort["pga"].to_numpy() - 3.0) + spec.ivig * ivig
    eligible = month >= spec.first_month
    skipped = eligible & (u[:, 0] < _course.expit(eta))
    hidden = {}
    for j, column in enumerate(spec.columns, start=1):
        gone = skipped | (eligible & (u[:, j] < spec.single))
        hidden[column] = cohort[column].to_numpy().astype(np.float64)
        hidden[column][gone] = np.nan
    if "das_skin" in hidden or "das_muscle" in hidden:
        total = cohort["das_total"].to_numpy().astype(np.float64)
        for column in ("das_skin", "das_muscle"):
            if column in hidden:
                total[np.isnan(hidden[column])] = np.nan
        hidden["das_total"] = total
    return cohort.assign(**hidden)


def _eligibility(eligible) -> JDMEligibility | None:
    return _option(eligible, JDMEligibility, "eligible")


SIMULATED_INDICATIONS = ("flare",)
"""The 0/1 columns a dynamic strategy (``msm.start_when``) may read in the simulator."""


def _check_strategy(strategy) -> None:
    if strategy is not None and not isinstance(strategy, _strategies.Strategy):
        raise TypeError(
            f"strategy must be a strategy such as msm.start_within(3) or msm.never(), "
            f"got {strategy!r}"
        )
    unknown = [c for c in getattr(strategy, "columns", ()) if c not in SIMULATED_INDICATIONS]
    if unknown:
        raise ValueError(
            f"{strategy!r} reads {unknown}: the simulator can follow dynamic strategies on "
            f"{list(SIMULATED_INDICATIONS)} only"
        )


def _engine(
    n: int,
    months: int,
    rng: np.random.Generator,
    p: JDMParameters,
    *,
    ivig_from: int | None,
    censor: bool,
    scores: bool,
    baseline_out: list[_Baseline],
    eligibility: JDMEligibility | None = None,
    strategy: _strategies.Strategy | None = None,
    competing: JDMCompeting | None = None,
    unmeasured: JDMUnmeasured | None = None,
) -> Iterator[_Month]:
    """Yield one ``_Month`` per month for all n patients, whatever happened to them.

    ``ivig_from=None`` lets IVIG follow the observational treatment model; an integer m gives
    IVIG from month m on (m >= months: never).  Random numbers are drawn in the same order and
    amount whatever the regime and whether or not a score is computed, so worlds that share a
    seed share every draw (common random numbers).  ``scores=False`` skips the scores nothing
    downstream needs when IVIG is set by the regime (CMAS, MMT8, DAS, CK).

    With an ``eligibility``, each month also says who is eligible at its visit and the
    interval since each patient's time zero (the first eligible visit); a ``strategy`` (with
    ``ivig_from=None`` and an eligibility) then sets IVIG from time zero on where it
    prescribes it, and leaves the observational model (the same draws) where it is free.
    Loss and quiescence are tracked here only for eligibility (loss with ``censor``).

    With ``competing`` each month also says who fails treatment (``failure``; ``event`` is
    then quiescence without failure that month), and with ``unmeasured`` a confounder C acts
    on IVIG, quiescence and failure.  Their draws come from two streams spawned from ``rng``
    (failure's uniforms month by month, then C), which leave ``rng``'s own draws unchanged.
    """
    z, (u_sex, u_mtx) = _course.draw_baseline(rng, n, normals=4, uniforms=2)
    female, age = _course.sex_and_age(p, u_sex, z[0])
    duration = np.round(p.duration_median * np.exp(p.duration_sdlog * z[1]), 1)
    duration = np.clip(duration, p.duration_min, p.duration_max)
    frailty = z[2]
    log_delay = np.log(duration / p.duration_median)
    # a longer delay to diagnosis: more active at diagnosis and a higher untreated level
    course = _course.Course.at_diagnosis(p, frailty, z[3], shift=p.duration_activity * log_delay)
    confounder = fail_rng = None
    if competing is not None or unmeasured is not None:
        fail_rng, confounder_rng = rng.spawn(2)  # their own streams: rng's draws unchanged
        if unmeasured is not None:
            confounder = unmeasured.draw(confounder_rng, n)
    ramp = max(int(p.ivig_ramp), 1)
    mtx = np.zeros(n)
    never = np.zeros(n, dtype=bool)
    if eligibility is not None:
        time_zero = np.full(n, -1, dtype=np.int64)
        first_flare = np.full(n, -1, dtype=np.int64)  # interval of the first flare from time zero
        out = np.zeros(n, dtype=bool)  # quiescent or lost before this visit
    for t in range(months):
        d = _course.draw_month(rng, n, noise=6, uniforms=3)
        u_ivig, u_event, u_lost = d.u

        # visit t: physician global, flare and prednisone; the other scores when needed
        v = _course.visit(course, p, d.noise[0], p.ivig_activity, ramp)
        cmas = mmt8 = das_skin = das_muscle = ck = None
        if scores or ivig_from is None:
            cmas = _course.cmas(v.s, d.noise[1], p.cmas_sd)
        if scores:
            mmt8 = _course.mmt8(v.s, d.noise[2], p.mmt8_sd)
            das_skin = _course.das_skin(v.s, d.noise[3], p.das_sd)
            das_muscle = _course.das_muscle(v.s, d.noise[4], p.das_sd)
            ck = _course.creatine_kinase(v.s, female, d.noise[5], p.ck_sdlog)
        if t == 0:  # methotrexate, chosen at diagnosis
            mtx_p = _course.expit(p.methotrexate_intercept + p.methotrexate_pga * (v.pga - 5.0))
            mtx = (u_mtx < mtx_p).astype(np.float64)
            baseline_out.append(
                _Baseline(female, age, duration, frailty, mtx.astype(np.int64), confounder)
            )

        # IVIG: started from measured variables only, or set by the regime
        if ivig_from is None:
            eta = (
                p.ivig_intercept
                + p.ivig_pga * (v.pga - 5.0)
                + p.ivig_pga_prev * (v.pga_prev - 5.0)
                + p.ivig_cmas * (40.0 - cmas) / 10.0
                + p.ivig_flare * v.flare
                + p.ivig_prednisone * v.prednisone
                + p.ivig_month * t
            )
            if confounder is not None:
                eta = eta + unmeasured.ivig * confounder
            start_probability = _course.expit(eta)
            ivig = course.started | (u_ivig < start_probability)
        else:
            start_probability = None
            ivig = np.full(n, t >= ivig_from)
        eligible = interval = None
        if eligibility is not None:
            eligible = ~course.started & ~out & (v.pga >= eligibility.pga)
            eligible &= eligibility.first_month <= t <= eligibility.last_month
            time_zero = np.where((time_zero < 0) & eligible, t, time_zero)
            interval = np.where(time_zero >= 0, t - time_zero, -1)
            if strategy is not None:  # from time zero on, IVIG as the strategy prescribes
                since = None
                if strategy.columns:  # a dynamic strategy: intervals since the first flare
                    first_flare = np.where(
                        (first_flare < 0) & (interval >= 0) & (v.flare == 1), interval, first_flare
                    )
                    gap = np.where(first_flare >= 0, interval - first_flare, -1)
                    since = {"flare": gap}
                rx = strategy.prescription(interval, course.started, since)
                rx = np.where(interval >= 0, rx, _strategies.FREE)
                ivig = np.where(rx == _strategies.FREE, ivig, rx == 1)

        # month t: activity moves on (methotrexate lowers it too); quiescence by visit t + 1;
        # loss to follow-up after it
        _course.advance(course, p, v, ivig, d.eps, lowering=p.methotrexate_effect * mtx)
        eta_q = (
            p.quiescence_intercept
            + p.quiescence_activity * _course.treated_activity(course, p.ivig_activity, ramp)
            + p.quiescence_frailty * frailty
            + p.quiescence_ivig * ivig
        )
        if confounder is not None:
            eta_q = eta_q + unmeasured.quiescence * confounder
        event = u_event < _course.expit(eta_q)
        failure = None
        if competing is not None:  # failure during the month, before the next visit
            eta_f = competing.intercept + competing.pga * (v.pga - 5.0) + competing.ivig * ivig
            if confounder is not None:
                eta_f = eta_f + unmeasured.failure * confounder
            failure = fail_rng.random(n) < _course.expit(eta_f)
            event = event & ~failure
        lost = _course.lost(p, v.pga, u_lost) if censor and t < months - 1 else never
        if eligibility is not None:
            out = out | event | lost
            if failure is not None:
                out = out | failure
        yield _Month(
            t, v.activity, v.pga, v.pga_prev, cmas, mmt8, das_skin, das_muscle, ck,
            v.flare, v.prednisone, ivig, event, lost, eligible, interval, failure,
            start_probability,
        )  # fmt: skip


# ----------------------------------------------------------------------------------------------
# the observed cohort

COLUMNS = [
    "id",
    "month",
    "sex",
    "age",
    "duration",
    "methotrexate",
    "pga",
    "pga_prev",
    "cmas",
    "mmt8",
    "das_skin",
    "das_muscle",
    "das_total",
    "ck",
    "flare",
    "prednisone",
    "ivig",
    "quiescence",
    "lost",
]
_INTEGER = ["cmas", "mmt8", "das_skin", "das_muscle", "das_total", "ck"]
_BINARY = ["flare", "ivig", "quiescence", "lost"]


def simulate_jdm(
    n_patients: int = 500,
    months: int = 24,
    seed: int | np.random.Generator | None = None,
    *,
    parameters: JDMParameters | None = None,
    stop_at_quiescence: bool = True,
    latent: bool = False,
    eligible: bool | JDMEligibility = False,
    strategy: _strategies.Strategy | None = None,
    missing: bool | JDMMissingness = False,
    competing: bool | JDMCompeting = False,
    unmeasured: float | JDMUnmeasured | None = None,
    **overrides: float,
) -> pd.DataFrame:
    """Simulate a juvenile dermatomyositis inception cohort with monthly visits and rescue IVIG.

    One row per patient-month, ``month = 0 .. months - 1`` counted from diagnosis.  Row
    ``month = t`` holds the scores measured at visit t, the treatment given from visit t, and
    what happened before visit t + 1: ``quiescence`` (first clinically inactive disease, seen
    at visit t + 1) and ``lost`` (no visit after this month).  A patient's rows stop after
    the month of first quiescence (unless ``stop_at_quiescence=False``) or the month after
    which they were lost, so every row is at risk and a pooled logistic regression of
    ``quiescence`` can be fitted to all rows.

    A latent activity process (see the module docstring and ``JDMParameters``) drives
    everything: the scores are its noisy, rounded, clipped measurements; prednisone follows
    the taper and goes back up on a flare; IVIG is started more often with high and
    persistent physician global, poor CMAS and failed tapers (confounding by indication),
    stays on once started, and lowers later activity (so the scores are time-varying
    confounders affected by earlier treatment); an unmeasured frailty raises activity and
    delays quiescence without acting on treatment directly; loss to follow-up is more likely
    with high physician global.  The true effects are given by ``jdm_truth``.

    Parameters
    ----------
    n_patients, months : int
        Cohort size and months of follow-up.
    seed : int or numpy.random.Generator, optional
        Seed for ``numpy.random.default_rng``: the same seed gives the same cohort.
    parameters : JDMParameters, optional
        All the simulation's numbers; default ``JDMParameters()``.
    stop_at_quiescence : bool
        End follow-up at the month of first quiescence (the default).  With False patients are
        followed for ``months`` months or until lost, ``quiescence`` is 1 on the month of
        first quiescence only, and later rows are not at risk (for analyses of activity as a
        continuous outcome).
    latent : bool
        Add the unobserved columns ``activity`` (latent activity at the visit; its expit is
        the fraction of maximal activity) and ``frailty`` (U), for teaching and checks.  An
        analysis must not use them.
    eligible : bool or JDMEligibility
        Add the column ``eligible`` (1 at the visits where the patient is eligible for the
        target trial of rescue IVIG, see ``JDMEligibility``; True: its default definition).
        Nothing else changes: the same seed gives the same cohort with or without it.
    strategy : Strategy, optional
        Simulate the same patients with IVIG set by a treatment strategy from each patient's
        time zero (first eligible visit) on, e.g. ``msm.start_within(3)`` or ``msm.never()``:
        where the strategy prescribes IVIG (or no IVIG) it is given (or not); where it leaves
        the choice free, IVIG follows the observational model with the same random draws.
        Every random number is the one the observational cohort of the same seed uses
        (common random numbers), so the cohorts agree up to each patient's first forced
        decision, and patients never eligible are unchanged.  Implies ``eligible=True``
        unless a ``JDMEligibility`` is given.
    missing : bool or JDMMissingness
        Hide some scores (NaN) at some visits, missing at random given the physician global
        and IVIG (``JDMMissingness``; True: its defaults).  The values that remain are those
        of the same seed without it, and the truth (``jdm_truth``) is unchanged.  The
        scores' columns are then float (with NaN).  Analysing only the complete rows is
        biased: the scores go missing when the disease is quiet, which is also when
        quiescence comes, and more often off IVIG than on it.
    competing : bool or JDMCompeting
        Add a competing event, treatment failure (``JDMCompeting``; True: its defaults): a
        0/1 column ``failure`` after ``quiescence``, 1 on the month a child not yet
        quiescent fails (that row's ``quiescence`` is 0; follow-up ends there).  The
        failure draws come from a stream of their own: every other value is the one of the
        same seed without it, up to the rows a failure ends.  Truth:
        ``jdm_competing_truth``.
    unmeasured : float or JDMUnmeasured, optional
        Add an unmeasured confounder C of IVIG initiation and quiescence
        (``JDMUnmeasured``; a number s: log odds ratios s on IVIG and -s on quiescence).  It
        is not in the output unless ``latent=True`` (column ``confounder``).  The truth
        (``jdm_truth(..., unmeasured=...)``, ``jdm_competing_truth``) is marginal over C.
    **overrides
        Individual parameters by name, e.g. ``ivig_activity=0.0`` for an IVIG without effect
        on activity; they override ``parameters``.

    Returns
    -------
    DataFrame
        Sorted by ``id, month`` with a default RangeIndex, columns:

        - ``id`` (0 .. n_patients - 1), ``month`` (0 .. months - 1);
        - baseline: ``sex`` (1 female, 0 male), ``age`` (years at diagnosis, 2-15),
          ``duration`` (months from first symptoms to diagnosis), ``methotrexate`` (0/1,
          chosen at diagnosis and kept);
        - measured at the visit: ``pga`` (physician global activity 0-10, higher = worse),
          ``pga_prev`` (pga at the previous visit; at month 0 the diagnosis value),
          ``cmas`` (Childhood Myositis Assessment Scale 0-52, higher = better), ``mmt8``
          (manual muscle testing 0-80, higher = better), ``das_skin`` (0-9), ``das_muscle``
          (0-11), ``das_total`` (0-20, their sum: the continuous disease-activity outcome),
          ``ck`` (creatine kinase U/L, normal 26-252);
        - treatment: ``flare`` (1 when the taper failed at this visit and prednisone went back
          up), ``prednisone`` (mg/kg/day this month), ``ivig`` (1 from the visit IVIG is
          started, absorbing);
        - outcomes: ``quiescence`` (1 if clinically inactive disease is first reached by the
          next visit), ``lost`` (1 on the last row of a patient lost to follow-up: the month's
          outcome is known, nothing after it);
        - with ``competing``: ``failure`` (after ``quiescence``);
        - with ``latent=True``: ``activity`` and ``frailty`` (and ``confounder`` with
          ``unmeasured``);
        - with ``eligible`` or a ``strategy``: ``eligible`` (0/1, last).

    Notes
    -----
    The IVIG initiation model is logistic in ``pga``, ``pga_prev``, ``cmas``, ``flare``,
    ``prednisone`` and ``month``, so an IPTW denominator (``absorbing=True``) containing
    these terms, with or without other measured columns, is correctly specified; loss to
    follow-up is logistic in ``pga``.  ``jdm_truth`` gives the parameter of the MSM
    ``quiescence ~ ivig + month + I(month ** 2)`` fitted to all rows (all are at risk).
    Its marginal target is estimated without bias by stabilized weights whose numerator has
    only month terms.  With the baseline covariates in the numerator too, the MSM should
    condition on them; left out of the MSM they bias its odds ratio slightly (about -3% in
    large samples), because they predict both IVIG and quiescence.  The censoring model of
    ``msm.iptw`` is fitted on every row, including those on which loss cannot happen (the
    last month, the month of quiescence); the resulting error is negligible here.

    See Also
    --------
    jdm_truth : the true risks and MSM parameter for this process.
    JDMParameters : every number of the simulation and its source.

    Examples
    --------
    >>> cohort = simulate_jdm(n_patients=200, seed=1)
    >>> cohort[["id", "month", "pga", "cmas", "prednisone", "ivig", "quiescence"]].head(3)
       id  month  pga  cmas  prednisone  ivig  quiescence
    0   0      0  4.9    37         2.0     0           0
    1   0      1  3.5    41         1.5     0           0
    2   0      2  0.7    44         1.0     0           0
    >>> w = msm.iptw(cohort, id="id", time="month", treatment="ivig",
    ...              denominator="pga + pga_prev + cmas + flare + prednisone + month",
    ...              numerator="month", absorbing=True, censor="lost")

    The same patients under "start IVIG within 3 months of time zero":

    >>> under = simulate_jdm(n_patients=200, seed=1, strategy=msm.start_within(3))
    >>> int(cohort["ivig"].sum()) != int(under["ivig"].sum())
    True
    """
    p = _course.resolve(JDMParameters, parameters, overrides)
    _course.check_positive(n_patients=n_patients, months=months)
    _check_strategy(strategy)
    eligibility = _eligibility(eligible)
    hiding = _missingness(missing)
    failing = _competing(competing)
    confounding = _unmeasured(unmeasured)
    if strategy is not None and eligibility is None:
        eligibility = JDMEligibility()
    rng = np.random.default_rng(seed)
    n = n_patients
    baseline: list[_Baseline] = []
    pieces: dict[str, list[np.ndarray]] = {}
    followed = np.ones(n, dtype=bool)  # still seen at this month's visit
    quiesced = np.zeros(n, dtype=bool)  # first quiescence already happened
    ids = np.arange(n)
    engine = _engine(
        n, months, rng, p, ivig_from=None, censor=True, scores=True, baseline_out=baseline,
        eligibility=eligibility, strategy=strategy, competing=failing, unmeasured=confounding,
    )  # fmt: skip
    for m in engine:
        rows = np.flatnonzero(followed)
        first = m.event & ~quiesced
        lost = m.lost & ~(first & stop_at_quiescence)  # a quiescence ends follow-up first
        if failing is not None:  # so does a failure (before quiescence only)
            failed = m.failure & ~quiesced
            lost = lost & ~failed
        values = {
            "id": ids,
            "month": np.full(n, m.t),
            "pga": m.pga,
            "pga_prev": m.pga_prev,
            "cmas": m.cmas,
            "mmt8": m.mmt8,
            "das_skin": m.das_skin,
            "das_muscle": m.das_muscle,
            "das_total": m.das_skin + m.das_muscle,
            "ck": m.ck,
            "flare": m.flare,
            "prednisone": m.prednisone,
            "ivig": m.ivig,
            "quiescence": first,
            "lost": lost,
        }
        if failing is not None:
            values["failure"] = failed
        if latent:
            values["activity"] = m.activity
        if eligibility is not None:
            values["eligible"] = m.eligible
        for name, v in values.items():
            pieces.setdefault(name, []).append(v[rows])
        quiesced |= m.event
        followed &= ~lost
        if failing is not None:
            followed &= ~failed
        if stop_at_quiescence:
            followed &= ~quiesced
        if not followed.any():
            engine.close()
            break
    b = baseline[0]
    extra = {"sex": b.female, "age": b.age, "duration": b.duration}
    extra["methotrexate"] = b.methotrexate
    if latent:
        extra["frailty"] = b.frailty
    names = list(COLUMNS)
    if failing is not None:
        names.insert(names.index("quiescence") + 1, "failure")
    if latent:
        names += ["activity", "frailty"]
        if confounding is not None:
            extra["confounder"] = b.confounder
            names.append("confounder")
    integer = [*_INTEGER, *_BINARY, "failure"]
    if eligibility is not None:
        names.append("eligible")
        integer.append("eligible")
    cohort = _course.person_months(pieces, extra, names, integer)
    if hiding is not None:  # after every other draw: the values are those without it
        cohort = _hide(cohort, hiding, rng)
    return cohort


# ----------------------------------------------------------------------------------------------
# the truth

DEFAULT_MSM = "quiescence ~ ivig + month + I(month ** 2)"


@dataclass(frozen=True, repr=False)
class JDMTruth:
    """True effects of IVIG on quiescence in the simulated JDM population (``jdm_truth``).

    Attributes
    ----------
    risk : pandas.DataFrame
        Cumulative incidence of first quiescence under each regime: index ``month`` 0 ..
        months - 1 (row t = quiescence by the end of month t, that is by visit t + 1, so row
        11 is "by 12 months"), columns ``always`` and ``never``.
    hazard : pandas.DataFrame
        Monthly probability of first quiescence among those not yet quiescent, columns
        ``always``, ``never`` and ``odds_ratio`` (always vs never, month by month).
    table : pandas.DataFrame
        One row per horizon in months (12 and 24 by default): ``always``, ``never``,
        ``difference`` (always - never) and ``ratio`` (always / never).
    msm_params : pandas.Series
        Coefficients of the MSM ``formula`` fitted to the counterfactual person-months.
    msm_risk : pandas.DataFrame
        The risk curves under ``always`` and ``never`` that the fitted MSM implies (one minus
        the product of one minus its monthly probabilities).  They differ from ``risk`` by the
        MSM's misspecification (a constant odds ratio where the true one varies by month):
        they are what an IPTW estimate of the MSM's risk curves converges to, roughly.
    msm_log_or, msm_or : float
        The coefficient of ``ivig`` in ``formula`` and its exponential: the true MSM
        parameter.
    formula : str
        The MSM: a pooled logistic regression over person-months at risk (up to and including
        the first quiescence) of ``quiescence`` on ``ivig`` and terms in ``month``.
    n_patients, months, start_month : int
        How the truth was computed; "always" gives IVIG from ``start_month`` on.
    seed : int or None
    parameters : JDMParameters
    """

    risk: pd.DataFrame
    hazard: pd.DataFrame
    table: pd.DataFrame
    msm_params: pd.Series
    msm_risk: pd.DataFrame
    msm_log_or: float
    msm_or: float
    formula: str
    n_patients: int
    months: int
    start_month: int
    seed: int | None
    parameters: JDMParameters

    def risk_at(self, months: int, regime: str) -> float:
        """Cumulative risk of quiescence by ``months`` months (1 .. months) under a regime.

        Examples
        --------
        >>> truth = jdm_truth(n_patients=5_000, seed=1)
        >>> bool(truth.risk_at(12, "always") > truth.risk_at(12, "never"))
        True
        """
        if regime not in ("always", "never"):
            raise ValueError(f"regime must be 'always' or 'never', got {regime!r}")
        if not 1 <= months <= self.months:
            raise ValueError(f"months must be in 1..{self.months}, got {months!r}")
        return float(self.risk[regime].iloc[months - 1])

    def __repr__(self) -> str:
        start = "from diagnosis" if self.start_month == 0 else f"from month {self.start_month}"
        return "\n".join(
            [
                f"JDMTruth: IVIG always ({start}) vs never, {self.n_patients} patients per "
                f"world, {self.months} months, seed {self.seed}",
                "cumulative risk of quiescence:",
                self.table.round(4).to_string(),
                f"MSM {self.formula}: ivig log OR {self.msm_log_or:.4f}, OR {self.msm_or:.4f}",
            ]
        )


def _world(
    n: int,
    months: int,
    seed: int | None,
    p: JDMParameters,
    ivig_from: int,
    unmeasured: JDMUnmeasured | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Person-months at risk and first quiescences per month in one counterfactual world."""
    rng = np.random.default_rng(seed)
    at_risk = np.ones(n, dtype=bool)
    n_risk = np.zeros(months)
    n_event = np.zeros(months)
    engine = _engine(
        n, months, rng, p, ivig_from=ivig_from, censor=False, scores=False, baseline_out=[],
        unmeasured=unmeasured,
    )  # fmt: skip
    for m in engine:
        n_risk[m.t] = np.count_nonzero(at_risk)
        n_event[m.t] = np.count_nonzero(m.event & at_risk)
        at_risk &= ~m.event
    return n_risk, n_event


def jdm_truth(
    n_patients: int = 200_000,
    months: int = 24,
    seed: int | None = 20_110_501,
    *,
    start_month: int = 0,
    parameters: JDMParameters | None = None,
    formula: str = DEFAULT_MSM,
    horizons: tuple[int, ...] = (12, 24),
    unmeasured: float | JDMUnmeasured | None = None,
    **overrides: float,
) -> JDMTruth:
    """True risks of quiescence under "always IVIG" and "never IVIG", and the true MSM.

    The process of ``simulate_jdm`` is run twice for the same ``n_patients`` with the same
    seed: once with IVIG from month ``start_month`` on for everybody ("always"; from
    diagnosis by default), once with no IVIG ("never").  Each patient has the same baseline,
    frailty and random draws in both worlds (common random numbers), nobody is lost to
    follow-up, and everything else (prednisone, flares) follows from the regime as it would.

    Risks are cumulative incidences of first quiescence: by 12 months means in months 0-11,
    i.e. by visit 12.  The true MSM parameter is the coefficient of ``ivig`` in ``formula``,
    a pooled logistic regression fitted to the stacked person-months of both worlds, each
    patient contributing the months up to and including their first quiescence; ``ivig`` is
    1 on the months IVIG is given.  This is the population value the JDM example estimates by
    fitting the same formula, with IP weights, to the at-risk rows of ``simulate_jdm`` data.
    The MSM is a summary: in this process the month-by-month odds ratio (``hazard``) rises
    while IVIG's effect builds up (about 1.4 in the first month, 2.4 at six months) and then
    drifts down (about 1.7-1.9 in the second year) as the most responsive patients reach
    quiescence and IVIG spares prednisone; a constant-odds-ratio MSM averages over it.
    ``msm_risk`` holds the risk curves the fitted MSM implies, which understate the true
    12-month risk difference a little (about 0.19 against 0.21 with the defaults).

    Parameters
    ----------
    n_patients, months : int
        Size of each counterfactual world and months of follow-up.
    seed : int, optional
        Seed shared by the two worlds.
    start_month : int
        Month from which "always" gives IVIG, 0 .. months - 1.
    parameters : JDMParameters, optional
        The simulation's numbers (default ``JDMParameters()``); ``**overrides`` change some.
    formula : str
        The MSM, in ``quiescence``, ``ivig`` and ``month`` only; default
        ``"quiescence ~ ivig + month + I(month ** 2)"``.
    horizons : tuple of int
        Months at which ``table`` reports the risks (those beyond ``months`` are dropped).
    unmeasured : float or JDMUnmeasured, optional
        The unmeasured confounder of ``simulate_jdm(..., unmeasured=...)``: part of the
        process, so the risks and the MSM are marginal over it (the returned object does not
        record it).

    Returns
    -------
    JDMTruth

    Examples
    --------
    >>> truth = jdm_truth(n_patients=20_000, seed=1)
    >>> list(truth.table.columns)
    ['always', 'never', 'difference', 'ratio']
    >>> bool(1.5 < truth.msm_or < 2.5)
    True
    """
    import formulaic
    import statsmodels.api as sm

    p = _course.resolve(JDMParameters, parameters, overrides)
    _course.check_positive(n_patients=n_patients, months=months)
    if not 0 <= start_month < months:
        raise ValueError(f"start_month must be in 0..{months - 1}, got {start_month!r}")
    confounding = _unmeasured(unmeasured)
    month = np.arange(months)
    hazards, risks, cells = {}, {}, []
    for regime, ivig_from in [("always", start_month), ("never", months)]:
        n_risk, n_event = _world(n_patients, months, seed, p, ivig_from, confounding)
        hazards[regime] = np.divide(n_event, n_risk, out=np.zeros(months), where=n_risk > 0)
        risks[regime] = 1.0 - np.cumprod(1.0 - hazards[regime])
        ivig = (month >= ivig_from).astype(np.float64)
        for y, count in [(1.0, n_event), (0.0, n_risk - n_event)]:
            cells.append(pd.DataFrame({"quiescence": y, "ivig": ivig, "month": month, "n": count}))
    index = pd.RangeIndex(months, name="month")
    risk = pd.DataFrame(risks, index=index)
    hazard = pd.DataFrame(hazards, index=index)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = hazard / (1.0 - hazard)
        hazard["odds_ratio"] = odds["always"] / odds["never"]
    rows = {}
    for h in horizons:
        if 1 <= h <= months:
            a, b = risk["always"].iloc[h - 1], risk["never"].iloc[h - 1]
            rows[h] = {"always": a, "never": b, "difference": a - b, "ratio": a / b}
    table = pd.DataFrame.from_dict(
        rows, orient="index", columns=["always", "never", "difference", "ratio"]
    )
    table.index.name = "months"

    data = pd.concat(cells, ignore_index=True)
    data = data[data["n"] > 0].reset_index(drop=True)
    try:
        spec = formulaic.model_matrix(formula, data)
    except Exception as error:  # formulaic raises several types for unknown names
        raise ValueError(
            f"the MSM formula {formula!r} must use only quiescence, ivig and month: {error}"
        ) from error
    names = list(spec.rhs.columns)
    if "ivig" not in names:
        raise ValueError(f"the MSM formula must have the term 'ivig', got {formula!r}")
    y = np.asarray(spec.lhs, dtype=np.float64).ravel()
    glm = sm.GLM(y, np.asarray(spec.rhs), family=sm.families.Binomial(), freq_weights=data["n"])
    params = pd.Series(glm.fit().params, index=names, name="msm")
    log_or = float(params["ivig"])
    implied = {}
    for regime, ivig_from in [("always", start_month), ("never", months)]:
        grid = pd.DataFrame({"ivig": (month >= ivig_from).astype(np.float64), "month": month})
        design = np.asarray(spec.rhs.model_spec.get_model_matrix(grid), dtype=np.float64)
        implied[regime] = 1.0 - np.cumprod(1.0 - _course.expit(design @ params.to_numpy()))
    msm_risk = pd.DataFrame(implied, index=index)
    return JDMTruth(
        risk=risk,
        hazard=hazard,
        table=table,
        msm_params=params,
        msm_risk=msm_risk,
        msm_log_or=log_or,
        msm_or=float(np.exp(log_or)),
        formula=formula,
        n_patients=n_patients,
        months=months,
        start_month=start_month,
        seed=seed,
        parameters=p,
    )


# ----------------------------------------------------------------------------------------------
# the truth under treatment strategies from time zero (the target trial)


@dataclass(frozen=True, repr=False)
class JDMStrategyTruth:
    """True risks of quiescence under treatment strategies from time zero (``jdm_strategy_truth``).

    Attributes
    ----------
    risk : pandas.DataFrame
        Cumulative incidence of first quiescence among the eligible patients, by intervals
        since time zero: index ``followup`` 1 .. max(times) (row h = quiescence in intervals
        0 .. h-1, that is by visit time zero + h), one column per strategy.
    table : pandas.DataFrame
        One row per time in ``times`` (index ``months``): each strategy's risk and its Monte
        Carlo standard error (column ``"<name> se"``), and with two or more strategies
        ``difference`` (the first minus the second) and ``difference se`` (paired: the same
        patients in both worlds).
    strategies : dict
        The strategies by name, in order.
    n_eligible : int
        Eligible patients (those with a time zero) among ``n_patients``: the trial population.
    n_patients, months : int
        Patients simulated per world and months simulated (the last eligible month plus the
        longest time).
    seed : int or None
    eligibility : JDMEligibility
    parameters : JDMParameters
    unmeasured : JDMUnmeasured or None
        The unmeasured confounder in the process, if any.
    """

    risk: pd.DataFrame
    table: pd.DataFrame
    strategies: dict
    n_eligible: int
    n_patients: int
    months: int
    seed: int | None
    eligibility: JDMEligibility
    parameters: JDMParameters
    unmeasured: JDMUnmeasured | None = None

    def __repr__(self) -> str:
        names = ", ".join(f"{k}: {v!r}" for k, v in self.strategies.items())
        return "\n".join(
            [
                f"JDMStrategyTruth: {names}; {self.n_eligible} eligible of {self.n_patients} "
                f"patients per world, seed {self.seed}"
                + ("" if self.unmeasured is None else f"; unmeasured: {self.unmeasured!r}"),
                "cumulative risk of quiescence by months since time zero:",
                self.table.round(4).to_string(),
            ]
        )


TIME_ZERO_ROW = ("month", "pga", "pga_prev", "cmas", "flare", "prednisone", "ivig")
"""The measured columns of the visit at time zero that ``_strategy_world`` can record."""


def _strategy_world(
    n: int,
    months: int,
    seed: int | None,
    p: JDMParameters,
    eligibility: JDMEligibility,
    strategy: _strategies.Strategy | None,
    unmeasured: JDMUnmeasured | None = None,
    record: bool = False,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None]:
    """Time zero and the interval of first quiescence after it (-1 none) for each patient.

    Loss to follow-up is drawn as in the observed cohort, so that a patient lost before time
    zero is not eligible; after time zero it is switched off (the truth is without censoring).
    ``strategy=None`` is the observational world.  With ``record`` also the eligible patients'
    row at time zero (``TIME_ZERO_ROW``, ``ivig`` the decision there, and the baseline
    ``sex``, ``age``, ``duration``, ``methotrexate``), indexed by patient, as ``simulate_jdm``
    of the same seed shows it, and ``start_probability``, the observational model's
    probability of starting IVIG at that visit (given C too); else None.
    """
    rng = np.random.default_rng(seed)
    time_zero = np.full(n, -1, dtype=np.int64)
    first = np.full(n, -1, dtype=np.int64)
    baseline: list[_Baseline] = []
    recorded = (*TIME_ZERO_ROW, "start_probability")
    row = {c: np.full(n, np.nan) for c in recorded} if record else None
    engine = _engine(
        n, months, rng, p, ivig_from=None, censor=True, scores=False, baseline_out=baseline,
        eligibility=eligibility, strategy=strategy, unmeasured=unmeasured,
    )  # fmt: skip
    for m in engine:
        started = (m.interval == 0) & (time_zero < 0)
        time_zero[started] = m.t
        if record:
            values = {"month": m.t, "pga": m.pga, "pga_prev": m.pga_prev, "cmas": m.cmas}
            values.update(flare=m.flare, prednisone=m.prednisone, ivig=m.ivig)
            values["start_probability"] = m.start_probability
            for c in recorded:
                row[c][started] = np.broadcast_to(values[c], (n,))[started]
        new = m.event & (m.interval >= 0) & (first < 0)
        first[new] = m.interval[new]
    rows = None
    if record:
        b = baseline[0]
        at = time_zero >= 0
        rows = pd.DataFrame(
            {"sex": b.female, "age": b.age, "duration": b.duration, "methotrexate": b.methotrexate}
        )
        rows = rows.assign(**row)[at]
        integer = ["month", "cmas", "flare", "ivig"]
        rows = rows.astype({c: np.int64 for c in integer})
        rows.index = pd.Index(np.flatnonzero(at), name="id")
    return time_zero, first, rows


def jdm_strategy_truth(
    strategies,
    n_patients: int = 200_000,
    seed: int | None = 20_110_501,
    *,
    times: tuple[int, ...] = (12, 24),
    eligibility: JDMEligibility | None = None,
    unmeasured: float | JDMUnmeasured | None = None,
    parameters: JDMParameters | None = None,
    **overrides: float,
) -> JDMStrategyTruth:
    """True risks of quiescence under treatment strategies from each patient's time zero.

    The target trial: among children eligible by ``JDMEligibility`` (JDM still active at a
    visit of months 3-5, not yet on IVIG), time zero is the first eligible visit, and the
    strategies (e.g. ``msm.start_within(3)``, "start IVIG within 3 months", and
    ``msm.never()``) set IVIG from time zero on.  The process of ``simulate_jdm`` is run once
    per strategy for the same ``n_patients`` with the same seed (``simulate_jdm(...,
    strategy=...)``, common random numbers): before time zero every world is the observed one
    (same patients, same eligibility, same time zero); from time zero on IVIG is given where
    the strategy prescribes it, withheld where it forbids it, and follows the observational
    model with the same draws where it leaves the choice free (``start_within(g)``: natural
    starts in intervals 0 .. g-2).  Nobody is lost after time zero (the truth is without
    censoring); loss before it is as in the observed cohort, so the trial population is the
    one an emulation from ``simulate_jdm`` data sees.

    The risk at time h is the proportion of eligible patients whose first quiescence falls in
    intervals 0 .. h-1 since time zero (the month of time zero is interval 0), the quantity a
    clone-censor-weight analysis with ``followup_max >= h`` estimates at ``times=[h]``.  Its
    Monte Carlo error is the binomial one, sqrt(r (1 - r) / n_eligible); the difference's is
    that of the paired per-patient differences, smaller than either (common random numbers).

    Parameters
    ----------
    strategies : dict of str to Strategy, or sequence of Strategy
        The strategies (named by their repr when a sequence).
    n_patients : int
        Patients simulated per strategy; about half are eligible by default.
    seed : int, optional
        Seed shared by the worlds.
    times : tuple of int
        Months since time zero at which ``table`` reports the risks.
    eligibility : JDMEligibility, optional
        Who is eligible (default ``JDMEligibility()``).
    unmeasured : float or JDMUnmeasured, optional
        The unmeasured confounder of ``simulate_jdm(..., unmeasured=...)``: part of the
        process in every world (it moves who is eligible and the natural starts where a
        strategy leaves the choice free), so the risks are marginal over it.
    parameters : JDMParameters, optional
        The simulation's numbers (default ``JDMParameters()``); ``**overrides`` change some.

    Returns
    -------
    JDMStrategyTruth

    Examples
    --------
    >>> truth = jdm_strategy_truth({"IVIG within 3": msm.start_within(3),
    ...                             "no IVIG": msm.never()}, n_patients=20_000, seed=1)
    >>> list(truth.table.columns)
    ['IVIG within 3', 'IVIG within 3 se', 'no IVIG', 'no IVIG se', 'difference', 'difference se']
    >>> bool(truth.table.loc[24, "difference"] > 0.1)
    True
    """
    p = _course.resolve(JDMParameters, parameters, overrides)
    _course.check_positive(n_patients=n_patients)
    if isinstance(strategies, _strategies.Strategy):
        strategies = [strategies]
    if not isinstance(strategies, dict):
        strategies = {repr(s): s for s in strategies}
    if not strategies:
        raise ValueError("strategies must name at least one strategy")
    for s in strategies.values():
        if not isinstance(s, _strategies.Strategy):
            _check_strategy(s)  # names it (a None strategy is the observational policy)
            raise TypeError(f"strategy must be a strategy such as msm.never(), got {s!r}")
    times = tuple(times)
    if not times:
        raise ValueError("times must hold at least one time")
    for h in times:
        _course.check_positive(times=h)
    eligibility = JDMEligibility() if eligibility is None else eligibility
    if not isinstance(eligibility, JDMEligibility):
        raise TypeError(f"eligibility must be a JDMEligibility, got {eligibility!r}")
    confounding = _unmeasured(unmeasured)
    horizon = max(times)
    months = eligibility.last_month + horizon
    followup = np.arange(1, horizon + 1)
    reference = None
    events = {}  # per strategy: quiescent by each followup, (eligible, horizon) bool
    for name, strategy in strategies.items():
        time_zero, first, _ = _strategy_world(
            n_patients, months, seed, p, eligibility, strategy, confounding
        )
        if reference is None:
            reference = time_zero
        elif not np.array_equal(reference, time_zero):  # pragma: no cover - a bug if hit
            raise RuntimeError("the worlds disagree on time zero: common random numbers broken")
        first = first[time_zero >= 0]
        events[name] = (first[:, None] >= 0) & (first[:, None] < followup[None, :])
    n_eligible = int(np.count_nonzero(reference >= 0))
    if n_eligible == 0:
        raise ValueError("no patient is eligible: widen the eligibility or simulate more")
    risk = pd.DataFrame(
        {name: e.mean(axis=0) for name, e in events.items()},
        index=pd.Index(followup, name="followup"),
    )
    rows = {}
    names = list(strategies)
    for h in times:
        row = {}
        for name in names:
            r = float(risk[name].iloc[h - 1])
            row[name] = r
            row[f"{name} se"] = float(np.sqrt(r * (1.0 - r) / n_eligible))
        if len(names) >= 2:
            diff = events[names[0]][:, h - 1].astype(np.float64)
            diff -= events[names[1]][:, h - 1]
            row["difference"] = float(diff.mean())
            row["difference se"] = float(diff.std(ddof=1) / np.sqrt(n_eligible))
        rows[h] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "months"
    return JDMStrategyTruth(
        risk=risk,
        table=table,
        strategies=dict(strategies),
        n_eligible=n_eligible,
        n_patients=n_patients,
        months=months,
        seed=seed,
        eligibility=eligibility,
        parameters=p,
        unmeasured=confounding,
    )


# ----------------------------------------------------------------------------------------------
# the true confounding function of the decision at time zero (Brumback et al. 2004)

HISTORY = (
    "pga + I(pga ** 2) + pga_prev + I(pga_prev ** 2) + pga:pga_prev + cmas + I(cmas ** 2)"
    " + flare + prednisone + C(month) + sex + age + I(age ** 2) + np.log(duration)"
    " + methotrexate"
)
"""The measured history at time zero ``jdm_confounding_truth`` conditions on by default: the
visit's scores and treatment (the IVIG model's terms, with squares and the pga interaction)
and the baseline covariates.  Without an unmeasured confounder the true ``c`` is 0; the
regressions on this history give a net correction of about 0.001 there (about 0.002 with
the terms linear)."""


HISTORY_COLUMNS = ("sex", "age", "duration", "methotrexate", *TIME_ZERO_ROW[:-1])
"""The columns ``jdm_confounding_truth``'s ``history`` may use (the time-zero row but ``ivig``)."""


def _history_design(history: str, rows: pd.DataFrame):
    """The design of ``history`` on ``rows``; ValueError unless it is a formula in the
    ``HISTORY_COLUMNS`` only, TypeError unless a string."""
    import formulaic

    if not isinstance(history, str):
        raise TypeError(f"history must be a formula string, got {history!r}")
    try:
        design = formulaic.model_matrix(history, rows)
    except Exception as error:  # formulaic raises several types for unknown names
        raise ValueError(
            f"history {history!r} must be a formula in the time-zero columns "
            f"{list(HISTORY_COLUMNS)}: {error}"
        ) from error
    other = sorted(set(design.model_spec.required_variables) - set(HISTORY_COLUMNS))
    if other:
        raise ValueError(
            f"history {history!r} reads {other}: only the time-zero columns "
            f"{list(HISTORY_COLUMNS)} may enter (not the decision)"
        )
    return design


@dataclass(frozen=True, repr=False)
class JDMConfoundingTruth:
    """The true confounding function of IVIG at time zero (``jdm_confounding_truth``).

    For the decision ``A`` (IVIG started at the time-zero visit or not) among the eligible
    patients, with measured history ``H`` at time zero (``history``) and outcome ``Y``
    (first quiescence within ``horizon`` months of time zero), Brumback et al.'s (2004)
    confounding function is ``c(a, h) = E[Y(a) | A = a, H = h] - E[Y(a) | A = 1 - a, H = h]``.
    ``bias`` evaluates it on the rows of an observed cohort, for ``msm.bias_sensitivity``.

    Attributes
    ----------
    risk, risk_se : pandas.Series
        The true risks ``E[Y(1)]`` ("IVIG at time zero", ``msm.start_within(1)``) and
        ``E[Y(0)]`` ("no IVIG at time zero, free afterwards", ``msm.never(before=1)``) among
        the eligible, indexed by ``ivig`` (1, 0), and their binomial Monte Carlo errors.
    difference, difference_se : float
        ``E[Y(1)] - E[Y(0)]`` and its Monte Carlo error (paired, common random numbers).
    observed : pandas.Series
        The crude risks ``E[Y | A = a]`` of the observational world, indexed by ``ivig``:
        what an analysis without any adjustment estimates.
    treated : float
        ``P(A = 1)`` among the eligible.
    coefficients : pandas.DataFrame
        The logistic regressions of each potential outcome on the history within each
        decision group, one column per ``(outcome, decision)`` (``"Y(1) | A=1"``, ...), one
        row per term of ``history``.
    spec : formulaic.ModelSpec
        The design of ``history`` (``bias`` applies it to new rows).
    history : str
        The right-hand side of those regressions (Wilkinson formula in the time-zero columns).
    n_eligible, n_patients, horizon, months : int
        Eligible patients among ``n_patients`` simulated, the horizon of the outcome and the
        months simulated.
    seed : int or None
    eligibility : JDMEligibility
    unmeasured : JDMUnmeasured or None
    parameters : JDMParameters
    """

    risk: pd.Series
    risk_se: pd.Series
    difference: float
    difference_se: float
    observed: pd.Series
    treated: float
    coefficients: pd.DataFrame
    spec: object
    history: str
    n_eligible: int
    n_patients: int
    horizon: int
    months: int
    seed: int | None
    eligibility: JDMEligibility
    unmeasured: JDMUnmeasured | None
    parameters: JDMParameters

    def outcome_means(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``E[Y(a) | A = a', H]`` on each row of ``frame`` (the four fitted regressions).

        Parameters
        ----------
        frame : pandas.DataFrame
            Rows holding the columns of ``history`` (one per eligible patient at time zero).

        Returns
        -------
        pandas.DataFrame
            Indexed like ``frame``, columns those of ``coefficients``.

        Examples
        --------
        >>> truth = jdm_confounding_truth(20_000, seed=1)
        >>> cohort = simulate_jdm(500, months=truth.months, seed=2, eligible=True,
        ...                       unmeasured=truth.unmeasured)
        >>> zero = cohort[cohort["eligible"] == 1].groupby("id").head(1)
        >>> means = truth.outcome_means(zero)
        >>> list(means.columns)
        ['Y(1) | A=1', 'Y(1) | A=0', 'Y(0) | A=1', 'Y(0) | A=0']
        >>> bool(means["Y(1) | A=0"].mean() > means["Y(1) | A=1"].mean())  # C: worse if treated
        True
        """
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        needed = list(self.spec.required_variables)
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(
                f"frame lacks the history columns {missing} (history: {self.history!r})"
            )
        bad = [c for c in needed if not np.isfinite(frame[c].to_numpy(dtype=np.float64)).all()]
        if bad:
            raise ValueError(f"the history columns {bad} hold NaN or infinite values")
        design = np.asarray(self.spec.get_model_matrix(frame[needed]), dtype=np.float64)
        means = _course.expit(design @ self.coefficients.to_numpy())
        return pd.DataFrame(means, index=frame.index, columns=self.coefficients.columns)

    def bias(self, frame: pd.DataFrame, treatment: str = "ivig") -> np.ndarray:
        """The true confounding function ``c(a, h)`` on each row of ``frame``.

        ``c(a, h) = E[Y(a) | A = a, H = h] - E[Y(a) | A = 1 - a, H = h]``, with ``a`` the
        row's decision (``treatment``) and ``h`` its history: the ``bias=`` of
        ``msm.bias_sensitivity`` for an IP-weighted analysis of the decision at time zero.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per eligible patient at time zero with the columns of ``history`` and
            ``treatment`` (0/1).
        treatment : str
            The decision's column (``ivig`` on the time-zero row of ``simulate_jdm``).

        Returns
        -------
        numpy.ndarray
            One value per row of ``frame``, in its order.

        Examples
        --------
        >>> truth = jdm_confounding_truth(20_000, seed=1)
        >>> cohort = simulate_jdm(500, months=truth.months, seed=2, eligible=True,
        ...                       unmeasured=truth.unmeasured)
        >>> zero = cohort[cohort["eligible"] == 1].groupby("id").head(1)
        >>> c = truth.bias(zero)
        >>> treated = zero["ivig"].to_numpy() == 1
        >>> bool(c[treated].mean() < 0 < c[~treated].mean())  # treated: worse prognosis anyway
        True
        """
        means = self.outcome_means(frame)
        if treatment not in frame.columns:
            raise ValueError(f"frame has no treatment column {treatment!r}")
        a = frame[treatment].to_numpy(dtype=np.float64)
        if not np.isin(a, (0.0, 1.0)).all():
            raise ValueError(f"the treatment column {treatment!r} must be 0/1")
        took = np.where(a == 1, means["Y(1) | A=1"], means["Y(0) | A=0"])
        other = np.where(a == 1, means["Y(1) | A=0"], means["Y(0) | A=1"])
        return np.asarray(took - other, dtype=np.float64)

    def __repr__(self) -> str:
        table = pd.DataFrame(
            {"true risk": self.risk, "se": self.risk_se, "crude risk": self.observed}
        )
        return "\n".join(
            [
                f"JDMConfoundingTruth: IVIG at time zero (start_within(1)) vs not "
                f"(never(before=1)), quiescence within {self.horizon} months; "
                f"{self.n_eligible} eligible of {self.n_patients} patients, seed {self.seed}",
                f"unmeasured: {self.unmeasured!r}; {100 * self.treated:.1f}% start IVIG at "
                "time zero",
                table.round(4).to_string(),
                f"true difference {self.difference:.4f} (se {self.difference_se:.4f}); "
                f"c(a, h) from logistic regressions on {self.history}",
            ]
        )


def jdm_confounding_truth(
    n_patients: int = 200_000,
    seed: int | None = 20_110_501,
    *,
    horizon: int = 12,
    unmeasured: float | JDMUnmeasured | None = True,
    eligibility: JDMEligibility | None = None,
    history: str = HISTORY,
    parameters: JDMParameters | None = None,
    **overrides: float,
) -> JDMConfoundingTruth:
    """The true confounding function of IVIG at time zero, and the true risks it corrects to.

    The decision at time zero of the target trial (``JDMEligibility``): among the eligible
    patients at their first eligible visit, ``A`` = IVIG started at that visit, ``H`` = the
    measured row there (``history``), ``Y`` = first quiescence in intervals 0 .. horizon-1
    since time zero.  With an unmeasured confounder C (``unmeasured``) IP weights from ``H``
    leave bias, which Brumback et al.'s (2004) confounding function
    ``c(a, h) = E[Y(a) | A = a, H = h] - E[Y(a) | A = 1 - a, H = h]`` measures.  For a single
    decision their identity is exact: ``E[Y - c(A, H) P(A = 1 - a | H) | A = a, H] =
    E[Y(a) | H]``, so the IP-weighted analysis of the corrected outcome estimates the true
    ``E[Y(a)]`` (``msm.bias_sensitivity`` at strength 1, with ``bias=truth.bias``).

    The truth is found by oracle, with common random numbers: the process of
    ``simulate_jdm(..., unmeasured=unmeasured)`` is run for the same ``n_patients`` with the
    same seed in the observational world and under the strategies ``msm.start_within(1)``
    (IVIG at time zero) and ``msm.never(before=1)`` (no IVIG at time zero, the natural course
    afterwards), as ``jdm_strategy_truth`` does.  Every eligible patient then has ``A`` and
    ``H`` (observational world) and both potential outcomes ``Y(1)``, ``Y(0)``, and the
    observed ``Y`` is ``Y(A)`` exactly.  ``E[Y(a) | A = a', H]`` is a logistic regression of
    ``Y(a)`` on ``history`` (four fits), so ``c`` is exact up to that model and the Monte
    Carlo error.  Each fit weights every eligible patient by ``P(A = a' | H, C)``, the
    simulator's own probability of the decision given the confounder too, instead of keeping
    those with ``A = a'``: the decision is a uniform draw against that probability,
    independent of the potential outcomes given ``H`` and ``C``, so both fits have the same
    population value, and the weighted one uses all the patients.  Few start IVIG at time
    zero (about 9%): fitting among them alone makes the corrected estimate's error from
    ``c`` about seven times larger (sd 0.007 against 0.001 over oracle seeds, 200,000
    patients).

    Loss to follow-up before time zero is as in the observed cohort; after it, it is
    switched off (the outcome is seen for everyone).  To compare with an analysis of
    ``simulate_jdm`` data, which loses patients, simulate both the truth and the cohort with
    ``lost_intercept=-np.inf`` (nobody is lost; every random draw is unchanged).

    Parameters
    ----------
    n_patients : int
        Patients simulated per world; about half are eligible by default.
    seed : int, optional
        Seed shared by the worlds.
    horizon : int
        Months of follow-up from time zero of the outcome.
    unmeasured : float, True or JDMUnmeasured, optional
        The unmeasured confounder, as in ``simulate_jdm`` (default True: ``JDMUnmeasured()``;
        None: none, and then ``c`` is 0 up to Monte Carlo error, because the IVIG model
        reads only the time-zero visit).
    eligibility : JDMEligibility, optional
        Who is eligible (default ``JDMEligibility()``).
    history : str
        Right-hand side of the outcome regressions, in the time-zero columns ``month``,
        ``pga``, ``pga_prev``, ``cmas``, ``flare``, ``prednisone``, ``sex``, ``age``,
        ``duration``, ``methotrexate`` (default ``HISTORY``: all of them, with squares of
        the scores and age, the two physician globals' product, log duration and month as a
        factor).  The IP weights' denominator should condition on the same columns.
    parameters : JDMParameters, optional
        The simulation's numbers (default ``JDMParameters()``); ``**overrides`` change some.

    Returns
    -------
    JDMConfoundingTruth

    Examples
    --------
    >>> truth = jdm_confounding_truth(20_000, seed=1, unmeasured=JDMUnmeasured(ivig=1.0,
    ...                               quiescence=-1.0))
    >>> bool(truth.difference > 0.1)
    True
    >>> cohort = simulate_jdm(500, months=truth.months, seed=2, eligible=True,
    ...                       unmeasured=truth.unmeasured)
    >>> zero = cohort[cohort["eligible"] == 1].groupby("id").head(1)
    >>> c = truth.bias(zero)  # the treated would have done worse anyway: c < 0 for them
    >>> bool((c[zero["ivig"] == 1] < 0).mean() > 0.9)
    True
    """
    import statsmodels.api as sm

    p = _course.resolve(JDMParameters, parameters, overrides)
    _course.check_positive(n_patients=n_patients, horizon=horizon)
    eligibility = JDMEligibility() if eligibility is None else eligibility
    if not isinstance(eligibility, JDMEligibility):
        raise TypeError(f"eligibility must be a JDMEligibility, got {eligibility!r}")
    confounding = _unmeasured(unmeasured)
    _history_design(history, pd.DataFrame(1.0, index=[0], columns=HISTORY_COLUMNS))  # check it
    months = eligibility.last_month + horizon
    world = {}
    for name, strategy in [
        ("observed", None),
        (1, _strategies.start_within(1)),
        (0, _strategies.never(before=1)),
    ]:
        world[name] = _strategy_world(
            n_patients,
            months,
            seed,
            p,
            eligibility,
            strategy,
            confounding,
            record=name == "observed",
        )
    time_zero, first_observed, rows = world["observed"]
    for a in (1, 0):
        if not np.array_equal(world[a][0], time_zero):  # pragma: no cover - a bug if hit
            raise RuntimeError("the worlds disagree on time zero: common random numbers broken")
    at = time_zero >= 0
    n_eligible = int(np.count_nonzero(at))
    outcome = {}
    for a in (1, 0):
        first = world[a][1][at]
        outcome[a] = ((first >= 0) & (first < horizon)).astype(np.float64)
    first = first_observed[at]
    y = ((first >= 0) & (first < horizon)).astype(np.float64)
    decision = rows["ivig"].to_numpy()
    consistent = np.where(decision == 1, outcome[1], outcome[0])
    if not np.array_equal(y, consistent):  # pragma: no cover - a bug if hit
        raise RuntimeError("the observed outcome is not Y(A): common random numbers broken")
    groups = {a: decision == a for a in (1, 0)}
    if min(np.count_nonzero(g) for g in groups.values()) < 50:
        raise ValueError(
            f"only {n_eligible} eligible patients, {np.count_nonzero(groups[1])} of them "
            "starting IVIG at time zero: too few for the confounding function; simulate more"
        )
    # P(A = a' | H, C): the decision is a uniform draw against it, independent of Y(0), Y(1)
    # given H and C, so weighting every eligible patient by it fits E[Y(a) | A = a', H] with
    # the same population value as fitting among A = a', from many more patients
    start = rows.pop("start_probability").to_numpy()
    chance = {1: start, 0: 1.0 - start}
    design = _history_design(history, rows)
    x = np.asarray(design, dtype=np.float64)
    coefficients = {}
    for a in (1, 0):
        for given in (1, 0):
            model = sm.GLM(outcome[a], x, family=sm.families.Binomial(), freq_weights=chance[given])
            fit = model.fit()
            coefficients[f"Y({a}) | A={given}"] = fit.params
    risk = pd.Series({a: float(outcome[a].mean()) for a in (1, 0)})
    risk.index.name = "ivig"
    diff = outcome[1] - outcome[0]
    return JDMConfoundingTruth(
        risk=risk,
        risk_se=np.sqrt(risk * (1.0 - risk) / n_eligible),
        difference=float(diff.mean()),
        difference_se=float(diff.std(ddof=1) / np.sqrt(n_eligible)),
        observed=pd.Series({a: float(y[groups[a]].mean()) for a in (1, 0)}).rename_axis("ivig"),
        treated=float(decision.mean()),
        coefficients=pd.DataFrame(coefficients, index=list(design.columns)),
        spec=design.model_spec,
        history=history,
        n_eligible=n_eligible,
        n_patients=n_patients,
        horizon=horizon,
        months=months,
        seed=seed,
        eligibility=eligibility,
        unmeasured=confounding,
        parameters=p,
    )


# ----------------------------------------------------------------------------------------------
# the truth with a competing event (treatment failure) and an unmeasured confounder

HANDLINGS = ("total", "eliminate")
"""How ``jdm_competing_truth`` treats failure: a competing state, or prevented."""


@dataclass(frozen=True, repr=False)
class JDMCompetingTruth:
    """True cumulative incidences of quiescence and treatment failure (``jdm_competing_truth``).

    Attributes
    ----------
    cif : pandas.DataFrame
        Indexed by ``(handling, regime, month)``: ``handling`` ``"total"`` (failure a
        competing state) or ``"eliminate"`` (failure prevented), ``regime`` ``"always"`` or
        ``"never"``, ``month`` 0 .. months - 1 (row t = by the end of month t, that is by visit
        t + 1).  Columns ``quiescence`` and ``failure`` (0 under ``"eliminate"``): the
        proportion of children whose first event is that one, by month t.
    hazard : pandas.DataFrame
        Same index; the cause-specific monthly hazards among the children event-free at the
        start of the month (``quiescence``, ``failure``) and ``at_risk``, their number.
    table : pandas.DataFrame
        One row per ``(handling, cause, months)`` for the ``horizons``: ``always``, ``never``,
        their binomial Monte Carlo standard errors (``"always se"``, ``"never se"``),
        ``difference`` (always - never) and ``difference se`` (paired, common random numbers).
    n_patients, months, start_month : int
    seed : int or None
    competing : JDMCompeting
    unmeasured : JDMUnmeasured or None
    parameters : JDMParameters
    """

    cif: pd.DataFrame
    hazard: pd.DataFrame
    table: pd.DataFrame
    n_patients: int
    months: int
    start_month: int
    seed: int | None
    competing: JDMCompeting
    unmeasured: JDMUnmeasured | None
    parameters: JDMParameters

    def cif_at(
        self, months: int, regime: str, cause: str = "quiescence", handling: str = "total"
    ) -> float:
        """True cumulative incidence of ``cause`` by ``months`` months (1 .. months).

        Examples
        --------
        >>> truth = jdm_competing_truth(n_patients=5_000, seed=1)
        >>> bool(truth.cif_at(24, "always") > truth.cif_at(24, "never"))
        True
        >>> truth.cif_at(24, "never", "failure", handling="eliminate")
        0.0
        """
        if regime not in ("always", "never"):
            raise ValueError(f"regime must be 'always' or 'never', got {regime!r}")
        if cause not in ("quiescence", "failure"):
            raise ValueError(f"cause must be 'quiescence' or 'failure', got {cause!r}")
        if handling not in HANDLINGS:
            raise ValueError(f"handling must be one of {list(HANDLINGS)}, got {handling!r}")
        if not 1 <= months <= self.months:
            raise ValueError(f"months must be in 1..{self.months}, got {months!r}")
        return float(self.cif.loc[(handling, regime, months - 1), cause])

    def __repr__(self) -> str:
        start = "from diagnosis" if self.start_month == 0 else f"from month {self.start_month}"
        return "\n".join(
            [
                f"JDMCompetingTruth: IVIG always ({start}) vs never, {self.n_patients} "
                f"patients per world, {self.months} months, seed {self.seed}",
                f"{self.competing!r}; unmeasured: {self.unmeasured!r}",
                "cumulative incidence (total: failure a competing state; eliminate: failure "
                "prevented):",
                self.table.round(4).to_string(),
            ]
        )


def _first_events(
    n: int,
    months: int,
    seed: int | None,
    p: JDMParameters,
    ivig_from: int,
    competing: JDMCompeting | None,
    unmeasured: JDMUnmeasured | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each child's first event in one world without loss: its month (-1 none), its kind.

    Kind 1 is quiescence, 2 treatment failure (only with ``competing``).
    """
    rng = np.random.default_rng(seed)
    when = np.full(n, -1, dtype=np.int64)
    kind = np.zeros(n, dtype=np.int8)
    engine = _engine(
        n, months, rng, p, ivig_from=ivig_from, censor=False, scores=False, baseline_out=[],
        competing=competing, unmeasured=unmeasured,
    )  # fmt: skip
    for m in engine:
        free = when < 0
        new_q = free & m.event
        when[new_q], kind[new_q] = m.t, 1
        if m.failure is not None:
            new_f = free & m.failure
            when[new_f], kind[new_f] = m.t, 2
    return when, kind


def jdm_competing_truth(
    n_patients: int = 200_000,
    months: int = 24,
    seed: int | None = 20_110_501,
    *,
    competing: bool | JDMCompeting = True,
    unmeasured: float | JDMUnmeasured | None = None,
    start_month: int = 0,
    horizons: tuple[int, ...] = (12, 24),
    parameters: JDMParameters | None = None,
    **overrides: float,
) -> JDMCompetingTruth:
    """True cumulative incidences of quiescence and of treatment failure under always/never IVIG.

    The process of ``simulate_jdm(..., competing=competing, unmeasured=unmeasured)`` is run
    for the same ``n_patients`` with the same seed under "IVIG from month ``start_month``
    on" (``always``) and "never IVIG" (``never``), each in two worlds (common random numbers
    across all four): ``handling="total"``, where treatment failure happens as it would and
    is a competing state (a child who fails never reaches quiescence in IVIG follow-up), and
    ``handling="eliminate"``, where the failure hazard is set to 0 (failure prevented: the
    process of ``simulate_jdm`` without ``competing``).  Nobody is lost to follow-up.  With
    ``unmeasured`` the confounder C is part of the process and the truths are marginal over
    it.

    ``total`` is the target of cause-specific MSMs for quiescence and failure combined by
    ``msm.risk_curves(..., competing=..., handling="total")`` (Young et al. 2020's total
    effect); ``eliminate`` that of the quiescence MSM weighted also for failure as censoring
    (``handling="eliminate"``; the controlled direct effect).

    Parameters
    ----------
    n_patients, months : int
        Size of each world and months of follow-up.
    seed : int, optional
        Seed shared by the worlds.
    competing : True or JDMCompeting
        The failure process (True: ``JDMCompeting()``).
    unmeasured : float or JDMUnmeasured, optional
        An unmeasured confounder, as in ``simulate_jdm``.
    start_month : int
        Month from which "always" gives IVIG, 0 .. months - 1.
    horizons : tuple of int
        Months at which ``table`` reports the incidences (those beyond ``months`` dropped).
    parameters : JDMParameters, optional
        The simulation's numbers (default ``JDMParameters()``); ``**overrides`` change some.

    Returns
    -------
    JDMCompetingTruth

    Examples
    --------
    >>> truth = jdm_competing_truth(n_patients=20_000, seed=1)
    >>> truth.table.index.names
    FrozenList(['handling', 'cause', 'months'])
    >>> total = truth.cif_at(24, "never", "quiescence")
    >>> bool(total < truth.cif_at(24, "never", "quiescence", handling="eliminate"))
    True
    """
    p = _course.resolve(JDMParameters, parameters, overrides)
    _course.check_positive(n_patients=n_patients, months=months)
    if not 0 <= start_month < months:
        raise ValueError(f"start_month must be in 0..{months - 1}, got {start_month!r}")
    failing = _competing(competing)
    if failing is None:
        raise ValueError("competing must be True or a JDMCompeting: the truth is about failure")
    confounding = _unmeasured(unmeasured)
    regimes = {"always": start_month, "never": months}
    month = np.arange(months)
    cif_blocks, hazard_blocks = [], []
    indicators = {}  # (handling, regime, cause) -> (n, horizons) event by horizon
    keep = [h for h in horizons if 1 <= h <= months]
    for handling in HANDLINGS:
        for regime, ivig_from in regimes.items():
            process = failing if handling == "total" else None
            when, kind = _first_events(n_patients, months, seed, p, ivig_from, process, confounding)
            counts = {}
            for cause, code in (("quiescence", 1), ("failure", 2)):
                hit = kind == code
                counts[cause] = np.bincount(when[hit], minlength=months).astype(np.float64)
                for h in keep:
                    indicators[(handling, regime, cause, h)] = hit & (when < h)
            events = counts["quiescence"] + counts["failure"]
            at_risk = n_patients - np.concatenate([[0.0], np.cumsum(events)[:-1]])
            index = pd.MultiIndex.from_product(
                [[handling], [regime], month], names=["handling", "regime", "month"]
            )
            cif_blocks.append(
                pd.DataFrame({c: np.cumsum(counts[c]) / n_patients for c in counts}, index=index)
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                hz = {c: np.where(at_risk > 0, counts[c] / at_risk, 0.0) for c in counts}
            hazard_blocks.append(pd.DataFrame({**hz, "at_risk": at_risk}, index=index))
    cif = pd.concat(cif_blocks).sort_index()  # lexsorted: fast, warning-free .loc lookups
    hazard = pd.concat(hazard_blocks).sort_index()
    rows = {}
    for handling in HANDLINGS:
        for cause in ("quiescence", "failure"):
            for h in keep:
                row = {}
                for regime in regimes:
                    r = float(indicators[(handling, regime, cause, h)].mean())
                    row[regime] = r
                    row[f"{regime} se"] = float(np.sqrt(r * (1.0 - r) / n_patients))
                diff = indicators[(handling, "always", cause, h)].astype(np.float64)
                diff -= indicators[(handling, "never", cause, h)]
                row["difference"] = float(diff.mean())
                row["difference se"] = (
                    float(diff.std(ddof=1) / np.sqrt(n_patients)) if n_patients > 1 else np.nan
                )
                rows[(handling, cause, h)] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["handling", "cause", "months"])
    return JDMCompetingTruth(
        cif=cif,
        hazard=hazard,
        table=table,
        n_patients=n_patients,
        months=months,
        start_month=start_month,
        seed=seed,
        competing=failing,
        unmeasured=confounding,
        parameters=p,
    )
