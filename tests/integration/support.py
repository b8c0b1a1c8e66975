"""Helpers for tests that run real worker and router processes against the real broker."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from inferq.transport import KafkaSettings, partitions_of

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("INFERQ_TEST_MODELS", REPO_ROOT / "models"))

Headers = list[tuple[str, bytes]]


def ensure_models() -> Path:
    """The built model repository (`make models`); built here if a test run starts without it."""
    if not (MODELS / "tabular" / "1" / "model.onnx").exists():
        subprocess.run(
            [sys.executable, "-m", "workers.modelbuild", "--out", str(MODELS)], check=True, cwd=REPO_ROOT
        )
    return MODELS


def alias_repository(tmp: Path, source: Path, model: str, versions: Sequence[str]) -> tuple[Path, str]:
    """A repository holding `model` under a fresh name, so each test gets fresh work topics."""
    alias = f"{model}_{uuid.uuid4().hex[:8]}"
    for version in versions:
        target = tmp / alias / version
        target.mkdir(parents=True)
        (target / "model.onnx").symlink_to(source / model / version / "model.onnx")
    config = source / model / "config.toml"
    if config.exists():
        shutil.copy(config, tmp / alias / "config.toml")
    return tmp, alias


def unique(prefix: str) -> str:
    """A fresh topic or group name."""
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


@dataclass
class Proc:
    """A running inferq process (pool supervisor, worker or router)."""

    popen: subprocess.Popen[bytes]
    log_path: Path

    def children(self) -> list[int]:
        """Pids of the direct children (the pool's worker processes)."""
        path = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except FileNotFoundError:
            return []

    def log(self) -> str:
        """What the process wrote so far."""
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait; SIGKILL the group if it does not stop."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                return self.popen.wait(10)
        return self.popen.returncode


@contextmanager
def inferq_process(args: Sequence[str], env: Mapping[str, str], log_path: Path) -> Iterator[Proc]:
    """Run `inferq ARGS` in its own process group; stopped (then killed) on exit."""
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "inferq.cli", *args],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    proc = Proc(popen, log_path)
    try:
        yield proc
    finally:
        proc.terminate()
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGKILL)


def oip_body(request_id: str, name: str, datatype: str, shape: Sequence[int], data: object) -> bytes:
    """An Open Inference Protocol request body with one input."""
    return orjson.dumps(
        {
            "id": request_id,
            "inputs": [{"name": name, "shape": list(shape), "datatype": datatype, "data": data}],
        }
    )


def request_headers(cid: str, reply_to: str, **extra: str) -> Headers:
    """The headers of a direct-to-worker request."""
    headers = [("correlation-id", cid.encode()), ("reply-to", reply_to.encode())]
    headers += [(k.replace("_", "-"), v.encode()) for k, v in extra.items()]
    return headers


async def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes, Headers]]) -> None:
    """Produce (key, value, headers) records and wait until all are acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=headers) for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass
class Replies:
    """Replies read back, grouped by correlation id (duplicates kept)."""

    by_id: dict[str, list[tuple[Headers, bytes]]] = field(default_factory=dict)

    def headers(self, cid: str) -> dict[str, bytes]:
        """Headers of the first reply to `cid`."""
        return dict(self.by_id[cid][0][0])

    def body(self, cid: str) -> dict[str, object]:
        """Decoded JSON body of the first reply to `cid`."""
        parsed: dict[str, object] = orjson.loads(self.by_id[cid][0][1])
        return parsed

    def duplicates(self) -> int:
        """Replies beyond the first, over all ids."""
        return sum(len(v) - 1 for v in self.by_id.values())

    def total(self) -> int:
        """All replies read."""
        return sum(len(v) for v in self.by_id.values())


async def collect(
    bootstrap: str,
    topic: str,
    expected: set[str],
    *,
    timeout_s: float,
    settle_s: float = 1.0,
    key_header: str = "correlation-id",
    isolation_level: str = "read_uncommitted",
) -> Replies:
    """Read `topic` from the beginning until every expected id was seen (then `settle_s` more for dups)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level=isolation_level
    )
    await consumer.start()
    replies = Replies()
    try:
        deadline = time.monotonic() + timeout_s
        parts = await partitions_of(KafkaSettings(bootstrap), topic)
        while not parts and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            parts = await partitions_of(KafkaSettings(bootstrap), topic)
        if not parts:
            return replies
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        done_at: float | None = None
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                for m in messages:
                    cid = dict(m.headers).get(key_header, b"").decode()
                    replies.by_id.setdefault(cid, []).append((list(m.headers), m.value))
            if done_at is None and expected <= replies.by_id.keys():
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at >= settle_s:
                break
    finally:
        await consumer.stop()
    return replies


async def end_offsets(bootstrap: str, topic: str) -> int:
    """Records in `topic` (sum of end offsets; 0 when it does not exist)."""
    parts = await partitions_of(KafkaSettings(bootstrap), topic)
    if not parts:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


def tabular_rows(n: int, seed: int = 0) -> np.ndarray:
    """Deterministic FP32 feature rows for the tabular model."""
    return np.random.default_rng(seed).standard_normal((n, 32)).astype(np.float32)


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Block until `predicate()` holds; fail the test with `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)
