"""What a saved notebook keeps: every ``%%agent`` answer as static output.

Each tutorial with ``%%agent`` cells runs in a real kernel (nbclient), then is converted
to HTML with nbconvert, as nbviewer and GitHub would show it. Every answer must be in
the HTML, and no ``%%agent`` output may need a widget manager to show it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_OUT = re.compile(r"--out[ =](\w+)")


def _agent_tutorials() -> list[Path]:
    import nbformat

    return [p for p in sorted(NOTEBOOKS.glob("*.ipynb"))
            if any(c.cell_type == "code" and c.source.startswith("%%agent")
                   for c in nbformat.read(p, 4).cells)]


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text)


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _execute(nb: Any, cwd: Path) -> Any:
    from nbclient import NotebookClient

    os.environ.setdefault("PITSTOP_DEMO_LATENCY_SCALE", "0.1")
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", _agent_tutorials(), ids=lambda p: p.stem)
def test_every_agent_answer_is_in_the_executed_tutorial_as_html(path: Path,
                                                                tmp_path: Path) -> None:
    """nbclient runs the tutorial; nbconvert's HTML holds every %%agent answer as text."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, 4)
    answers: list[str] = []
    for i, cell in enumerate(nb.cells):  # keep each run's result to compare against
        if cell.cell_type == "code" and cell.source.startswith("%%agent"):
            first, _, body = cell.source.partition("\n")
            found = _OUT.search(first)
            var = found.group(1) if found else f"_pitstop_answer_{i}"
            if not found:
                cell.source = f"{first} --out {var}\n{body}"
            answers.append(var)
    dump = tmp_path / "answers.json"
    nb.cells.append(nbformat.v4.new_code_cell(
        f"import json\njson.dump([v['output'] for v in [{', '.join(answers)}]], "
        f"open({str(dump)!r}, 'w'))"))
    _execute(nb, NOTEBOOKS)
    outputs = json.loads(dump.read_text())
    assert len(outputs) == len(answers) and all(outputs)

    for cell in nb.cells:  # interactive widgets (the TTL tuner) may stay; a run may not
        if not cell.source.startswith("%%agent"):
            continue
        for out in cell.get("outputs", []):
            assert WIDGET_VIEW not in out.get("data", {}), \
                f"a widget is left in the saved notebook: {cell.source[:60]!r}"
    html, _ = HTMLExporter().from_notebook_node(nb)
    text = _words(re.sub(r"<[^>]+>", " ", html.replace("&#x27;", "'").replace("&amp;", "&")))
    for answer in outputs:
        assert _contains(text, _words(answer)), f"answer missing from the HTML: {answer[:80]!r}"
    plain = " ".join(str(out.get("data", {}).get("text/plain", ""))
                     for cell in nb.cells for out in cell.get("outputs", []))
    for answer in outputs:  # and the text/plain fallback holds it too
        assert _contains(_words(plain), _words(answer))
