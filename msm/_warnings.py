"""The warnings models issue on valid data that is hard to fit (no dependencies)."""

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
