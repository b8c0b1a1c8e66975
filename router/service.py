"""The router service: requests in, work records (and shadow copies) out, commit after acknowledgement.

It consumes the request topic in its own group (several routers share the
partitions), routes each record by the live route table, produces the batch's
work, error-reply and DLQ records, and commits the batch's input offsets only
after all of them are acknowledged. Topics it writes to are created on first use
(work topics with the configured partition count).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from inferq.committer import AckCommitter
from inferq.deadletter import Rejected, dlq_record, error_reply_record
from inferq.transport import Consumer, OutRecord, Producer, Record, ensure_topics
from router.forward import Routed, RouterRules, route
from router.metrics import RouterMetrics
from router.policy import RouteTable
from router.settings import RouterSettings
from schemas.codec import Limits

log = structlog.get_logger(__name__)

FETCH_MAX_RECORDS = 500
IDLE_POLL_MS = 500
"""Long-poll wait when idle; also bounds how long a stop request waits for the fetcher."""


@dataclass(slots=True)
class _Epoch:
    value: int = 0


class RouterService:
    """Routes until `stop` is set; then commits what it forwarded and leaves the group."""

    def __init__(
        self,
        settings: RouterSettings,
        table: Callable[[], RouteTable],
        default_versions: Callable[[str], tuple[str, ...]],
        *,
        client_id: str,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._table = table
        self._rand = rand
        self._rules = RouterRules(
            default_versions=default_versions,
            default_reply_topic=settings.reply_topic,
            reply_allow_list=settings.reply_allow_list,
            limits=Limits(max_payload_bytes=settings.max_payload_bytes),
        )
        self._consumer = Consumer(
            settings.kafka,
            topics=[settings.requests_topic],
            group=settings.group,
            client_id=client_id,
            on_revoked=self._on_revoked,
        )
        self._producer = Producer(settings.kafka, client_id=client_id)
        self._committer = AckCommitter(self._consumer)
        self._dispatch = asyncio.Lock()
        self._epoch = _Epoch()
        self._known_topics: set[str] = set()
        self._metrics = RouterMetrics()

    async def run(self, stop: asyncio.Event) -> None:
        """Route until `stop` is set."""
        await self._producer.start()
        try:
            await self._consumer.start()
            try:
                log.info("router_started", topic=self._settings.requests_topic, group=self._settings.group)
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._committer.run())
                    tasks.create_task(self._route_until(stop))
            finally:
                await self._consumer.stop()
        finally:
            await self._producer.stop()

    async def _route_until(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                epoch = self._epoch.value
                records = await self._consumer.fetch(max_records=FETCH_MAX_RECORDS, timeout_ms=IDLE_POLL_MS)
                if records and epoch != self._epoch.value:
                    # Fetched across a rebalance: drop them and read again from the last commit.
                    await self._consumer.rewind((r.topic, r.partition) for r in records)
                    continue
                if not records:
                    continue
                async with self._dispatch:
                    await self._forward(records)
        finally:
            await self._committer.close()

    async def _forward(self, records: list[Record]) -> None:
        table = self._table()
        self._metrics.table_revision(table.revision)
        rand, metrics = self._rand, self._metrics
        out: list[OutRecord] = []
        offsets: dict[tuple[str, int], int] = {}
        for record in records:
            outcome = route(record, table, self._rules, rand(), rand())
            if isinstance(outcome, Routed):
                out.extend(outcome.records)
                metrics.routed(outcome.model, outcome.version, outcome.shadows)
            else:
                out.extend(self._refuse(outcome))
            offsets[(record.topic, record.partition)] = record.offset + 1
        await self._create_missing_topics(out)
        acked = await self._producer.send(out)
        await self._committer.submit(acked, offsets)

    def _refuse(self, rejected: Rejected) -> tuple[OutRecord, ...]:
        self._metrics.error(rejected.code.value)
        log.info(
            "request_refused",
            code=rejected.code,
            partition=rejected.record.partition,
            offset=rejected.record.offset,
            error=rejected.message,
        )
        if rejected.shadow:
            return ()
        return (
            error_reply_record(rejected, model="", version=""),
            dlq_record(rejected, self._settings.dlq_topic),
        )

    async def _create_missing_topics(self, out: list[OutRecord]) -> None:
        new = {r.topic for r in out} - self._known_topics
        if new:
            await ensure_topics(self._settings.kafka, dict.fromkeys(new, self._settings.work_partitions))
            self._known_topics |= new

    async def _on_revoked(self, revoked: frozenset[tuple[str, int]]) -> None:
        """Before partitions move: finish and commit what was forwarded."""
        if not revoked:
            return
        async with self._dispatch:
            self._epoch.value += 1
            await self._committer.drain()
        log.info("partitions_revoked_drained", partitions=len(revoked))
