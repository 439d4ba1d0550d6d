"""Stacked estimating equations: a sandwich variance that accounts for estimated weights.

The treatment and censoring models' parameters ``alpha_m`` and the outcome model's ``beta``
solve one stacked system ``sum_i Psi_i(alpha, beta) = 0`` over subjects i:

* ``psi_m = sum_{rows r of i fitted by m} x_mr (y_mr - p_mr)`` for each logistic model m
  (``y`` the treatment, or the censoring indicator; a model per time is one more model, on
  the rows of its time);
* ``psi_beta = sum_{outcome rows r of i} w_r(alpha) z_r (y_r - mu_r) h_r``, with
  ``h_r = mu'(eta_r) / V(mu_r)`` (1 for a canonical link).

The weight ``w_r = exp(sum_m s_m sum_{k <= r} log f_mk)`` (``s_m = +1`` for numerators,
``-1`` for denominators; ``f_mk`` the probability of what happened at row k, ``1 - p`` for
censoring models) depends on ``alpha``: ``d w_r / d alpha_m = s_m w_r G_mr`` with
``G_mr = sum_{k <= r} x_mk (o_mk - p_mk)`` the within-subject running sum (``o`` = 1 if
treatment started at k, 0 otherwise, and 0 for censoring models).  The Jacobian
``A = -d Psi / d theta'`` is block lower-triangular:

* ``A_mm`` = each model's information ``X_m' diag(p (1 - p)) X_m``;
* ``A_beta,m = -s_m sum_r z_r w_r (y_r - mu_r) h_r G_mr'`` (``h_r`` and ``mu_r`` do not
  depend on ``alpha``);
* ``A_beta,beta`` = the weighted outcome model's information (for a non-canonical link the
  expected information, as ``WeightIt::glm_weightit`` takes it: the observed one differs by
  ``sum_r w_r (y_r - mu_r) dh_r/deta z_r z_r'``, which is 0 for a saturated model);

the meat is ``B = sum_i Psi_i Psi_i'`` and the covariance ``A^-1 B A^-T`` (Lunceford and
Davidian, Stat Med 2004; Williamson, Forbes and White, Stat Med 2014, for the point case).

A model whose design has a covariate far from 0 relative to its spread (``l + 1e5``) enters
on its centred design (``msm._glm.accuracy_centre``; the outcome model on the design it was
fitted on): the system is then that of ``gamma`` with ``theta = T gamma``, ``T`` block
diagonal, and the covariance is mapped back as ``T (A^-1 B A^-T) T'``, keeping the digits
that the uncentred ``A`` would lose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.special

from msm import _kernels
from msm._formula import design_rows, model_frame, rebuild
from msm._glm import accuracy_centre, centre_design, centring_transform, map_back
from msm.models import registry
from msm.panel import DataError
from msm.weights import Weights

_TREATMENT_KEYS = ("denominator", "numerator")
_SIGN = {"denominator": -1.0, "numerator": 1.0, "censor_denominator": -1.0, "censor_numerator": 1.0}


@dataclass(frozen=True, eq=False)
class StackedParts:
    """The stacked system at the estimate: names, Jacobian ``A``, meat ``B``.

    The outcome model's parameters are the last ``n_outcome`` entries of ``names``.  When
    ``transform`` is given, ``information`` and ``meat`` are those of ``gamma`` with
    ``theta = transform @ gamma`` (centred designs, for accuracy) and ``cov`` maps back.
    """

    names: list[str]
    information: np.ndarray
    meat: np.ndarray
    n_outcome: int
    n_subjects: int
    transform: np.ndarray | None = None

    def cov(self) -> np.ndarray:
        """The full sandwich ``A^-1 B A^-T`` (all models' parameters)."""
        inverse = np.linalg.inv(self.information)
        cov = inverse @ self.meat @ inverse.T
        cov = (cov + cov.T) / 2.0
        return cov if self.transform is None else map_back(self.transform, cov)

    def outcome_cov(self) -> np.ndarray:
        """The outcome model's block of the sandwich."""
        q = self.n_outcome
        return self.cov()[-q:, -q:]


def stacked_parts(
    weights: Weights,
    Z: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    mu: np.ndarray,
    information: np.ndarray,
    outcome_index,
    outcome_names: list[str],
    *,
    transform: np.ndarray | None = None,
    score_factor: np.ndarray | None = None,
) -> StackedParts:
    """Stack the weight models of ``weights`` with a weighted GLM fitted on ``outcome_index``.

    ``Z, y, w, mu`` are the outcome model's design, outcome, weights and fitted means on its
    rows (labelled ``outcome_index``, a subset of the rows ``weights`` was estimated on) and
    ``information`` its weighted information at the estimate.  ``transform``: ``Z`` and
    ``information`` are of a centred design whose coefficients map to the outcome model's
    by ``transform`` (``msm._glm.centring_transform``); None when not centred.
    ``score_factor``: a non-canonical link's ``mu' / V(mu)`` on the outcome rows (None: 1).
    """
    _check_supported(weights)
    panel = weights.panel
    data = weights.data
    caller_position = outcome_rows_in(data.index, outcome_index)
    sorted_position = np.empty(panel.n_rows, dtype=np.int64)
    sorted_position[panel.order] = np.arange(panel.n_rows)
    outcome_rows = sorted_position[caller_position]
    subject = panel.subject_of_row()
    n_subjects = panel.n_subjects

    residual = w * (y - mu)
    if score_factor is not None:
        residual = residual * score_factor
    blocks_info, blocks_cross, blocks_scores, names, transforms = [], [], [], [], []
    for key, fit in weights.models.items():
        part = weights.spec.model(key).part  # "denominator[time=2]": one time's denominator
        rows = weights.fitted_rows[key]
        spec = weights.design_specs.get(key)
        if spec is None:  # a direct design: gathered from the columns
            X = design_rows(weights.terms[key], data, panel.order[rows]).matrix
        else:
            X = rebuild(
                weights.terms[key], spec, model_frame(data, weights.terms[key], panel.order[rows])
            )
        if fit.centring is not None:  # the model's equations on the design it was fitted on
            X = fit.centring.design(X)
            p = scipy.special.expit(X @ fit.centring.beta)
            transforms.append(fit.centring.transform())
        else:
            p = scipy.special.expit(X @ fit.params.to_numpy())
            centring = accuracy_centre(X, np.ones(X.shape[0]))
            if centring is None:
                transforms.append(None)
            else:  # the same equations on a centred design, for accuracy
                X = centre_design(X, *centring)
                transforms.append(centring_transform(*centring))
        outcome_column = fit.outcome
        observed_outcome = panel.sort(data[outcome_column].to_numpy())[rows].astype(np.float64)
        # the model's own score uses what it modelled; the weight's derivative uses what
        # the factor is the probability of (treatment received; "uncensored" = 0)
        factor_outcome = observed_outcome if part in _TREATMENT_KEYS else np.zeros(p.size)
        blocks_info.append(_kernels.weighted_crossprod(X, p * (1.0 - p)))
        blocks_scores.append(
            _subject_sums(X * (observed_outcome - p)[:, None], subject[rows], n_subjects)
        )
        running = np.zeros((panel.n_rows, X.shape[1]))
        running[rows] = X * (factor_outcome - p)[:, None]
        for j in range(running.shape[1]):
            running[:, j] = _kernels.cumulative_log_weights(running[:, j], panel.starts)
        blocks_cross.append(-_SIGN[part] * (Z * residual[:, None]).T @ running[outcome_rows])
        names.extend(f"{key}:{name}" for name in fit.params.index)

    sizes = [b.shape[0] for b in blocks_info]
    q = Z.shape[1]
    total = sum(sizes) + q
    A = np.zeros((total, total))
    offset = 0
    for info, cross, size in zip(blocks_info, blocks_cross, sizes):
        A[offset : offset + size, offset : offset + size] = info
        A[total - q :, offset : offset + size] = cross
        offset += size
    A[total - q :, total - q :] = information
    outcome_scores = _subject_sums(Z * residual[:, None], subject[outcome_rows], n_subjects)
    U = np.hstack([*blocks_scores, outcome_scores])
    T = None
    if transform is not None or any(t is not None for t in transforms):
        T = np.eye(total)
        offset = 0
        for t, size in zip([*transforms, transform], [*sizes, q]):
            if t is not None:
                T[offset : offset + size, offset : offset + size] = t
            offset += size
    return StackedParts(
        names=[*names, *outcome_names],
        information=A,
        meat=U.T @ U,
        n_outcome=q,
        n_subjects=n_subjects,
        transform=T,
    )


def outcome_rows_in(weights_index, outcome_index) -> np.ndarray:
    """Position in the weights' frame of each outcome row, matched by a unique index label.

    Both indexes must be unique (checked first: pandas cannot match duplicated labels) and
    every outcome row's label must be a row the weights were estimated on; DataError
    otherwise.
    """
    for side, index in (
        ("the data the weights were estimated on", weights_index),
        ("the outcome model's data", outcome_index),
    ):
        if not index.is_unique:
            raise DataError(
                None,
                "variance='stacked' matches the outcome model's rows to the rows the weights "
                f"were estimated on by index label, but the index of {side} has duplicated "
                "labels; give the frame a unique index (e.g. data.reset_index(drop=True)) "
                "before msm.iptw and msm.glm",
                list(pd.unique(index[index.duplicated()])),
                what="duplicated labels",
            )
    if outcome_index.equals(weights_index):
        return np.arange(len(outcome_index), dtype=np.int64)
    positions = weights_index.get_indexer(outcome_index)
    missing = positions < 0
    if missing.any():
        raise DataError(
            None,
            "variance='stacked' needs the outcome model's rows to be rows the weights were "
            "estimated on (matched by index label); these are not",
            list(outcome_index[missing]),
            what="rows",
        )
    return positions.astype(np.int64)


def _subject_sums(rows: np.ndarray, subject: np.ndarray, n_subjects: int) -> np.ndarray:
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    return _kernels.cluster_score_sums(rows, np.ones(rows.shape[0]), subject, n_subjects)


def _check_supported(weights: Weights) -> None:
    unsupported = {
        key: weights.spec.model(key).kind
        for key in weights.models
        if not weights.spec.model(key).kind.stacked_variance
    }
    if unsupported:
        raise NotImplementedError(
            f"variance='stacked' supports {registry.supported_by('stacked_variance')} "
            "treatment and censoring models only; these are not: "
            + ", ".join(f"{key} ({kind.label})" for key, kind in unsupported.items())
        )
    if weights.spec.reweights:
        raise NotImplementedError(
            "variance='stacked' is written for ATE weights (the inverse probability of the "
            "treatment received); these are "
            + (
                "bounded"
                if weights.spec.bound is not None
                else "for a stochastic plan"
                if weights.spec.policy is not None
                else f"{weights.spec.estimand} weights"
            )
            + ": use variance='robust' or msm.bootstrap"
        )
    if weights.settings.get("truncate") is not None:
        raise ValueError(
            "variance='stacked' needs untruncated weights: truncation makes the weights a "
            "non-smooth function of the models' parameters; use the bootstrap instead"
        )
    if weights.data is None:
        raise ValueError("these Weights keep no reference to their data; recompute them")
