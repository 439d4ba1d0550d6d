"""The disease course of juvenile dermatomyositis (JDM) that the JDM simulators share.

``simulate_jdm`` (rescue IVIG, ``jdm.py``) and ``simulate_cyc`` (a six-month cyclophosphamide
course, ``cyclophosphamide.py``) simulate one disease course under two treatment policies.
This module is that course; each simulator keeps its treatment policy, what it alone measures
or adds (IVIG's quiescence outcome, methotrexate and the delay to diagnosis; CYC's skin
propensity), the layout of its random numbers, and its truth.

The course, month by month (row ``month = t`` holds visit t and the month after it)::

    baseline   sex, age at diagnosis, an unmeasured frailty U; latent activity x_0 and the
               patient's untreated activity level, both rising with U
    visit t    activity_t = x_t - effect * min(k_t / ramp, 1), k_t the months since the
               treatment was started (0 before and at its first month)
               -> noisy, rounded, clipped scores of s = expit(activity_t): physician global,
                  CMAS, MMT8, DAS skin and muscle, CK
               prednisone: the taper, back to taper step ``flare_step`` on a flare
               (pga >= ``flare_pga`` from month ``flare_month`` on)
    month t    x_{t+1} = rho x_t + (1 - rho) target_t + noise, the target the untreated level
               plus a trend in t, lowered by prednisone (and by what a simulator adds)
               loss to follow-up after the visit, logistic in pga

The functions compute from random numbers already drawn (``MonthDraws``), so that the order and
amount of the draws is the simulator's choice: ``simulate_jdm`` draws everything from one
generator, month after month; ``simulate_cyc`` from one stream per month (``MonthStreams``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Course",
    "CourseParameters",
    "MonthDraws",
    "MonthStreams",
    "Visit",
    "advance",
    "check_positive",
    "cmas",
    "creatine_kinase",
    "das_muscle",
    "das_skin",
    "draw_baseline",
    "draw_month",
    "expit",
    "lost",
    "mmt8",
    "person_months",
    "physician_global",
    "resolve",
    "sex_and_age",
    "treated_activity",
    "visit",
]


def expit(eta: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-eta))


def check_positive(**values: int) -> None:
    """Raise ``ValueError`` naming the first value that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


# ----------------------------------------------------------------------------------------------
# the numbers


@dataclass(frozen=True)
class CourseParameters:
    """The numbers of the JDM disease course that its simulators share.

    ``JDMParameters`` (rescue IVIG) and ``CYCParameters`` (a cyclophosphamide course) add their
    treatment's numbers and document every field with its source.  The defaults here are those
    of ``JDMParameters``, an inception cohort; ``CYCParameters``, a cohort of severer disease,
    changes ``activity_diagnosis``, ``frailty_activity``, ``activity_trend``,
    ``lost_intercept`` and ``lost_pga``.  The groups: baseline (``female_fraction``, ``age_*``),
    latent activity (``activity_*``, ``frailty_*``, ``persistence``, ``prednisone_effect``),
    the steroid taper and its flares (``taper``, ``flare_*``), measurement noise of the scores
    (``pga_sd``, ``cmas_sd``, ``das_sd``) and loss to follow-up (``lost_*``).
    """

    female_fraction: float = 0.68
    age_median: float = 7.0
    age_sdlog: float = 0.45
    age_min: float = 2.0
    age_max: float = 15.0
    activity_diagnosis: float = 0.4
    activity_diagnosis_sd: float = 0.6
    frailty_diagnosis: float = 0.4
    frailty_activity: float = 0.8
    activity_level: float = 0.1
    activity_trend: float = -0.04
    persistence: float = 0.75
    activity_sd: float = 0.35
    prednisone_effect: float = 0.9
    taper: tuple[float, ...] = (
        2.0, 1.5, 1.0, 0.8, 0.6, 0.4, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2,
        0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0,
    )  # fmt: skip
    flare_pga: float = 4.0
    flare_month: int = 3
    flare_step: int = 2
    pga_sd: float = 0.6
    cmas_sd: float = 2.5
    das_sd: float = 0.8
    lost_intercept: float = -5.5
    lost_pga: float = 0.25

    def replace(self, **changes):
        """A copy with some parameters changed (unknown names raise ``TypeError``)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            record = type(self).__name__
            raise TypeError(
                f"unknown {record.removesuffix('Parameters')} parameter(s) "
                f"{', '.join(unknown)}; see {record} for the names"
            )
        return dataclasses.replace(self, **changes)


def resolve(kind: type, parameters: CourseParameters | None, overrides: dict):
    """``parameters`` (default ``kind()``) with ``overrides`` applied."""
    base = kind() if parameters is None else parameters
    return base.replace(**overrides) if overrides else base


# ----------------------------------------------------------------------------------------------
# the random numbers


@dataclass(frozen=True)
class MonthDraws:
    """The random numbers of one month: the activity innovation, the scores' noise, uniforms."""

    eps: np.ndarray  # (n,)
    noise: np.ndarray  # (scores, n)
    u: np.ndarray  # (uniforms, n)

    def take(self, rows: np.ndarray) -> MonthDraws:
        return MonthDraws(self.eps[rows], self.noise[:, rows], self.u[:, rows])


