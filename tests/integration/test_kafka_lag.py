"""Consumer-group lag read from the real broker equals produced minus committed, per partition."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.kafka_helpers import create_topic, produce
from workers.lag import LagError, LagProbe, PartitionLag, measure_lag

pytestmark = pytest.mark.integration

PRODUCED = {0: 10, 1: 7, 2: 5}
CONSUMED = {0: 4, 1: 7}  # partition 2 is never read, so the group has no offset there


async def _consume_and_commit(bootstrap: str, topic: str, group: str, counts: dict[int, int]) -> None:
    """Read exactly `counts[p]` records of each partition `p` as `group` and commit after them."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        for partition, count in counts.items():
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            read = 0
            for _ in range(100):  # bounded: each getmany waits at most 200 ms
                batch = await consumer.getmany(tp, timeout_ms=200, max_records=count - read)
                read += len(batch.get(tp, []))
                if read == count:
                    break
            assert read == count
            await consumer.commit({tp: count})
    finally:
        await consumer.stop()


async def _backlog(bootstrap: str, topic: str) -> None:
    await create_topic(bootstrap, topic, partitions=3)
    for partition, count in PRODUCED.items():
        await produce(bootstrap, topic, [(None, b"x")] * count, partition=partition)


async def test_lag_is_end_minus_committed_per_partition(
    kafka_bootstrap: str, topic_name: str, unique: Callable[[str], str]
) -> None:
    group = unique("group")
    await _backlog(kafka_bootstrap, topic_name)
    await _consume_and_commit(kafka_bootstrap, topic_name, group, CONSUMED)

    report = await measure_lag(kafka_bootstrap, group, topic_name)

    assert report.partitions == (
        PartitionLag(partition=0, end_offset=10, committed=4, lag=6),
        PartitionLag(partition=1, end_offset=7, committed=7, lag=0),
        PartitionLag(partition=2, end_offset=5, committed=None, lag=5),
    )
    assert report.total == 11


async def test_probe_reuses_its_clients_and_sees_new_records(
    kafka_bootstrap: str, topic_name: str, unique: Callable[[str], str]
) -> None:
    group = unique("group")
    await _backlog(kafka_bootstrap, topic_name)
    await _consume_and_commit(kafka_bootstrap, topic_name, group, CONSUMED)
    probe = LagProbe(kafka_bootstrap)
    await probe.start()
    try:
        before = await probe.measure(group, topic_name)
        await produce(kafka_bootstrap, topic_name, [(None, b"y")] * 3, partition=1)
        after = await probe.measure(group, topic_name)
        latest = await probe.measure(group, topic_name, reset="latest")
    finally:
        await probe.stop()
        await probe.stop()  # idempotent

    assert (before.total, after.total) == (11, 14)
    assert after.partitions[1] == PartitionLag(partition=1, end_offset=10, committed=7, lag=3)
    assert latest.partitions[2].lag == 1  # never committed + latest: KEDA's one replica


async def test_unknown_topic_is_an_error_and_is_not_created(kafka_bootstrap: str, topic_name: str) -> None:
    with pytest.raises(LagError, match="does not exist"):
        await measure_lag(kafka_bootstrap, "any-group", topic_name)
    with pytest.raises(LagError, match="does not exist"):
        await measure_lag(kafka_bootstrap, "any-group", topic_name)
