"""The harness's own Kafka traffic: load backlogs, watch groups and reply topics, read replies back.

While a system drains a backlog the harness only polls end offsets (a cheap
ListOffsets every `POLL_S`), so its own CPU use stays out of the measurement;
replies are read back, and checked, once the system is done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bench.progress import Progress
from bench.workloads import RequestRecord
from inferq.transport import KafkaSettings, ensure_topics, partitions_of
from schemas import headers as h

POLL_S = 0.1
"""How often end offsets are polled while a system drains its backlog."""
GROUP_POLL_S = 0.02
"""How often a system's consumer group is described while it starts: t0's resolution."""
PRODUCE_WINDOW = 5000
"""Records in flight while loading a backlog."""
EMPTY_ASSIGNMENT_BYTES = 10
"""A consumer-protocol assignment naming no topic: version, empty topic array, empty user data."""


class BenchError(Exception):
    """The harness could not run a measurement (a system died, stalled or never joined)."""

    retriable = False


@dataclass(frozen=True, slots=True)
class Reply:
    """What the harness keeps of one reply record."""

    correlation_id: str
    ok: bool
    batch_size: int
    """The worker's `inferq-batch-size` header; 0 when absent (baselines do not batch)."""
    timestamp_ms: int
    """The reply's CreateTime: when the system handed it to its producer."""
    received_s: float
    """Wall-clock time the harness read it (meaningful in open-loop runs)."""


async def create_topics(bootstrap: str, topics: Mapping[str, int], timeout_s: float = 30.0) -> None:
    """Create topics (name -> partitions) that do not exist yet; returns once every partition has a leader.

    Producing to a partition the controller has not yet placed only yields
    NotLeaderForPartition retries, which would be counted in the first run.
    """
    await ensure_topics(KafkaSettings(bootstrap), topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        waiting = dict(topics)
        while waiting:
            for described in await admin.describe_topics(list(waiting)):
                parts = described["partitions"]
                led = described["error_code"] == 0 and all(p["leader"] >= 0 for p in parts)
                if led and len(parts) >= waiting[described["topic"]]:
                    del waiting[described["topic"]]
            if waiting and time.monotonic() > deadline:
                raise BenchError(f"topics without leaders after {timeout_s:.0f}s: {sorted(waiting)}")
            if waiting:
                await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, topics: Iterable[str]) -> None:
    """Delete the harness's topics from a shared cluster (those that exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = sorted(set(topics) & existing)
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


def new_producer(bootstrap: str, *, linger_ms: int) -> AIOKafkaProducer:
    """The harness's producer: acks=all like the systems' own producers."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms, max_batch_size=512 * 1024
    )


async def load_backlog(
    bootstrap: str, topic: str, records: Sequence[RequestRecord], partitions: int, progress: Progress
) -> None:
    """Produce `records` round-robin over the topic's partitions and wait until all are acknowledged."""
    producer = new_producer(bootstrap, linger_ms=20)
    await producer.start()
    try:
        pending: list[asyncio.Future[object]] = []
        for i, record in enumerate(records):
            pending.append(
                await producer.send(
                    topic,
                    record.value,
                    key=record.id.encode(),
                    partition=i % partitions,
                    headers=list(record.headers),
                )
            )
            if len(pending) >= PRODUCE_WINDOW:
                await asyncio.gather(*pending)
                pending.clear()
                progress.update(i + 1)
        await asyncio.gather(*pending)
        progress.update(len(records))
    finally:
        await producer.stop()


async def wait_group_stable(
    bootstrap: str, group: str, alive: Callable[[], bool], timeout_s: float = 120.0
) -> float:
    """Wall-clock time at which `group` was first seen Stable with partitions assigned.

    This is t0 of a backlog run: the moment the system's consumer may start
    reading. Raises BenchError if the process dies or the group never settles.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                (response,) = await admin.describe_consumer_groups([group])
                groups = response.groups
            except KafkaError as exc:
                # A fresh broker creates __consumer_offsets on first use: no coordinator until then.
                if not exc.retriable:
                    raise
                groups = []
            for described in groups:
                state, members = described[2], described[5]
                if state == "Stable" and any(len(m[4]) > EMPTY_ASSIGNMENT_BYTES for m in members):
                    return time.time()
            if not alive():
                raise BenchError(f"the process consuming group {group!r} exited before joining")
            await asyncio.sleep(GROUP_POLL_S)
    finally:
        await admin.close()
    raise BenchError(f"group {group!r} did not become Stable within {timeout_s:.0f}s")


class EndOffsets:
    """Sums a topic's end offsets: how many records it holds (replies written so far)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._tps: list[TopicPartition] = []

    async def __aenter__(self) -> EndOffsets:
        await self._consumer.start()
        parts = await partitions_of(KafkaSettings(self._bootstrap), self._topic)
        self._tps = [TopicPartition(self._topic, p) for p in parts]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def per_partition(self) -> dict[int, int]:
        """Partition -> end offset."""
        ends = await self._consumer.end_offsets(self._tps)
        return {tp.partition: int(offset) for tp, offset in ends.items()}

    async def total(self) -> int:
        """Records in the topic."""
        return sum((await self.per_partition()).values())


async def wait_for_records(
    ends: EndOffsets,
    target: int,
    *,
    alive: Callable[[], bool],
    stall_s: float,
    progress: Progress,
    base: int = 0,
) -> int:
    """Poll until the topic holds `base + target` records; returns how many of `target` arrived.

    Gives up (returning fewer) when nothing new arrives for `stall_s` or the process dies.
    """
    last, last_change = -1, time.monotonic()
    while True:
        count = await ends.total() - base
        progress.update(count)
        now = time.monotonic()
        if count != last:
            last, last_change = count, now
        if count >= target:
            return count
        if now - last_change > stall_s or not alive():
            return count
        await asyncio.sleep(POLL_S)


async def read_replies(
    bootstrap: str, topic: str, start: Mapping[int, int], end: Mapping[int, int]
) -> list[Reply]:
    """Every record of `topic` between the `start` and `end` offsets (partition -> offset)."""
    replies: list[Reply] = []
    wanted = {p: e for p, e in end.items() if e > start.get(p, 0)}
    if not wanted:
        # Also sidesteps aiokafka failing to stop a group-less consumer that never ran a fetch.
        return replies
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in wanted]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start.get(tp.partition, 0))
        deadline = time.monotonic() + 120.0
        while wanted and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            now = time.time()
            for tp, messages in batches.items():
                stop_at = wanted.get(tp.partition)
                if stop_at is None:
                    continue
                replies.extend(to_reply(m.headers, m.timestamp, now) for m in messages if m.offset < stop_at)
                if messages and messages[-1].offset + 1 >= stop_at:
                    del wanted[tp.partition]
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return replies


def to_reply(headers: Sequence[tuple[str, bytes]], timestamp_ms: int, received_s: float) -> Reply:
    """The parts of a reply record the figures need."""
    found = dict(headers)
    size = found.get(h.BATCH_SIZE, b"0")
    return Reply(
        correlation_id=found.get(h.CORRELATION_ID, b"").decode(errors="replace"),
        ok=found.get(h.STATUS, h.STATUS_OK) == h.STATUS_OK,
        batch_size=int(size) if size.isdigit() else 0,
        timestamp_ms=int(timestamp_ms),
        received_s=received_s,
    )
