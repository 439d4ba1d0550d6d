"""Every bad input gets a DataError naming the column, the rule and the offenders.

docs/errors.md is generated from the cases: the three-subject cohort cases of ``msm.iptw``
here (``CASES``) and every error case of ``tests/adversarial_cases.py``, one section per
public function with the case, the column and the exact message the code raises today.
``test_errors_doc_is_current`` checks the file against a fresh run, so the docs cannot drift
from the code.  Regenerate with ``python -m tests.test_errors`` (it warns about cases whose
error is not yet the documented ``DataError``).
"""

from __future__ import annotations

import ast
import functools
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import msm
from tests import adversarial_cases as adversarial

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "errors.md"
PACKAGE = ROOT / "msm"


def cohort() -> pd.DataFrame:
    """Three subjects (ids 'a', 'b', 'c'), three visits each, absorbing treatment."""
    return pd.DataFrame(
        {
            "id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
            "month": [0, 1, 2] * 3,
            "ivig": [0, 0, 1, 0, 1, 1, 0, 0, 0],
            "age": [7.0, 7.0, 7.0, 9.0, 9.0, 9.0, 5.0, 5.0, 5.0],
            "cmas": [30.0, 28.0, 20.0, 40.0, 25.0, 35.0, 45.0, 18.0, 48.0],
            "lost": [0, 0, 0, 0, 0, 0, 0, 0, 1],
        }
    )


def call(data, **overrides):
    kwargs = dict(
        id="id",
        time="month",
        treatment="ivig",
        denominator="age + cmas",
        numerator="age",
        absorbing=True,
    )
    kwargs.update(overrides)
    return msm.iptw(data, **kwargs)


def _set(column, positions, value):
    def edit(df):
        df = df.copy()
        df[column] = df[column].astype(object) if isinstance(value, str) else df[column]
        df.loc[positions, column] = value
        return df

    return edit


def _cast(column, dtype):
    def edit(df):
        return df.assign(**{column: df[column].astype(dtype)})

    return edit


# case name -> (edit of the good cohort, iptw overrides, column named in the error)
CASES = {
    "missing column": (lambda df: df.drop(columns="ivig"), {}, "ivig"),
    "missing covariate in a list": (lambda df: df, {"denominator": ["age", "das"]}, "das"),
    "formula names an unknown column": (
        lambda df: df,
        {"denominator": "age + das_skin"},
        "das_skin",
    ),
    "NaN in a covariate": (_set("cmas", [1, 4], np.nan), {}, "cmas"),
    "infinite value in a covariate": (_set("age", [7], np.inf), {}, "age"),
    "NaN in the treatment": (_set("ivig", [3], np.nan), {}, "ivig"),
    "NaN in the id": (_set("id", [0], None), {}, "id"),
    "duplicate (id, time)": (_set("month", [1], 0), {}, "month"),
    "treatment not 0/1": (_set("ivig", [4, 5], 2), {}, "ivig"),
    "treatment not numeric": (_set("ivig", [0], "yes"), {}, "ivig"),
    "absorbing treatment goes back to 0": (_set("ivig", [5], 0), {}, "ivig"),
    "censor not 0/1": (_set("lost", [8], 3), {"censor": "lost"}, "lost"),
    "censor before the last row": (_set("lost", [3], 1), {"censor": "lost"}, "lost"),
    "non-numeric time": (_cast("month", str), {}, "month"),
    "empty data": (lambda df: df.iloc[:0], {}, None),
    "weights= of the wrong length": (None, None, "weights"),
}


def run_case(name):
    edit, overrides, _ = CASES[name]
    if name == "weights= of the wrong length":
        from msm.weights import resolve_weights

        return resolve_weights(cohort(), np.ones(4))
    return call(edit(cohort()), **overrides)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_raises_data_error_naming_the_column(name):
    with pytest.raises(msm.DataError) as info:
        run_case(name)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.column == CASES[name][2]
    if err.column is not None:
        assert f"column {err.column!r}" in str(err)


@pytest.mark.parametrize(
    ("name", "offenders"),
    [
        ("NaN in a covariate", ["a", "b"]),
        ("duplicate (id, time)", ["a"]),
        ("treatment not 0/1", ["b"]),
        ("absorbing treatment goes back to 0", ["b"]),
        ("censor before the last row", ["b"]),
    ],
)
def test_error_names_offending_ids(name, offenders):
    with pytest.raises(msm.DataError) as info:
        run_case(name)
    assert info.value.ids == offenders
    for subject in offenders:
        assert repr(subject) in str(info.value)


