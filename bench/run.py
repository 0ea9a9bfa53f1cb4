"""Run every benchmark and write one combined report to ``bench/results/latest.md``.

Usage (``make bench-quick`` and ``make bench`` call this)::

    .venv/bin/python bench/run.py [--quick] [--local] [--distributed] [--no-install]
                                  [--only core,peers]

1. Creates ``.bench-venv`` when it is missing, or refreshes it when
   ``bench/requirements-peers.txt`` or ``pyproject.toml`` changed: pitstop installed
   editable plus the peers (LangGraph, pydantic-ai, openai-agents, aiolimiter). The
   library's own ``.venv`` never gets the peers.
2. Runs ``bench/bench_peers.py`` and ``bench/bench_e2e.py`` with ``.bench-venv``'s Python.
3. Runs every other ``bench/bench_*.py`` (``bench_local.py`` only with ``--local``,
   ``bench_distributed.py``, which starts a local Ray, only with ``--distributed``;
   never ``bench_soak.py``, which ``make bench-soak`` runs) with
   the library venv's Python, each with ``--quick`` or in full.
4. Prints one report and writes it, with the machine, the date, the command and the
   peers' versions, to ``bench/results/latest.md``. A script that fails is reported as
   failed with its last lines; the exit status is 1 when any did.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
import tomllib
import venv
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
BENCH_VENV = ROOT / ".bench-venv"
REQUIREMENTS = BENCH / "requirements-peers.txt"
STAMP = BENCH_VENV / ".installed-peers"

sys.path.insert(0, str(BENCH))
from _harness import machine  # noqa: E402

ORDER = ("peers", "provider", "e2e", "core", "cache", "limits", "context", "notebook",
         "local")
"""Report order; scripts not listed here come after, alphabetically."""
PEER_SCRIPTS = ("peers", "provider", "e2e")
"""Scripts that compare against the peers, so run with ``.bench-venv``'s Python."""


