"""Workers killed and stopped in the middle of a backlog lose nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from inferq.transport import KafkaSettings, ensure_topics
from schemas.topics import work_topic
from tests.integration.support import (
    alias_repository,
    collect,
    end_offsets,
    ensure_models,
    inferq_process,
    oip_body,
    produce,
    request_headers,
    tabular_rows,
    unique,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.slow]

BACKLOG = 10_000


async def preload(bootstrap: str, topic: str, reply: str) -> list[str]:
    rows = tabular_rows(BACKLOG, seed=1)
    ids = [f"f{i}" for i in range(BACKLOG)]
    await produce(
        bootstrap,
        topic,
        [
            (
                str(i).encode(),
                oip_body(cid, "features", "FP32", [1, 32], row.tolist()),
                request_headers(cid, reply),
            )
            for i, (cid, row) in enumerate(zip(ids, rows, strict=True))
        ],
    )
    return ids


@dataclass(frozen=True)
class Backlog:
    ids: list[str]
    reply: str
    args: list[str]
    env: dict[str, str]


async def backlog(bootstrap: str, tmp_path: Path) -> Backlog:
    """A tabular alias with a 10,000-request backlog on 4 partitions, and how to run its worker."""
    repo, model = alias_repository(tmp_path, ensure_models(), "tabular", ["1"])
    topic, reply, dlq = work_topic(model, "1"), unique("replies"), unique("dlq")
    await ensure_topics(KafkaSettings(bootstrap), {topic: 4, reply: 4})
    # Small batches keep the backlog long enough to stop a worker in the middle of it.
    (repo / model / "config.toml").write_text("max_batch_size = 8\nmax_queue_delay_ms = 1\n")
    ids = await preload(bootstrap, topic, reply)
    args = ["worker", "--repository", str(repo), "--model", model, "--version", "1"]
    return Backlog(ids, reply, args, {"INFERQ_REPLY_TOPIC": reply, "INFERQ_DLQ_TOPIC": dlq})


async def wait_for_replies(bootstrap: str, topic: str, at_least: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while (n := await end_offsets(bootstrap, topic)) < at_least:
        assert time.monotonic() < deadline, f"only {n} replies after {timeout_s}s"
        await asyncio.sleep(0.05)
    return n


async def test_kill_9_of_a_pool_worker_loses_no_request(kafka_bootstrap: str, tmp_path: Path) -> None:
    b = await backlog(kafka_bootstrap, tmp_path)
    ids, reply, args, env = b.ids, b.reply, [*b.args, "--processes", "2"], b.env
    with inferq_process(args, env, tmp_path / "pool.log") as pool:
        seen = await wait_for_replies(kafka_bootstrap, reply, 1500, timeout_s=90)
        victims = pool.children()
        assert len(victims) == 2, pool.log()
        os.kill(victims[0], signal.SIGKILL)
        replies = await collect(kafka_bootstrap, reply, set(ids), timeout_s=180)
        after = pool.children()
        assert len(after) == 2, "the pool must replace the killed worker"
        assert victims[0] not in after

    missing = set(ids) - set(replies.by_id)
    assert not missing, f"{len(missing)} requests never answered"
    print(f"kill -9 after {seen} replies: {replies.duplicates()} duplicates of {BACKLOG}")


async def test_sigterm_drains_and_restart_answers_the_rest_exactly_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    b = await backlog(kafka_bootstrap, tmp_path)
    ids, reply, args, env = b.ids, b.reply, b.args, b.env
    with inferq_process(args, env, tmp_path / "first.log") as first:
        await wait_for_replies(kafka_bootstrap, reply, 1500, timeout_s=90)
        assert first.terminate(timeout=60) == 0, first.log()
    answered_before_restart = await end_offsets(kafka_bootstrap, reply)
    assert answered_before_restart < BACKLOG, "the backlog drained before SIGTERM: the test proves nothing"
    with inferq_process(args, env, tmp_path / "second.log"):
        replies = await collect(kafka_bootstrap, reply, set(ids), timeout_s=180)
    assert set(replies.by_id) == set(ids)
    assert replies.duplicates() == 0


async def test_exactly_once_mode_answers_each_request_once_despite_kill_9(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    b = await backlog(kafka_bootstrap, tmp_path)
    ids, reply, args, env = b.ids, b.reply, b.args, {**b.env, "INFERQ_EXACTLY_ONCE": "1"}
    with inferq_process(args, env, tmp_path / "pool.log") as pool:
        await wait_for_replies(kafka_bootstrap, reply, 1500, timeout_s=90)
        (victim,) = pool.children()
        os.kill(victim, signal.SIGKILL)
        replies = await collect(
            kafka_bootstrap, reply, set(ids), timeout_s=180, isolation_level="read_committed"
        )
        assert victim not in pool.children(), "the pool must replace the killed worker"

    assert set(replies.by_id) == set(ids)
    assert replies.duplicates() == 0, "read_committed readers must see each reply exactly once"
