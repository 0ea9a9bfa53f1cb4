"""Lazy exports: a public module's names load from their private modules on first use.

A public module lists its names in a table and hands it to `attach`, which returns
the module's ``__getattr__`` and ``__dir__`` (PEP 562)::

    __all__ = ["HybridAgent", ...]
    __getattr__, __dir__ = _lazy.attach(__name__, {"HybridAgent": "pitstop._agent", ...})

    if TYPE_CHECKING:  # the same table, for type checkers and IDEs
        from pitstop._agent import HybridAgent

So ``import pitstop`` imports nothing but this module; ``pitstop.HybridAgent`` imports
``pitstop._agent`` once and stores the class in the package, so later look-ups are a
plain dict read. ``tests/test_exported_members.py`` checks that ``__all__``, the table
and the ``TYPE_CHECKING`` imports agree.
"""

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["attach"]


def attach(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for `package`, loading each name from `exports`.

    Args:
        package: the public module's ``__name__``.
        exports: public name -> the module that defines it.
    """
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
