"""The warnings models issue on valid data that is hard to fit, and the one way to issue them."""

import os
import sys
import warnings

import numpy as np

# Fitted probabilities this close to 0 or 1 are "numerically 0 or 1", as in R's glm.fit.
PROBABILITY_EPS = 10 * np.finfo(float).eps


class ConvergenceWarning(UserWarning):
    """A model did not converge; the message names the model."""


class SeparationWarning(UserWarning):
    """Fitted probabilities of (numerically) 0 or 1: quasi-separation in a model."""


class DataWarning(UserWarning):
    """Valid data that makes part of a computation trivial (e.g. ``censor=`` with no one
    censored: the censoring weights are 1); the message names the column."""


# where msm's own source lives: a warning points at the first caller outside it
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning]) -> None:
    """Warn at the user's line: the first caller outside msm, however deep inside msm the
    warning arises (so no function threads a stacklevel through its callees).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn("no subject is censored", DataWarning)
    >>> caught[0].category.__name__, caught[0].filename.endswith("_warnings.py")
    ('DataWarning', False)
    """
    frame = sys._getframe(1)
    level = 2  # warnings.warn's stacklevel of this function's caller
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
