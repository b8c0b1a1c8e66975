"""The live route table against the real broker: publish, converge, tombstone, agree, skip bad records."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from router.policy import RouteTable
from router.table import (
    RouteTableFollower,
    delete_policy,
    ensure_routes_topic,
    publish_policy,
    read_policies,
)
from schemas.routes import RoutePolicy, VersionWeight
from tests.kafka_helpers import create_topic, describe_partitions, produce

pytestmark = pytest.mark.integration

WAIT_S = 10.0


def policy(model: str, *weights: tuple[str, float], sticky: bool = False) -> RoutePolicy:
    return RoutePolicy(model, tuple(VersionWeight(v, w) for v, w in weights), sticky=sticky)


def versions_of(table: RouteTable) -> dict[str, tuple[str, ...]]:
    return {model: compiled.versions for model, compiled in table.policies.items()}


@asynccontextmanager
async def following(
    bootstrap: str, topic: str, seed: dict[str, RoutePolicy] | None = None
) -> AsyncIterator[RouteTableFollower]:
    follower = RouteTableFollower(bootstrap, topic=topic, seed=seed)
    await follower.start()
    try:
        async with asyncio.timeout(WAIT_S):
            await follower.wait_caught_up()
        yield follower
    finally:
        await follower.stop()


async def until(follower: RouteTableFollower, predicate: Callable[[RouteTable], bool]) -> RouteTable:
    async with asyncio.timeout(WAIT_S):
        return await follower.wait_for(predicate)


async def test_ensure_routes_topic_creates_it_compacted_once(kafka_bootstrap: str, topic_name: str) -> None:
    await ensure_routes_topic(kafka_bootstrap, topic=topic_name)
    await ensure_routes_topic(kafka_bootstrap, topic=topic_name)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name)])
    finally:
        await admin.close()
    (resource,) = response.resources
    assert ("cleanup.policy", "compact") in {(entry[0], entry[1]) for entry in resource[4]}
    assert [p["partition"] for p in await describe_partitions(kafka_bootstrap, topic_name)] == [0]


async def test_follower_reads_published_policies_from_the_beginning(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await publish_policy(kafka_bootstrap, policy("a", ("1", 9), ("2", 1), sticky=True), topic=topic_name)
    await publish_policy(kafka_bootstrap, policy("b", ("7", 1)), topic=topic_name)
    async with following(kafka_bootstrap, topic_name) as follower:
        assert follower.table.policies["a"].policy == policy("a", ("1", 9), ("2", 1), sticky=True)
        assert versions_of(follower.table) == {"a": ("1", "2"), "b": ("7",)}


async def test_update_converges_within_one_second(kafka_bootstrap: str, topic_name: str) -> None:
    await publish_policy(kafka_bootstrap, policy("a", ("1", 1)), topic=topic_name)
    async with following(kafka_bootstrap, topic_name) as follower:
        await publish_policy(kafka_bootstrap, policy("a", ("1", 8), ("2", 2)), topic=topic_name)
        published = time.monotonic()
        await until(follower, lambda t: versions_of(t) == {"a": ("1", "2")})
        assert time.monotonic() - published < 1.0


async def test_tombstone_removes_topic_policy_and_restores_the_seed(
    kafka_bootstrap: str, topic_name: str
) -> None:
    seed = {"a": policy("a", ("1", 1))}
    async with following(kafka_bootstrap, topic_name, seed) as follower:
        assert versions_of(follower.table) == {"a": ("1",)}
        await publish_policy(kafka_bootstrap, policy("a", ("2", 1)), topic=topic_name)
        await publish_policy(kafka_bootstrap, policy("b", ("3", 1)), topic=topic_name)
        await until(follower, lambda t: versions_of(t) == {"a": ("2",), "b": ("3",)})
        await delete_policy(kafka_bootstrap, "a", topic=topic_name)
        await delete_policy(kafka_bootstrap, "b", topic=topic_name)
        await until(follower, lambda t: "b" not in t.policies)
        assert versions_of(follower.table) == {"a": ("1",)}
    assert await read_policies(kafka_bootstrap, topic=topic_name) == {}


async def test_two_followers_agree(kafka_bootstrap: str, topic_name: str) -> None:
    await publish_policy(kafka_bootstrap, policy("a", ("1", 1)), topic=topic_name)
    async with following(kafka_bootstrap, topic_name) as early:
        for weight in range(1, 6):
            await publish_policy(
                kafka_bootstrap, policy("a", ("1", 10 - weight), ("2", weight)), topic=topic_name
            )
        await publish_policy(kafka_bootstrap, policy("z", ("1", 1)), topic=topic_name)
        async with following(kafka_bootstrap, topic_name) as late:
            last = policy("a", ("1", 5), ("2", 5))
            for follower in (early, late):
                await until(follower, lambda t: "z" in t.policies)
            assert early.table.policies["a"].policy == late.table.policies["a"].policy == last
            assert early.table.revision == late.table.revision == 7


async def test_malformed_records_are_skipped(kafka_bootstrap: str, topic_name: str) -> None:
    # Not compacted (the follower warns): a compacted topic refuses keyless records outright.
    await create_topic(kafka_bootstrap, topic_name, partitions=1)
    await publish_policy(kafka_bootstrap, policy("a", ("1", 1)), topic=topic_name)
    await produce(
        kafka_bootstrap,
        topic_name,
        [
            (b"a", b"{not json"),
            (b"a", b'{"model": "a", "versions": {"1": 0}}'),  # cannot route
            (b"a", b'{"model": "other", "versions": {"1": 1}}'),  # key mismatch
            (None, b'{"model": "a", "versions": {"9": 1}}'),  # no key
            (b"\xff\xfe", b'{"model": "a", "versions": {"9": 1}}'),  # key not UTF-8
        ],
    )
    async with following(kafka_bootstrap, topic_name) as follower:
        assert versions_of(follower.table) == {"a": ("1",)}
        # Still following after the bad records.
        await produce(kafka_bootstrap, topic_name, [(b"a", b"]")])
        await publish_policy(kafka_bootstrap, policy("a", ("2", 1)), topic=topic_name)
        await until(follower, lambda t: versions_of(t) == {"a": ("2",)})


async def test_follower_reads_every_partition(kafka_bootstrap: str, topic_name: str) -> None:
    # A route topic created by someone else with several partitions.
    await create_topic(kafka_bootstrap, topic_name, partitions=3, configs={"cleanup.policy": "compact"})
    models = [f"m{i}" for i in range(12)]
    for model in models:
        await publish_policy(kafka_bootstrap, policy(model, ("1", 1)), topic=topic_name)
    async with following(kafka_bootstrap, topic_name) as follower:
        assert sorted(follower.table.policies) == sorted(models)


CLI = (
    "import argparse, sys\n"
    "from router.routes_cmd import register\n"
    "parser = argparse.ArgumentParser(prog='inferq')\n"
    "register(parser.add_subparsers(required=True))\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def inferq_routes(bootstrap: str, topic: str, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", CLI, "routes", *argv[:1], "--bootstrap", bootstrap, "--topic", topic]
    return subprocess.run([*command, *argv[1:]], capture_output=True, text=True, timeout=60, check=False)


def test_routes_command_set_show_delete(kafka_bootstrap: str, topic_name: str) -> None:
    example = Path(__file__).resolve().parents[2] / "router" / "routes.example.toml"
    assert inferq_routes(kafka_bootstrap, topic_name, "set", "--file", str(example)).returncode == 0
    done = inferq_routes(
        kafka_bootstrap, topic_name, "set", "--model", "x", "--versions", "1=90,2=10", "--sticky",
        "--shadow", "3=5", "--no-pin",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert inferq_routes(kafka_bootstrap, topic_name, "delete", "--model", "tabular").returncode == 0
    shown = inferq_routes(kafka_bootstrap, topic_name, "show")
    assert shown.returncode == 0, shown.stderr
    policies = orjson.loads(shown.stdout)
    assert sorted(policies) == ["intent", "x"]
    assert policies["x"] == {
        "model": "x",
        "versions": {"1": 90.0, "2": 10.0},
        "sticky": True,
        "allow_pin": False,
        "shadows": {"3": 5.0},
        "disabled": [],
    }
    refused = inferq_routes(kafka_bootstrap, topic_name, "set", "--model", "x", "--versions", "1=0")
    assert (refused.returncode, "sum to > 0" in refused.stderr) == (2, True)
