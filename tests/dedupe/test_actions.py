"""The audit log's vocabulary: every action written is a name in `dedupe.actions`, and no code or
template spells an action as a string (a typo there would write, or look for, an action nobody
reads). Stored values never change: they are inside hash-chained events."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from dedupe.actions import DECISION_ACTIONS, Action, Subject

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "dedupe" / "actions.py"
FAMILIES = sorted({action.split(".")[0] for action in Action})
# A string that would be read as an action: a catalogue family, a dot, a verb ("decision.undo").
LOOKS_LIKE_ACTION = re.compile(rf"^(?:{'|'.join(FAMILIES)})\.[a-z_]+(?:\.[a-z_]+)*$")

# What the log held before the catalogue: a rename here would break every event's hash after it.
STORED_BEFORE_THE_CATALOGUE = {
    "import.start", "import.batch", "import.finish", "asset.inspect", "scan.start", "scan.finish",
    "candidates.found", "candidates.pixel_identical", "decision.propose", "decision.apply", "decision.approve",
    "decision.reject", "decision.reverse", "attachment.detach", "attachment.reattach", "asset.merge",
    "asset.unmerge", "attachment.restore", "asset.purge", "queue.assign", "queue.unassign", "image.view.thumbnail",
    "image.view.original", "image.view.difference", "audit.export", "auth.login", "auth.logout", "source.create",
    "source.change", "source.keeper_rules", "user.assign_source", "user.unassign_source", "hold.place",
    "hold.lift", "hold.change", "request.refused", "auth.second_factor", "auth.second_factor_enrol",
    "auth.lockout", "user.create", "user.change", "user.password", "user.delete", "user.roles",
    "user.permissions", "group.create", "group.rename", "group.delete", "group.permissions",
}  # fmt: skip


def python_sources() -> Iterator[Path]:
    for package in ("dedupe", "review", "config"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts and path != CATALOGUE:
                yield path


def spelled_actions(path: Path) -> Iterator[str]:
    """Each string constant or f-string in the module that reads as an action."""
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in set(Action) or LOOKS_LIKE_ACTION.match(node.value):
                yield f"{name}:{node.lineno}: {node.value!r}"
        elif isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and any(str(first.value).startswith(f"{f}.") for f in FAMILIES):
                yield f"{name}:{node.lineno}: f-string {ast.unparse(node)}"


def test_every_stored_action_keeps_its_name_and_value():
    assert {action.value for action in Action} >= STORED_BEFORE_THE_CATALOGUE


def test_every_action_is_a_subject_dot_verb():
    assert all(re.fullmatch(r"[a-z]+(\.[a-z_]+)+", action) for action in Action)
    assert all(len(action) <= 64 for action in Action)  # AuditEvent.action
    assert all(len(kind) <= 32 for kind in Subject)  # AuditSubject.kind


def test_decision_actions_are_every_decision_and_nothing_else():
    assert set(DECISION_ACTIONS) == {a for a in Action if a.startswith("decision.")} and len(DECISION_ACTIONS) == 5


def test_no_module_spells_an_action_as_a_string():
    """Writers pass Action.X (audit_record is typed so), readers match on the same names."""
    spelled = [found for path in python_sources() for found in spelled_actions(path)]

    assert spelled == []


def test_the_scan_finds_an_action_spelled_as_a_string(tmp_path):
    """Positive control: the scan above would see a literal, a new verb, or an f-string."""
    module = tmp_path / "writer.py"
    module.write_text('audit_record(action="asset.merge")\nrecord(d, "decision.undo")\nx = f"image.view.{what}"\n')

    assert len(list(spelled_actions(module))) == 3


def test_no_template_spells_an_action():
    quoted = re.compile(r"""["']([a-z_]+(?:\.[a-z_]+)+)["']""")
    spelled = [
        f"{path.relative_to(ROOT)}: {value}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for value in quoted.findall(path.read_text())
        if value in set(Action) or LOOKS_LIKE_ACTION.match(value)
    ]

    assert spelled == []
