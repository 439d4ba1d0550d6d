"""Target trial emulation: sequential trials expanded from a person-time panel.

``trial_sequence`` (intention to treat with censoring weights, and per protocol with switch
weights and artificial censoring at the first deviation; R TrialEmulation's definitions);
``clone_censor`` (clone-censor-weight with grace periods).
"""

from msm.trials.clones import CloneCensor, clone_censor
from msm.trials.sequence import TrialSequence, TrialSpec, trial_sequence, trial_spec

__all__ = [
    "CloneCensor",
    "TrialSequence",
    "TrialSpec",
    "clone_censor",
    "trial_sequence",
    "trial_spec",
]
