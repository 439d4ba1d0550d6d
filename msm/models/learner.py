"""Any scikit-learn classifier as a treatment or censoring model.

The classifier is pooled over rows with time as a feature (a point treatment, ``time=None``,
has no time: the classifier sees only the formula's features).  With ``crossfit=K`` subjects are
split into K folds and each row's probability comes from a model fitted on the other folds, so
no row is scored by a model that saw it (or any other row of its subject).  Probabilities are
clipped to ``[clip, 1 - clip]`` and the number clipped is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm._formula import intercept_columns
from msm.inference import CoefficientResults
from msm.models._base import ModelInput
from msm.panel import DataError

#: what fits with coefficients have (``msm.inference.CoefficientResults``) and a learner has not
COEFFICIENT_ATTRIBUTES = frozenset(
    {"params", "cov", "variance", "sandwich_parts", "covariance_estimator"}
    | {name for name in dir(CoefficientResults) if not name.startswith("_")}
) - {"summary"}


@dataclass(frozen=True, eq=False)
class LearnerFit:
    """A fitted scikit-learn treatment model.

    It has no coefficients: asking for ``params``, ``bse``, ``conf_int`` or any other part of
    a coefficient table (``msm.inference.CoefficientResults``) is an AttributeError that says
    so.

    Attributes
    ----------
    estimators : list
        The fitted estimators: one, or one per cross-fitting fold.
    features : list of str
        The columns the classifier saw.
    n_folds : int
        Cross-fitting folds (1: fitted and scored on the same rows).
    clip : float
        Probabilities were clipped to ``[clip, 1 - clip]``.
    n_clipped : int
        Rows whose probability of the observed treatment was clipped.
    """

    name: str
    outcome: str
    formula: str | None
    estimators: list
    features: list[str]
    n_folds: int
    clip: float
    n_clipped: int
    n: int

    def summary(self) -> pd.DataFrame:
        """One row: the estimator, features, folds, clipping."""
        return pd.DataFrame(
            {
                "estimator": [type(self.estimators[0]).__name__],
                "features": [", ".join(self.features)],
                "n_folds": [self.n_folds],
                "clip": [self.clip],
                "n_clipped": [self.n_clipped],
                "n": [self.n],
            },
            index=[self.name],
        )

    def __getattr__(self, name: str):
        # only reached when the attribute does not exist: say why a learner has no coefficients
        if name in COEFFICIENT_ATTRIBUTES:
            raise AttributeError(
                f"LearnerFit has no {name!r}: a scikit-learn classifier has no coefficients, "
                "standard errors or intervals (see .estimators for the fitted classifiers, "
                ".summary() for what was fitted)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        folds = f"{self.n_folds}-fold cross-fitted" if self.n_folds > 1 else "not cross-fitted"
        return (
            f"LearnerFit({self.name}: {type(self.estimators[0]).__name__} for {self.outcome} "
            f"on {', '.join(self.features)}; {folds}; n={self.n}; "
            f"{self.n_clipped} probabilities clipped to [{self.clip}, {1 - self.clip}])"
        )


def _features(inp: ModelInput) -> tuple[np.ndarray, list[str]]:
    design = inp.design()
    intercept = intercept_columns(design)  # by position: a column called "Intercept" stays
    keep = [j for j in range(len(design.names)) if j not in intercept]
    X = design.matrix[:, keep]
    names = [design.names[j] for j in keep]
    # time is a feature of a time-varying treatment; a point treatment (time_name None) has
    # none, so the classifier sees only the user's features
    if inp.time_name is not None and inp.time_name not in inp.terms.columns:
        X = np.column_stack([X, inp.time.astype(np.float64)])
        names.append(inp.time_name)
    return X, names


def _aligned_proba(estimator, X: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba with one column per class code 0..n_classes-1 (absent classes: 0)."""
    raw = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    out = np.zeros((X.shape[0], n_classes))
    out[:, np.asarray(estimator.classes_, dtype=np.int64)] = raw
    return out


def fit_learner(inp: ModelInput, observed: np.ndarray) -> tuple[LearnerFit, np.ndarray]:
    """Fit the classifier in ``inp.options["estimator"]``; log P(A = observed), clipped."""
    from sklearn.base import clone

    template = inp.options["estimator"]
    crossfit = inp.options.get("crossfit") or 1
    clip = float(inp.options.get("clip", 1e-3))
    seed = inp.options.get("seed")
    X, names = _features(inp)
    y = inp.y.astype(np.int64)
    n_classes = int(y.max()) + 1 if inp.categories is None else len(inp.categories)
    n_classes = max(n_classes, 2)
    probabilities = np.empty((y.size, n_classes))
    estimators = []
    if crossfit > 1:
        subjects = np.unique(inp.subject)
        if subjects.size < crossfit:
            raise DataError(
                inp.outcome_name,
                f"{inp.role} model: crossfit={crossfit} folds but only {subjects.size} subjects",
            )
        rng = np.random.default_rng(seed)
        fold_of_subject = np.empty(subjects.size, dtype=np.int64)
        fold_of_subject[rng.permutation(subjects.size)] = np.arange(subjects.size) % crossfit
        fold = fold_of_subject[np.searchsorted(subjects, inp.subject)]
        for k in range(crossfit):
            held_out = fold == k
            estimator = clone(template).fit(X[~held_out], y[~held_out])
            probabilities[held_out] = _aligned_proba(estimator, X[held_out], n_classes)
            estimators.append(estimator)
    else:
        estimator = clone(template).fit(X, y)
        probabilities[:] = _aligned_proba(estimator, X, n_classes)
        estimators.append(estimator)
    p_observed = probabilities[np.arange(y.size), observed.astype(np.int64)]
    clipped = np.clip(p_observed, clip, 1.0 - clip)
    fit = LearnerFit(
        name=f"{inp.role} model",
        outcome=inp.outcome_name,
        formula=inp.formula,
        estimators=estimators,
        features=names,
        n_folds=crossfit,
        clip=clip,
        n_clipped=int(np.count_nonzero(clipped != p_observed)),
        n=y.size,
    )
    return fit, np.log(clipped)
