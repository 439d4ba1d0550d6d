"""Target trial emulation: sequential trials expanded from a person-time panel.

``trial_sequence`` (intention to treat with censoring weights, and per protocol with switch
weights and artificial censoring at the first deviation; R TrialEmulation's definitions);
clone-censor-weight is planned (issue 12).
"""

from msm.trials.sequence import TrialSequence, TrialSpec, trial_sequence, trial_spec

__all__ = ["TrialSequence", "TrialSpec", "trial_sequence", "trial_spec"]
