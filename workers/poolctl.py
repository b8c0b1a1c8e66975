"""The control channel between the scaler and a local worker pool: two small files per model version.

The scaler and the pools run in different processes so that a scaler killed
with SIGKILL takes no worker with it, and a restarted scaler finds the pools as
they are. They meet in a *state directory*:

- ``<model>.<version>.replicas`` — the desired size, one integer. The scaler
  writes it; an operator may write it too (``echo 3 > ...``) when no scaler runs.
- ``<model>.<version>.status.json`` — ``{"size": n, "pids": [...]}``, what the
  pool runs now (``size`` excludes processes still draining after a shrink;
  ``pids`` lists every live process). The pool's controller writes it.

Both are replaced atomically (write a temporary file, then rename), so a reader
never sees half a file. The controller checks the desired file every
``poll_interval_s`` (a stat and a tiny read): cheap, portable, and a change
takes effect within one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson
import structlog

log = structlog.get_logger(__name__)

DESIRED_SUFFIX = ".replicas"
STATUS_SUFFIX = ".status.json"


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """What a pool runs: ``size`` processes kept running, ``pids`` of every live process."""

    size: int
    pids: tuple[int, ...]


def desired_path(state_dir: Path, model: str, version: str) -> Path:
    """The file holding the desired size of a model version's pool."""
    return state_dir / f"{model}.{version}{DESIRED_SUFFIX}"


def status_path(state_dir: Path, model: str, version: str) -> Path:
    """The file in which a model version's pool reports its size and pids."""
    return state_dir / f"{model}.{version}{STATUS_SUFFIX}"


def _replace(path: Path, data: bytes) -> None:
    # A per-process temporary name: the scaler and an operator may write at once.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_desired(state_dir: Path, model: str, version: str, replicas: int) -> None:
    """Ask the pool of a model version for ``replicas`` processes."""
    if replicas < 0:
        raise ValueError(f"replicas must be >= 0, got {replicas}")
    _replace(desired_path(state_dir, model, version), f"{replicas}\n".encode())


def read_desired(state_dir: Path, model: str, version: str) -> int | None:
    """The desired size, or None when the file is missing or not a non-negative integer."""
    try:
        text = desired_path(state_dir, model, version).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def write_status(state_dir: Path, model: str, version: str, status: PoolStatus) -> None:
    """Publish what the pool of a model version runs."""
    body = orjson.dumps({"size": status.size, "pids": list(status.pids)})
    _replace(status_path(state_dir, model, version), body)


def read_status(state_dir: Path, model: str, version: str) -> PoolStatus | None:
    """What the pool reported last, or None when no pool has reported (or the file is unreadable)."""
    try:
        doc = orjson.loads(status_path(state_dir, model, version).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    size, pids = doc.get("size"), doc.get("pids", [])
    if not isinstance(size, int) or size < 0 or not isinstance(pids, list):
        return None
    return PoolStatus(size=size, pids=tuple(p for p in pids if isinstance(p, int)))


class FilePool:
    """The scaler's view of a pool run by another process: ``size`` from its status, ``resize`` by file."""

    def __init__(self, state_dir: Path, model: str, version: str) -> None:
        self._state_dir = state_dir
        self._model = model
        self._version = version

    @property
    def size(self) -> int | None:
        """Processes the pool runs, or None while no pool reports."""
        status = read_status(self._state_dir, self._model, self._version)
        return None if status is None else status.size

    async def resize(self, n: int) -> None:
        """Write the desired size; the pool's controller applies it within its poll interval."""
        write_desired(self._state_dir, self._model, self._version, n)


class ResizablePool(Protocol):
    """What a controller drives: ``workers.pool.WorkerPool`` has this shape."""

    @property
    def size(self) -> int:
        """Processes kept running."""
        ...

    def pids(self) -> list[int]:
        """Pids of the live processes."""
        ...

    async def resize(self, n: int) -> None:
        """Grow or gracefully shrink to ``n`` processes."""
        ...

    async def stop(self) -> None:
        """Stop every process gracefully."""
        ...


class PoolController:
    """Applies the desired-size file to an in-process pool and reports the pool's status.

    Resizes run as tasks owned by the controller, so a shrink whose processes
    drain for seconds does not delay the next change; the pool serializes them.
    """

    def __init__(
        self,
        pool: ResizablePool,
        state_dir: Path,
        model: str,
        version: str,
        *,
        initial: int,
        limit: int,
        poll_interval_s: float = 0.5,
    ) -> None:
        self._pool = pool
        self._state_dir = state_dir
        self._model = model
        self._version = version
        self._initial = initial
        self._limit = limit
        self._poll_interval_s = poll_interval_s
        self._resizes: set[asyncio.Task[None]] = set()
        self._applied: int | None = None
        self._reported: PoolStatus | None = None
        self._log = log.bind(model=model, version=version)

    async def run(self, stop: asyncio.Event) -> None:
        """Start the pool at its initial size, follow the desired file until ``stop``, then stop it."""
        # A desired file left by an earlier run must not override this run's start.
        write_desired(self._state_dir, self._model, self._version, self._initial)
        try:
            while True:
                await self._apply(read_desired(self._state_dir, self._model, self._version))
                self._report()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll_interval_s)
                if stop.is_set():
                    break
        finally:
            await asyncio.gather(*self._resizes, return_exceptions=True)
            await self._pool.stop()
            for path in (
                desired_path(self._state_dir, self._model, self._version),
                status_path(self._state_dir, self._model, self._version),
            ):
                path.unlink(missing_ok=True)

    async def _apply(self, desired: int | None) -> None:
        if desired is None or desired == self._applied:
            return
        if desired > self._limit:
            self._log.warning("pool_desired_capped", desired=desired, limit=self._limit)
            desired = self._limit
        self._applied = desired
        self._log.info("pool_resize_requested", desired=desired, size=self._pool.size)
        task = asyncio.create_task(self._pool.resize(desired), name=f"resize-{self._model}-{self._version}")
        self._resizes.add(task)
        task.add_done_callback(self._resize_done)
        # One turn of the loop lets the resize update the pool's bookkeeping (it
        # suspends only to wait for draining processes), so the status written
        # next already shows the new size.
        await asyncio.sleep(0)

    def _resize_done(self, task: asyncio.Task[None]) -> None:
        self._resizes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("pool_resize_failed", error=repr(task.exception()))

    def _report(self) -> None:
        status = PoolStatus(size=self._pool.size, pids=tuple(self._pool.pids()))
        if status != self._reported:
            write_status(self._state_dir, self._model, self._version, status)
            self._reported = status