def test_nan_message_counts():
    with pytest.raises(msm.DataError, match=r"2 missing \(NaN\) value\(s\) out of 9 rows"):
        run_case("NaN in a covariate")


def test_offender_list_is_capped():
    df = pd.DataFrame({"id": np.arange(20), "month": 0, "ivig": 2, "age": 1.0, "cmas": 1.0})
    with pytest.raises(msm.DataError, match=r"\(ids 0, 1, 2, 3, 4, \.\.\.; 20 in all\)"):
        call(df, time=None)


def test_caller_frame_unchanged_after_error_and_success():
    df = cohort()
    before = df.copy(deep=True)
    with pytest.raises(msm.DataError):
        call(df, denominator="age + nope")
    pd.testing.assert_frame_equal(df, before)
    sim = msm.datasets.simulate_panel(300, 6, seed=3, censor_coefs=(-3.0, 0.5))
    shuffled = sim.sample(frac=1.0, random_state=1)
    kept = shuffled.copy(deep=True)
    msm.iptw(
        shuffled,
        id="id",
        time="time",
        treatment="a",
        denominator="x + l",
        numerator="x",
        absorbing=True,
        censor="lost",
        truncate=(1, 99),
    )
    pd.testing.assert_frame_equal(shuffled, kept)


def test_errors_doc_is_current():
    text = DOCS.read_text()
    fresh = render_doc(recorded_run()[0])
    if text != fresh:
        import difflib

        diff = "".join(
            list(difflib.unified_diff(text.splitlines(True), fresh.splitlines(True), n=0))[:60]
        )
        pytest.fail(f"docs/errors.md is stale; run python -m tests.test_errors\n{diff}")


def test_doc_lists_every_case_of_every_function():
    text = DOCS.read_text()
    for c in adversarial.CASES:
        assert f"## `{c.function}`" in text, c.function
        assert f"| {_cell(c.name)} |" in text or _cell(c.name) in text, c.id
    for name in CASES:
        assert f"| {name} |" in text, name


# ---------------------------------------------------------------------------------------------
# every DataError the package can raise has a case (so docs/errors.md lists every rule)


@functools.cache
def construction_sites(package: Path = PACKAGE) -> dict[tuple[str, int], tuple[int, str, str]]:
    """Every call ``DataError(...)`` in msm/: (file, first line) -> (last line, function, text).

    The class definition, ``isinstance`` checks, ``except DataError`` and re-raises of an
    existing error object are not calls of the class, so they are not sites.  A helper that
    builds the error for several callers (``return DataError(...)``) is one site.  A call of a
    subclass of DataError defined in msm/ is a site too.
    """
    trees = {path: ast.parse(path.read_text()) for path in sorted(package.rglob("*.py"))}
    classes = {"DataError"}
    while True:  # subclasses, subclasses of those, ...
        more = {
            node.name
            for tree in trees.values()
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(
                (getattr(b, "id", None) or getattr(b, "attr", None)) in classes for b in node.bases
            )
        }
        if more <= classes:
            break
        classes |= more
    sites = {}
    for path, tree in trees.items():
        source = path.read_text()
        where = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    where.setdefault(id(inner), node.name)  # the outermost function wins
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if name in classes:
                text = " ".join(ast.get_source_segment(source, node).split())
                key = (str(path.relative_to(package.parent)), node.lineno)
                sites[key] = (node.end_lineno, where.get(id(node), "<module>"), text)
    return sites


@contextmanager
def recording_data_errors():
    """Record (file, line) of every ``DataError(...)`` call made inside the block."""
    calls: set[tuple[str, int]] = set()
    original = msm.DataError.__init__

    def init(self, *args, **kwargs):
        frame = sys._getframe(1)  # the construction site, or a subclass's own __init__
        while frame.f_code.co_name == "__init__" and isinstance(
            frame.f_locals.get("self"), msm.DataError
        ):
            frame = frame.f_back  # past a subclass's __init__ to where the subclass is called
        calls.add((frame.f_code.co_filename, frame.f_lineno))
        original(self, *args, **kwargs)

    msm.DataError.__init__ = init
    try:
        yield calls
    finally:
        msm.DataError.__init__ = original


@functools.cache
def recorded_run():
    """``collect_rows()`` once per process, and the DataError sites its cases reached."""
    with recording_data_errors() as calls:
        collected = collect_rows()
    reached = set()
    for (file, first), (last, _, _) in construction_sites().items():
        full = str(ROOT / file)
        if any(f == full and first <= line <= last for f, line in calls):
            reached.add((file, first))
    return collected, reached


