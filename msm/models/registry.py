"""What each treatment model kind can do: one record per (family, model), and the checks on it.

Every capability that depends on the kind of model lives in ``KINDS`` and nowhere else: the
fitter, whether it can weight an absorbing treatment, whether it needs ``start=`` or a
numerator, which model serves the censoring indicator, whether ``variance="stacked"`` and the
Dask front end support it, and how the treatment column is read (``FAMILIES``).  The checks
(``check_iptw_options``, ``require``) and the docs' support table (``support_table``, written
into docs/weights.md by ``python -m tests.test_registry``, which also checks it) come from
it, so a new model kind is a new record here and a fitter in its own module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from msm.models.categorical import fit_multinomial, fit_ordinal
from msm.models.cox import fit_cox_model
from msm.models.gaussian import fit_gaussian
from msm.models.learner import fit_learner
from msm.models.logit import fit_logit_model


@dataclass(frozen=True)
class Family:
    """A kind of treatment: how its column is read and which model it gets by default."""

    name: str
    encoding: str  # how the treatment column is read (docs and messages)
    default_model: str
    learners: bool  # a scikit-learn classifier can model it


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("binomial", "0/1 (numeric or bool)", "logit", learners=True),
        Family("multinomial", "levels (any labels)", "logit", learners=True),
        Family("ordinal", "ordered levels (numbers or an ordered Categorical)", "logit", False),
        Family("gaussian", "a dose (numeric)", "linear", learners=False),
    )
}
DEFAULT_MODEL = {name: family.default_model for name, family in FAMILIES.items()}


@dataclass(frozen=True)
class ModelKind:
    """One way of modelling treatment: its fitter and what it can do.

    Attributes
    ----------
    family, name : str
        The ``family=`` and ``model=`` it serves (``name`` is ``"classifier"`` for a
        scikit-learn estimator).
    label : str
        How messages and reprs call it.
    fit : callable
        ``fit(inp: ModelInput, observed) -> (fitted model, log-probability of observed)``.
    absorbing : bool
        Can weight an absorbing treatment (fitted on the risk-set rows).
    needs_start : bool
        Needs ``start=`` (counting-process rows) and ``absorbing=True``.
    needs_numerator : bool
        Unstabilized weights have no scale (densities), so ``numerator=`` is required.
    models_binary : bool
        Can model the 0/1 censoring indicator itself; otherwise the censoring models are
        binomial logit.
    stacked_variance : bool
        Its score and information enter ``msm.glm(..., variance="stacked")``.
    dask : bool
        The Dask front end fits it (distributed Newton steps).
    factor : str
        A row's factor (docs).
    r_ipw : str
        The R ``ipw`` equivalent (docs), or "" when there is none.
    """

    family: str
    name: str
    label: str
    fit: Callable
    absorbing: bool
    needs_start: bool = False
    needs_numerator: bool = False
    models_binary: bool = False
    stacked_variance: bool = False
    dask: bool = False
    factor: str = ""
    r_ipw: str = ""


def _kinds(*kinds: ModelKind) -> dict[tuple[str, str], ModelKind]:
    return {(kind.family, kind.name): kind for kind in kinds}


KINDS: dict[tuple[str, str], ModelKind] = _kinds(
    ModelKind(
        "binomial", "logit", "logit", fit_logit_model, absorbing=True, models_binary=True,
        stacked_variance=True, dask=True, factor="*p* or 1 − *p*", r_ipw='family="binomial"',
    ),
    ModelKind(
        "binomial", "cox", "Cox", fit_cox_model, absorbing=True, needs_start=True,
        models_binary=True, factor="exp(−*h*) or 1 − exp(−*h*)", r_ipw='family="survival"',
    ),
    ModelKind(
        "multinomial", "logit", "multinomial logit", fit_multinomial, absorbing=False,
        factor="P(observed level)", r_ipw='family="multinomial"',
    ),
    ModelKind(
        "ordinal", "logit", "ordinal logit", functools.partial(fit_ordinal, link="logit"),
        absorbing=False, factor="P(observed level)", r_ipw='family="ordinal"',
    ),
    ModelKind(
        "ordinal", "probit", "ordinal probit", functools.partial(fit_ordinal, link="probit"),
        absorbing=False, factor="P(observed level)",
    ),
    ModelKind(
        "gaussian", "linear", "normal linear", fit_gaussian, absorbing=False,
        needs_numerator=True, factor="normal density, sd of residuals",
        r_ipw='family="gaussian"',
    ),
)  # fmt: skip


def learner_kind(family: str, model) -> ModelKind:
    """The record of a scikit-learn classifier modelling ``family``."""
    return ModelKind(
        family,
        "classifier",
        f"{type(model).__name__} (scikit-learn)",
        fit_learner,
        absorbing=True,
        models_binary=family == "binomial",
        factor="P(observed level), clipped",
    )


CAPABILITIES = {  # attribute -> what it enables, in words (messages)
    "absorbing": "absorbing=True",
    "stacked_variance": "variance='stacked'",
    "dask": "a Dask DataFrame",
}


def is_learner(model) -> bool:
    """A scikit-learn style classifier: has fit and predict_proba."""
    return hasattr(model, "predict_proba") and hasattr(model, "fit")


def resolve(family: str, model) -> ModelKind:
    """The ModelKind for ``family`` and ``model`` (a name, None, or a classifier)."""
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(f"family must be one of {tuple(FAMILIES)}, got {family!r}")
    if isinstance(model, type):
        raise TypeError(
            f"model={model.__name__} is a class; pass an instance, e.g. model={model.__name__}()"
        )
    if is_learner(model):
        if not FAMILIES[family].learners:
            learned = tuple(name for name, f in FAMILIES.items() if f.learners)
            raise ValueError(
                f"a scikit-learn classifier models family in {learned}; got family={family!r}"
            )
        return learner_kind(family, model)
    name = DEFAULT_MODEL[family] if model is None else model
    if not isinstance(name, str):
        raise TypeError(
            "model must be a name (e.g. 'logit') or a scikit-learn classifier with fit and "
            f"predict_proba, got {type(name).__name__}"
        )
    kind = KINDS.get((family, name))
    if kind is None:
        valid = [m for f, m in KINDS if f == family]
        raise ValueError(
            f"model={name!r} does not serve family={family!r}; choose one of {valid} or a "
            "scikit-learn classifier with predict_proba"
        )
    return kind


def censoring_kind(kind: ModelKind) -> ModelKind:
    """The model of the 0/1 censoring indicator: the treatment's kind if it models 0/1."""
    return kind if kind.models_binary else KINDS[("binomial", "logit")]


