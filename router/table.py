"""The live route table: follow the compacted topic `inference.routes`; publish, delete, read policies.

Each record is one model's policy: key = model name (UTF-8), value = the
policy JSON (`schemas.routes`), no value = tombstone. The topic is compacted,
so reading it from the beginning yields the latest policy of every model.

Precedence, per model: its latest valid record on the topic; else the policy
from the route file given at start (`seed`); else, at `resolve` time, the
newest version in the model repository. A tombstone removes the topic's
policy and so restores the file's: that reading does not change when
compaction later drops the tombstone.

A record that does not decode to a policy for its key is logged and skipped;
the model keeps its previous policy. `publish_policy` validates before
producing, so such records come only from foreign producers.

The follower uses aiokafka directly (no group, all partitions assigned, read
from the beginning): the transport seam's consumer is a group member.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from inferq.transport import KafkaSettings, OutRecord, Producer, ensure_topics
from router.policy import RouteTable, apply_update, compile_policy
from schemas.routes import InvalidPolicy, RouteError, RoutePolicy, policy_from_json, policy_to_json
from schemas.topics import ROUTES

log = structlog.get_logger(__name__)

_METADATA_WAIT_S = 10.0
_POLL_MS = 1000
_ERROR_BACKOFF_S = 0.5


class RouteTableFailedError(RouteError):
    """The follower stopped following (its task died); the table no longer converges."""

    retriable = True


class RouteTableFollower:
    """Keeps `table` equal to the route topic (over the seed policies) while running."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic: str = ROUTES,
        seed: Mapping[str, RoutePolicy] | None = None,
        client_id: str = "inferq-routes",
    ) -> None:
        """Raises InvalidPolicy if a seed policy cannot route."""
        self._bootstrap = bootstrap
        self._topic = topic
        self._client_id = client_id
        self._seed = dict(seed or {})
        table = RouteTable()
        for model, policy in self._seed.items():
            table = apply_update(table, model, policy)
        self._table = table
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._caught_up = asyncio.Event()
        self._changed = asyncio.Event()

    @property
    def table(self) -> RouteTable:
        """The current route table (immutable; replaced on every change)."""
        return self._table

    async def start(self) -> None:
        """Create the topic if missing, assign all its partitions from the beginning, start following."""
        if self._consumer is not None:
            return
        await ensure_routes_topic(self._bootstrap, topic=self._topic)
        partitions = await _partitions(self._bootstrap, self._topic)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # The topic is idle almost always: a short broker wait makes updates land fast.
            fetch_max_wait_ms=100,
        )
        await consumer.start()
        self._consumer = consumer
        try:
            tps = [TopicPartition(self._topic, p) for p in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end_offsets: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        except BaseException:
            await self.stop()
            raise
        self._task = asyncio.create_task(self._follow(consumer, end_offsets), name="route-table-follower")
        log.info("route_table_following", topic=self._topic, partitions=len(tps), seeded=len(self._seed))

    async def stop(self) -> None:
        """Stop following, then disconnect; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        # Waiters wake up and see that the follower is not running.
        self._notify()

    async def wait_caught_up(self) -> None:
        """Return once every record that existed at `start` has been applied."""
        await self.wait_for(lambda _: self._caught_up.is_set())

    async def wait_for(self, predicate: Callable[[RouteTable], bool]) -> RouteTable:
        """Return the table once `predicate` holds for it; raises RouteTableFailedError if following died."""
        while True:
            changed = self._changed
            if predicate(self._table):
                return self._table
            if self._failure is not None:
                raise RouteTableFailedError(f"route table follower failed: {self._failure!r}")
            if self._task is None:
                raise RouteTableFailedError("route table follower is not running")
            await changed.wait()

    async def _follow(self, consumer: AIOKafkaConsumer, end_offsets: Mapping[TopicPartition, int]) -> None:
        pending = dict(end_offsets)
        try:
            while True:
                if not pending:
                    self._mark_caught_up()
                try:
                    batches = await consumer.getmany(timeout_ms=_POLL_MS)
                except KafkaError as e:
                    # aiokafka retries retriable fetch errors itself; anything surfacing here is logged,
                    # and the next fetch, after a pause, tries again from the same position.
                    log.warning("route_fetch_failed", topic=self._topic, error=repr(e))
                    await asyncio.sleep(_ERROR_BACKOFF_S)
                    continue
                before = self._table
                for records in batches.values():
                    for record in records:
                        self._apply(record.key, record.value, record.partition, record.offset)
                if self._table is not before:
                    self._notify()
                for tp in list(pending):
                    if await consumer.position(tp) >= pending[tp]:
                        del pending[tp]
        except Exception as e:
            self._failure = e
            self._notify()
            log.exception("route_table_follower_failed", topic=self._topic)
            raise

    def _apply(self, key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        fields = {"topic": self._topic, "partition": partition, "offset": offset}
        if key is None:
            log.warning("route_record_skipped", reason="no key", **fields)
            return
        try:
            model = key.decode()
            policy = self._seed.get(model) if value is None else policy_from_json(value)
            self._table = apply_update(self._table, model, policy)
        except (UnicodeDecodeError, InvalidPolicy) as e:
            log.warning("route_record_skipped", reason=str(e), key=key[:200], **fields)
            return
        log.info(
            "route_policy_applied",
            model=model,
            removed=policy is None,
            revision=self._table.revision,
            **fields,
        )

    def _mark_caught_up(self) -> None:
        if not self._caught_up.is_set():
            self._caught_up.set()
            log.info("route_table_caught_up", topic=self._topic, models=len(self._table.policies))
            self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


async def ensure_routes_topic(bootstrap: str, *, topic: str = ROUTES, replication: int = 1) -> None:
    """Create the route topic, compacted and with one partition (one total order), if it is missing.

    An existing topic is left alone, with a warning if it is not compacted:
    time-based retention would eventually delete policies that never change.
    """
    await ensure_topics(
        KafkaSettings(bootstrap), {topic: 1}, replication=replication, configs={"cleanup.policy": "compact"}
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    for _code, _message, _type, _name, entries in response.resources:
        for name, value, *_ in entries:
            if name == "cleanup.policy" and "compact" not in value:
                log.warning("routes_topic_not_compacted", topic=topic, cleanup_policy=value)


async def publish_policy(bootstrap: str, policy: RoutePolicy, *, topic: str = ROUTES) -> None:
    """Validate (InvalidPolicy) and publish a model's policy; returns once the broker acknowledged it."""
    compile_policy(policy)
    await _produce(bootstrap, topic, OutRecord(topic, policy_to_json(policy), key=policy.model.encode()))


async def delete_policy(bootstrap: str, model: str, *, topic: str = ROUTES) -> None:
    """Publish a tombstone for a model's policy; returns once the broker acknowledged it."""
    await _produce(bootstrap, topic, OutRecord(topic, None, key=model.encode()))


async def read_policies(bootstrap: str, *, topic: str = ROUTES) -> dict[str, RoutePolicy]:
    """The current policy of every model on the route topic (skipping records that do not decode)."""
    follower = RouteTableFollower(bootstrap, topic=topic, client_id="inferq-routes-read")
    await follower.start()
    try:
        await follower.wait_caught_up()
    finally:
        await follower.stop()
    return {model: compiled.policy for model, compiled in follower.table.policies.items()}


async def _produce(bootstrap: str, topic: str, record: OutRecord) -> None:
    # Published through an existing compacted topic: auto-creation would make it time-retained.
    await ensure_routes_topic(bootstrap, topic=topic)
    producer = Producer(KafkaSettings(bootstrap), client_id="inferq-routes-publish")
    await producer.start()
    try:
        await producer.produce([record])
    finally:
        await producer.stop()


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    # A just-created topic may take a moment to appear in metadata with its partitions.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(_METADATA_WAIT_S):
            while True:
                (info,) = await admin.describe_topics([topic])
                partitions = sorted(int(p["partition"]) for p in info["partitions"])
                if info["error_code"] == 0 and partitions:
                    return partitions
                await asyncio.sleep(0.1)
    finally:
        await admin.close()
