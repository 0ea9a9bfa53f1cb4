"""The notebook layer loads lazily and its public names are the objects, not modules."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import pitstop.notebook


def test_public_names_are_not_shadowed_by_submodules() -> None:
    """After every submodule is imported, each public name is still the function/class."""
    for info in pkgutil.iter_modules(pitstop.notebook.__path__):
        importlib.import_module(f"pitstop.notebook.{info.name}")
    for name in pitstop.notebook.__all__:
        value = getattr(pitstop.notebook, name)
        assert not isinstance(value, types.ModuleType), name


def test_import_pitstop_and_load_ext_stay_cheap() -> None:
    """import pitstop loads no notebook library; loading the extension no pandas/matplotlib."""
    script = (
        "import sys, pitstop\n"
        "heavy = ('pandas', 'matplotlib', 'ipywidgets', 'IPython')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "pitstop.load_ipython_extension(InteractiveShell.instance())\n"
        "print(sorted(m for m in ('pandas', 'matplotlib', 'ipywidgets') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout.splitlines()
    assert out == ["[]", "[]"]