def supported_by(capability: str) -> str:
    """The kinds that have ``capability``, in words: ``"family='binomial' with model='logit'"``."""
    names = [
        f"family={kind.family!r} with model={kind.name!r}"
        for kind in KINDS.values()
        if getattr(kind, capability)
    ]
    return " or ".join(names)


def require(kind: ModelKind, capability: str) -> None:
    """NotImplementedError when ``kind`` lacks ``capability`` (e.g. ``"dask"``), naming who has it.

    Examples
    --------
    >>> require(resolve("gaussian", None), "dask")
    Traceback (most recent call last):
    ...
    NotImplementedError: a Dask DataFrame supports family='binomial' with model='logit' only; ...
    """
    if not getattr(kind, capability):
        raise NotImplementedError(
            f"{CAPABILITIES[capability]} supports {supported_by(capability)} only; got "
            f"family={kind.family!r} with model={kind.name!r} ({kind.label})"
        )


@dataclass(frozen=True)
class FrontEnd:
    """What a front end other than pandas computes: the model kinds with its capability
    (``capability``, an attribute of ``ModelKind``) and every option except ``unsupported``
    (keyword -> (the option in words, what to do instead))."""

    name: str
    capability: str
    unsupported: dict[str, tuple[str, str]]


FRONT_ENDS: dict[str, FrontEnd] = {
    "dask": FrontEnd(
        "a Dask DataFrame",
        "dask",
        {
            "point_treatment": (
                "point treatment",
                "time=None (one row per subject) fits in memory: use pandas",
            ),
            "convergence_r": (
                "convergence='r'",
                "R's IRLS path replays glm.fit on one frame: use pandas",
            ),
            "variance_stacked": (
                "variance='stacked'",
                "the stacked sandwich needs every weight model's score rows in memory: use "
                "pandas, or msm.bootstrap",
            ),
            "link": (
                "a non-canonical link (msm.glm's link='identity', 'log', 'probit', 'cloglog')",
                "the partitioned Newton pass fits canonical links only: use pandas (the outcome "
                "model's rows usually fit in memory: data.compute())",
            ),
            "bound": (
                "bound= (bounded propensities)",
                "not written for partitions yet: use pandas",
            ),
            "per_time": (
                "per-time models (a mapping of time to formula, or by_time=True)",
                "each time's model is fitted on its rows in memory: use pandas",
            ),
            "trial_bootstrap": (
                "the subject bootstrap of target trial emulations (trial_sequence's "
                "risk_curves(ci='bootstrap'), clone_censor's risk_curves(ci=True))",
                "each replicate re-emulates the trials of resampled subjects in memory: use "
                "ci='simulation' (trial_sequence) or ci=False (clone_censor), or pandas when "
                "the panel fits in memory",
            ),
        },
    ),
}


