"""`kill -9` of the scaler under `inferq up`: the pools keep serving, the restarted scaler adopts them."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from inferq.transport import KafkaSettings, ensure_topics
from schemas.topics import work_topic, worker_group
from tests.integration.scaler_support import (
    SizeSampler,
    epoch,
    events,
    eventually,
    inferq_up,
    produce_requests,
    slow_tabular,
    system_config,
)
from tests.integration.support import Proc, collect, unique
from workers.lag import measure_lag

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BACKLOG = 10_000
LAG_THRESHOLD = 2000
WINDOW_S = 6.0
POLL_S = 0.5


def scaler_pid(proc: Proc) -> int | None:
    """Pid of the scaler process `inferq up` runs, if one runs."""
    for pid in proc.children():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if cmdline.split(b"\0")[2:4] == [b"inferq.cli", b"scaler"]:
            return pid
    return None


async def lag(bootstrap: str, model: str) -> int:
    return (await measure_lag(bootstrap, worker_group(model, "1"), work_topic(model, "1"))).total


async def test_kill_9_of_the_scaler_leaves_the_pool_serving_and_the_restarted_scaler_adopts_it(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    repo, model = slow_tabular(tmp_path)
    config = system_config(
        tmp_path, repo, model, max_replicas=3, lag_threshold=LAG_THRESHOLD, window_s=WINDOW_S, poll_s=POLL_S
    )
    topic, reply, state = work_topic(model, "1"), unique("replies"), tmp_path / "state"
    await ensure_topics(KafkaSettings(kafka_bootstrap), {topic: 8, reply: 8})
    ids = await produce_requests(kafka_bootstrap, topic, reply, BACKLOG, "r")
    env = {"INFERQ_REPLY_TOPIC": reply, "INFERQ_DLQ_TOPIC": unique("dlq"), "INFERQ_WORK_PARTITIONS": "8"}
    sampler, stop = SizeSampler(state, model), asyncio.Event()
    with inferq_up(config, state, env, tmp_path / "up.log") as proc:
        sampling = asyncio.create_task(sampler.run(stop))
        try:
            # Kill when the lag asks for one process but the window still holds three: a
            # scaler that did not adopt the pool would shrink it on its first tick.
            assert await eventually(lambda: (s := sampler.latest()) is not None and s.size == 3, 30), (
                proc.log()
            )
            deadline = time.monotonic() + 90
            while (before := await lag(kafka_bootstrap, model)) >= LAG_THRESHOLD:
                assert time.monotonic() < deadline, proc.log()[-3000:]
                await asyncio.sleep(0.1)
            assert before > 0, "drained before the kill: nothing left to show the pool serving"
            pool_before = sampler.latest()
            old = scaler_pid(proc)
            assert old is not None
            os.kill(old, signal.SIGKILL)

            assert await eventually(lambda: scaler_pid(proc) not in (None, old), 15), proc.log()[-3000:]
            new = scaler_pid(proc)
            after = await lag(kafka_bootstrap, model)
            pool_after = sampler.latest()
            assert await eventually(lambda: bool(events(proc.log(), "pool_adopted", pid=new)), 15)
            replies = await collect(kafka_bootstrap, reply, ids, timeout_s=120)
            # The restarted scaler is in charge: it shrinks the pool once the backlog is gone.
            assert await eventually(lambda: sampler.shrunk_at() is not None, 20), sampler.samples
        finally:
            stop.set()
            await sampling
        log = proc.log()

    assert after < before, "the pool must keep consuming while no scaler runs"
    assert pool_after == pool_before, "killing the scaler must not touch the workers"
    died = events(log, "child_died", child="scaler")
    assert [d["pid"] for d in died] == [old]
    assert died[0]["returncode"] == -signal.SIGKILL
    adopted = events(log, "pool_adopted", pid=new)
    assert adopted[0]["current"] == 3
    shrink = next(d for d in events(log, "scale_decision", pid=new) if d["desired"] < d["current"])
    assert epoch(shrink) - epoch(adopted[0]) >= WINDOW_S - POLL_S, "the restarted scaler shrank at once"
    assert set(replies.by_id) == ids
    assert replies.duplicates() == 0
