"""MkDocs hooks for the msm site (configured under ``hooks:`` in mkdocs.yml).

* **API completeness.**  ``docs/api.md`` is written by hand, grouped along the data path.  Any
  name that ``msm`` (``__all__``), ``msm.datasets`` (``__all__``) or ``msm.plot`` (its public
  functions) exports but the page does not document with a ``::: msm...`` block is appended
  under "Other exports", so a new export appears in the reference even before someone places it.
  The names are read from the source with ``ast``: nothing is imported.
* **The tutorials run the examples.**  Before the build, each example of ``EXAMPLES`` runs
  (``examples/jdm_ivig.py`` for ``tutorial.md``, ``examples/jdm_target_trial.py`` for
  ``target_trial.md``, ``examples/jdm_missing_data.py`` for ``missing_data.md``,
  ``examples/jdm_competing.py`` for ``competing_tutorial.md``; seed 1)
  with its figures written to ``docs/img/`` (gitignored) and its printout captured; on any
  page a marker ``<!-- PREFIX-output: N -->`` (``jdm``, ``trial``, ``mi``, ``cr``) becomes the
  printout of that example's section ``== N. ...`` (``summary`` for the final table,
  ``intro`` for what comes before section 1).  The numbers and figures on the pages are
  therefore those of the code being documented.  ``MSM_DOCS_SKIP_EXAMPLE=1``
  skips the runs.
* **Figures not generated.**  An image link to ``img/...`` whose file is absent becomes a
  visible placeholder instead of a broken image, so ``mkdocs build --strict`` still checks
  every other link.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import logging
import os
import re
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.msm")

_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<src>img/[^)\s]+)\)")
_OUTPUT = re.compile(r"<!-- (?P<example>[a-z_]+)-output: (?P<key>\w+) -->")
# marker prefix -> (script in examples/, its arguments besides --out)
EXAMPLES: dict[str, tuple[str, list[str]]] = {
    "jdm": ("jdm_ivig.py", ["--seed", "1", "--n-boot", "50", "--no-progress"]),
    "trial": ("jdm_target_trial.py", ["--seed", "1", "--n-boot", "200"]),
    "mi": ("jdm_missing_data.py", ["--seed", "1", "--m", "10"]),
    "cr": ("jdm_competing.py", ["--seed", "1", "--n-boot", "40"]),
}
_SECTIONS: dict[str, dict[str, str]] = {}  # marker prefix -> section key -> printout


def split_sections(printout: str) -> dict[str, str]:
    """An example's printout by section: ``intro``, ``1``, ``2``, ..., ``summary``.

    A section starts at a line ``== N. ...`` (``== Summary...``); the run's timing and
    "written to" lines are left out.
    """
    sections, key, lines = {}, "intro", []
    for line in printout.splitlines():
        heading = re.match(r"^== (?:(\d+)\.|(Summary))", line)
        if heading:
            sections[key] = "\n".join(lines).strip("\n")
            key, lines = (heading[1] or "summary"), []
            continue
        if not line.startswith(("done in", "plots written", "plot written")):
            lines.append(line)
    sections[key] = "\n".join(lines).strip("\n")
    return sections


def run_example(root: Path, script: str, arguments: list[str]) -> str:
    """Run ``examples/<script>``'s ``main(arguments)``; return what it printed."""
    spec = importlib.util.spec_from_file_location(Path(script).stem, root / "examples" / script)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        example.main(arguments)
    return printed.getvalue()


def on_pre_build(config) -> None:
    """Run the examples: figures into docs/img, each printout by section into _SECTIONS."""
    if os.environ.get("MSM_DOCS_SKIP_EXAMPLE") == "1":
        return
    root = Path(config["config_file_path"]).resolve().parent
    out = ["--out", str(Path(config["docs_dir"]) / "img")]
    _SECTIONS.clear()
    for prefix, (script, arguments) in EXAMPLES.items():
        _SECTIONS[prefix] = split_sections(run_example(root, script, arguments + out))
        log.info("ran examples/%s: sections %s", script, ", ".join(_SECTIONS[prefix]))


def insert_output(markdown: str, src: str, sections: dict[str, dict[str, str]]) -> str:
    """Replace each ``<!-- PREFIX-output: KEY -->`` marker by that section's printout."""

    def block(match: re.Match) -> str:
        prefix, key = match["example"], match["key"]
        if prefix not in EXAMPLES:
            raise KeyError(f"{src}: no example has the marker prefix {prefix!r}")
        if not sections:
            return "*[Output not generated: the example was not run for this build]*"
        text = sections[prefix].get(key)
        if text is None:
            script = EXAMPLES[prefix][0]
            raise KeyError(f"{src}: examples/{script} printed no section {key!r}")
        return "```text\n" + text + "\n```"

    return _OUTPUT.sub(block, markdown)


def _module_all(path: Path) -> list[str]:
    """The string entries of ``__all__`` in a module's source (empty when there is none)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return [ast.literal_eval(e) for e in node.value.elts]
    return []


def _public_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")
    ]


def exported_names(root: Path) -> list[str]:
    """Dotted paths of everything the public API exports."""
    package = root / "msm"
    submodules = {p.stem for p in package.glob("*.py")} | {
        p.name for p in package.iterdir() if (p / "__init__.py").exists()
    }
    names = [f"msm.{n}" for n in _module_all(package / "__init__.py") if n not in submodules]
    names += [f"msm.datasets.{n}" for n in _module_all(package / "datasets" / "__init__.py")]
    names += [f"msm.plot.{n}" for n in _public_functions(package / "plot.py")]
    return names


def _documented(markdown: str) -> set[str]:
    return set(re.findall(r"^:::\s+(\S+)\s*$", markdown, flags=re.MULTILINE))


def on_page_markdown(markdown: str, page, config, files) -> str:
    src = page.file.src_uri
    if src == "api.md":
        root = Path(config["config_file_path"]).resolve().parent
        documented = _documented(markdown)
        # a name also counts as placed when it is documented from its defining module
        # (``msm.glm`` as ``msm.outcome.glm_model.glm``, shown under its public name)
        leaves = {d.rsplit(".", 1)[-1] for d in documented}
        missing = [
            n
            for n in exported_names(root)
            if n not in documented and n.rsplit(".", 1)[-1] not in leaves
        ]
        if missing:
            log.info("api.md: appending undocumented exports %s", ", ".join(missing))
            blocks = "\n\n".join(f"::: {name}" for name in missing)
            markdown += (
                "\n\n## Other exports\n\nExported by `msm` but not yet placed on this page.\n\n"
                + blocks
                + "\n"
            )
    markdown = insert_output(markdown, src, _SECTIONS)
    docs_dir = Path(config["docs_dir"])
    page_dir = Path(src).parent

    def placeholder(match: re.Match) -> str:
        target = (page_dir / match["src"]).as_posix()
        if files.get_file_from_path(target) is not None or (docs_dir / target).exists():
            return match.group(0)
        log.info("%s: figure %s not generated yet; showing a placeholder", src, target)
        return f"*[Figure not generated yet: `docs/{target}` ({match['alt']})]*"

    return _IMAGE.sub(placeholder, markdown)
