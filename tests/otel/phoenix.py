"""A real tracing backend for the tests: Arize Phoenix on loopback, from its own venv.

`make phoenix` creates ``.phoenix-venv`` (Phoenix pins many packages, so it never goes
into pitstop's venv). The server runs with telemetry and every outside resource off,
an in-memory database and free loopback ports, and is stopped by the tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def phoenix_binary() -> Path | None:
    """The ``phoenix`` command of ``.phoenix-venv`` (or $PITSTOP_PHOENIX), if installed."""
    configured = os.environ.get("PITSTOP_PHOENIX")
    path = Path(configured) if configured else ROOT / ".phoenix-venv" / "bin" / "phoenix"
    return path if path.is_file() else None


class PhoenixServer:
    """``phoenix serve`` on free loopback ports, in a throwaway working directory."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.grpc_port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="pitstop-phoenix-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.ready_after: float | None = None
        """Seconds from start to the first healthy answer."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OTEL_", "PHOENIX_"))}  # no self-tracing, no stray config
        env.update({
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(self.grpc_port),
            "PHOENIX_WORKING_DIR": str(self.workdir),
            "PHOENIX_SQL_DATABASE_URL": "sqlite:///:memory:",
            # never phone home: no usage telemetry, no fetching of outside resources
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
            "PHOENIX_AGENTS_DISABLE_BASH": "true",
            "DO_NOT_TRACK": "1",
        })
        self.log = open(self.workdir / "phoenix.log", "wb")
        self.started_at = time.monotonic()
        # the launcher keeps Phoenix's gRPC server on loopback too (it binds [::] otherwise)
        launcher = Path(__file__).with_name("phoenix_loopback.py")
        python = self.binary.with_name("python")
        self.proc = subprocess.Popen([str(python), str(launcher), "serve"], env=env,
                                     stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir)

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Block until ``/healthz`` answers; raise with the server's log if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"phoenix serve exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        if self.ready_after is None:
                            self.ready_after = time.monotonic() - self.started_at
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"phoenix serve not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as r:
            return json.load(r)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.workdir / "phoenix.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
