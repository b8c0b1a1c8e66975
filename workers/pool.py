"""A supervised pool of worker processes for one model version.

Each slot runs `python -m workers.process` (one consumer in the version's
group). A slot whose process dies unexpectedly is restarted; shrinking the pool
or stopping it sends SIGTERM so that each process drains, commits and leaves
its group before exiting (SIGKILL only after the grace period).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Loaded here, not in the forked child, which should run as little Python as possible before exec.
_LIBC = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """What a pool runs: one model version from a repository."""

    repository: Path
    model: str
    version: str
    metrics_port_base: int = 0
    stop_grace_s: float = 30.0
    restart_backoff_s: float = 1.0

    def command(self) -> list[str]:
        """The command line of one worker process."""
        return [
            sys.executable,
            "-m",
            "workers.process",
            "--repository",
            str(self.repository),
            "--model",
            self.model,
            "--version",
            self.version,
        ]


class _Slot:
    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.retiring = False
        self.task: asyncio.Task[None] | None = None


class WorkerPool:
    """Runs and supervises N worker processes; `resize` grows or gracefully shrinks it."""

    def __init__(self, spec: PoolSpec, *, env: Mapping[str, str] | None = None) -> None:
        self._spec = spec
        self._env = dict(os.environ if env is None else env)
        self._slots: list[_Slot] = []
        self._lock = asyncio.Lock()
        self._log = log.bind(model=spec.model, version=spec.version)

    @property
    def size(self) -> int:
        """Processes the pool keeps running (retiring ones excluded)."""
        return sum(1 for s in self._slots if not s.retiring)

    def pids(self) -> list[int]:
        """Pids of the running processes, oldest slot first."""
        return [s.process.pid for s in self._slots if s.process is not None and s.process.returncode is None]

    async def resize(self, n: int) -> None:
        """Grow to or shrink to `n` processes; shrinking retires the newest slots gracefully."""
        async with self._lock:
            live = [s for s in self._slots if not s.retiring]
            if n > len(live):
                used = {s.index for s in self._slots}
                free = (i for i in range(len(self._slots) + n) if i not in used)
                for _ in range(n - len(live)):
                    slot = _Slot(next(free))
                    self._slots.append(slot)
                    slot.task = asyncio.create_task(self._supervise(slot), name=f"slot-{slot.index}")
            retiring = live[n:] if n < len(live) else []
            for slot in retiring:
                slot.retiring = True
            self._log.info("pool_resized", size=n, retiring=len(retiring))
        await asyncio.gather(*(self._retire(s) for s in retiring))

    async def stop(self) -> None:
        """Stop every process gracefully; idempotent."""
        await self.resize(0)

    async def _retire(self, slot: _Slot) -> None:
        process = slot.process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self._spec.stop_grace_s)
            except TimeoutError:
                self._log.warning("worker_kill_after_grace", pid=process.pid)
                process.kill()
                await process.wait()
        if slot.task is not None:
            slot.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await slot.task
        self._slots.remove(slot)

    async def _supervise(self, slot: _Slot) -> None:
        env = dict(self._env)
        # Each process needs a port of its own; an inherited INFERQ_METRICS_PORT would collide.
        base = self._spec.metrics_port_base
        env["INFERQ_METRICS_PORT"] = str(base + slot.index) if base else "0"
        # The slot names the process across restarts (exactly-once mode derives its transactional id from it).
        env["INFERQ_INSTANCE"] = str(slot.index)
        while not slot.retiring:
            slot.process = await asyncio.create_subprocess_exec(
                *self._spec.command(), env=env, preexec_fn=_stop_with_parent
            )
            self._log.info("worker_started", slot=slot.index, pid=slot.process.pid)
            code = await asyncio.shield(slot.process.wait())
            if slot.retiring:
                return
            self._log.warning("worker_died", slot=slot.index, pid=slot.process.pid, returncode=code)
            await asyncio.sleep(self._spec.restart_backoff_s)


async def run_pool(spec: PoolSpec, processes: int, stop: asyncio.Event) -> None:
    """Run a pool of `processes` until `stop` is set, then stop it gracefully."""
    pool = WorkerPool(spec)
    await pool.resize(processes)
    try:
        await stop.wait()
    finally:
        await pool.stop()


def _stop_with_parent() -> None:
    """In the child before exec: SIGTERM it when the pool's process dies, even by SIGKILL (Linux)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
