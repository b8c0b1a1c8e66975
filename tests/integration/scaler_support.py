"""Helpers for the scaler tests: a slow tabular alias, a system config, `inferq up`, its logs and pools."""

from __future__ import annotations

import asyncio
import random
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from tests.integration.support import (
    Proc,
    alias_repository,
    ensure_models,
    inferq_process,
    oip_body,
    produce,
    request_headers,
    tabular_rows,
)
from workers.poolctl import PoolStatus, read_status

# A small batch makes one worker slow enough on two cores for more workers to matter.
SLOW_TABULAR = "max_batch_size = 8\nmax_queue_delay_ms = 2.0\nintra_op_threads = 1\n"
# Exactly-once workers wait on one transaction commit per batch: a single worker is bound by
# that round trip, not by a core, so on two cores more workers overlap the waits. (An
# at-least-once worker is CPU-bound here, and two cores shared with the broker leave
# nothing for a third process to gain.)
COMMIT_BOUND_TABULAR = "max_batch_size = 24\nmax_queue_delay_ms = 2.0\nintra_op_threads = 1\n"


def slow_tabular(tmp: Path, config: str = SLOW_TABULAR) -> tuple[Path, str]:
    """A repository (`tmp/repo`) holding the tabular model under a fresh name, with a small max_batch_size."""
    repo, model = alias_repository(tmp / "repo", ensure_models(), "tabular", ["1"])
    (repo / model / "config.toml").write_text(config)
    return repo, model


def system_config(
    tmp: Path,
    repo: Path,
    model: str,
    *,
    max_replicas: int = 3,
    lag_threshold: int = 2000,
    window_s: float = 3.0,
    poll_s: float = 0.5,
    partitions: int = 8,
    routers: int = 0,
) -> Path:
    """A system config running one pool of `model` version 1 (and no router unless asked)."""
    # Random ports (other test runs on this machine serve metrics too), below Linux's
    # ephemeral range (32768+), where the Kafka clients' own sockets could hold them.
    base = random.randrange(20_000, 32_000, 10)
    path = tmp / f"{model}.toml"
    path.write_text(
        f"""repository = "{repo}"
routers = {routers}
partitions = {partitions}
metrics_port_base = {base}

[[deploy]]
model = "{model}"
versions = ["1"]
min_replicas = 1
max_replicas = {max_replicas}
lag_threshold = {lag_threshold}
scale_down_stabilization_s = {window_s}
max_scale_up_step = 2
poll_interval_s = {poll_s}
"""
    )
    return path


def scaler_metrics_port(config: Path) -> int:
    """The scaler's port under `inferq up` for a `system_config` file: after the routers and the pool."""
    text = config.read_text()

    def value(key: str) -> int:
        return int(text.split(f"{key} = ")[1].split()[0])

    return value("metrics_port_base") + value("routers") + value("max_replicas")


@contextmanager
def inferq_up(
    config: Path, state_dir: Path, env: Mapping[str, str], log_path: Path, *extra: str
) -> Iterator[Proc]:
    """Run `inferq up --config CONFIG --state-dir STATE_DIR [EXTRA]`; stopped (then killed) on exit."""
    args = ["up", "--config", str(config), "--state-dir", str(state_dir), *extra]
    with inferq_process(args, env, log_path) as proc:
        yield proc


def events(log_text: str, event: str, **match: Any) -> list[dict[str, Any]]:
    """The JSON log lines of `event` whose fields include `match`, in order."""
    found = []
    for line in log_text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if doc.get("event") == event and all(doc.get(k) == v for k, v in match.items()):
            found.append(doc)
    return found


def epoch(doc: Mapping[str, Any]) -> float:
    """A log line's timestamp in seconds since the epoch."""
    return datetime.fromisoformat(str(doc["timestamp"])).timestamp()


def assigned(log_text: str, topic: str) -> list[dict[str, Any]]:
    """`partitions_assigned` log lines of workers that got partitions of `topic`."""
    return [
        doc
        for doc in events(log_text, "partitions_assigned")
        if any(str(p).startswith(f"{topic}[") for p in doc.get("partitions", []))
    ]


def request_records(
    reply: str, n: int, prefix: str
) -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
    """`n` tabular requests replying to `reply`, ids `<prefix><i>`, keys spread over the partitions."""
    return [
        (
            str(i % 97).encode(),
            oip_body(f"{prefix}{i}", "features", "FP32", [1, 32], row.tolist()),
            request_headers(f"{prefix}{i}", reply),
        )
        for i, row in enumerate(tabular_rows(n, seed=n))
    ]


async def produce_requests(bootstrap: str, topic: str, reply: str, n: int, prefix: str) -> set[str]:
    """Produce `n` requests and wait for the acks; returns their ids."""
    await produce(bootstrap, topic, request_records(reply, n, prefix))
    return {f"{prefix}{i}" for i in range(n)}


async def eventually(predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Whether `predicate()` came to hold within `timeout_s` (checked every 0.2 s)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


def scrape(port: int) -> bytes:
    """The Prometheus text served on a local port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
    return body


@dataclass
class SizeSampler:
    """Samples a pool's reported status every 0.1 s: `(wall time, status)` when it changes."""

    state_dir: Path
    model: str
    samples: list[tuple[float, PoolStatus]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until `stop` is set."""
        while not stop.is_set():
            status = read_status(self.state_dir, self.model, "1")
            if status is not None and (not self.samples or self.samples[-1][1] != status):
                self.samples.append((time.time(), status))
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except TimeoutError:
                continue

    def grown_at(self) -> float | None:
        """When the pool first reported more than one process."""
        return next((at for at, status in self.samples if status.size >= 2), None)

    def shrunk_at(self) -> float | None:
        """When the pool first reported one process again after having grown."""
        grown = self.grown_at()
        if grown is None:
            return None
        return next((at for at, status in self.samples if at > grown and status.size == 1), None)

    def alone_since_shrink(self, seconds: float) -> bool:
        """Whether the pool shrank back to one process over `seconds` ago and the retired ones exited."""
        shrunk, latest = self.shrunk_at(), self.latest()
        return (
            shrunk is not None
            and latest is not None
            and len(latest.pids) == 1
            and time.time() - shrunk > seconds
        )

    def latest(self) -> PoolStatus | None:
        """The last status read."""
        return self.samples[-1][1] if self.samples else None

    def sizes(self) -> list[int]:
        """Reported sizes in order, consecutive repeats collapsed."""
        sizes: list[int] = []
        for _, status in self.samples:
            if not sizes or sizes[-1] != status.size:
                sizes.append(status.size)
        return sizes
