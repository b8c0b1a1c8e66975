"""Small aiokafka helpers for tests against the real broker: create, produce, read back.

Every wait is bounded by a timeout, so a test fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

Message = tuple[bytes | None, bytes]
"""(key, value) of a record to produce."""


async def describe_partitions(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Metadata of the topic's partitions, ascending: `partition`, `leader`, `replicas`, `isr`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # Listed first: describing a missing topic would auto-create it.
        if topic not in await admin.list_topics():
            return []
        (info,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(info["partitions"], key=lambda p: int(p["partition"]))


async def create_topic(
    bootstrap: str,
    name: str,
    partitions: int,
    replication: int = 1,
    *,
    configs: dict[str, str] | None = None,
    timeout_s: float = 30.0,
) -> None:
    """Create a topic and wait until every partition has a leader and a full ISR."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topic = NewTopic(
            name=name,
            num_partitions=partitions,
            replication_factor=replication,
            topic_configs=dict(configs or {}),
        )
        response = await admin.create_topics([topic])
    finally:
        await admin.close()
    for topic_name, code, *_ in response.topic_errors:
        if code != 0:
            raise RuntimeError(f"creating topic {topic_name!r} failed with Kafka error code {code}")
    deadline = time.monotonic() + timeout_s
    while True:
        parts = await describe_partitions(bootstrap, name)
        if len(parts) == partitions and all(p["leader"] >= 0 and len(p["isr"]) == replication for p in parts):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {name!r} not ready after {timeout_s}s: {parts}")
        await asyncio.sleep(0.1)


async def produce(
    bootstrap: str,
    topic: str,
    messages: Sequence[Message],
    *,
    partition: int | None = None,
    acks: int | str = "all",
) -> list[Any]:
    """Produce and wait for every acknowledgement; returns the `RecordMetadata` in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=acks, enable_idempotence=acks == "all")
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key, partition=partition) for key, value in messages]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, count: int, *, timeout_s: float = 30.0) -> list[Any]:
    """Read `count` records from the start of every partition, without a group.

    Returns the `ConsumerRecord`s as fetched; raises `TimeoutError` with what
    arrived if fewer than `count` came within `timeout_s`.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p["partition"]) for p in await describe_partitions(bootstrap, topic)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < count:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                raise TimeoutError(f"read {len(records)} of {count} records from {topic!r}")
            batches = await consumer.getmany(timeout_ms=min(left_ms, 500))
            records.extend(r for batch in batches.values() for r in batch)
        return records
    finally:
        await consumer.stop()