def draw_baseline(
    rng: np.random.Generator, n: int, normals: int, uniforms: int
) -> tuple[np.ndarray, np.ndarray]:
    """``normals`` rows of standard normals, then ``uniforms`` rows of uniforms."""
    return rng.standard_normal((normals, n)), rng.random((uniforms, n))


def draw_month(rng: np.random.Generator, n: int, noise: int, uniforms: int) -> MonthDraws:
    """One month's draws, in this order: innovations, ``noise`` rows of normals, uniforms."""
    eps = rng.standard_normal(n)
    return MonthDraws(eps, rng.standard_normal((noise, n)), rng.random((uniforms, n)))


class MonthStreams:
    """Random numbers from one stream per month, so that any month can be drawn again.

    The baseline comes from the stream ``(seed, 0)`` and month t from ``(seed, t + 1)``: every
    world (the observed one and the counterfactual ones) and every subset of patients sees the
    same numbers, whatever was drawn before.  Months are drawn once and kept.
    """

    def __init__(
        self, seed: int, n: int, *, normals: int, uniforms: int, noise: int, month_uniforms: int
    ) -> None:
        self.seed, self.n = seed, n
        self.noise, self.month_uniforms = noise, month_uniforms
        self.z, self.u = draw_baseline(np.random.default_rng([seed, 0]), n, normals, uniforms)
        self._months: dict[int, MonthDraws] = {}

    def month(self, t: int) -> MonthDraws:
        if t not in self._months:
            rng = np.random.default_rng([self.seed, t + 1])
            self._months[t] = draw_month(rng, self.n, self.noise, self.month_uniforms)
        return self._months[t]


# ----------------------------------------------------------------------------------------------
# the course


