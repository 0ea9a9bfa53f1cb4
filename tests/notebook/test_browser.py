"""One real-browser check: %%agent streams into the widget in JupyterLab.

JupyterLab runs on loopback (a free port, a token, a throw-away root and settings
directory); headless Chromium, driven by Playwright, runs a notebook whose ``%%agent``
cell streams a paced SimulatedLLM answer for a few seconds. The widget's text must grow
while the cell is still running and hold the final answer at the end. A screenshot goes
to ``test-artifacts/``. Every wait is time-boxed.

Needs ``apt-get install -y chromium`` and ``pip install playwright`` (never
``playwright install``: the Debian Chromium is used).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TASK = "Tell me a short story about pit stops"
CELLS = [
    "%load_ext pitstop\n"
    "from pitstop import HybridAgent, SimulatedLLM\n"
    "slow = HybridAgent('browser', SimulatedLLM(time_to_first_token=0.3, "
    "tokens_per_second=20), tools=['calculator'])",
    # the browser loads the widget code on first use; load it before the timed cell
    "import ipywidgets\nipywidgets.Label('widgets ready')",
    f"%%agent slow --out r\n{TASK}",
    "open('answer.txt', 'w').write(r['output'])",
]
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


def test_agent_cell_streams_into_the_widget_in_jupyterlab(lab: tuple[str, Path]) -> None:
    """The widget's text grows while the cell runs, then holds the final answer."""
    from playwright.sync_api import sync_playwright

    url, root = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    headless=True, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
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
            body = agent_cell.locator(".widget-output")
            body.wait_for(state="attached", timeout=60_000)

            samples: list[int] = []
            deadline = time.monotonic() + 60
            while "[*]" in prompt.inner_text() and time.monotonic() < deadline:
                samples.append(len(body.inner_text()))
                if len(samples) == 12:
                    agent_cell.screenshot(path=str(ARTIFACTS / "browser_stream_running.png"))
                page.wait_for_timeout(150)
            assert "[*]" not in prompt.inner_text(), "the %%agent cell did not finish in 60 s"
            shown = [n for n in samples if n > 0]  # 0: the view re-rendering at the end
            assert len(set(shown)) >= 3, f"text did not grow while running: {samples}"
            assert shown == sorted(shown), f"text shrank while streaming: {samples}"

            answer_file = root / "answer.txt"
            end = time.monotonic() + 30
            while not answer_file.exists() and time.monotonic() < end:
                page.wait_for_timeout(200)
            answer = answer_file.read_text()
            assert body.inner_text().strip() == answer.strip()
            status = agent_cell.locator(".pitstop-status").inner_text()
            assert status.startswith("✓ done in")
            agent_cell.screenshot(path=str(ARTIFACTS / "browser_stream.png"))
        finally:
            browser.close()
