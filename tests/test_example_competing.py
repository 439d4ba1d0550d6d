"""examples/jdm_competing.py runs small and prints what docs/competing_tutorial.md shows."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("matplotlib")
    example = load(ROOT / "examples" / "jdm_competing.py", "jdm_competing")
    printed = io.StringIO()
    out = tmp_path_factory.mktemp("competing")
    with contextlib.redirect_stdout(printed):
        result = example.main(["--n-patients", "800", "--seed", "2", "--n-boot", "4",
                               "--n-jobs", "1", "--truth-patients", "20000",
                               "--out", str(out)])  # fmt: skip
    return result, printed.getvalue(), out


def test_the_pieces(run):
    result, printed, out = run
    table = result["table"]
    assert set(table.handling) == {"total", "eliminate"}
    # (4 bootstrap replicates: percentile limits, not necessarily around the estimate)
    assert (table.lower <= table.upper).all() and table.estimate.between(0, 1).all()
    rmst = result["rmst"]
    sums = rmst.rmst + rmst.rmtl + rmst.rmtl_failure
    assert sums.round(10).eq(24).all()
    assert result["evalue_or"].loc["E-value", "point"] >= 1
    assert (out / "competing_quiescence.png").stat().st_size > 0
    assert "Months of inactive disease gained" in printed


def test_every_marker_of_the_page_is_a_section(run):
    _, printed, _ = run
    hooks = load(ROOT / "tools" / "mkdocs_hooks.py", "mkdocs_hooks")
    sections = hooks.split_sections(printed)
    page = (ROOT / "docs" / "competing_tutorial.md").read_text()
    keys = re.findall(r"<!-- cr-output: (\w+) -->", page)
    assert keys and set(keys) <= set(sections)
    assert hooks.EXAMPLES["cr"][0] == "jdm_competing.py"
    filled = hooks.insert_output(page, "competing_tutorial.md", {"cr": sections})
    assert "<!-- cr-output:" not in filled
