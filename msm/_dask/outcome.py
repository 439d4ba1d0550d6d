"""``glm`` on a dask DataFrame: Newton steps summed over partitions, cluster-robust variance.

Each partition builds its design, outcome and weights as the in-memory ``msm.glm`` does
(weights from a ``DaskWeights`` are recomputed per partition from the fitted models, so they
need no alignment).  The meat of the sandwich is the sum over partitions of ``U'U``, the
per-cluster score sums of ``msm._kernels.cluster_score_sums``: exact because every cluster
(subject) sits in one partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from msm import _kernels
from msm._dask.partitions import (
    Columns,
    ModelTask,
    arrange,
    check_columns,
    compute_each,
    fit_models,
    partitions_of,
    persist_each,
    require_dask,
)
from msm._dask.weights import DaskWeights, final_weights, partition_weights, shrink
from msm._formula import design_matrix, parse_terms
from msm._glm import uncentred_form
from msm.inference import CentredParts
from msm.models import registry
from msm.outcome.glm_model import (
    GLMResults,
    assemble_results,
    check_glm_arguments,
    check_outcome_varies,
    family_of,
    numeric_column,
    outcome_values,
)
from msm.panel import DataError, check_finite_by
from msm.weights import resolve_weights


@dataclass(frozen=True)
class GLMSpec:
    outcome: str
    rhs: str
    family: str
    cluster: str | None
    offset: str | None
    # None, a column name, or (PartitionSpec, fitted models) of a DaskWeights to recompute
    # the weights from
    weights: object
    from_rows: bool = False  # read a DaskWeights' persisted rows (aligned with the partitions)
    truncation: object = None  # the DaskWeights' truncation, with from_rows


MODEL = "outcome"


@dataclass(eq=False)
class PreparedGLM:
    """One partition's outcome model: its design, outcome, weights, offset and clusters."""

    columns: Columns
    codes: np.ndarray | None  # cluster number of each row (None without cluster=)
    n_clusters: int


def prepare_rows(part: pd.DataFrame, rows, spec: GLMSpec) -> PreparedGLM:
    """Check and build one partition as ``msm.glm`` does, once per call.

    ``rows`` is the partition's ``WeightRows`` when ``spec.from_rows``.
    """
    fam = family_of(spec.family)
    terms = parse_terms(spec.rhs, part, "outcome model")
    used = [spec.outcome, *terms.columns, *(c for c in (spec.offset, spec.cluster) if c)]
    check_finite_by(part, used, spec.cluster)
    if spec.from_rows:
        if len(rows.index) != len(part) or not rows.index.equals(part.index):
            raise DataError(  # pragma: no cover - aligned_with said the partitions match
                "weights", "the weights' partitions do not line up with the data's"
            )
        w = final_weights(rows, spec.truncation)
    elif isinstance(spec.weights, tuple):
        w = partition_weights(part, *spec.weights)["weight"].to_numpy()
    else:
        w = resolve_weights(part, spec.weights) if len(part) else np.empty(0)
    y = outcome_values(part, spec.outcome, fam, spec.cluster) if len(part) else np.empty(0)
    off = None if spec.offset is None else numeric_column(part, spec.offset, "offset")
    design = design_matrix(terms, part)
    columns = Columns(len(part))
    columns.add(MODEL, np.asarray(design.matrix), list(design.names), y, w=w, offset=off)
    codes, n_clusters = None, 0
    if spec.cluster is not None:
        codes, uniques = pd.factorize(part[spec.cluster], sort=False)
        codes, n_clusters = shrink(codes.astype(np.int64)), int(uniques.size)
    return PreparedGLM(columns, codes, n_clusters)


def _counts(prepared: PreparedGLM):
    if prepared.columns.n_rows == 0:
        return None
    y, w = prepared.columns.outcome(MODEL)
    positive = w > 0
    top = int(np.frexp(w[positive].max())[1]) if positive.any() else 0
    return {
        "n_obs": int(positive.sum()),
        "y0": int((y[positive] == 0.0).sum()),
        "y1": int((y[positive] == 1.0).sum()),
        "sum_w": float(w.sum()),
        # for msm.weights.weight_exponent: the largest weight's exponent and the sum of the
        # weights times 2**-top (no overflow)
        "top": top,
        "scaled_sum": float(np.ldexp(w[positive], -top).sum()),
    }


