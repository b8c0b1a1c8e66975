"""The local launcher: a cluster it starts serves clients, and `down` leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafkalocal import HERE, LocalKafka
from kafkaproc import metadata_broker_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_cli_up_is_idempotent_and_down_leaves_no_process(tmp_path: Path) -> None:
    # Through the CLI, as `make kafka-up` runs it: the JVM outlives the command that started it.
    env_free = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    cli = [sys.executable, str(HERE / "kafkalocal.py"), "--state-dir", str(tmp_path)]
    cluster = LocalKafka(tmp_path)
    try:
        up = subprocess.run(
            [*cli, "up"], capture_output=True, text=True, check=True, env=env_free, timeout=300
        )
        bootstrap = up.stdout.strip()
        host, port = bootstrap.split(":")
        pids = [pid for pid in cluster.status().values() if pid is not None]

        assert metadata_broker_ids(host, int(port)) == frozenset({1})
        assert len(pids) == 1
        assert _running(pids[0])
        again = subprocess.run(
            [*cli, "up"], capture_output=True, text=True, check=True, env=env_free, timeout=60
        )
        assert again.stdout.strip() == bootstrap
        assert list(cluster.status().values()) == pids
    finally:
        subprocess.run([*cli, "down"], check=True, env=env_free, timeout=120)

    assert not any(_running(pid) for pid in pids)
    assert not (tmp_path / "node-1" / "data").exists()
    assert cluster.status() == {}


def test_up_prints_the_external_cluster_and_starts_nothing(tmp_path: Path) -> None:
    cli = [sys.executable, str(HERE / "kafkalocal.py"), "--state-dir", str(tmp_path), "up"]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:59092"}

    done = subprocess.run(cli, capture_output=True, text=True, check=True, env=env, timeout=30)

    assert done.stdout.strip() == "127.0.0.1:59092"
    assert not (tmp_path / "state.json").exists()
