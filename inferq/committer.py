"""Commit after acknowledgement: offsets are committed batch after batch, in order, once every
record a batch produced is acknowledged by the cluster. Shared by routers and workers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.errors import CommitFailedError, IllegalStateError

from inferq.transport import Consumer, Offsets

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Pending:
    acked: Awaitable[Any]
    offsets: Offsets
    after: Callable[[], None] | None


class AckCommitter:
    """An ordered queue of (acknowledgement, offsets); `run` is its task, `drain` waits for it to empty."""

    def __init__(self, consumer: Consumer, *, depth: int = 8) -> None:
        self._consumer = consumer
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue(maxsize=depth)

    async def submit(
        self, acked: Awaitable[Any], offsets: Offsets, after: Callable[[], None] | None = None
    ) -> None:
        """Queue a batch (waits while `depth` batches are unacknowledged: back-pressure on the fetcher)."""
        await self._queue.put(_Pending(acked, offsets, after))

    async def close(self) -> None:
        """No more batches: `run` returns once the queued ones are committed."""
        await self._queue.put(None)

    async def drain(self) -> None:
        """Wait until every queued batch is committed (used before partitions are revoked)."""
        await self._queue.join()

    async def run(self) -> None:
        """Await acknowledgements in order and commit; a failed produce raises and stops the service.

        Batches already queued behind the first are taken together and
        committed with one request (the last offsets win): under load that
        turns many commit round trips into one without delaying any.
        """
        while True:
            items = [await self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                done = items[-1] is None
                batches = [item for item in items if item is not None]
                offsets: dict[tuple[str, int], int] = {}
                for item in batches:
                    await item.acked
                    offsets.update(item.offsets)
                if offsets:
                    await self._commit(offsets)
                for item in batches:
                    if item.after is not None:
                        item.after()
            finally:
                for _ in items:
                    self._queue.task_done()
            if done:
                return

    async def _commit(self, offsets: Offsets) -> None:
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved on; the new owner re-reads from the last commit (at-least-once).
            log.warning("commit_failed_after_rebalance", error=str(exc))