# Sites no case of the doc reaches, each with why: (file or folder, words of the call) -> reason.
# A key matches a site whose file starts with the first item and whose call text contains the
# second.  Keep it short: a new DataError needs a case in tests/adversarial_cases.py instead.
NOT_REACHED = {
    ("msm/_dask/", ""): "Dask front end only (dask is an optional extra): tests/_dask/test_dask.py",
    ("msm/_survival.py", "must be finite and >= 0"): "defensive: fit_cox's own array check; "
    "cox() and iptw(model='cox') refuse such weights first, naming the column",
    ("msm/_survival.py", "start, stop and covariates must be finite"): "defensive: fit_cox's "
    "array check; every caller reports NaN/inf first with the column and ids",
    ("msm/_survival.py", "every interval needs start < stop"): "defensive: fit_cox's array "
    "check; cox() names stop <= start rows first (tests/outcome/test_cox.py calls fit_cox "
    "directly)",
    ("msm/_survival.py", "event must be 0 or 1"): "defensive: fit_cox's array check; cox() "
    "refuses an event that is not 0/1 first, naming the column",
    ("msm/outcome/glm_model.py", "every weight is 0: no rows"): "defensive: resolve_weights "
    "refuses all-zero weights first ('all weights are 0')",
    ("msm/panel.py", "columns of data (duplicated"): "defensive: every caller refuses "
    "duplicated column names (check_unique_columns) before resolving weights=",
    ("msm/panel.py", "must be 0/1 (numeric or bool), got {values.dtype}"): "defensive: complex "
    "treatment or censor values are refused first by check_cell_values",
    ("msm/models/logit.py", "no rows to fit the model on"): "defensive: check_varies reports a "
    "model without informative rows first, naming the treatment or censor column",
    ("msm/_glm.py", "are constant on the rows fitted (collinear"): "defensive: a column whose "
    "centred variance is lost to cancellation; callers pass shifted_ok and refit centred",
    ("msm/_glm.py", "singular to rounding"): "defensive: R's starting WLS solve failing after "
    "the centred rank check passed; no input found that does it",
    ("msm/models/categorical.py", "model cannot be fitted"): "defensive: statsmodels failing "
    "after check_rank; perfect predictors of a level fit (with warnings), no input found",
    (
        "msm/inference/covariance.py",
        "the information matrix is singular at the estimate",
    ): "glm/cox report "
    "singular designs and separation first; tests/test_adversarial_glm.py calls inference.bread",
    ("msm/outcome/_stacked.py", "needs the outcome model's rows"): "defensive: resolve_weights "
    "aligns or refuses the labels first; tests/test_errors_weights.py calls outcome_rows_in",
    ("msm/_formula.py", 'f"{label}: {exc}"'): "defensive: formulaic's null-value error on a "
    "finite design; NaN/inf are reported first with the column and ids",
    ("msm/trials/stream.py", "every weight is 0"): "defensive: every trial's row at followup 0 "
    "has weight 1, and truncation at quantiles keeps it positive",
}


def _allowed(site) -> str | None:
    (file, _), (_, _, text) = site
    for (prefix, words), reason in NOT_REACHED.items():
        if file.startswith(prefix) and words in text:
            return reason
    return None


def test_every_data_error_site_is_reached_by_a_case():
    sites = construction_sites()
    assert len(sites) > 50  # the scan found the package
    _, reached = recorded_run()
    missing = [
        f"{file}:{line} in {func}(): {text[:100]}"
        for (file, line), (_, func, text) in sorted(sites.items())
        if (file, line) not in reached and _allowed(((file, line), sites[file, line])) is None
    ]
    assert not missing, (
        f"{len(missing)} DataError site(s) without a case in tests/adversarial_cases.py "
        "(add one, or list the site in NOT_REACHED with why):\n" + "\n".join(missing)
    )


