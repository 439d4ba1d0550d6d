"""Target trial emulation: sequential trials expanded from a person-time panel.

``trial_sequence`` (intention to treat with censoring weights, R TrialEmulation's
definitions); per-protocol weights and clone-censor-weight are planned (issue 12).
"""

from msm.trials.sequence import TrialSequence, TrialSpec, trial_sequence, trial_spec

__all__ = ["TrialSequence", "TrialSpec", "trial_sequence", "trial_spec"]
