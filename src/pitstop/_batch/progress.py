"""The progress bar of `HybridAgent.execute_batch`: a widget while the batch runs, static
HTML once it ends.

Outside a Jupyter kernel the bar is tqdm's text bar. In a kernel it is tqdm's notebook
widget while the batch runs; when the bar closes (the batch finished, failed or was
interrupted) the widget is replaced, under its display id, by `progress_bundle`: the
final bar as static HTML with tqdm's text line as ``text/plain``. A saved notebook
therefore shows how the batch ended when reopened, in nbconvert, nbviewer or on GitHub,
never "Error displaying widget: model not found" (what JupyterLab shows for a widget
whose model went with its kernel) nor the text of the bar as it was first drawn (0%).
"""

from __future__ import annotations

import functools
import html
import re
from typing import Any

__all__ = ["batch_progress", "progress_bundle"]

_GREEN, _RED, _TRACK = "#5cb85c", "#d9534f", "#e6e6e6"


def progress_bundle(bar: Any) -> dict[str, str]:
    """The bar as it stands, as static ``text/html`` and ``text/plain`` (tqdm's line).

    Args:
        bar: a tqdm bar (any of its classes).
    """
    fd = dict(bar.format_dict)
    plain = bar.format_meter(**{**fd, "ascii": False})
    marked = bar.format_meter(**{**fd, "bar_format": (fd.get("bar_format") or
                                                      "{l_bar}<bar/>{r_bar}")})
    left, _, right = re.split(r"(\|?<bar/>\|?)", marked, maxsplit=1)
    n, total = fd.get("n") or 0, fd.get("total")
    share = min(max(n / total, 0.0), 1.0) if total else 1.0
    colour = _GREEN if not total or n >= total else _RED
    page = (
        "<div class='pitstop-progress' style='display:flex;align-items:center;gap:8px;"
        "font-family:sans-serif;font-size:13px'>"
        f"<span>{html.escape(left.strip())}</span>"
        f"<div style='width:300px;height:18px;background:{_TRACK};border-radius:2px'>"
        f"<div style='width:{share * 100:.1f}%;height:100%;background:{colour};"
        "border-radius:2px'></div></div>"
        f"<span>{html.escape(right.strip())}</span></div>"
    )
    return {"text/html": page, "text/plain": plain}


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the notebook extra
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def batch_progress(**kwargs: Any) -> Any:
    """A tqdm bar: in a Jupyter kernel a widget that leaves `progress_bundle` in its place
    when it closes; elsewhere tqdm's text bar. ``kwargs`` are tqdm's."""
    if _in_kernel():
        try:
            return _notebook_bar_class()(**kwargs)
        except ImportError:  # no ipywidgets: tqdm's own choice below
            pass
    from tqdm.auto import tqdm

    return tqdm(**kwargs)


@functools.cache
def _notebook_bar_class() -> type:
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_tqdm

    class StaticEndingBar(notebook_tqdm):  # type: ignore[misc]  # tqdm ships no types
        """tqdm's notebook bar shown under a display id, replaced by static HTML on close."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(display=False, **kw)
            self._handle: Any = display(self.container, display_id=True)
            self.displayed = True

        def close(self) -> None:
            handle, self._handle = getattr(self, "_handle", None), None
            super().close()
            if handle is not None:
                handle.update(progress_bundle(self), raw=True)
                for part in (*self.container.children, self.container):
                    part.close()

    return StaticEndingBar
