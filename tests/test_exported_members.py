"""The public surface: each public module's ``__all__`` is exactly its public names.

As httpx's ``tests/test_exported_members.py`` does, with two additions for lazy exports:
a module's lazy table (``_lazy.attach(__name__, {...})``) and its ``TYPE_CHECKING``
imports must name the same objects, and every name must resolve. A public module is
any module of ``src/pitstop`` with no underscore in its dotted path, so a new one is
pinned as soon as it exists. Every exception a user can meet lives in `pitstop.errors`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

import pitstop
import pitstop.errors

SRC = Path(pitstop.__file__).parent


def _dotted(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


PUBLIC_MODULES = sorted(
    _dotted(p)
    for p in SRC.rglob("*.py")
    if not any(part.startswith("_") for part in _dotted(p).split("."))
)


@dataclass
class Surface:
    """What a module's source says it exports."""

    all: list[str]
    defined: set[str]
    """Public names bound at the top level by def, class or assignment."""
    reexported: set[str]
    """Public names imported at run time from a private pitstop module."""
    lazy: dict[str, str]
    """The lazy table: name -> module it loads from."""
    type_checking: dict[str, str]
    """The imports under ``if TYPE_CHECKING:``: name -> module."""


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_private(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "pitstop" and any(p.startswith("_") for p in parts[1:])


def surface(module: str) -> Surface:
    path = SRC.parent / (module.replace(".", "/"))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(), str(path))
    all_: list[str] | None = None
    defined: set[str] = set()
    reexported: set[str] = set()
    lazy: dict[str, str] = {}
    type_checking: dict[str, str] = {}
    body = [sub for node in tree.body
            for sub in (node.body if isinstance(node, ast.Try) else [node])]
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [
                n.id
                for t in targets
                for n in (t.elts if isinstance(t, ast.Tuple) else [t])
                if isinstance(n, ast.Name)
            ]
            if names == ["__all__"]:
                all_ = ast.literal_eval(node.value)  # type: ignore[arg-type]
            defined.update(names)
            call = node.value
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "attach"
            ):
                lazy = ast.literal_eval(call.args[1])
        elif isinstance(node, ast.ImportFrom) and _is_private(node.module or ""):
            # a name imported from a private module is re-exported; one imported from
            # another public module (pitstop.errors, say) is only used here
            reexported.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for sub in node.body:
                if isinstance(sub, ast.ImportFrom):
                    for a in sub.names:
                        type_checking[a.asname or a.name] = sub.module or ""
    assert all_ is not None, f"{module} has no literal __all__"
    public = {n for n in defined | reexported if not n.startswith("_")}
    return Surface(all_, public, {n for n in reexported if not n.startswith("_")}, lazy,
                   type_checking)


def test_the_public_modules_are_the_documented_ones() -> None:
    """The modules the design names public are found (and nothing private is)."""
    expected = {"pitstop", "pitstop.errors", "pitstop.events", "pitstop.llm",
                "pitstop.notebook", "pitstop.testing"}
    assert expected <= set(PUBLIC_MODULES)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_all_is_exactly_the_public_names(module: str) -> None:
    """__all__ is sorted, has no duplicates and lists every public name defined or
    exported there, and nothing else."""
    s = surface(module)
    assert s.all == sorted(set(s.all)), f"{module}.__all__ is not sorted or repeats a name"
    exported = s.defined | set(s.lazy)
    if "__version__" in s.all:
        exported.add("__version__")
    assert set(s.all) == exported, (
        f"{module}: missing from __all__: {sorted(exported - set(s.all))}; "
        f"in __all__ but not defined or exported: {sorted(set(s.all) - exported)}"
    )


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_lazy_table_agrees_with_type_checking_imports(module: str) -> None:
    """Each lazily exported name is imported under TYPE_CHECKING from the same module."""
    s = surface(module)
    if not s.lazy:
        return
    assert s.lazy == s.type_checking
    assert not s.reexported, f"{module} imports {sorted(s.reexported)} eagerly; make them lazy"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_resolves_to_its_object(module: str) -> None:
    """Each name in __all__ resolves, is no module, and is the object its table names."""
    mod = importlib.import_module(module)
    s = surface(module)
    for name in mod.__all__:
        value = getattr(mod, name)
        assert not isinstance(value, types.ModuleType), f"{module}.{name} is a module"
        if name in s.lazy:
            assert value is getattr(importlib.import_module(s.lazy[name]), name)
    assert set(mod.__all__) <= set(dir(mod))
    with pytest.raises(AttributeError, match=f"module '{module}' has no attribute 'nope'"):
        _ = mod.nope


