"""examples/jdm_missing_data.py runs and prints what docs/missing_data.md shows."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "jdm_missing_data.py"
PAGE = ROOT / "docs" / "missing_data.md"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run():
    """A small run (300 patients, 3 imputations of 3 iterations), printout captured."""
    import contextlib
    import io

    example = _load(EXAMPLE, "jdm_missing_data")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = example.main(["--n-patients", "300", "--seed", "2", "--m", "3", "--max-iter", "3"])
    return result, printed.getvalue()


def test_main_runs_and_prints_the_comparison(run):
    result, printed = run
    table = result["table"]
    assert [i.split(" (")[0] for i in table.index] == [
        "complete case",
        "multiple imputation",
        "multiple imputation",
        "the same cohort before hiding, robust SE",
    ]
    assert ((table["lower"] <= table["OR"]) & (table["OR"] <= table["upper"])).all()
    assert table["fmi"].dropna().between(0, 1).all()
    imp = result["imputations"]
    assert imp.m == 3 and imp.columns == ["cmas", "mmt8", "das_skin", "das_muscle", "ck"]
    assert result["pooled"].m == 3
    # the missing-data summary comes first, the pooled table with its fmi later
    assert printed.index("Missing values before imputation") < printed.index("Rubin's rules")
    assert "fmi" in printed and "Summary: odds ratio" in printed


def test_every_marker_of_the_docs_page_is_a_section_the_example_prints(run):
    _, printed = run
    hooks = _load(ROOT / "tools" / "mkdocs_hooks.py", "mkdocs_hooks")
    sections = hooks.split_sections(printed)
    assert {"intro", "1", "2", "3", "4", "summary"} <= set(sections)
    assert not any(s.startswith("done in") for s in sections["summary"].splitlines())
    assert hooks.EXAMPLES["mi"][0] == "jdm_missing_data.py"
    keys = re.findall(r"<!-- mi-output: (\w+) -->", PAGE.read_text())
    assert keys and set(keys) <= set(sections)
    page = hooks.insert_output(PAGE.read_text(), "missing_data.md", {"mi": sections})
    assert "<!-- mi-output:" not in page and "Pooled (95% intervals" in page
