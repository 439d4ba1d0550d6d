"""The house rules of the layout that import-linter does not check.

No module imports another module's ``_private`` name (``from msm.x import _y``, or
``x._y`` on an imported module): a helper two modules share gets a public name, in a private
module if it is not for users.  Private *modules* (``msm._kernels``, ``msm.datasets._course``)
are imported by name; their public names are the shared helpers.  The layers themselves are
the import-linter contract in pyproject.toml, run by CI (``lint-imports``).
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib

import msm


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def test_no_private_names_imported_across_modules():
    root = pathlib.Path(msm.__file__).parent
    imported, accessed = [], set()
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root.parent).as_posix()
        tree = ast.parse(path.read_text())
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("msm"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if _is_module(full):
                        modules.add(alias.asname or alias.name)
                    elif alias.name.startswith("_"):
                        imported.append(f"{where}: from {node.module} import {alias.name}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                accessed.add((where, f"{node.value.id}.{node.attr}"))
    assert imported == []
    assert accessed == set(), sorted(accessed)
