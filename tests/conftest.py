"""Shared fixtures: the real Kafka broker (started lazily), fresh names, a three-node cluster.

Tests marked `integration` or `faults` get the session broker automatically;
a unit-only run starts no JVM. With `KAFKA_BOOTSTRAP_SERVERS` set, that
cluster is used and nothing is started.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compose" / "kafka-local"))

# Importable only once its folder is on sys.path (above).
from kafkalocal import LocalKafka

from tests.kafka_helpers import create_topic

__all__ = ["create_topic"]  # for test modules that import it from here

ENV = "KAFKA_BOOTSTRAP_SERVERS"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of the session's broker; exported in the environment for subprocesses."""
    external = os.environ.get(ENV)
    if external:
        yield external
        return
    cluster = LocalKafka(tmp_path_factory.mktemp("kafka"))
    bootstrap = cluster.up(nodes=1)
    os.environ[ENV] = bootstrap
    try:
        yield bootstrap
    finally:
        os.environ.pop(ENV, None)
        cluster.down()


@pytest.fixture(autouse=True)
def _broker_for_marked_tests(request: pytest.FixtureRequest) -> None:
    """Start the session broker before any test that needs Kafka, even if it only reads the env.

    A test on the three-node cluster of its own does not need it.
    """
    marked = request.node.get_closest_marker("integration") or request.node.get_closest_marker("faults")
    if marked and "kafka_cluster3" not in request.fixturenames:
        request.getfixturevalue("kafka_bootstrap")


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Makes fresh names: `unique("orders")` -> `"orders-3f2a9c1b7d4e"`."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture
def topic_name(unique: Callable[[str], str]) -> str:
    """A topic name no other test uses."""
    return unique("test")


@pytest.fixture(scope="module")
def kafka_cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A three-node cluster (RF 3, min.insync.replicas 2): `.bootstrap`, `.kill(id)`, `.restart(id)`.

    `restart` blocks until the node serves metadata again: from async tests, call it
    through `asyncio.to_thread`.
    """
    cluster = LocalKafka(tmp_path_factory.mktemp("kafka3"))
    cluster.up(nodes=3)
    try:
        yield cluster
    finally:
        cluster.down()
