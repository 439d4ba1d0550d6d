"""Dask DataFrames: the same weights, outcome models and balance, one partition at a time.

Private.  ``msm.iptw``, ``msm.glm`` and ``msm.balance`` hand a dask DataFrame to the functions
here.  Dask itself is imported only then (``pip install "msm[dask]"``), so ``import msm``
works without it.

Data path: arrange the rows so each subject sits in one partition (``partitions``), fit the
logistic models by Newton steps whose fused numba pass runs per partition and is summed on the
client (``msm._glm.newton``, the in-memory iteration), then compute the weights per partition
with the in-memory code (``weights``), the outcome GLM and its cluster-robust variance
(``outcome``) and the balance moments (``diagnostics``); sequential target trials expanded
per partition (``trials``) and clone-censor-weight emulations (``clones``).
"""

from __future__ import annotations

from msm._dask.partitions import is_dask

__all__ = ["balance", "clone_censor", "glm", "iptw", "is_dask", "trial_sequence"]


def iptw(data, **kwargs):
    """``msm.iptw`` on a dask DataFrame; see :func:`msm._dask.weights.iptw`."""
    from msm._dask.weights import iptw as _iptw

    return _iptw(data, **kwargs)


def glm(formula, data, **kwargs):
    """``msm.glm`` on a dask DataFrame; see :func:`msm._dask.outcome.glm`."""
    from msm._dask.outcome import glm as _glm

    return _glm(formula, data, **kwargs)


def balance(data, **kwargs):
    """``msm.balance`` on a dask DataFrame; see :func:`msm._dask.diagnostics.balance`."""
    from msm._dask.diagnostics import balance as _balance

    return _balance(data, **kwargs)


def trial_sequence(data, **kwargs):
    """``msm.trial_sequence`` on a dask DataFrame; see :func:`msm._dask.trials.trial_sequence`."""
    from msm._dask.trials import trial_sequence as _trial_sequence

    return _trial_sequence(data, **kwargs)


def clone_censor(data, **kwargs):
    """``msm.clone_censor`` on a dask DataFrame; see :func:`msm._dask.clones.clone_censor`."""
    from msm._dask.clones import clone_censor as _clone_censor

    return _clone_censor(data, **kwargs)
