"""How pytest runs the tutorials (``pytest --nbmake notebooks``).

It lives at the root, not in `notebooks/`, which users browse in JupyterLab and Binder.

pytest-timeout's ``timeout = 120`` (pyproject) is meant for one test function; applied to
a whole notebook it is tighter than nbmake's own limit (``--nbmake-timeout`` seconds per
cell), and a loaded machine (a kernel that starts slowly, a CPU-heavy cell) went past it
while every cell was within its own limit. A notebook gets as long as nbmake allows its
cells together, plus a minute for the kernel to start: still bounded, nothing hangs.
"""

from __future__ import annotations

import json

import pytest

KERNEL_START_S = 60
"""What nbclient gives a kernel to start (its ``startup_timeout``)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    per_cell = config.getoption("nbmake_timeout", default=None)
    if per_cell is None:
        return
    for item in items:
        if item.path.suffix != ".ipynb" or item.get_closest_marker("timeout") is not None:
            continue
        cells = json.loads(item.path.read_text(encoding="utf-8"))["cells"]
        code = sum(1 for c in cells if c["cell_type"] == "code")
        item.add_marker(pytest.mark.timeout(KERNEL_START_S + per_cell * max(code, 1)))
