"""MkDocs hooks for the msm site (configured under ``hooks:`` in mkdocs.yml).

* **API completeness.**  ``docs/api.md`` is written by hand, grouped along the data path.  Any
  name that ``msm`` (``__all__``), ``msm.datasets`` (``__all__``) or ``msm.plot`` (its public
  functions) exports but the page does not document with a ``::: msm...`` block is appended
  under "Other exports", so a new export appears in the reference even before someone places it.
  The names are read from the source with ``ast``: nothing is imported.
* **The tutorial runs the example.**  Before the build, ``examples/jdm_ivig.py`` runs (seed 1,
  50 bootstrap replicates) with its figures written to ``docs/img/`` (gitignored) and its
  printout captured; in ``tutorial.md`` a marker ``<!-- jdm-output: N -->`` becomes the
  printout of the example's section ``== N. ...`` (``summary`` for the final table, ``intro``
  for what comes before section 1).  The numbers and figures on the page are therefore those
  of the code being documented.  ``MSM_DOCS_SKIP_EXAMPLE=1`` skips the run.
* **Other pages from other examples.**  Each entry of ``EXAMPLE_PAGES`` (example, its
  arguments, page, marker) runs the same way; on its page ``<!-- marker: N -->`` becomes the
  printout of the example's section ``N`` (``intro``, a number, ``summary``).
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
_OUTPUT = re.compile(r"<!-- jdm-output: (?P<key>\w+) -->")
_SECTIONS: dict[str, str] = {}

# pages generated from an example's printout: (example, arguments, page, marker)
EXAMPLE_PAGES = [
    ("examples/jdm_missing_data.py", ["--seed", "1", "--m", "10"], "missing_data.md", "mi-output"),
]
_PAGE_SECTIONS: dict[str, dict[str, str]] = {}  # page -> section -> printout


def split_sections(printout: str) -> dict[str, str]:
    """An example's printout by section: ``== N. ...`` -> "N", ``== Summary`` -> "summary",
    what comes first -> "intro"; the closing "done in" and "plots written" lines dropped."""
    sections, key, lines = {}, "intro", []
    for line in printout.splitlines():
        heading = re.match(r"^== (?:(\d+)\.|(Summary))", line)
        if heading:
            sections[key] = "\n".join(lines).strip("\n")
            key, lines = (heading[1] or "summary"), []
            continue
        if not line.startswith("done in") and not line.startswith("plots written"):
            lines.append(line)
    sections[key] = "\n".join(lines).strip("\n")
    return sections


def _run_example_pages(root: Path) -> None:
    _PAGE_SECTIONS.clear()
    for example, arguments, page, _marker in EXAMPLE_PAGES:
        spec = importlib.util.spec_from_file_location(Path(example).stem, root / example)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            module.main(list(arguments))
        _PAGE_SECTIONS[page] = split_sections(printed.getvalue())
        log.info("ran %s for %s: sections %s", example, page, ", ".join(_PAGE_SECTIONS[page]))


def _insert_page_output(markdown: str, src: str) -> str:
    for _example, _arguments, page, marker in EXAMPLE_PAGES:
        if page != src:
            continue
        sections = _PAGE_SECTIONS.get(page)

        def block(match: re.Match, sections=sections) -> str:
            if sections is None:
                return "*[Output not generated: the example was not run for this build]*"
            if match["key"] not in sections:
                raise KeyError(f"{src}: the example printed no section {match['key']!r}")
            return "```text\n" + sections[match["key"]] + "\n```"

        markdown = re.sub(rf"<!-- {re.escape(marker)}: (?P<key>\w+) -->", block, markdown)
    return markdown


def on_pre_build(config) -> None:
    """Run the JDM example: figures into docs/img, the printout by section into _SECTIONS."""
    if os.environ.get("MSM_DOCS_SKIP_EXAMPLE") == "1":
        return
    root = Path(config["config_file_path"]).resolve().parent
    spec = importlib.util.spec_from_file_location("jdm_ivig", root / "examples" / "jdm_ivig.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        example.main(
            [
                "--seed",
                "1",
                "--n-boot",
                "50",
                "--no-progress",
                "--out",
                str(Path(config["docs_dir"]) / "img"),
            ]
        )
    _SECTIONS.clear()
    key, lines = "intro", []
    for line in printed.getvalue().splitlines():
        heading = re.match(r"^== (?:(\d+)\.|(Summary))", line)
        if heading:
            _SECTIONS[key] = "\n".join(lines).strip("\n")
            key, lines = (heading[1] or "summary"), []
            continue
        if not line.startswith("done in") and not line.startswith("plots written"):
            lines.append(line)
    _SECTIONS[key] = "\n".join(lines).strip("\n")
    log.info("ran examples/jdm_ivig.py for the tutorial: sections %s", ", ".join(_SECTIONS))
    _run_example_pages(root)


def _insert_output(markdown: str, src: str) -> str:
    def block(match: re.Match) -> str:
        text = _SECTIONS.get(match["key"])
        if text is None:
            if _SECTIONS:
                raise KeyError(f"{src}: the example printed no section {match['key']!r}")
            return "*[Output not generated: the example was not run for this build]*"
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
    markdown = _insert_output(markdown, src)
    markdown = _insert_page_output(markdown, src)
    docs_dir = Path(config["docs_dir"])
    page_dir = Path(src).parent

    def placeholder(match: re.Match) -> str:
        target = (page_dir / match["src"]).as_posix()
        if files.get_file_from_path(target) is not None or (docs_dir / target).exists():
            return match.group(0)
        log.info("%s: figure %s not generated yet; showing a placeholder", src, target)
        return f"*[Figure not generated yet: `docs/{target}` ({match['alt']})]*"

    return _IMAGE.sub(placeholder, markdown)
