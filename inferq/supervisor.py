"""One supervised child process: restarted when it dies, stopped with SIGTERM then SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping, Sequence

import structlog

log = structlog.get_logger(__name__)


class Supervised:
    """Keeps ``command`` running from ``start()`` until ``stop()``; each exit before that is a restart."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        *,
        restart_backoff_s: float = 1.0,
        stop_grace_s: float = 30.0,
    ) -> None:
        self._name = name
        self._command = tuple(command)
        self._env = dict(env)
        self._restart_backoff_s = restart_backoff_s
        self._stop_grace_s = stop_grace_s
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._log = log.bind(child=name)

    @property
    def pid(self) -> int | None:
        """Pid of the running process, if one runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def start(self) -> None:
        """Launch the process and keep it running; idempotent."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"supervise-{self._name}")

    async def stop(self) -> None:
        """SIGTERM the process, SIGKILL it after the grace period, and wait; idempotent."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _supervise(self) -> None:
        while not self._stopping.is_set():
            try:
                process = await asyncio.create_subprocess_exec(*self._command, env=self._env)
            except OSError as exc:
                self._log.error("child_spawn_failed", error=str(exc))
            else:
                self._process = process
                self._log.info("child_started", pid=process.pid)
                if await self._exited_or_stopping(process):
                    self._log.warning("child_died", pid=process.pid, returncode=process.returncode)
                else:
                    await self._terminate(process)
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._restart_backoff_s)

    async def _exited_or_stopping(self, process: asyncio.subprocess.Process) -> bool:
        """Wait until the process exits (True) or stop is asked for while it runs (False)."""
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((exited, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if exited.done():
            return True
        exited.cancel()
        return False

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self._stop_grace_s)
        except TimeoutError:
            self._log.warning("child_kill_after_grace", pid=process.pid)
            process.kill()
            await process.wait()
        self._log.info("child_stopped", pid=process.pid, returncode=process.returncode)