def _all_pitstop_modules() -> list[types.ModuleType]:
    modules = [pitstop]
    for info in pkgutil.walk_packages(pitstop.__path__, "pitstop."):
        if info.name != "pitstop.__main__":
            modules.append(importlib.import_module(info.name))
    return modules


def test_every_public_exception_lives_in_pitstop_errors() -> None:
    """An exception class defined anywhere else in pitstop is a private signal (``_Name``)."""
    stray = [
        f"{mod.__name__}.{cls.__name__}"
        for mod in _all_pitstop_modules()
        for cls in vars(mod).values()
        if inspect.isclass(cls)
        and issubclass(cls, BaseException)
        and cls.__module__ == mod.__name__ != "pitstop.errors"
        and not cls.__name__.startswith("_")
    ]
    assert stray == [], f"move these to pitstop.errors (and its drawn tree): {stray}"


def test_the_error_tree_is_drawn_and_exported() -> None:
    """Every class of pitstop.errors derives from PitstopError, appears in the tree drawn in
    the module docstring under its parent, and is importable from pitstop."""
    doc = pitstop.errors.__doc__ or ""
    classes = [
        cls for cls in vars(pitstop.errors).values()
        if inspect.isclass(cls) and cls.__module__ == "pitstop.errors"
    ]
    assert {c.__name__ for c in classes} == set(pitstop.errors.__all__)
    drawn: dict[str, str] = {}  # class -> the class drawn as its parent
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        m = re.match(r"^([\s│]*(?:[├└]── )?)(\w+)(?:\(|\s{2,}|$)", line)
        if not m or ("──" not in line and m.group(2) != "PitstopError"):
            continue
        depth, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        drawn[name] = stack[-1][1] if stack else ""
        stack.append((depth, name))
    for cls in classes:
        assert issubclass(cls, pitstop.errors.PitstopError), cls
        assert cls.__name__ in drawn, f"{cls.__name__} is not drawn in pitstop.errors' tree"
        assert getattr(pitstop, cls.__name__) is cls, f"pitstop does not export {cls.__name__}"
        if cls is not pitstop.errors.PitstopError:
            assert drawn[cls.__name__] == cls.__mro__[1].__name__, (
                f"{cls.__name__} is drawn under {drawn[cls.__name__]!r}, "
                f"but derives from {cls.__mro__[1].__name__}")


def test_import_pitstop_loads_no_heavy_library() -> None:
    """`import pitstop` and building an agent load no pandas, matplotlib, widgets or SDKs."""
    code = (
        "import sys, pitstop\n"
        "from pitstop import HybridAgent, SimulatedLLM\n"
        "HybridAgent('a', SimulatedLLM(), tools=['search'])\n"
        "heavy = [m for m in ('pandas', 'matplotlib', 'ipywidgets', 'openai', 'redis', "
        "'IPython', 'tiktoken', 'cachetools') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_import_pitstop_imports_only_the_lazy_helper() -> None:
    """A bare `import pitstop` loads pitstop and pitstop._lazy, nothing else of pitstop."""
    code = "import sys, pitstop\nprint(sorted(m for m in sys.modules if m.startswith('pitstop')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['pitstop', 'pitstop._lazy']"
