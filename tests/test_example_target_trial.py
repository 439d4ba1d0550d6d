"""examples/jdm_target_trial.py runs, prints what docs/target_trial.md shows, and plots.

The example's truth over several seeds is checked in tests/trials/test_truth.py; here a small
run (1500 children, 4 bootstrap replicates, the truth from 20,000) checks the pieces.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "jdm_target_trial.py"


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example():
    return load(EXAMPLE, "jdm_target_trial")


@pytest.fixture(scope="module")
def hooks():
    return load(ROOT / "tools" / "mkdocs_hooks.py", "mkdocs_hooks")


@pytest.fixture(scope="module")
def run(example, tmp_path_factory):
    pytest.importorskip("matplotlib")
    import contextlib
    import io

    out = tmp_path_factory.mktemp("target_trial")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = example.main(
            [
                "--n-patients", "1500", "--seed", "2", "--n-boot", "4", "--n-jobs", "1",
                "--truth-patients", "20000", "--out", str(out),
            ]
        )  # fmt: skip
    return result, printed.getvalue(), out


def test_main_runs_and_writes_the_plot(run):
    result, printed, out = run
    assert (out / "target_trial_risk.png").stat().st_size > 10_000
    table = result["table"]
    methods = ["clone-censor-weight", "initiators vs non-initiators", "per-protocol, no weights"]
    assert sorted(table.index.get_level_values("method").unique()) == methods
    rows = table.reset_index()
    for t in (12, 24):
        for quantity in ("IVIG within 3", "no IVIG", "difference"):
            at = rows[(rows.months == t) & (rows.quantity == quantity)]
            assert sorted(at.method) == methods
        # the initiators comparison has no "no IVIG in year 1" group
        at = rows[(rows.months == t) & (rows.quantity == "no IVIG in year 1")]
        assert list(at.method) == ["clone-censor-weight", "per-protocol, no weights"]
    assert list(table.columns) == ["estimate", "lower", "upper", "truth", "covers"]
    assert table["truth"].between(0.1, 0.7).all()
    # whole curves (every month since time zero) for the plot
    assert sorted(result["curves"].index.get_level_values("time").unique()) == list(range(1, 25))
    for text in ("causal contrast", "time zero (month)", "effective sample size (Kish)"):
        assert text in printed


def test_the_tutorial_markers_are_sections_of_the_printout(run, hooks):
    """Every ``<!-- trial-output: KEY -->`` of docs/target_trial.md is a section printed."""
    _, printed, _ = run
    sections = hooks.split_sections(printed)
    page = (ROOT / "docs" / "target_trial.md").read_text()
    keys = re.findall(r"<!-- trial-output: (\w+) -->", page)
    assert keys == ["intro", "1", "2", "3", "4", "5", "summary"]
    assert set(keys) <= set(sections)
    assert all(sections[k].strip() for k in keys)
    assert "done in" not in sections["summary"] and "written to" not in sections["summary"]
    filled = hooks.insert_output(page, "target_trial.md", {"trial": sections})
    assert "-output:" not in filled and filled.count("```text") == len(keys)


def test_every_marker_of_the_docs_names_an_example(hooks):
    for page in (ROOT / "docs").glob("*.md"):
        for prefix in re.findall(r"<!-- ([a-z_]+)-output: \w+ -->", page.read_text()):
            assert prefix in hooks.EXAMPLES, (page.name, prefix)
            assert (ROOT / "examples" / hooks.EXAMPLES[prefix][0]).exists()
