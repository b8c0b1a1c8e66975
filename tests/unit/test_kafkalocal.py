"""The local cluster's configuration and bookkeeping (no JVM started here)."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest
from kafkaconf import ClusterState, Node, new_cluster_id, server_properties, state_from_json, state_to_json
from kafkaproc import metadata_broker_ids

ONE = (Node(1, 9001, 9101),)
THREE = (Node(1, 9001, 9101), Node(2, 9002, 9102), Node(3, 9003, 9103))


def parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_single_node_replicates_internal_topics_once() -> None:
    props = parse(server_properties(ONE[0], ONE, Path("/data")))

    assert props["controller.quorum.voters"] == "1@127.0.0.1:9101"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["log.dirs"] == "/data"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_three_nodes_vote_together_and_tolerate_one_loss() -> None:
    props = parse(server_properties(THREE[1], THREE, Path("/d2")))

    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9002,CONTROLLER://127.0.0.1:9102"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9002"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["transaction.state.log.min.isr"] == "2"


def test_cluster_id_is_kafkas_22_character_base64() -> None:
    assert new_cluster_id(bytes(range(16))) == "AAECAwQFBgcICQoLDA0ODw"
    with pytest.raises(ValueError, match="16 bytes"):
        new_cluster_id(b"short")


def test_state_round_trips_and_names_every_broker() -> None:
    state = ClusterState(cluster_id="abc", nodes=THREE)

    assert state_from_json(state_to_json(state)) == state
    assert state.bootstrap == "127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003"


def _metadata_v1_response(correlation_id: int, brokers: list[tuple[int, str, int, str | None]]) -> bytes:
    body = struct.pack(">ii", correlation_id, len(brokers))
    for node_id, host, port, rack in brokers:
        body += struct.pack(">ih", node_id, len(host)) + host.encode() + struct.pack(">i", port)
        body += struct.pack(">h", -1) if rack is None else struct.pack(">h", len(rack)) + rack.encode()
    body += struct.pack(">ii", 1, 0)  # controller id, no topics
    return struct.pack(">i", len(body)) + body


def test_metadata_probe_reads_the_broker_list() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    requests: list[bytes] = []

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            (size,) = struct.unpack(">i", conn.recv(4))
            requests.append(conn.recv(size))
            conn.sendall(_metadata_v1_response(1, [(1, "127.0.0.1", 1, None), (3, "h", 2, "rack-a")]))

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert metadata_broker_ids("127.0.0.1", port) == frozenset({1, 3})
    finally:
        thread.join(timeout=5)
        server.close()
    api_key, api_version = struct.unpack(">hh", requests[0][:4])
    assert (api_key, api_version) == (3, 1)
