"""The rooms of `review`: a view module shares only `views.shared`; reads never write the audit log."""

import ast

from tests.conftest import ROOT

REVIEW = ROOT / "review"


def imported_modules(path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
            found.update("." * node.level + alias.name for alias in node.names if not node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _sibling(module: str) -> str:
    """The view module an import names ("from .desk", "review.views.desk"), or ""."""
    if module.startswith(".") and not module.startswith(".."):
        return module[1:].split(".")[0]
    return module.removeprefix("review.views.") if module.startswith("review.views.") else ""


def test_no_view_module_imports_another_but_shared():
    views = {p.stem for p in (REVIEW / "views").glob("*.py")} - {"__init__", "shared"}
    crossing = {
        path.name: sorted(m for m in imported_modules(path) if _sibling(m) in views)
        for path in (REVIEW / "views").glob("*.py")
    }
    assert {name: found for name, found in crossing.items() if found} == {}


def test_selectors_write_no_audit_events():
    writers = {path.name for path in (REVIEW / "selectors").glob("*.py") if "audit_record" in path.read_text()}
    assert writers == set()
