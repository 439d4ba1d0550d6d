"""Inference: covariance estimators from sandwich pieces, and the cluster bootstrap.

``covariance``: the sandwich pieces a fitted model hands over (:class:`SandwichParts`) and the
estimators chosen by ``variance=`` (robust, CR1, CR1S, model-based, stacked, bootstrap).
``results``: :class:`CoefficientResults`, the coefficient table (``bse``, ``pvalues``,
``conf_int()``, ``summary()``, ``with_variance()``) every fitted model inherits.
``resampling``: :func:`bootstrap`, which resamples whole subjects and re-runs an analysis.
"""

from msm.inference.covariance import (
    COVARIANCE_ESTIMATORS,
    CR1,
    CR1S,
    Bootstrap,
    CentredParts,
    CovarianceEstimator,
    GLMMeat,
    ModelBased,
    Robust,
    SandwichParts,
    Stacked,
    bread,
    check_alpha,
    cluster_scores,
    covariance_estimator,
    glm_meat,
    meat,
    sandwich,
    singular_information,
)
from msm.inference.resampling import (
    FAILING_WARNINGS,
    BootstrapResults,
    BootstrapWarning,
    bootstrap,
)
from msm.inference.results import (
    CoefficientResults,
    ModelBasedResults,
    models_table,
    standard_errors,
)

__all__ = [
    "COVARIANCE_ESTIMATORS",
    "CR1",
    "CR1S",
    "FAILING_WARNINGS",
    "Bootstrap",
    "BootstrapResults",
    "BootstrapWarning",
    "CentredParts",
    "CoefficientResults",
    "CovarianceEstimator",
    "GLMMeat",
    "ModelBased",
    "ModelBasedResults",
    "Robust",
    "SandwichParts",
    "Stacked",
    "bootstrap",
    "bread",
    "check_alpha",
    "cluster_scores",
    "covariance_estimator",
    "glm_meat",
    "meat",
    "sandwich",
    "singular_information",
    "models_table",
    "standard_errors",
]