def weight_exponent_of(counts: list[dict]) -> int:
    """``msm.weights.weight_exponent`` of all the weights, from the partitions' counts."""
    counts = [c for c in counts if c["n_obs"] > 0]
    if not counts:
        return 0
    top = max(c["top"] for c in counts)
    total = sum(float(np.ldexp(c["scaled_sum"], c["top"] - top)) for c in counts)
    mantissa, exponent = np.frexp(total / sum(c["n_obs"] for c in counts))
    return top + int(exponent) - (1 if mantissa < np.sqrt(0.5) else 0)


def _meat(prepared: PreparedGLM, family: str, k: int, beta: np.ndarray, centring):
    """This partition's ``U'U`` at ``beta`` and its clusters with a positive-weight row.

    On the centred design when the fit was centred (``centring``; ``beta`` is then ignored).
    """
    built = prepared.columns.design(MODEL, k)
    if built is None:
        return None
    X, y, w, off = built
    if centring is not None:
        X, beta = centring.design(X), centring.beta
    mu = np.empty(X.shape[0])
    _kernels.glm_irls_pass(X, y, w, off, beta, family_of(family).code, mu)
    r = w * (y - mu)
    if prepared.codes is None:
        return _kernels.weighted_crossprod(X, r * r), int((w > 0).sum())
    codes = prepared.codes.astype(np.int64)
    U = _kernels.cluster_score_sums(X, r, codes, prepared.n_clusters)
    n_clusters = int(np.count_nonzero(np.bincount(codes[w > 0], minlength=prepared.n_clusters)))
    return U.T @ U, n_clusters


def _prepare_pair(pair, spec: GLMSpec) -> PreparedGLM:
    part, rows = pair
    return prepare_rows(part, rows, spec)


def glm(
    formula: str,
    data,
    *,
    weights=None,
    cluster: str | None = None,
    family: str = "gaussian",
    variance="robust",
    offset: str | None = None,
    max_iter: int = 50,
    tol: float = 1e-10,
    convergence: str = "full",
    link: str | None = None,
) -> GLMResults:
    """``msm.glm`` for a dask DataFrame; the same ``GLMResults`` (without row-level arrays).

    ``weights`` is a ``DaskWeights`` from ``msm.iptw`` on a dask frame, a column name, or
    None.  With ``cluster=``, each cluster must be one subject of the layout: rows are
    arranged so each cluster sits in one partition (shuffling when needed).  ``score_rows()``
    and ``fitted_values`` need the rows in memory and are not available; nor are
    ``variance="stacked"`` and a non-canonical ``link``.
    """
    options = check_glm_arguments(formula, family, variance, cluster, offset, max_iter, tol,
                                  convergence, link)  # fmt: skip
    registry.require_front_end(  # from the capability table
        "dask",
        convergence_r=options.convergence == "r",
        variance_stacked=options.estimator.name == "stacked",
        link=options.family.link_code is not None,
    )
    require_dask()
    fam, outcome, rhs = options.family, options.outcome, options.rhs
    check_columns(data, [outcome], "outcome")
    check_columns(data, [cluster, offset], "cluster/offset")
    terms = parse_terms(rhs, data._meta, "outcome model")
    columns = [outcome, *terms.columns, *(c for c in (offset, cluster) if c is not None)]
    layout_id = cluster
    if isinstance(weights, DaskWeights):
        wid = weights.spec.id
        if cluster is not None and cluster != wid:
            raise DataError(
                cluster,
                f"with weights from msm.iptw on a dask DataFrame, cluster must be the weights' "
                f"id {wid!r} (or None): each cluster must sit in one partition with its "
                "subject's rows",
            )
        layout_id = wid
        if not weights.aligned_with(data):  # the weights are recomputed from their columns
            columns += list(weights.spec.columns)
    elif isinstance(weights, str):
        check_columns(data, [weights], "weights")
        columns.append(weights)
    elif weights is not None:
        raise TypeError(
            "weights for a dask DataFrame must be DaskWeights (msm.iptw on the dask frame), a "
            f"column name, or None; got {type(weights).__name__}"
        )
    columns = list(dict.fromkeys(columns))
    rows = None
    truncation = None
    if isinstance(weights, DaskWeights) and weights.aligned_with(data):
        # the same partitions as the weights: read the weights kept by iptw
        frame = data[columns]
        rows, truncation = weights.rows, weights.spec.truncation
        weights = None
    elif layout_id is not None:
        frame = arrange(data, layout_id, columns).frame
    else:
        frame = data[columns]
    if isinstance(weights, DaskWeights):  # plain values only: no dask collection inside
        weights = (weights.spec, weights.models)
    spec = GLMSpec(outcome, rhs, fam.name, cluster, offset, weights, rows is not None, truncation)
    # every partition checked and built once, kept on the workers
    parts = partitions_of(frame)
    prepared = persist_each(_prepare_pair, [(p, None if rows is None else rows[i])
                                            for i, p in enumerate(parts)], spec)  # fmt: skip
    return fit_prepared(prepared, options, cluster)


