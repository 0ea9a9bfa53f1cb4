"""The import rules of docs/architecture.md, checked on the source with `ast`."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import pitstop

SRC = Path(pitstop.__file__).parent
DOC = SRC.parent.parent / "docs" / "architecture.md"

FOUNDATION = {"errors", "events", "_events", "_strict", "_lazy", "_redact"}
CORE = FOUNDATION | {"llm", "_metrics", "_config", "_sync", "_context", "_limits", "_cache",
                     "_tools", "_agent", "_run", "_batch"}

# room -> the rooms it may import at run time (the foundation is always allowed)
ALLOWED: dict[str, set[str]] = {
    **{room: set() for room in FOUNDATION},
    "llm": set(),
    "_metrics": set(),
    "_config": set(),
    "_sync": set(),
    "_context": {"llm"},
    "_limits": {"llm", "_metrics"},
    "_cache": set(),
    "_tools": {"llm", "_cache", "_limits", "_metrics"},
    "_agent": CORE,
    "_run": CORE,
    "_batch": CORE,
    "notebook": CORE | {"pitstop"},
    "otel": CORE | {"pitstop"},
    "distributed": CORE | {"pitstop"},
    "testing": {"llm"},
    "_emulator": {"llm"},
    "emulator": {"_emulator", "llm"},
}
FACADE = {"pitstop", "__main__"}  # may import anything
# the core never imports these
ADAPTERS = {"notebook", "otel", "distributed", "testing", "emulator", "_emulator"}


def room_of(module: str) -> str:
    """``pitstop._cache.keys`` -> ``_cache``; ``pitstop`` -> ``pitstop``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pitstop"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        ):
            inside.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    return inside


def imports(path: Path) -> Iterator[tuple[str, bool, int]]:
    """Each pitstop module `path` imports: (module, under TYPE_CHECKING, line)."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pitstop import _events` imports the submodule pitstop._events
            targets = (
                [f"pitstop.{a.name}" for a in node.names
                 if a.name.startswith("_") and not a.name.startswith("__")]
                if node.module == "pitstop"
                else [node.module]
            )
            if node.module == "pitstop" and not targets:
                targets = ["pitstop"]
        for target in targets:
            if target == "pitstop" or target.startswith("pitstop."):
                yield target, id(node) in typing_only, node.lineno


SOURCES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_each_room_imports_only_what_the_architecture_allows(path: Path) -> None:
    """Run-time imports follow the table of docs/architecture.md; type-only imports may
    name any core room; nothing in the core names the notebook or testing rooms."""
    module = _module_name(path)
    room = room_of(module)
    if room in FACADE:
        return
    assert room in ALLOWED, f"{module} is in a room docs/architecture.md does not describe"
    for target, typing_only, line in imports(path):
        other = room_of(target)
        if other == room:
            continue
        where = f"{path.relative_to(SRC)}:{line} imports {target}"
        if room in CORE:
            assert other not in ADAPTERS, f"{where}: the core never does"
        if typing_only:
            assert other in CORE | ALLOWED[room], where
        else:
            assert other in FOUNDATION | ALLOWED[room], (
                f"{where}, but {room} may import only {sorted(FOUNDATION | ALLOWED[room])}"
            )


def test_the_page_names_every_room() -> None:
    """docs/architecture.md names every room of the code, so a new one gets described."""
    text = DOC.read_text()
    rooms = {room_of(_module_name(p)) for p in SOURCES} - {"pitstop", "__main__"}
    missing = [r for r in sorted(rooms) if not re.search(rf"`{re.escape(r)}(/|\.py)?`", text)]
    assert missing == []


def test_the_readme_links_the_page() -> None:
    """The README links docs/architecture.md."""
    assert "(docs/architecture.md)" in (SRC.parent.parent / "README.md").read_text()


def test_the_rule_catches_a_core_module_importing_the_notebook(tmp_path: Path) -> None:
    """The checker sees a notebook import inside a function of a core module."""
    fake = tmp_path / "mod.py"
    fake.write_text("def f():\n    from pitstop.notebook import timeline\n    return timeline\n")
    assert list(imports(fake)) == [("pitstop.notebook", False, 2)]