def test_site_scan_and_recorder_see_helpers_and_subclasses(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(
        "from msm import DataError\n"
        "class Sub(DataError):\n"
        "    def __init__(self, column):\n"
        "        super().__init__(column, 'sub')\n"
        "def helper(column):\n"
        "    return DataError(\n"
        "        column, 'helper'\n"
        "    )\n"
        "def check(x):\n"
        "    if isinstance(x, DataError):\n"
        "        raise x\n"
        "    raise Sub('a')\n"
    )
    sites = construction_sites(package)
    assert sorted(sites) == [("pkg/mod.py", 6), ("pkg/mod.py", 12)]
    assert sites["pkg/mod.py", 6][:2] == (8, "helper")
    original = msm.DataError.__init__
    sys.path.insert(0, str(tmp_path))
    try:
        import pkg.mod as mod

        with recording_data_errors() as calls:
            mod.helper("x")
            with pytest.raises(msm.DataError):
                mod.check(1)
            with pytest.raises(msm.DataError):
                mod.check(mod.helper("y"))  # a re-raise constructs nothing new
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("pkg.mod", None)
        sys.modules.pop("pkg", None)
    lines = [line for file, line in calls if file == str(package / "mod.py")]
    assert 12 in lines  # Sub('a'): the caller of the subclass, not its __init__ (line 4)
    assert set(lines) <= {6, 7, 8, 12} and set(lines) & {6, 7, 8}  # within helper's call
    assert msm.DataError.__init__ is original  # the recorder is removed afterwards


def test_not_reached_list_is_not_stale():
    sites = construction_sites()
    _, reached = recorded_run()
    for key, reason in NOT_REACHED.items():
        matched = [s for s in sites.items() if _allowed(s) == reason]
        assert matched, f"NOT_REACHED entry {key} matches no DataError site"
        covered = [s for s, _ in matched if s in reached]
        assert not covered, f"NOT_REACHED entry {key}: {covered} now have a case; drop it"


# ---------------------------------------------------------------------------------------------
# the generator of docs/errors.md

INTRO = """\
# Errors: what bad input gets

Bad input raises `msm.DataError`, a `ValueError` subclass with three attributes: `column` (the
column at fault, or `None` for the frame as a whole), `rule` (what is wrong) and `ids` (every
offending subject id, or row label where no id applies). The message names the column, the rule,
and at most five offenders followed by the total count. Everything is checked before any model is
fitted, and the caller's DataFrame is never modified: not its values, dtypes, index or column
order, whether the call succeeds or raises. An argument that is not a column (`family=`,
`truncate=`, `stats=`, ...) out of its range raises a plain `ValueError` (of the wrong type: a
`TypeError`) naming the argument; these rows have `—` in the column cell and the exception type
in the error cell.

Models that run into trouble on valid data warn instead, naming the model:
`msm.ConvergenceWarning` (Newton did not converge; the message lists the covariates with the
largest standardized coefficients) and `msm.SeparationWarning` (fitted probabilities numerically
0 or 1, i.e. quasi-separation: a covariate predicts treatment almost perfectly). Collinear or
constant columns in a treatment model's design raise `DataError` naming them. Valid data that
makes part of the computation trivial warns with `msm.DataWarning`, naming the column: `censor=`
naming a column that is 0 on every row (no one censored) gives censoring weights 1, and no
censoring model is fitted.

This page is generated by running the code: one section per public function, one row per rule,
with the case, the column (`err.column`) and the exact message. The `msm.iptw` rows first come
from the cases in `tests/test_errors.py` on a three-subject cohort (ids `'a'`, `'b'`, `'c'`;
columns `id`, `month`, `ivig`, `age`, `cmas`, `lost`); every other row is a case of the
adversarial suite `tests/adversarial_cases.py` (run by `tests/test_adversarial.py`) on small
simulated frames (`msm.datasets.simulate_panel`: columns `id`, `time`, `x`, `l`, `a`, `y`,
`lost`; point-treatment frames with `m`, `o`, `dose`; counting-process rows with `start`,
`stop`). Under each table, the inputs that must be *accepted* are listed: each is checked
against an independent computation (statsmodels, a hand computation, a relabelled or permuted
run). The test `test_errors_doc_is_current` checks that this file is exactly what the code says.
Regenerate it with `python -m tests.test_errors`.

The list is complete: `test_every_data_error_site_is_reached_by_a_case` scans `msm/` for every
`DataError(...)` call and runs the cases below recording which of those calls each one reaches;
a call no case reaches fails the test unless it is listed, with its reason, in `NOT_REACHED` in
`tests/test_errors.py` (the Dask front end, tested in `tests/_dask/test_dask.py`, and defensive
checks that an earlier check always pre-empts). A case marked *known bug* documents the intended
error; its message cell shows what the code raises today.
"""

SECTIONS = [
    "msm.iptw",
    "weights=",
    "msm.glm",
    "msm.cox",
    "msm.risk_curves",
    "msm.balance",
    "msm.reweighted_association",
    "msm.history_balance",
    "msm.ess",
    "msm.weight_summary",
    "msm.compare_models",
    "msm.bootstrap",
    "msm.plot.weights_by_time",
    "msm.plot.love_plot",
    "msm.plot.risk_curves",
    "msm.plot.strategy_risk_curves",
    "msm.plot.ess_by_time",
]

SECTION_NOTES = {
    "weights=": "The resolver every function with a `weights=` argument shares (a `Weights`, a "
    "column name, a Series aligned by index label, or an array by position).",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    """A markdown code span of a table cell; a text holding backticks gets a double fence."""
    text = _cell(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _outcome(run, documented: type[BaseException] = msm.DataError):
    """(error, column, message cells, the exception or None) from running one error case."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run()
    except msm.DataError as err:
        column = "(frame)" if err.column is None else _code(str(err.column))
        return "DataError", column, _code(str(err)), err
    except Exception as err:  # reported in the table and as a warning
        kind = type(err).__name__
        if documented is not msm.DataError and isinstance(err, documented):
            first = str(err).splitlines()[0] if str(err) else ""
            return kind, "—", _code(first), err
        return kind, "—", f"(not yet a DataError: raises {kind})", err
    return "—", "—", "(no error raised yet)", None


def _problem(case, err) -> str | None:
    """Why ``err`` is not yet the case's documented error (None when it is)."""
    if err is None:
        return "no error raised"
    try:
        adversarial.check_raised(case, err)
    except AssertionError as failure:
        first = str(err).splitlines()[0] if str(err) else ""
        return f"{type(err).__name__}: {first[:160]} [{str(failure).splitlines()[0][:120]}]"
    return None


def collect_rows() -> tuple[dict[str, list[tuple]], dict[str, list[str]], list]:
    """Run every error case: rows per section, accepted cases per section, warnings."""
    rows: dict[str, list[tuple]] = {s: [] for s in SECTIONS}
    accepted: dict[str, list[str]] = {s: [] for s in SECTIONS}
    problems = []
    for name, (_, _, expected_column) in CASES.items():
        section = "weights=" if name == "weights= of the wrong length" else "msm.iptw"
        kind, column, message, err = _outcome(functools.partial(run_case, name))
        rows[section].append((name, kind, column, message))
        legacy = adversarial.Case(section, name, None, adversarial.Raises(expected_column))
        problem = _problem(legacy, err)
        if problem:
            problems.append((name, problem))
    for c in adversarial.CASES:
        rows.setdefault(c.function, [])
        accepted.setdefault(c.function, [])
        if c.raises is None:
            accepted[c.function].append(c.name)
            continue
        kind, column, message, err = _outcome(c.run, c.raises.exc)
        label = c.name + (f" (issue 10 #{c.defect})" if c.defect else "")
        if c.bug:
            label += f" (known bug: {c.bug})"
        rows[c.function].append((label, kind, column, message))
        problem = _problem(c, err)
        if problem and not c.bug:
            problems.append((c.id, problem))
    return rows, accepted, problems


def render_doc(collected=None) -> str:
    """The text of docs/errors.md from a fresh run of the cases (or ``collect_rows()``)."""
    rows, accepted, _ = collected or collect_rows()
    parts = [INTRO]
    for section in [*SECTIONS, *(s for s in rows if s not in SECTIONS)]:
        if not rows.get(section) and not accepted.get(section):
            continue
        title = (
            "`weights=` (every function that takes weights)"
            if section == "weights="
            else (f"`{section}`")
        )
        parts.append(f"\n## {title}\n")
        if section in SECTION_NOTES:
            parts.append(f"\n{SECTION_NOTES[section]}\n")
        if rows[section]:
            parts.append("\n| case | error | column | message |\n|---|---|---|---|\n")
            parts.extend(
                f"| {_cell(n)} | {kind} | {col} | {msg} |\n" for n, kind, col, msg in rows[section]
            )
        if accepted.get(section):
            parts.append("\nAccepted, and checked against an independent computation:\n\n")
            parts.extend(f"- {_cell(n)}\n" for n in accepted[section])
    return "".join(parts)


def main() -> None:  # pragma: no cover - python -m tests.test_errors
    import sys

    collected = collect_rows()
    rows, _, problems = collected
    DOCS.write_text(render_doc(collected))
    for case_id, problem in problems:
        print(f"warning: {case_id}: {problem}", file=sys.stderr)
    n = sum(len(r) for r in rows.values())
    print(f"wrote {DOCS} ({n} rules; {len(problems)} not yet the documented DataError)")


if __name__ == "__main__":  # pragma: no cover
    main()