def require_front_end(front_end: str, kind: ModelKind | None = None, **options: bool) -> None:
    """NotImplementedError when ``front_end`` cannot compute what is asked, from ``FRONT_ENDS``.

    ``kind``: the treatment model kind (its capability is checked); ``options``: whether each
    option of ``FrontEnd.unsupported`` is in use, by its keyword (``point_treatment=True``,
    ``convergence_r=True``, ``variance_stacked=True``, ``trial_bootstrap=True``,
    ``per_time=True``).

    Examples
    --------
    >>> require_front_end("dask", resolve("binomial", None), convergence_r=True)
    Traceback (most recent call last):
    ...
    NotImplementedError: a Dask DataFrame does not support convergence='r': R's IRLS path ...
    """
    end = FRONT_ENDS[front_end]
    unknown = set(options) - set(end.unsupported)
    if unknown:
        raise TypeError(f"require_front_end: unknown option(s) {sorted(unknown)}")
    if kind is not None:
        require(kind, end.capability)
    for keyword, (option, why) in end.unsupported.items():
        if options.get(keyword):
            raise NotImplementedError(f"{end.name} does not support {option}: {why}")


def check_iptw_options(kind: ModelKind, *, absorbing: bool, numerator, start, model) -> None:
    """The ``iptw`` options that depend on the model kind (ValueError before any work)."""
    if absorbing and not kind.absorbing:
        raise ValueError(
            f"absorbing=True applies to binary treatments; {kind.label} models "
            f"(family={kind.family!r}) weight every row"
        )
    if kind.needs_numerator and numerator is None:
        raise ValueError(
            f"family={kind.family!r} needs a numerator (e.g. numerator='1'): unstabilized "
            "density weights have no scale"
        )
    if kind.needs_start and (start is None or not absorbing):
        raise ValueError(
            f"model={model!r} models time to treatment initiation: it needs start= (the "
            "interval start column) and absorbing=True"
        )


def _mark(value: bool) -> str:
    return "yes" if value else "—"


def support_table() -> str:
    """The docs' table of model kinds and what each supports (markdown), from ``KINDS``.

    Examples
    --------
    >>> support_table().splitlines()[0].split(" | ")[:3]
    ['| treatment (`family=`)', '`model=`', 'factor of a row']
    """
    header = (
        "| treatment (`family=`) | `model=` | factor of a row | absorbing | needs | "
        'censoring models | `variance="stacked"` | Dask | R ipw |'
    )
    lines = [header, "|" + "---|" * 9]
    rows = list(KINDS.values())
    for family in FAMILIES.values():
        if family.learners:
            rows.append(learner_kind(family.name, _Classifier()))
    rows.sort(key=lambda k: list(FAMILIES).index(k.family))
    for kind in rows:
        needs = [
            text
            for flag, text in ((kind.needs_start, "`start=`"), (kind.needs_numerator, "numerator"))
            if flag
        ]
        model = "a scikit-learn classifier" if kind.name == "classifier" else f'`"{kind.name}"`'
        if kind.name == FAMILIES[kind.family].default_model:
            model += " (default)"
        censoring = censoring_kind(kind)
        lines.append(
            f'| `"{kind.family}"`: {FAMILIES[kind.family].encoding} | {model} | {kind.factor} '
            f"| {_mark(kind.absorbing)} | {', '.join(needs) or '—'} | "
            f"{'the same' if censoring is kind else censoring.label} | "
            f"{_mark(kind.stacked_variance)} | {_mark(kind.dask)} | "
            f"{f'`{kind.r_ipw}`' if kind.r_ipw else '—'} |"
        )
    for end in FRONT_ENDS.values():
        lines.append("")
        lines.append(
            f"{end.name[0].upper()}{end.name[1:]} fits the kinds marked in its column, with "
            "every option except: "
            + "; ".join(f"{option} ({why})" for option, why in end.unsupported.values())
            + "."
        )
    return "\n".join(lines)


class _Classifier:
    """Stands for any scikit-learn classifier in the support table."""

    def fit(self):  # pragma: no cover - never called
        raise NotImplementedError

    predict_proba = fit
