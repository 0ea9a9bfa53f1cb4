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

    env = {"PITSTOP_DEMO_LATENCY_SCALE": "0.1", **os.environ}  # the kernel's, not ours
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute(env=env)
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


TUNED_AGENT = (
    "from pitstop import CacheConfig, FunctionLLM, HybridAgent, LLMResponse, ToolCall\n"
    "from pitstop.notebook import TTLTuner\n"
    "async def lookup(query: str) -> str:\n"
    "    'Look something up.'\n"
    "    return query.upper()\n"
    "def model(messages, tools):\n"
    "    if messages[-1].role == 'tool':\n"
    "        return 'found it'\n"
    "    return LLMResponse(tool_calls=[ToolCall('lookup', {'query': 'pit'})])\n"
    "agent = HybridAgent('tuned', FunctionLLM(model), tools=[lookup],\n"
    "                    cache_config=CacheConfig(default_ttl=600), name='tuned')\n"
    "for _ in range(3):\n"
    "    await agent.execute_task('look it up')"
)
"""An agent whose three runs call ``lookup('pit')``: one miss, two hits at TTL 10 min."""


def _outputs(cell: Any) -> list[dict[str, Any]]:
    """The data bundles of a cell's outputs."""
    return [dict(out.get("data", {})) for out in cell.get("outputs", [])]


def _run(tmp_path: Path, *cells: str) -> tuple[Any, str]:
    """The cells run in a real kernel after `TUNED_AGENT`; the notebook and nbconvert's text."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c)
                                         for c in (TUNED_AGENT, *cells)])
    _execute(nb, tmp_path)
    html, _ = HTMLExporter().from_notebook_node(nb)
    return nb, " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.timeout(300)
def test_the_tuner_leaves_a_snapshot_of_its_last_state(tmp_path: Path) -> None:
    """A tuner changed twice after it was shown is saved with a static snapshot (HTML, the
    chart and a text/plain table) that shows the last choice, also in nbconvert's HTML."""
    nb, text = _run(tmp_path, "tuner = TTLTuner(agent)\ntuner",
                    # later changes, in quick succession: the snapshot must follow the last
                    "tuner.ttls = {'lookup': 30}\ntuner.ttls = {'lookup': 5}")
    outs = _outputs(nb.cells[1])
    snapshots = [o for o in outs if "pitstop-ttl-snapshot" in o.get("text/html", "")]
    assert len(snapshots) == 1, f"no static snapshot of the tuner: {outs}"
    snap = snapshots[0]
    assert "TTL tuner · lookup 5 s" in snap["text/html"]
    assert "data:image/png;base64," in snap["text/html"]  # the chart
    assert "TTLTuner (replayed)" in snap["text/plain"] and "lookup" in snap["text/plain"]
    row = next(line for line in snap["text/plain"].splitlines() if line.startswith("lookup"))
    assert row.split()[:2] == ["lookup", "5.0"]  # the chosen TTL, in seconds
    for out in outs:  # the live panel's own fallback says where its state went
        if WIDGET_VIEW in out:
            assert "last state is saved" in out["text/plain"]
    assert "TTL tuner · lookup 5 s" in text and "age of hits" in text


@pytest.mark.timeout(300)
def test_a_finished_batch_bar_is_static(tmp_path: Path) -> None:
    """execute_batch's bar is saved as static HTML of its end (no widget), with tqdm's line
    as text/plain; nbconvert shows 3/3, not the bar as it was first drawn."""
    nb, text = _run(tmp_path, "results = await agent.execute_batch(['a', 'b', 'c'])")
    outs = _outputs(nb.cells[1])
    assert outs and all(WIDGET_VIEW not in o for o in outs), outs
    (bar,) = [o for o in outs if "pitstop-progress" in o.get("text/html", "")]
    assert "3/3" in bar["text/html"] and "100%" in bar["text/plain"]
    assert "tuned batch: 100%" in text and "3/3" in text
    assert "0/3" not in text
