"""Which model kinds serve which treatment families: one record per (family, model).

Checks and messages read this table, so a new model kind is a new record.
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

FAMILIES = ("binomial", "multinomial", "ordinal", "gaussian")
DEFAULT_MODEL = {
    "binomial": "logit",
    "multinomial": "logit",
    "ordinal": "logit",
    "gaussian": "linear",
}


@dataclass(frozen=True)
class ModelKind:
    """One way of modelling treatment: its label, fitter and abilities."""

    label: str
    fit: Callable
    absorbing: bool  # can weight an absorbing treatment (models fitted on risk-set rows)
    needs_start: bool = False


KINDS: dict[tuple[str, str], ModelKind] = {
    ("binomial", "logit"): ModelKind("logit", fit_logit_model, absorbing=True),
    ("binomial", "cox"): ModelKind("Cox", fit_cox_model, absorbing=True, needs_start=True),
    ("multinomial", "logit"): ModelKind("multinomial logit", fit_multinomial, absorbing=False),
    ("ordinal", "logit"): ModelKind(
        "ordinal logit", functools.partial(fit_ordinal, link="logit"), absorbing=False
    ),
    ("ordinal", "probit"): ModelKind(
        "ordinal probit", functools.partial(fit_ordinal, link="probit"), absorbing=False
    ),
    ("gaussian", "linear"): ModelKind("normal linear", fit_gaussian, absorbing=False),
}

LEARNER_FAMILIES = ("binomial", "multinomial")


def is_learner(model) -> bool:
    """A scikit-learn style classifier: has fit and predict_proba."""
    return hasattr(model, "predict_proba") and hasattr(model, "fit")


def resolve(family: str, model) -> ModelKind:
    """The ModelKind for ``family`` and ``model`` (a name, None, or a classifier)."""
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if isinstance(model, type):
        raise TypeError(
            f"model={model.__name__} is a class; pass an instance, e.g. model={model.__name__}()"
        )
    if is_learner(model):
        if family not in LEARNER_FAMILIES:
            raise ValueError(
                f"a scikit-learn classifier models family in {LEARNER_FAMILIES}; "
                f"got family={family!r}"
            )
        return ModelKind(f"{type(model).__name__} (scikit-learn)", fit_learner, absorbing=True)
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
