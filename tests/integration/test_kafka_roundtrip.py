"""Produce and consume through the real broker across several partitions."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.kafka_helpers import create_topic, produce, read_all

pytestmark = pytest.mark.integration


async def test_every_record_comes_back_in_key_order_per_partition(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await create_topic(kafka_bootstrap, topic_name, partitions=4)
    sent = [(f"k{i % 20}".encode(), f"v{i}".encode()) for i in range(200)]  # 20 keys reach all 4

    acks = await produce(kafka_bootstrap, topic_name, sent)
    got = await read_all(kafka_bootstrap, topic_name, len(sent))

    assert {a.partition for a in acks} == {0, 1, 2, 3}
    assert sorted((r.key, r.value) for r in got) == sorted(sent)
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    partition_of: dict[bytes, set[int]] = defaultdict(set)
    for record in sorted(got, key=lambda r: (r.partition, r.offset)):
        by_key[record.key].append(record.value)
        partition_of[record.key].add(record.partition)
    # One key, one partition, and the order it was produced in.
    assert all(len(parts) == 1 for parts in partition_of.values())
    for key, values in by_key.items():
        assert values == [v for k, v in sent if k == key]
