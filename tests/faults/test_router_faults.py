"""A router killed in the middle of a backlog loses nothing."""

from __future__ import annotations

import os
import signal
from contextlib import ExitStack
from pathlib import Path

import pytest

from inferq.transport import KafkaSettings, ensure_topics
from schemas.topics import work_topic
from tests.faults.test_worker_faults import wait_for_replies
from tests.integration.support import (
    alias_repository,
    collect,
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


async def test_kill_9_of_a_router_then_restart_answers_every_request(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    repo, model = alias_repository(tmp_path, ensure_models(), "tabular", ["1"])
    requests_topic, reply = unique("requests"), unique("replies")
    env = {
        "INFERQ_REQUESTS_TOPIC": requests_topic,
        "INFERQ_ROUTES_TOPIC": unique("routes"),
        "INFERQ_ROUTER_GROUP": unique("router"),
        "INFERQ_REPLY_TOPIC": reply,
        "INFERQ_DLQ_TOPIC": unique("dlq"),
    }
    await ensure_topics(
        KafkaSettings(kafka_bootstrap), {requests_topic: 4, reply: 4, work_topic(model, "1"): 4}
    )
    rows = tabular_rows(BACKLOG, seed=3)
    ids = [f"k{i}" for i in range(BACKLOG)]
    await produce(
        kafka_bootstrap,
        requests_topic,
        [
            (
                str(i).encode(),
                oip_body(cid, "features", "FP32", [1, 32], row.tolist()),
                [*request_headers(cid, reply), ("model", model.encode())],
            )
            for i, (cid, row) in enumerate(zip(ids, rows, strict=True))
        ],
    )
    router_args = ["router", "--repository", str(repo)]
    worker_args = ["worker", "--repository", str(repo), "--model", model, "--version", "1"]
    with ExitStack() as stack:
        stack.enter_context(inferq_process(worker_args, env, tmp_path / "worker.log"))
        first = stack.enter_context(inferq_process(router_args, env, tmp_path / "router1.log"))
        seen = await wait_for_replies(kafka_bootstrap, reply, 1000, timeout_s=90)
        os.kill(first.popen.pid, signal.SIGKILL)
        first.popen.wait(10)
        stack.enter_context(inferq_process(router_args, env, tmp_path / "router2.log"))
        replies = await collect(kafka_bootstrap, reply, set(ids), timeout_s=180)
    missing = set(ids) - set(replies.by_id)
    assert not missing, f"{len(missing)} requests never answered"
    print(f"router kill -9 after {seen} replies: {replies.duplicates()} duplicates of {BACKLOG}")
