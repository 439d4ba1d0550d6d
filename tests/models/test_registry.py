"""The capability table of treatment model kinds (msm.models.registry) and what reads it.

docs/weights.md carries the support table generated from ``registry.KINDS``; the test checks
it is current.  Regenerate with ``python -m tests.test_registry``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import msm
from msm.models import registry

DOCS = Path(__file__).resolve().parents[2] / "docs" / "weights.md"
BEGIN = "<!-- support table: from msm.models.registry, by python -m tests.test_registry -->"
END = "<!-- end of support table -->"


def current_docs(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{registry.support_table()}\n{END}{tail}"


def test_support_table_in_docs_is_current():
    text = DOCS.read_text()
    assert BEGIN in text and END in text
    assert text == current_docs(text), "regenerate with python -m tests.test_registry"


def test_every_kind_is_in_the_table_once():
    table = [r for r in registry.support_table().splitlines()[2:] if r.startswith("|")]
    assert len(table) == len(registry.KINDS) + sum(f.learners for f in registry.FAMILIES.values())
    for (family, name), kind in registry.KINDS.items():
        rows = [r for r in table if f'`"{family}"`' in r and f'`"{name}"`' in r]
        assert len(rows) == 1, (family, name)
        assert (" yes |" in rows[0]) == any((kind.absorbing, kind.stacked_variance, kind.dask))


def test_censoring_kind_follows_the_table():
    logit = registry.KINDS[("binomial", "logit")]
    for kind in registry.KINDS.values():
        expected = kind if kind.models_binary else logit
        assert registry.censoring_kind(kind) is expected
    assert registry.censoring_kind(registry.resolve("multinomial", _Learner())) is logit


class _Learner:
    def fit(self, X, y):  # pragma: no cover - not fitted here
        return self

    def predict_proba(self, X):  # pragma: no cover
        return np.zeros((len(X), 2))


@pytest.mark.parametrize(
    ("capability", "kind", "supported"),
    [
        ("dask", ("binomial", "logit"), True),
        ("dask", ("binomial", "cox"), False),
        ("dask", ("gaussian", "linear"), False),
        ("stacked_variance", ("binomial", "logit"), True),
        ("stacked_variance", ("ordinal", "probit"), False),
    ],
)
def test_require_names_who_supports_it(capability, kind, supported):
    record = registry.KINDS[kind]
    if supported:
        registry.require(record, capability)
        return
    with pytest.raises(NotImplementedError) as raised:
        registry.require(record, capability)
    message = str(raised.value)
    assert "family='binomial' with model='logit'" in message
    assert f"model={kind[1]!r}" in message


def test_stacked_variance_refuses_a_kind_without_it():
    cohort = msm.datasets.simulate_panel(n_subjects=200, seed=3)
    cohort = cohort.assign(start=cohort["time"] - 1)  # counting-process rows for model="cox"
    w = msm.iptw(
        cohort,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l",
        numerator="1",
        absorbing=True,
        model="cox",
        start="start",
    )
    with pytest.raises(NotImplementedError, match="variance='stacked' supports family='binomial'"):
        msm.glm("y ~ a + time", cohort, weights=w, cluster="id", variance="stacked")


@pytest.mark.parametrize(
    "option", ["point_treatment", "convergence_r", "variance_stacked", "trial_bootstrap", "link"]
)
def test_front_end_refusals_come_from_the_table(option):
    with pytest.raises(NotImplementedError, match="a Dask DataFrame does not support"):
        registry.require_front_end("dask", registry.KINDS[("binomial", "logit")], **{option: True})
    registry.require_front_end("dask", registry.KINDS[("binomial", "logit")])  # nothing asked
    with pytest.raises(NotImplementedError, match="supports family='binomial' with model='logit'"):
        registry.require_front_end("dask", registry.KINDS[("ordinal", "logit")])


if __name__ == "__main__":  # rewrite the support table in docs/weights.md
    DOCS.write_text(current_docs(DOCS.read_text()))
    sys.stdout.write(f"wrote the support table into {DOCS}\n")
