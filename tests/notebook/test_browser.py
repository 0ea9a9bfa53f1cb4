"""Real-browser checks: %%agent in JupyterLab, live and after a save and reload; the TTL
tuner and a batch's progress bar after the saved notebook is reopened with a new kernel.

JupyterLab runs on loopback (a free port, a token, a throw-away root and settings
directory); headless Chromium, driven by Playwright, runs a notebook whose ``%%agent``
cell streams a paced Markdown answer for a few seconds. The answer must grow, rendered
as Markdown, in a box that keeps its end in view while the cell runs; the run must
then leave static HTML (no widget) that still shows the whole answer after the
notebook is saved and the page reloaded. Screenshots go to ``test-artifacts/``. Every
wait is time-boxed.

Needs ``apt-get install -y chromium`` and ``pip install playwright`` (never
``playwright install``: the Debian Chromium is used).
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_saved_output import TUNED_AGENT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TASK = "Tell me about pit stops"
# a Markdown answer long enough to overflow the 32 em box, with HTML the page must not run
ANSWER = ("## Pit stops\n\nA **fast** stop takes about two seconds.\n\n- tyres\n- fuel\n\n"
          + "".join(f"Paragraph {i} tells how crew member {i} moves in the box.\n\n"
                    for i in range(24))
          + "<script>window.pwned = 1</script> <img src=x onerror='window.pwned = 2'>\n")
CELLS = [
    "%load_ext pitstop\n"
    "from pitstop import FunctionLLM, HybridAgent\n"
    f"ANSWER = {ANSWER!r}\n"
    "md = HybridAgent('browser', FunctionLLM(lambda messages, tools: ANSWER, "
    "time_to_first_token=0.3, tokens_per_second=60), name='markdown bot')\n"
    # a crew whose second tool call waits about 1 s for the per-minute limit
    "import asyncio\n"
    "from pitstop import LLMResponse, ResourceLimits, ToolCall\n"
    "async def pit_crew(job: str) -> str:\n"
    "    'Do one pit stop job (takes 1.5 s).'\n"
    "    await asyncio.sleep(1.5)\n"
    "    return job + ' done'\n"
    "def crew_model(messages, tools):\n"
    "    if messages[-1].role == 'tool':\n"
    "        return 'All **four** tyres changed.'\n"
    "    return LLMResponse(tool_calls=[ToolCall('pit_crew', {'job': 'front left'}),\n"
    "                                   ToolCall('pit_crew', {'job': 'rear right'})])\n"
    "crew = HybridAgent('crew', FunctionLLM(crew_model, time_to_first_token=0.3), "
    "tools=[pit_crew], resource_limits=ResourceLimits(max_tool_calls_per_minute=60, "
    "tool_call_burst_size=1), name='pit crew')",
    # the browser loads the widget code on first use; load it before the timed cell
    "import ipywidgets\nipywidgets.Label('widgets ready')",
    f"%%agent md --out r\n{TASK}",
    "open('answer.txt', 'w').write(r['output'])",
    "%%agent crew --timeline\nChange the tyres",
]
TUNER_CELLS = [TUNED_AGENT, "tuner = TTLTuner(agent)\ntuner",
               "results = await agent.execute_batch(['a', 'b', 'c'])"]
# not awaited: the command's promise resolves only when the cell has finished
RUN_NEXT = "() => { void window.jupyterapp.commands.execute('notebook:run-cell-and-select-next'); }"

KERNEL_IDLE = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = w && w.sessionContext && w.sessionContext.session
        && w.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle';
}"""

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on loopback; yields (base url with token, root dir)."""
    import nbformat

    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed: apt-get install -y chromium")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "stream.ipynb")
    tuned = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in TUNER_CELLS])
    tuned.metadata["kernelspec"] = nb.metadata["kernelspec"]
    nbformat.write(tuned, root / "tuner.ipynb")
    # no "get notified about Jupyter news?" toast over the screenshots
    toast = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    toast.mkdir(parents=True)
    (toast / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.update({
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "PITSTOP_DEMO_LATENCY_SCALE": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    })
    log = (tmp_path / "lab.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly", "--ServerApp.allow_root=True"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start within 60 s:\n"
                                + (tmp_path / "lab.log").read_text()[-2000:])
                time.sleep(0.25)
        yield f"{base}/lab/tree/stream.ipynb?token={token}", root
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[A-Za-z0-9]+", text)


FOLLOWS_END = """el => el.scrollHeight > el.clientHeight + 20 && Math.abs(el.scrollTop) < 4"""
METRICS = """el => [el.scrollHeight, el.clientHeight, el.scrollTop,
                    getComputedStyle(el).flexDirection, getComputedStyle(el).overflowY]"""


def test_agent_cell_streams_markdown_and_survives_a_reload(lab: tuple[str, Path]) -> None:
    """The answer grows as Markdown in a box that follows its end; the run then leaves
    static HTML that is still there, whole, after the notebook is saved and reloaded."""
    from playwright.sync_api import sync_playwright

    url, root = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    headless=True, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(60_000)
            page.goto(url, timeout=90_000)
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            page.evaluate(RUN_NEXT)
            page.evaluate(RUN_NEXT)
            page.locator(".widget-label", has_text="widgets ready").wait_for(timeout=60_000)
            page.evaluate(RUN_NEXT)
            page.evaluate(RUN_NEXT)
            agent_cell = page.locator(".jp-Notebook .jp-Cell").nth(2)
            prompt = agent_cell.locator(".jp-InputPrompt")
            box = agent_cell.locator(".pitstop-stream")
            box.wait_for(state="attached", timeout=60_000)

            samples: list[int] = []
            rendered = followed = False
            metrics: list[Any] = []
            deadline = time.monotonic() + 60
            while "[*]" in prompt.inner_text() and time.monotonic() < deadline:
                try:
                    samples.append(len(box.inner_text(timeout=1_000)))
                    rendered = rendered or box.locator("h2, strong, li").count() >= 3
                    followed = followed or bool(box.evaluate(FOLLOWS_END, timeout=1_000))
                    metrics.append(box.evaluate(METRICS, timeout=1_000))
                except Exception:  # the box is replaced by static output when the run ends
                    break
                if len(samples) == 25:
                    agent_cell.screenshot(path=str(ARTIFACTS / "browser_stream_running.png"))
                page.wait_for_timeout(150)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            assert "[*]" not in prompt.inner_text(), "the %%agent cell did not finish in 60 s"
            shown = [n for n in samples if n > 0]
            assert len(set(shown)) >= 3, f"text did not grow while running: {samples}"
            assert rendered, "the streaming answer was not rendered as Markdown"
            assert followed, f"the box did not keep the end of the text in view: {metrics}"

            answer_file = root / "answer.txt"
            end = time.monotonic() + 30
            while not answer_file.exists() and time.monotonic() < end:
                page.wait_for_timeout(200)
            answer = answer_file.read_text()

            def check_static(where: str) -> None:
                run = agent_cell.locator(".pitstop-run")
                run.wait_for(timeout=30_000)
                assert agent_cell.locator(".pitstop-stream").count() == 0, where
                status = run.locator(".pitstop-status").inner_text()
                assert status.startswith("✓ done in") and "markdown bot" in status, status
                body = run.locator(".pitstop-answer")
                assert _words(body.inner_text()) == _words(answer), where
                assert body.locator("h2").inner_text() == "Pit stops"
                assert body.locator("strong").inner_text() == "fast"
                assert "<script>" in body.inner_text()  # shown as text, never run
                assert page.evaluate("() => window.pwned") is None
                assert body.evaluate("el => el.scrollHeight <= el.clientHeight + 1"), \
                    f"{where}: the final answer is cut by a scroll box"
                assert "Error displaying widget" not in agent_cell.inner_text()

            check_static("after the run")
            agent_cell.screenshot(path=str(ARTIFACTS / "browser_stream.png"))

            # a limiter wait is shown while it lasts; the live timeline grows
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            page.evaluate(RUN_NEXT)
            crew_cell = page.locator(".jp-Notebook .jp-Cell").nth(4)
            crew_prompt = crew_cell.locator(".jp-InputPrompt")
            crew_cell.locator(".pitstop-live-timeline").wait_for(timeout=60_000)
            waits_seen: list[str] = []
            widths: list[float] = []
            bars: list[int] = []
            deadline = time.monotonic() + 60
            while "[*]" in crew_prompt.inner_text() and time.monotonic() < deadline:
                try:
                    notes = crew_cell.locator(".pitstop-note").all_inner_texts()
                    waits_seen += [n for n in notes if n.startswith("◷ waiting for")]
                    chart = crew_cell.locator(".pitstop-live-timeline")
                    if chart.count():
                        bars.append(chart.locator(".pitstop-live-bar").count())
                        running = chart.locator(".pitstop-live-running")
                        if running.count():
                            box = running.first.bounding_box(timeout=500)
                            if box is not None:
                                widths.append(box["width"])
                        if len(bars) == 8:
                            crew_cell.screenshot(path=str(ARTIFACTS / "browser_live.png"))
                except Exception:  # replaced by the static output as the run ends
                    pass
                page.wait_for_timeout(100)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            assert any("tool calls/minute, about" in w for w in waits_seen), waits_seen
            assert max(bars, default=0) >= 3, f"the live timeline did not grow: {bars}"
            assert any(b > a for a, b in itertools.pairwise(widths)), \
                f"no running bar grew: {widths}"
            crew_cell.locator("img").wait_for(timeout=30_000)  # the static chart in its place
            assert crew_cell.locator(".pitstop-live-timeline").count() == 0
            assert "waiting for" not in crew_cell.inner_text()
            assert "◔ waited" in crew_cell.locator(".pitstop-run").inner_text()
            crew_cell.screenshot(path=str(ARTIFACTS / "browser_timeline.png"))

            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            saved = root / "stream.ipynb"
            end = time.monotonic() + 30
            while "pitstop-run" not in saved.read_text() and time.monotonic() < end:
                page.wait_for_timeout(200)
            outputs = json.loads(saved.read_text())["cells"][2]["outputs"]
            assert outputs and all("application/vnd.jupyter.widget-view+json"
                                   not in o.get("data", {}) for o in outputs)

            page.reload(timeout=90_000)
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            agent_cell = page.locator(".jp-Notebook .jp-Cell").nth(2)
            check_static("after a reload")
            agent_cell.scroll_into_view_if_needed()
            agent_cell.screenshot(path=str(ARTIFACTS / "browser_reloaded.png"))
        finally:
            browser.close()


WIDGET_ERRORS = ("Error displaying widget", "model not found", "Loading widget")


def test_tuner_and_batch_bar_show_their_last_state_after_a_reopen(
        lab: tuple[str, Path]) -> None:
    """A tuner moved in the browser and a finished batch bar, saved, then reopened with a new
    kernel (the widget models are gone): the tuner's last choice, its table and chart and
    the bar's end are shown, and no widget error is."""
    import re
    import urllib.parse

    from playwright.sync_api import sync_playwright

    stream_url, root = lab
    url = stream_url.replace("stream.ipynb", "tuner.ipynb")
    parts = urllib.parse.urlsplit(url)
    base, token = f"{parts.scheme}://{parts.netloc}", parts.query.removeprefix("token=")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    headless=True, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(60_000)
            page.goto(url, timeout=90_000)
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            page.evaluate("() => { void window.jupyterapp.commands.execute("
                          "'notebook:run-all-cells'); }")
            cells = page.locator(".jp-Notebook .jp-Cell")
            tuner, batch = cells.nth(1), cells.nth(2)
            batch.locator(".jp-InputPrompt", has_text="[3]").wait_for(timeout=90_000)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)

            # live: the panel, not its snapshot; moving a slider updates the snapshot
            handle = tuner.locator(".noUi-handle").first
            handle.wait_for(timeout=30_000)
            snapshot = tuner.locator(".pitstop-ttl-snapshot")
            assert snapshot.count() == 1, "the tuner left no static snapshot"
            assert snapshot.is_hidden(), "the snapshot is shown next to the live panel"
            assert not any(e in tuner.inner_text() for e in WIDGET_ERRORS)
            handle.focus()
            page.keyboard.press("ArrowLeft")  # 10 min -> 5 min -> 1 min: the second
            page.keyboard.press("ArrowLeft")  # change is sent by the coalescer's timer
            end = time.monotonic() + 30
            while "lookup 1 min" not in snapshot.text_content() and time.monotonic() < end:
                page.wait_for_timeout(200)
            assert "lookup 1 min" in snapshot.text_content()
            assert "1 min" in tuner.locator(".widget-readout").first.inner_text()
            tuner.screenshot(path=str(ARTIFACTS / "browser_tuner_live.png"))

            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            saved = root / "tuner.ipynb"
            end = time.monotonic() + 30
            while "lookup 1 min" not in saved.read_text() and time.monotonic() < end:
                page.wait_for_timeout(200)
            assert "lookup 1 min" in saved.read_text()
            page.close()

            # reopen with a new kernel: the old kernel, and every widget model, is gone
            api = f"{base}/api/sessions?token={token}"
            with urllib.request.urlopen(api, timeout=10) as r:
                sessions = json.load(r)
            for session in sessions:
                urllib.request.urlopen(urllib.request.Request(
                    f"{base}/api/sessions/{session['id']}?token={token}", method="DELETE"),
                    timeout=30).close()
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(60_000)
            page.goto(url, timeout=90_000)
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            cells = page.locator(".jp-Notebook .jp-Cell")
            tuner, batch = cells.nth(1), cells.nth(2)
            snapshot = tuner.locator(".pitstop-ttl-snapshot")
            snapshot.wait_for(state="visible", timeout=30_000)
            page.wait_for_timeout(1_000)  # the widget manager has given up on the old model
            shown = tuner.inner_text()
            assert not any(e in shown for e in WIDGET_ERRORS), shown
            assert "TTL tuner · lookup 1 min" in snapshot.inner_text()
            assert re.search(r"lookup\s+1 min\s+67% \(2/3\)", snapshot.inner_text()), \
                snapshot.inner_text()
            assert snapshot.locator("img").is_visible()
            assert snapshot.locator("img").evaluate("el => el.naturalWidth") > 300
            bar = batch.locator(".pitstop-progress")
            assert bar.is_visible() and "3/3" in bar.inner_text()
            assert not any(e in batch.inner_text() for e in WIDGET_ERRORS)
            tuner.scroll_into_view_if_needed()
            tuner.screenshot(path=str(ARTIFACTS / "browser_tuner_reopened.png"))
            batch.screenshot(path=str(ARTIFACTS / "browser_batch_reopened.png"))
        finally:
            browser.close()
