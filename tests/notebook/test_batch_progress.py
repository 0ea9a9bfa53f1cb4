"""execute_batch's progress bar: a widget while the batch runs, static HTML when it ends."""

from __future__ import annotations

import io
from typing import Any

from tqdm import tqdm

from pitstop._batch.progress import _GREEN, _RED, _notebook_bar_class, progress_bundle
from pitstop.testing import record_comms

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_the_static_bar_shows_where_the_batch_stopped() -> None:
    """An interrupted bar is drawn red at its share with tqdm's counts; a full one green."""
    bar = tqdm(total=5, desc="crew batch", unit="task", file=io.StringIO())
    bar.update(2)
    stopped = progress_bundle(bar)
    assert "crew batch:  40%" in stopped["text/html"] and "2/5" in stopped["text/html"]
    assert f"width:40.0%;height:100%;background:{_RED}" in stopped["text/html"]
    assert stopped["text/plain"].startswith("crew batch:  40%|") and "2/5" in stopped["text/plain"]
    bar.update(3)
    assert f"width:100.0%;height:100%;background:{_GREEN}" in progress_bundle(bar)["text/html"]
    bar.close()


def test_the_notebook_bar_is_replaced_by_static_html_when_it_closes(ip: Any) -> None:
    """In a kernel the bar is a widget under a display id; closing it publishes the static
    bar under that id and closes the widget, so a saved notebook keeps no widget."""
    from IPython.utils.capture import capture_output

    with record_comms(), capture_output() as shown:
        bar = _notebook_bar_class()(total=3, desc="crew batch", unit="task")
        bar.update(3)
        bar.close()
        bar.close()  # a second close (tqdm's __del__ does one) publishes nothing more
    first, last = shown.outputs[0], shown.outputs[-1]
    assert WIDGET_VIEW in first.data and not first.update
    assert last.update and WIDGET_VIEW not in last.data
    assert last.transient["display_id"] == first.transient["display_id"]
    assert "3/3" in last.data["text/html"] and "100%" in last.data["text/plain"]
    assert len(shown.outputs) == 2
    assert bar.container.comm is None  # closed
