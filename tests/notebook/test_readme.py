"""The README's examples run in a notebook as written (a real kernel, through nbclient)."""

from __future__ import annotations

from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _cells() -> list[str]:
    """The README's Python blocks and notebook-cell blocks (magics), in order."""
    blocks: list[tuple[str, str]] = []
    fence: str | None = None
    lines: list[str] = []
    for line in README.read_text().splitlines(keepends=True):
        if fence is None and line.startswith("```"):
            fence, lines = line[3:].strip(), []
        elif fence is not None and line.startswith("```"):
            blocks.append((fence, "".join(lines)))
            fence = None
        elif fence is not None:
            lines.append(line)
    cells = []
    for lang, body in blocks:
        if not (lang == "python" or (not lang and body.lstrip().startswith("%"))):
            continue
        if _needs_a_server(body):  # its imports still run: later blocks use the names
            body = "".join(line for line in body.splitlines(keepends=True)
                           if line.startswith(("from ", "import ")))
        if body.strip():
            cells.append(body)
    return cells


def _needs_a_server(code: str) -> bool:
    """A block that calls a real provider or the local model server (their own tests
    cover those; this one has no network and no key)."""
    lines = [line.split("#")[0] for line in code.splitlines()]
    return any(name in line for line in lines for name in ("OpenAIClient(", "LocalModel("))


@pytest.mark.timeout(300)
def test_readme_examples_run_in_a_notebook_as_written(tmp_path: Path) -> None:
    """Every example cell runs without an error in a Jupyter kernel, run_sync included."""
    import nbformat
    from nbclient import NotebookClient

    cells = _cells()
    assert any("run_sync(" in c for c in cells) and any(c.startswith("%%agent") for c in cells)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    first = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "Here is what I found" in first and "('weather', False)" in first