def sex_and_age(
    p: CourseParameters, u_sex: np.ndarray, z_age: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sex (1 female) and age at diagnosis (years, log-normal, rounded, clipped)."""
    female = (u_sex < p.female_fraction).astype(np.int64)
    age = np.clip(np.round(p.age_median * np.exp(p.age_sdlog * z_age), 1), p.age_min, p.age_max)
    return female, age


@dataclass
class Course:
    """Where each patient's disease stands at the next visit (arrays over the patients followed).

    A simulator that carries more per patient subclasses it with more array fields; ``take``
    and ``copy`` keep them.
    """

    x: np.ndarray  # latent activity before the treatment's effect
    level: np.ndarray  # the patient's untreated activity level
    step: np.ndarray  # taper step
    pga_prev: np.ndarray  # physician global at the previous visit (NaN before the first)
    started: np.ndarray  # on treatment in the month before (treatment started before)
    months_on: np.ndarray  # months since the treatment was started (0 before and at it)
    t: int  # the next visit

    @classmethod
    def at_diagnosis(
        cls,
        p: CourseParameters,
        frailty: np.ndarray,
        z_activity: np.ndarray,
        *,
        shift: np.ndarray | None = None,
        **more: np.ndarray,
    ) -> Course:
        """The course at diagnosis: activity and untreated level from U, plus ``shift``."""
        level = p.activity_level + p.frailty_activity * frailty
        x = p.activity_diagnosis + p.frailty_diagnosis * frailty
        if shift is not None:
            level = level + shift
            x = x + shift
        n = frailty.size
        return cls(
            x=x + p.activity_diagnosis_sd * z_activity,
            level=level,
            step=np.zeros(n, dtype=np.int64),
            pga_prev=np.full(n, np.nan),
            started=np.zeros(n, dtype=bool),
            months_on=np.zeros(n),
            t=0,
            **more,
        )

    def take(self, rows: np.ndarray) -> Course:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return type(self)(**{k: v if k == "t" else v[rows] for k, v in values.items()})

    def copy(self) -> Course:
        return self.take(np.arange(self.x.size))


def treated_activity(c: Course, effect: float, ramp: float) -> np.ndarray:
    """Latent activity: ``x`` lowered by ``effect``, building up linearly over ``ramp`` months."""
    return c.x - effect * np.minimum(c.months_on / ramp, 1.0)


def physician_global(s: np.ndarray, noise: np.ndarray, sd: float) -> np.ndarray:
    """Physician global activity (0-10, one decimal)."""
    return np.clip(np.round(10.0 * s + sd * noise, 1), 0.0, 10.0)


def cmas(s: np.ndarray, noise: np.ndarray, sd: float) -> np.ndarray:
    """Childhood Myositis Assessment Scale (0-52, higher is better)."""
    return np.clip(np.round(52.0 * (1.0 - s) ** 0.6 + sd * noise), 0, 52)


def mmt8(s: np.ndarray, noise: np.ndarray, sd: float) -> np.ndarray:
    """Manual muscle testing of eight muscle groups (0-80, higher is better)."""
    return np.clip(np.round(80.0 * (1.0 - s) ** 0.4 + sd * noise), 0, 80)


def das_skin(s: np.ndarray, noise: np.ndarray, sd: float) -> np.ndarray:
    """Disease activity score, skin (0-9)."""
    return np.clip(np.round(9.0 * s**0.7 + sd * noise), 0, 9)


def das_muscle(s: np.ndarray, noise: np.ndarray, sd: float) -> np.ndarray:
    """Disease activity score, muscle (0-11)."""
    return np.clip(np.round(11.0 * s + sd * noise), 0, 11)


def creatine_kinase(
    s: np.ndarray, female: np.ndarray, noise: np.ndarray, sdlog: float
) -> np.ndarray:
    """Creatine kinase (U/L): log-normal around 80 in inactive disease, 15% higher in boys."""
    log_ck = np.log(80.0) + 3.5 * s * s + 0.15 * (1 - female) + sdlog * noise
    return np.clip(np.round(np.exp(log_ck)), 10, 50_000)


@dataclass(frozen=True)
class Visit:
    """What visit t measures and decides for every patient followed, whatever the treatment."""

    activity: np.ndarray
    s: np.ndarray  # expit(activity), the fraction of maximal activity
    pga: np.ndarray
    pga_prev: np.ndarray  # at the previous visit; at the first, this visit's
    flare: np.ndarray
    prednisone: np.ndarray


def visit(
    c: Course, p: CourseParameters, pga_noise: np.ndarray, effect: float, ramp: float
) -> Visit:
    """Visit ``c.t``: activity, physician global, flare and prednisone (``c.step`` moves on).

    ``effect`` and ``ramp`` are the treatment's, for ``treated_activity``.  A flare, a
    physician global of at least ``flare_pga`` from month ``flare_month`` on, sends the taper
    back to step ``flare_step``; otherwise it moves on by one step a month.
    """
    activity = treated_activity(c, effect, ramp)
    s = expit(activity)
    pga = physician_global(s, pga_noise, p.pga_sd)
    pga_prev = np.where(np.isnan(c.pga_prev), pga, c.pga_prev)
    taper = np.asarray(p.taper, dtype=np.float64)
    if c.t == 0:
        flare = np.zeros(pga.size, dtype=bool)
    else:
        c.step = c.step + 1
        if c.t >= p.flare_month:
            flare = pga >= p.flare_pga
        else:
            flare = np.zeros(pga.size, dtype=bool)
        c.step = np.where(flare, np.minimum(c.step, p.flare_step), c.step)
    prednisone = taper[np.minimum(c.step, taper.size - 1)]
    return Visit(activity, s, pga, pga_prev, flare, prednisone)


def lost(p: CourseParameters, pga: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Lost to follow-up after the visit: logistic in the physician global."""
    return u < expit(p.lost_intercept + p.lost_pga * pga)


def advance(
    c: Course,
    p: CourseParameters,
    v: Visit,
    on: np.ndarray,
    eps: np.ndarray,
    *,
    lowering: np.ndarray | None = None,
) -> None:
    """The month after visit ``c.t``: activity moves toward its target; on to the next visit.

    ``on`` marks the patients on treatment this month (counted in ``months_on`` from the next
    visit); ``lowering``, what else lowers this month's activity target.
    """
    target = c.level + p.activity_trend * c.t - p.prednisone_effect * v.prednisone
    if lowering is not None:
        target = target - lowering
    c.x = p.persistence * c.x + (1.0 - p.persistence) * target + p.activity_sd * eps
    c.months_on = c.months_on + on
    c.started = on
    c.pga_prev = v.pga
    c.t = c.t + 1


def person_months(
    pieces: dict[str, list[np.ndarray]],
    baseline: dict[str, np.ndarray],
    names: list[str],
    integer: set[str] | list[str],
) -> pd.DataFrame:
    """The long frame, sorted by id and month, from the rows gathered month by month.

    ``pieces`` holds each column's arrays month after month (``"id"`` among them),
    ``baseline`` the columns fixed per patient (indexed by id); ``names`` are the frame's
    columns in order, ``integer`` those stored as int64.
    """
    row_id = np.concatenate(pieces["id"])
    order = np.argsort(row_id, kind="stable")
    row_id = row_id[order]
    columns = {}
    for name in names:
        if name in baseline:
            columns[name] = baseline[name][row_id]
            continue
        values = np.concatenate(pieces[name])[order]
        columns[name] = values.astype(np.int64) if name in integer else values
    return pd.DataFrame(columns, copy=False)  # no consolidation copy
