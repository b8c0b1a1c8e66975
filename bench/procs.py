"""The systems under test run as child processes, each in its own session, and none outlives the harness.

Every child is registered on start; `stop` sends SIGTERM (the systems drain and
leave their group), then SIGKILLs the process group if it does not exit in time.
`stop_all` runs at interpreter exit and on SIGTERM/SIGINT of the harness.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STOP_TIMEOUT_S = 30.0


@dataclass
class Child:
    """A running system process and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    spawned_at: float
    """Wall-clock time of the spawn."""

    def alive(self) -> bool:
        """Still running."""
        return self.popen.poll() is None

    def children(self) -> list[int]:
        """Pids of its direct children."""
        path = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def log_tail(self, lines: int = 15) -> str:
        """The end of what it wrote, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


_CHILDREN: dict[int, Child] = {}


def spawn(
    name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path, *, program: str | None = None
) -> Child:
    """Start `python ARGV` (the venv's; or `program ARGV`) in a new session, output to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [program or sys.executable, *argv],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    child = Child(name, popen, log_path, time.time())
    _CHILDREN[popen.pid] = child
    return child


def stop(child: Child, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
    """SIGTERM, wait, then SIGKILL its process group; returns the exit code."""
    popen = child.popen
    try:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(popen.pid)
                popen.wait(10)
        # Its session may hold children of its own: never leave them behind.
        _kill_group(popen.pid)
    finally:
        _CHILDREN.pop(popen.pid, None)
    return popen.returncode


@contextmanager
def running(name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> Iterator[Child]:
    """`spawn` for the duration of a block; stopped on exit, whatever happens."""
    child = spawn(name, argv, env, log_path)
    try:
        yield child
    finally:
        stop(child)


def stop_all() -> None:
    """Stop every child still registered (at exit, or when the harness is interrupted)."""
    for child in list(_CHILDREN.values()):
        stop(child, timeout_s=10.0)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _on_signal(signum: int, _frame: object) -> None:
    stop_all()
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    """Stop children at exit and on SIGTERM/SIGINT (call once, from the entry point)."""
    atexit.register(stop_all)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