@dataclass
class Outcome:
    name: str
    command: list[str]
    code: int | None  # None: timed out
    seconds: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def library_python() -> str:
    """The library venv's Python (this one when run from it)."""
    candidate = ROOT / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def bench_python() -> Path:
    return BENCH_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def wanted_stamp() -> str:
    """A digest of what .bench-venv must hold: the peers and pitstop's dependencies (an
    edit elsewhere in pyproject.toml needs no reinstall: pitstop is installed editable)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text()).get("project", {})
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(json.dumps([project.get("dependencies"), project.get("optional-dependencies"),
                              project.get("requires-python")], sort_keys=True).encode())
    return digest.hexdigest()


def ensure_bench_venv() -> str | None:
    """Create or refresh ``.bench-venv``; return None, or why the peers are unavailable."""
    py = bench_python()
    stamp = wanted_stamp()
    if py.exists() and STAMP.exists() and STAMP.read_text().strip() == stamp:
        return None
    action = "refreshing" if py.exists() else "creating"
    log(f"[run] {action} {BENCH_VENV.relative_to(ROOT)} (pitstop editable + peers; once)")
    try:
        if not py.exists():
            venv.EnvBuilder(with_pip=True).create(BENCH_VENV)
        pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        for args in (["--upgrade", "pip"],
                     ["-e", f"{ROOT}[openai,emulator]", "-r", str(REQUIREMENTS)]):
            done = subprocess.run(pip + args, capture_output=True, text=True, timeout=1200)
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
                return f"pip install {' '.join(args)} failed (exit {done.returncode}):\n{tail}"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not build {BENCH_VENV.name}: {type(exc).__name__}: {exc}"
    STAMP.write_text(stamp + "\n")
    return None


def run_script(name: str, command: list[str], timeout: float) -> Outcome:
    """Run one script; its stderr (progress) goes to the terminal as it comes."""
    log(f"[run] {name}: {shlex.join(command)}")
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    err_lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line)
            log(f"    {line.rstrip()}")

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read()
        code: int | None = proc.wait()
    finally:
        timed_out = not timer.is_alive()
        timer.cancel()
    reader.join(timeout=5)
    if timed_out:
        code = None
    seconds = time.perf_counter() - start
    log(f"[run] {name}: {'ok' if code == 0 else 'FAILED'} in {seconds:.1f} s")
    return Outcome(name, command, code, seconds, out, "".join(err_lines))


def scripts(local: bool, distributed: bool = False) -> list[tuple[str, Path]]:
    found = {p.stem.removeprefix("bench_"): p for p in BENCH.glob("bench_*.py")}
    found.pop("soak", None)  # minutes long: `make bench-soak` runs it on its own
    if not local:
        found.pop("local", None)
    if not distributed:
        found.pop("distributed", None)
    ranked = sorted(found, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return [(n, found[n]) for n in ranked]


def peer_versions(py: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'python': sys.version.split()[0]}\n"
        "for d in ('pitstop', 'langgraph', 'langchain-core', 'langchain-openai',"
        " 'pydantic-ai-slim', 'openai-agents', 'openai', 'httpx', 'msgspec', 'aiolimiter',"
        " 'cachetools', 'pydantic'):\n"
        "    try: out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: out[d] = 'not installed'\n"
        "print(json.dumps(out))\n"
    )
    try:
        done = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=60)
        return json.loads(done.stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}


def tail(text: str, n: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def _relative(command: list[str]) -> list[str]:
    """The command as run from the repository root, with no path of this machine."""
    out = []
    for part in command:
        path = Path(part)
        if path.is_absolute() and path.is_relative_to(ROOT):
            part = str(path.relative_to(ROOT))
        out.append(part)
    return out


def report(outcomes: list[Outcome], *, quick: bool, command: str, started: dt.datetime,
           versions: dict[str, str], venv_problem: str | None, load: str) -> str:
    lines = [
        f"# pitstop benchmarks ({'quick' if quick else 'full'})",
        "",
        f"- date: {started.isoformat(timespec='seconds')}",
        f"- machine: {machine()}",
        f"- load average at start (1/5/15 min): {load}",
        f"- command: `{command}`",
        "- peers (.bench-venv): " + (", ".join(f"{k} {v}" for k, v in versions.items())
                                     or "unknown"),
        "",
        "| script | status | time |",
        "|---|---|---|",
    ]
    for o in outcomes:
        status = "ok" if o.ok else ("TIMED OUT" if o.code is None else f"FAILED (exit {o.code})")
        lines.append(f"| bench_{o.name}.py | {status} | {o.seconds:.1f} s |")
    lines.append("")
    if venv_problem:
        lines += ["**The peers could not be installed**; bench_peers.py ran without them and "
                  "says so in every peer cell:", "", "```", venv_problem, "```", ""]
    for o in outcomes:
        lines += [f"## bench_{o.name}.py", "", f"`{shlex.join(_relative(o.command))}`", ""]
        if o.stdout.strip():
            lines += [o.stdout.rstrip(), ""]
        if not o.ok:
            why = "timed out" if o.code is None else f"exited with {o.code}"
            lines += [f"**FAILED: {why}.** Last lines of its output:", "", "```",
                      tail(o.stdout + "\n" + o.stderr), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark; write one report.")
    parser.add_argument("--quick", action="store_true", help="the short versions (about 4 min)")
    parser.add_argument("--local", action="store_true",
                        help="also run bench_local.py (needs the local model)")
    parser.add_argument("--distributed", action="store_true",
                        help="also run bench_distributed.py (starts a local Ray)")
    parser.add_argument("--no-install", action="store_true",
                        help="use .bench-venv as it is (no create/refresh)")
    parser.add_argument("--only", default="",
                        help="comma-separated script names, e.g. peers,core")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.md")
    args = parser.parse_args()

    started = dt.datetime.now(dt.UTC).astimezone()
    command = shlex.join(["python", "bench/run.py", *sys.argv[1:]])
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    todo = [(n, p) for n, p in scripts(args.local, args.distributed) if not only or n in only]
    mode = ["--quick"] if args.quick else []
    timeout = 300.0 if args.quick else 1800.0

    outcomes: list[Outcome] = []
    venv_problem: str | None = None
    versions: dict[str, str] = {}
    for name, path in todo:
        if name in PEER_SCRIPTS:
            if not args.no_install and not versions:
                venv_problem = ensure_bench_venv()
            py = bench_python() if bench_python().exists() else Path(library_python())
            if venv_problem:
                log(f"[run] peers unavailable: {venv_problem.splitlines()[0]}")
            if not versions:
                versions = peer_versions(py)
            cmd = [str(py), str(path.relative_to(ROOT)), *mode]
            if name in ("peers", "e2e"):
                cmd += ["--json", str((RESULTS / f"{name}.json").relative_to(ROOT))]
        else:
            cmd = [library_python(), str(path.relative_to(ROOT)), *mode]
        outcomes.append(run_script(name, cmd, timeout))

    text = report(outcomes, quick=args.quick, command=command, started=started,
                  versions=versions, venv_problem=venv_problem, load=load)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text, flush=True)
    log(f"[run] report written to {args.output}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