def fit_prepared(
    prepared: list,
    options,
    cluster: str | None,
    order: list[int] | None = None,
    terms=None,
) -> GLMResults:
    """The outcome GLM on prepared partitions (``prepare_rows``, persisted): fitted from the
    partitions' sums, its sandwich from their ``U'U``.

    ``options``: ``msm.outcome.glm_model.check_glm_arguments``'s; ``order``: the partitions
    in the in-memory row order (``msm._dask.partitions.fit_models``); ``terms``: the parsed
    right-hand side, kept on the result (``GLMResults.terms``).
    """
    fam, estimator, outcome, rhs = options.family, options.estimator, options.outcome, options.rhs
    max_iter, tol = options.max_iter, options.tol
    counts = [c for c in compute_each(_counts, prepared) if c is not None]
    n_obs = sum(c["n_obs"] for c in counts)
    if n_obs == 0:
        raise DataError("weights", "every weight is 0: no rows to fit the outcome model on")
    y0, y1 = sum(c["y0"] for c in counts), sum(c["y1"] for c in counts)
    check_outcome_varies(outcome, fam, n_obs, y0, y1)  # the in-memory rule, from counts

    # as in memory: fit on the weights times a power of two that brings their mean near 1
    k = weight_exponent_of(counts)
    model_name = f"outcome model {outcome} ~ {rhs}"
    task = ModelTask(
        MODEL, fam.code, f"{model_name} ({fam.name})", outcome, max_iter, tol, k,
        require_variance=True,
    )  # fmt: skip
    fit = fit_models(prepared, [task], order=order)[MODEL]
    beta, names = fit.beta, fit.names
    # deviance and Pearson chi2 on the scale of the weights given (as in memory)
    deviance = float(np.ldexp(fit.last[0], k))
    pearson = float(np.ldexp(fit.last[1], k))
    meats = compute_each(_meat, prepared, fam.name, k, beta, fit.centring)
    meats = [meats[i] for i in (range(len(meats)) if order is None else order) if meats[i]]
    meat = sum(m[0] for m in meats)
    n_clusters = sum(m[1] for m in meats)
    n_rows = fit.n
    centred = None
    if fit.centring is not None:  # the sandwich on the centred design, as in memory
        A = fit.centring.transform()
        centred = CentredParts(transform=A, information=fit.centring.information, meat=meat)
        meat = uncentred_form(A, meat)
    return assemble_results(
        beta=beta,
        names=list(names),
        information=fit.information,
        meat=meat,
        fam=fam,
        estimator=estimator,
        rhs=rhs,
        outcome=outcome,
        n_obs=n_obs,
        n_rows=n_rows,
        n_clusters=n_clusters,
        cluster=cluster,
        sum_weights=float(sum(c["sum_w"] for c in counts)),
        deviance=deviance,
        pearson=pearson,
        converged=fit.converged,
        n_iter=fit.n_iter,
        weight_scale=float(np.ldexp(1.0, -k)),
        centred=centred,
        terms=terms,
    )
