"""The public entry points that take a frame: a pandas DataFrame or a Dask DataFrame.

The core (``msm.weights``, ``msm.outcome``, ``msm.diagnostics``) works on a pandas DataFrame
and never imports the Dask front end (the import-linter contract in pyproject.toml says so).
These routers are what ``msm.iptw``, ``msm.glm``, ``msm.balance``, ``msm.trial_sequence`` and
``msm.clone_censor`` are: a Dask DataFrame goes to ``msm._dask`` with the same arguments,
anything else to the core function. Each router has its core function's name, signature and
docstring.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from msm import _dask
from msm.diagnostics import balance as _in_memory_balance
from msm.outcome.glm_model import glm as _in_memory_glm
from msm.trials.clones import clone_censor as _in_memory_clone_censor
from msm.trials.sequence import trial_sequence as _in_memory_trial_sequence
from msm.weights import iptw as _in_memory_iptw


def route(core: Callable, distributed: Callable) -> Callable:
    """``core``, except that a Dask DataFrame as its ``data`` argument goes to ``distributed``.

    Examples
    --------
    >>> def mean(data, *, column):
    ...     "The mean of a column."
    ...     return data[column].mean()
    >>> routed = route(mean, lambda data, *, column: "dask")
    >>> routed(pd.DataFrame({"x": [1.0, 3.0]}), column="x"), routed.__doc__
    (np.float64(2.0), 'The mean of a column.')
    """
    signature = inspect.signature(core)

    @functools.wraps(core)
    def entry(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:  # wrong arguments: the core function says so in its own words
            return core(*args, **kwargs)
        if _dask.is_dask(bound.arguments.get("data")):
            return distributed(*bound.args, **bound.kwargs)
        return core(*args, **kwargs)

    return entry


iptw = route(_in_memory_iptw, _dask.iptw)
glm = route(_in_memory_glm, _dask.glm)
balance = route(_in_memory_balance, _dask.balance)
trial_sequence = route(_in_memory_trial_sequence, _dask.trial_sequence)
clone_censor = route(_in_memory_clone_censor, _dask.clone_censor)
