"""A three-node cluster survives `kill -9` of a partition leader and takes the node back."""

from __future__ import annotations

import asyncio
import time

import pytest
from kafkalocal import LocalKafka

from tests.kafka_helpers import create_topic, describe_partitions, produce, read_all

pytestmark = [pytest.mark.faults, pytest.mark.slow]


async def _wait_full_isr(bootstrap: str, topic: str, replicas: int, timeout_s: float) -> list[list[int]]:
    """Poll until every partition's ISR has `replicas` members; returns the ISRs seen last."""
    deadline = time.monotonic() + timeout_s
    while True:
        isrs = [sorted(p["isr"]) for p in await describe_partitions(bootstrap, topic)]
        if isrs and all(len(isr) == replicas for isr in isrs):
            return isrs
        if time.monotonic() > deadline:
            return isrs
        await asyncio.sleep(0.5)


async def test_rf3_topic_survives_kill_9_and_the_node_rejoins(
    kafka_cluster3: LocalKafka, topic_name: str
) -> None:
    bootstrap = kafka_cluster3.bootstrap
    await create_topic(bootstrap, topic_name, partitions=3, replication=3)
    before = [(None, f"before-{i}".encode()) for i in range(150)]
    after = [(None, f"after-{i}".encode()) for i in range(150)]
    await produce(bootstrap, topic_name, before, acks="all")
    victim = (await describe_partitions(bootstrap, topic_name))[0]["leader"]

    kafka_cluster3.kill(victim)
    # acks=all with min.insync.replicas=2: accepted by the two survivors once leadership moved.
    await asyncio.wait_for(produce(bootstrap, topic_name, after, acks="all"), timeout=60)
    got = await read_all(bootstrap, topic_name, len(before) + len(after), timeout_s=60)
    isr_without = [p["isr"] for p in await describe_partitions(bootstrap, topic_name)]

    assert kafka_cluster3.status()[victim] is None
    assert sorted(r.value for r in got) == sorted(v for _, v in before + after)
    assert all(victim not in isr for isr in isr_without)

    await asyncio.to_thread(kafka_cluster3.restart, victim)
    isrs = await _wait_full_isr(bootstrap, topic_name, replicas=3, timeout_s=60)

    assert isrs == [[1, 2, 3]] * 3
