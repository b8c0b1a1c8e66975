"""Open-loop latency: a paced producer with send timestamps and a reader with receipt timestamps.

Request i is due at `start + i / rate` whatever the replies do (an open loop:
a slow system faces a growing queue instead of a slower client, so queueing
shows up in the figures). Latency = the reader's receipt time of the reply -
the wall-clock time the request was handed to the producer, both in this
process. The first `warmup_s` of requests are sent but not measured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.figures import Latency, batch_stats, percentiles
from bench.kafka_io import EndOffsets, Reply, new_producer, to_reply
from bench.progress import Progress
from bench.workloads import RequestRecord

TICK_S = 0.001
"""The pacer's granularity: records due within a tick are sent together."""


@dataclass(frozen=True, slots=True)
class Pacing:
    """What to send, how fast, and for how long to wait for the stragglers."""

    records: Sequence[RequestRecord]
    rate: float
    warmup_s: float
    stall_s: float


@dataclass(frozen=True, slots=True)
class OpenLoopResult:
    """The latency figures and every reply of the run (for the batch-size histogram)."""

    latency: Latency
    latencies_ms: list[float]
    replies: list[Reply]
    harness_cpu: float
    """CPU-seconds per second the harness itself (pacer and reader) used during the run, of 2 cores."""


def due_count(elapsed_s: float, rate: float, total: int) -> int:
    """How many requests an open loop at `rate` has sent `elapsed_s` after its start."""
    if elapsed_s < 0:
        return 0
    return min(total, int(elapsed_s * rate) + 1)


async def open_loop(
    bootstrap: str,
    *,
    workload: str,
    topic: str,
    reply_topic: str,
    partitions: int,
    pacing: Pacing,
    alive: Callable[[], bool],
) -> OpenLoopResult:
    """Send `pacing.records` at `pacing.rate` to `topic`, collect the replies from `reply_topic`."""
    records = pacing.records
    sent_at: dict[str, float] = {}
    received: dict[str, Reply] = {}
    cpu_at_start, wall_at_start = time.process_time(), time.monotonic()
    async with EndOffsets(bootstrap, reply_topic) as ends:
        start_offsets = await ends.per_partition()
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = new_producer(bootstrap, linger_ms=0)
    await reader.start()
    await producer.start()
    try:
        tps = [TopicPartition(reply_topic, p) for p in start_offsets]
        reader.assign(tps)
        for tp in tps:
            reader.seek(tp, start_offsets[tp.partition])
        done = asyncio.Event()
        reading = asyncio.create_task(_read(reader, received, len(records), done))
        try:
            progress = Progress(f"{workload} latency @ {pacing.rate:.0f}/s", len(records))
            started = await _pace(
                producer,
                topic=topic,
                partitions=partitions,
                pacing=pacing,
                sent_at=sent_at,
                progress=progress,
            )
            await _wait_stragglers(received, pacing.stall_s, alive, done)
            progress.update(len(received))
            progress.close(f"{len(received)}/{len(records)} replies")
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
    finally:
        await producer.stop()
        await reader.stop()
    cpu = (time.process_time() - cpu_at_start) / max(time.monotonic() - wall_at_start, 1e-9)
    return _summarize(workload, pacing, started=started, sent_at=sent_at, received=received, cpu=cpu)


async def _pace(
    producer: AIOKafkaProducer,
    *,
    topic: str,
    partitions: int,
    pacing: Pacing,
    sent_at: dict[str, float],
    progress: Progress,
) -> float:
    records, total = pacing.records, len(pacing.records)
    acks = []
    start = time.monotonic()
    wall_start = time.time()
    sent = 0
    while sent < total:
        due = due_count(time.monotonic() - start, pacing.rate, total)
        if due > sent:
            now = time.time()
            for record in records[sent:due]:
                sent_at[record.id] = now
            acks += await _send_due(producer, topic, partitions, records, range(sent, due))
            sent = due
        progress.update(sent)
        next_due = start + sent / pacing.rate
        await asyncio.sleep(max(next_due - time.monotonic(), TICK_S))
    await asyncio.gather(*acks)
    return wall_start


async def _send_due(
    producer: AIOKafkaProducer, topic: str, partitions: int, records: Sequence[RequestRecord], due: range
) -> list[asyncio.Future[Any]]:
    """The `due` records as one batch per partition (round-robin, like the backlogs).

    The harness shares the two cores with the system under test, so it spends as
    little per record as it can: one `send_batch` per partition and tick instead
    of one `send` (a coroutine, a metadata check and a future) per record.
    """
    builders: dict[int, Any] = {}
    acks = []
    for i in due:
        record = records[i]
        partition = i % partitions
        fields = {"key": record.id.encode(), "value": record.value, "timestamp": None}
        builder = builders.get(partition) or producer.create_batch()
        if builder.append(**fields, headers=list(record.headers)) is None:
            acks.append(await producer.send_batch(builder, topic, partition=partition))
            builder = producer.create_batch()
            builder.append(**fields, headers=list(record.headers))
        builders[partition] = builder
    for partition, builder in builders.items():
        acks.append(await producer.send_batch(builder, topic, partition=partition))
    return acks


async def _read(
    reader: AIOKafkaConsumer, received: dict[str, Reply], total: int, done: asyncio.Event
) -> None:
    while True:
        batches = await reader.getmany(timeout_ms=100)
        now = time.time()
        for messages in batches.values():
            for m in messages:
                reply = to_reply(m.headers, m.timestamp, now)
                received.setdefault(reply.correlation_id, reply)
        if len(received) >= total:
            done.set()


async def _wait_stragglers(
    received: dict[str, Reply], stall_s: float, alive: Callable[[], bool], done: asyncio.Event
) -> None:
    last, last_change = -1, time.monotonic()
    while not done.is_set() and alive():
        if len(received) != last:
            last, last_change = len(received), time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            return
        try:
            await asyncio.wait_for(done.wait(), 0.1)
        except TimeoutError:
            continue


def _summarize(
    workload: str,
    pacing: Pacing,
    *,
    started: float,
    sent_at: dict[str, float],
    received: dict[str, Reply],
    cpu: float,
) -> OpenLoopResult:
    measured_from = started + pacing.warmup_s
    latencies = [
        (reply.received_s - sent_at[cid]) * 1000.0
        for cid, reply in received.items()
        if cid in sent_at and sent_at[cid] >= measured_from and reply.ok
    ]
    replies = [received[cid] for cid in sent_at if cid in received and sent_at[cid] >= measured_from]
    p50, p95, p99, top = percentiles(latencies, (50, 95, 99, 100))
    latency = Latency(
        workload=workload,
        offered_rate=pacing.rate,
        sent=len(sent_at),
        received=sum(1 for cid in sent_at if cid in received),
        measured=len(latencies),
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        max_ms=top,
        batches=batch_stats(r.batch_size for r in replies),
    )
    return OpenLoopResult(latency, latencies, replies, cpu)
