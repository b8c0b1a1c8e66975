"""Consumer-group lag per partition: end offset minus committed offset, read from Kafka.

The arithmetic (`partition_lag`, `lag_report`) is pure; `LagProbe` is the edge
that reads committed offsets with an admin client and end offsets with a
group-less consumer, keeping both connected so a scaler can poll every second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

ResetPolicy = Literal["earliest", "latest"]


class LagError(Exception):
    """Lag could not be read; retriable when the cause may pass (e.g. a topic not yet visible)."""

    retriable = True


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """One partition: its end offset, the group's committed offset (None if never committed), the lag."""

    partition: int
    end_offset: int
    committed: int | None
    lag: int


@dataclass(frozen=True, slots=True)
class LagReport:
    """A group's lag on one topic, per partition (ascending) and in total."""

    group: str
    topic: str
    partitions: tuple[PartitionLag, ...]
    total: int


def partition_lag(end_offset: int, committed: int | None, reset: ResetPolicy) -> int:
    """Records the group has yet to process on a partition, as KEDA's Kafka scaler counts them.

    With a committed offset: `end_offset - committed`, never negative (a commit
    may be read after the end offset it overtook, or survive a truncated log).
    With none, the consumer's `auto.offset.reset` decides where it would start,
    and KEDA's defaults (`scaleToZeroOnInvalidOffset: false`) are followed:

    - `earliest`: the whole partition, `end_offset` (KEDA counts from offset 0
      rather than the log start, so after retention deleted data this is an
      upper bound);
    - `latest`: 1, not 0, so that a group scaled to zero still gets one consumer,
      which establishes an offset (a consumer that never starts never commits).
    """
    if committed is None:
        return end_offset if reset == "earliest" else 1
    return max(0, end_offset - committed)


def lag_report(
    group: str,
    topic: str,
    end_offsets: Mapping[int, int],
    committed: Mapping[int, int],
    reset: ResetPolicy = "earliest",
) -> LagReport:
    """The report for every partition in `end_offsets`; partitions absent from `committed` never committed."""
    rows = tuple(
        PartitionLag(p, end, committed.get(p), partition_lag(end, committed.get(p), reset))
        for p, end in sorted(end_offsets.items())
    )
    return LagReport(group=group, topic=topic, partitions=rows, total=sum(r.lag for r in rows))


class LagProbe:
    """Reads lag repeatedly over one admin client and one group-less consumer.

    Pass already-started clients to share them (they are then not stopped
    here); otherwise `start()` creates its own.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        admin: Any | None = None,
        consumer: Any | None = None,
        client_id: str = "inferq-lag",
    ) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._admin: Any | None = admin
        self._consumer: Any | None = consumer
        self._owns_admin = admin is None
        self._owns_consumer = consumer is None
        self._started = False

    async def start(self) -> None:
        """Connect the clients this probe owns; idempotent."""
        if self._started:
            return
        if self._owns_admin:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id=self._client_id)
            await self._admin.start()
        if self._owns_consumer:
            # No group: this consumer only asks for end offsets, it never joins or commits.
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                group_id=None,
                enable_auto_commit=False,
            )
            try:
                await self._consumer.start()
            except BaseException:
                await self._close_admin()
                raise
        self._started = True

    async def stop(self) -> None:
        """Close the clients this probe owns, in reverse order; idempotent."""
        if not self._started:
            return
        self._started = False
        try:
            if self._owns_consumer and self._consumer is not None:
                await self._consumer.stop()
                self._consumer = None
        finally:
            await self._close_admin()

    async def _close_admin(self) -> None:
        if self._owns_admin and self._admin is not None:
            admin, self._admin = self._admin, None
            await admin.close()

    async def measure(self, group: str, topic: str, reset: ResetPolicy = "earliest") -> LagReport:
        """The group's lag on `topic` now; raises `LagError` if the topic is unknown."""
        if not self._started or self._admin is None or self._consumer is None:
            raise RuntimeError("LagProbe.measure() before start()")
        # Describing a missing topic would create it on brokers that auto-create topics,
        # so look it up in the full listing first.
        if topic not in await self._admin.list_topics():
            raise LagError(f"topic {topic!r} does not exist")
        described = await self._admin.describe_topics([topic])
        info = described[0] if described else {}
        if info.get("error_code", 0) != 0 or not info.get("partitions"):
            raise LagError(f"topic {topic!r} has no partitions (error code {info.get('error_code')})")
        partitions = [TopicPartition(topic, p["partition"]) for p in info["partitions"]]
        # Committed first, then end offsets: a commit racing the two reads can then
        # only make the lag look larger, never negative.
        offsets = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
        committed = {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        ends = await self._consumer.end_offsets(partitions)
        return lag_report(group, topic, {tp.partition: off for tp, off in ends.items()}, committed, reset)


async def measure_lag(bootstrap: str, group: str, topic: str, reset: ResetPolicy = "earliest") -> LagReport:
    """One-off lag reading with fresh clients; use `LagProbe` to poll."""
    probe = LagProbe(bootstrap)
    await probe.start()
    try:
        return await probe.measure(group, topic, reset)
    finally:
        await probe.stop()
