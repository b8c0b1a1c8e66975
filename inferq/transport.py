"""The Kafka seam: fetch a batch, produce, wait for acknowledgements, commit.

Services talk to Kafka only through this module, so that a librdkafka-based
transport can later replace aiokafka without touching batching, routing or
scaling logic. Records cross the seam as plain frozen values.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

log = structlog.get_logger(__name__)

Header = tuple[str, bytes]
Offsets = Mapping[tuple[str, int], int]
"""(topic, partition) -> the next offset to read, i.e. last processed + 1."""


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """Where the cluster is; every component reads it from `KAFKA_BOOTSTRAP_SERVERS`."""

    bootstrap: str = DEFAULT_BOOTSTRAP

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSettings:
        """Settings from the environment (`KAFKA_BOOTSTRAP_SERVERS`, default 127.0.0.1:9092)."""
        env = os.environ if environ is None else environ
        return cls(bootstrap=env.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP))


@dataclass(frozen=True, slots=True)
class Record:
    """A consumed record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record to produce; the partition follows the key like any Kafka producer's."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: tuple[Header, ...] = ()


RevokeHandler = Callable[[frozenset[tuple[str, int]]], Awaitable[None]]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_revoked: RevokeHandler | None) -> None:
        self._on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        if self._on_revoked is not None:
            await self._on_revoked(frozenset((tp.topic, tp.partition) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("partitions_assigned", partitions=sorted(f"{t.topic}[{t.partition}]" for t in assigned))


class Producer:
    """An idempotent, acks=all producer whose `produce` returns once every record is acknowledged."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        client_id: str,
        linger_ms: int = 1,
        transactional_id: str | None = None,
    ) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_batch_size=256 * 1024,
            transactional_id=transactional_id,
        )
        self._started = False

    async def start(self) -> None:
        """Connect; idempotent."""
        if not self._started:
            await self._producer.start()
            self._started = True

    async def stop(self) -> None:
        """Flush and disconnect; idempotent."""
        if self._started:
            self._started = False
            await self._producer.stop()

    async def send(self, records: Sequence[OutRecord]) -> Awaitable[Any]:
        """Hand records to the producer; the returned awaitable completes when all are acknowledged.

        Records are appended to one batch per partition (partitioned by key like
        any Kafka producer: murmur2, as Java's default partitioner) instead of
        one `send()` each: per record that skips a coroutine, a metadata check
        and a future, the largest per-message cost of the hot path.
        """
        producer = self._producer
        builders: dict[tuple[str, int], Any] = {}
        partitions: dict[str, list[int]] = {}
        futures = []
        for r in records:
            parts = partitions.get(r.topic)
            if parts is None:
                parts = partitions[r.topic] = sorted(await producer.partitions_for(r.topic))
            # Unkeyed records are spread at random, as aiokafka does (no secret involved).
            index = _partition(r.key, len(parts)) if r.key is not None else random.randrange(len(parts))  # noqa: S311
            tp = (r.topic, parts[index])
            builder = builders.get(tp)
            if builder is None:
                builder = builders[tp] = producer.create_batch()
            if builder.append(key=r.key, value=r.value, timestamp=None, headers=list(r.headers)) is None:
                # The batch is full: ship it and start another for this partition.
                futures.append(await producer.send_batch(builder, tp[0], partition=tp[1]))
                builder = builders[tp] = producer.create_batch()
                builder.append(key=r.key, value=r.value, timestamp=None, headers=list(r.headers))
        for (topic, partition), builder in builders.items():
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        return asyncio.gather(*futures)

    async def produce(self, records: Sequence[OutRecord]) -> None:
        """Produce records and wait until every one is acknowledged by the in-sync replicas."""
        await (await self.send(records))

    async def produce_transaction(self, records: Sequence[OutRecord], offsets: Offsets, group: str) -> None:
        """Produce records and commit the group's offsets in one Kafka transaction (exactly-once mode).

        Readers with `isolation_level=read_committed` see the records exactly
        once: a crash before the commit aborts them together with the offsets.
        """
        async with self._producer.transaction():
            send = self._producer.send
            for r in records:
                await send(r.topic, r.value, key=r.key, headers=list(r.headers))
            await self._producer.send_offsets_to_transaction(
                {TopicPartition(t, p): o for (t, p), o in offsets.items()}, group
            )


@functools.lru_cache(maxsize=65536)
def _partition(key: bytes, partitions: int) -> int:
    """Java's default partitioner (murmur2, positive, modulo), memoised: keys repeat and aiokafka's
    murmur2 is pure Python."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


class Consumer:
    """A group member with auto-commit off: offsets are committed only when the caller says so."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        topics: Sequence[str],
        group: str,
        client_id: str,
        on_revoked: RevokeHandler | None = None,
        isolation_level: str = "read_uncommitted",
        max_partition_fetch_bytes: int = 1024 * 1024,
    ) -> None:
        self._topics = tuple(topics)
        self._listener = _Listener(on_revoked)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level=isolation_level,
            max_partition_fetch_bytes=max_partition_fetch_bytes,
            # Short broker-side waits keep latency low when the topic is nearly idle.
            fetch_max_wait_ms=50,
        )
        self._started = False

    async def start(self) -> None:
        """Connect and join the group; idempotent."""
        if not self._started:
            await self._consumer.start()
            self._consumer.subscribe(list(self._topics), listener=self._listener)
            self._started = True

    async def stop(self) -> None:
        """Leave the group and disconnect; idempotent."""
        if self._started:
            self._started = False
            await self._consumer.stop()

    async def fetch(self, *, max_records: int, timeout_ms: int) -> list[Record]:
        """Up to `max_records` records, waiting at most `timeout_ms` when none are buffered."""
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return [
            Record(
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                key=m.key,
                value=m.value,
                headers=tuple(m.headers),
                timestamp_ms=m.timestamp,
            )
            for messages in batches.values()
            for m in messages
        ]

    async def commit(self, offsets: Offsets) -> None:
        """Commit the next offsets to read, per (topic, partition)."""
        if offsets:
            await self._consumer.commit({TopicPartition(t, p): o for (t, p), o in offsets.items()})

    async def rewind(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Seek the assigned ones among `partitions` back to their committed offset (else the beginning).

        For records fetched across a rebalance and dropped: they are read again
        from the last commit, whichever side of the rebalance they came from.
        """
        assigned = self._consumer.assignment()
        for topic, partition in set(partitions):
            tp = TopicPartition(topic, partition)
            if tp not in assigned:
                continue
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)


async def partitions_of(settings: KafkaSettings, topic: str) -> list[int]:
    """The partition numbers of `topic`, sorted; empty when it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] != 0:
        return []
    return sorted(p["partition"] for p in described["partitions"])


class TopicCreationError(Exception):
    """The broker refused to create a topic."""

    retriable = False

    def __init__(self, topic: str, code: int) -> None:
        super().__init__(f"creating topic {topic!r} failed with Kafka error code {code}")
        self.topic = topic
        self.code = code


async def ensure_topics(
    settings: KafkaSettings,
    topics: Mapping[str, int],
    *,
    replication: int = 1,
    configs: Mapping[str, str] | None = None,
) -> None:
    """Create the topics (name -> partitions) that do not exist yet; existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=name,
                num_partitions=partitions,
                replication_factor=replication,
                topic_configs=dict(configs or {}),
            )
            for name, partitions in topics.items()
            if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            for name, code, *_ in response.topic_errors:
                # Another component may have created it between our listing and our request.
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise TopicCreationError(name, code)
    finally:
        await admin.close()
