"""What a local Kafka cluster is: node layout, each node's KRaft config, the state file. Pure."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


class KafkaLocalError(Exception):
    """The local cluster could not be fetched, started or stopped."""

    retriable = False


@dataclass(frozen=True, slots=True)
class Node:
    """One combined broker+controller: its id and loopback ports."""

    node_id: int
    port: int
    controller_port: int


@dataclass(frozen=True, slots=True)
class ClusterState:
    """What `up` started: enough for another process to find and stop it."""

    cluster_id: str
    nodes: tuple[Node, ...]

    @property
    def bootstrap(self) -> str:
        """`host:port[,host:port...]` of every broker listener."""
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes)


def server_properties(node: Node, nodes: Sequence[Node], data_dir: Path) -> str:
    """The KRaft `server.properties` of `node` in a cluster of `nodes`.

    Internal topics are replicated to every node, up to 3; with 3 or more
    nodes `min.insync.replicas` is 2, so one node may die without refusing
    `acks=all` writes.
    """
    replicas = min(len(nodes), 3)
    min_isr = 2 if replicas >= 3 else 1
    voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in nodes)
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(min_isr),
        "offsets.topic.replication.factor": str(replicas),
        # 50 partitions (the default) is most of a small cluster's start-up work.
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        # A killed node is fenced and its partitions move after this, not after 9 s.
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "1000",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.segment.bytes": str(16 * 1024 * 1024),
        "log.retention.hours": "4",
        "log.retention.bytes": str(256 * 1024 * 1024),
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def new_cluster_id(raw: bytes) -> str:
    """Kafka's base64 form of a 16-byte UUID, like `kafka-storage random-uuid`."""
    if len(raw) != 16:
        raise ValueError(f"a cluster id needs 16 bytes, got {len(raw)}")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def state_to_json(state: ClusterState) -> str:
    """The state file's content."""
    nodes = [
        {"node_id": n.node_id, "port": n.port, "controller_port": n.controller_port} for n in state.nodes
    ]
    return json.dumps({"cluster_id": state.cluster_id, "nodes": nodes}, indent=2)


def state_from_json(text: str) -> ClusterState:
    """Parse what `state_to_json` wrote."""
    raw = json.loads(text)
    nodes = tuple(Node(int(n["node_id"]), int(n["port"]), int(n["controller_port"])) for n in raw["nodes"])
    return ClusterState(cluster_id=str(raw["cluster_id"]), nodes=nodes)
