"""The scaler under `inferq up` against the real broker: grow on a backlog, drain faster, shrink back."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from inferq.transport import KafkaSettings, ensure_topics
from schemas.topics import work_topic
from tests.integration.scaler_support import (
    COMMIT_BOUND_TABULAR,
    SizeSampler,
    assigned,
    epoch,
    events,
    eventually,
    inferq_up,
    produce_requests,
    request_records,
    scaler_metrics_port,
    scrape,
    slow_tabular,
    system_config,
)
from tests.integration.support import collect, produce, unique
from tests.kafka_helpers import describe_partitions, read_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BACKLOG = 20_000
POLL_S = 0.5
WINDOW_S = 3.0


def up_env(reply: str) -> dict[str, str]:
    return {"INFERQ_REPLY_TOPIC": reply, "INFERQ_DLQ_TOPIC": unique("dlq"), "INFERQ_WORK_PARTITIONS": "8"}


async def reply_span(bootstrap: str, reply: str, count: int) -> float:
    """Seconds from the first to the last reply (broker timestamps): the drain time without startup."""
    records = await read_all(bootstrap, reply, count, timeout_s=60)
    stamps: list[int] = [r.timestamp for r in records]
    return (max(stamps) - min(stamps)) / 1000


async def drain(bootstrap: str, tmp: Path, name: str, *, scaler: bool) -> tuple[float, SizeSampler, str, str]:
    """Run `inferq up` (exactly-once workers) on a fresh 20,000-request backlog until all are answered."""
    repo, model = slow_tabular(tmp / name, COMMIT_BOUND_TABULAR)
    config = system_config(tmp / name, repo, model, window_s=WINDOW_S, poll_s=POLL_S)
    topic, reply, state = work_topic(model, "1"), unique("replies"), tmp / name / "state"
    await ensure_topics(KafkaSettings(bootstrap), {topic: 8, reply: 8})
    ids = await produce_requests(bootstrap, topic, reply, BACKLOG, "r")
    sampler, stop = SizeSampler(state, model), asyncio.Event()
    extra = () if scaler else ("--no-scaler",)
    env = {**up_env(reply), "INFERQ_EXACTLY_ONCE": "1"}
    with inferq_up(config, state, env, tmp / f"{name}.log", *extra) as proc:
        sampling = asyncio.create_task(sampler.run(stop))
        try:
            replies = await collect(bootstrap, reply, ids, timeout_s=150, isolation_level="read_committed")
            if scaler:
                metrics = await asyncio.to_thread(scrape, scaler_metrics_port(config))
                assert f'inferq_scaler_desired_replicas{{model="{model}",version="1"}}'.encode() in metrics
                # Back to one worker once the window has seen no lag (plus a worker's drain).
                await eventually(lambda: sampler.shrunk_at() is not None, WINDOW_S + 20)
        finally:
            stop.set()
            await sampling
        log = proc.log()
    assert set(replies.by_id) == ids, log[-3000:]
    assert replies.duplicates() == 0
    return await reply_span(bootstrap, reply, BACKLOG), sampler, log, model


async def test_a_backlog_grows_the_pool_drains_faster_than_one_worker_and_the_pool_shrinks_back(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    fixed_s, fixed, _, _ = await drain(kafka_bootstrap, tmp_path, "fixed", scaler=False)
    assert fixed.sizes() == [1]
    scaled_s, sampler, log, model = await drain(kafka_bootstrap, tmp_path, "scaled", scaler=True)

    decisions = events(log, "scale_decision", model=model)
    print(f"\ndrain: fixed single worker {fixed_s:.1f}s, scaling on {scaled_s:.1f}s")
    start = epoch(decisions[0])
    for d in decisions:
        print(
            f"t={epoch(d) - start:6.1f}s lag={d['lag']:6d} current={d['current']} "
            f"desired={d['desired']} reason={d['reason']}"
        )

    first_lag = next(d for d in decisions if d["lag"] > 0)
    assert first_lag["desired"] > 1, decisions[:3]
    grown = sampler.grown_at()
    assert grown is not None, sampler.samples
    assert grown - epoch(first_lag) <= 2 * POLL_S, "the pool must grow within two poll intervals"
    assert sampler.sizes()[-1] == 1, sampler.sizes()
    assert scaled_s < fixed_s, (scaled_s, fixed_s)
    # The scale-up recommendation stays in the window: nothing may shrink before it ages out.
    first_shrink = next(d for d in decisions if d["desired"] < d["current"])
    assert epoch(first_shrink) - epoch(first_lag) >= WINDOW_S, "shrunk inside the stabilization window"


async def test_scale_down_while_requests_arrive_answers_every_request_exactly_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    repo, model = slow_tabular(tmp_path)
    config = system_config(tmp_path, repo, model, lag_threshold=1000, window_s=WINDOW_S, poll_s=POLL_S)
    topic, reply, state = work_topic(model, "1"), unique("replies"), tmp_path / "state"
    await ensure_topics(KafkaSettings(kafka_bootstrap), {topic: 8, reply: 8})
    sampler, stop = SizeSampler(state, model), asyncio.Event()
    with inferq_up(config, state, up_env(reply), tmp_path / "up.log") as proc:
        sampling = asyncio.create_task(sampler.run(stop))
        try:
            assert await eventually(lambda: bool(assigned(proc.log(), topic)), 60), proc.log()[-3000:]
            lag_at = time.time()
            ids = await produce_requests(kafka_bootstrap, topic, reply, 6000, "burst")
            # A trickle that goes on until the pool has grown, shrunk back to one process and
            # that process alone has served for 2 s: the shrink happens under load.
            trickle, deadline = 0, time.monotonic() + 60
            while time.monotonic() < deadline:
                await produce(kafka_bootstrap, topic, request_records(reply, 20, f"t{trickle}-"))
                ids |= {f"t{trickle}-{i}" for i in range(20)}
                trickle += 1
                if sampler.alone_since_shrink(2.0):
                    break
                await asyncio.sleep(0.1)
            replies = await collect(kafka_bootstrap, reply, ids, timeout_s=90)
        finally:
            stop.set()
            await sampling
        log = proc.log()

    assert max(sampler.sizes()) >= 2, sampler.sizes()
    assert sampler.sizes()[-1] == 1, sampler.sizes()
    assert set(replies.by_id) == ids, f"{len(ids - set(replies.by_id))} unanswered"
    assert replies.duplicates() == 0
    # Reaction, from the first burst record produced to the rebalance that gives the new worker partitions.
    steps = {
        "scaler decided": events(log, "pool_resize", model=model),
        "pool resized": events(log, "pool_resize_requested", model=model),
        "process spawned": [d for d in events(log, "worker_started", model=model) if "slot" in d],
        "model loaded, consumer starting": [
            d for d in events(log, "worker_started", model=model) if "policy" in d
        ],
        "new worker consuming": assigned(log, topic),
    }
    reaction = {
        name: next(epoch(d) - lag_at for d in docs if epoch(d) > lag_at) for name, docs in steps.items()
    }
    print("\n" + "\n".join(f"{name:>32}: +{seconds:4.1f}s" for name, seconds in reaction.items()))
    assert reaction["new worker consuming"] < 30


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("ctrl_c", [False, True], ids=["sigterm-to-up", "sigint-to-the-group"])
async def test_up_creates_the_work_topic_and_a_signal_stops_every_process(
    kafka_bootstrap: str, tmp_path: Path, *, ctrl_c: bool
) -> None:
    repo, model = slow_tabular(tmp_path)
    config = system_config(tmp_path, repo, model, partitions=4)
    topic, state = work_topic(model, "1"), tmp_path / "state"
    with inferq_up(config, state, up_env(unique("replies")), tmp_path / "up.log") as proc:
        assert await eventually(lambda: bool(assigned(proc.log(), topic)), 60), proc.log()[-3000:]
        children = proc.children()
        assert len(children) == 2  # the worker and the scaler
        # Ctrl-C in a terminal signals the whole foreground process group at once.
        if ctrl_c:
            os.killpg(proc.popen.pid, signal.SIGINT)
        else:
            proc.popen.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.popen.wait, 60)
        log = proc.log()
    assert code == 0, log[-3000:]
    assert not [pid for pid in children if alive(pid)]
    assert events(log, "up_stopped")
    assert not events(log, "worker_died"), log[-3000:]
    assert not events(log, "child_died"), log[-3000:]
    assert list(state.iterdir()) == []
    assert len(await describe_partitions(kafka_bootstrap, topic)) == 4


async def test_up_runs_a_router_that_forwards_requests_to_the_pool(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    repo, model = slow_tabular(tmp_path)
    config = system_config(tmp_path, repo, model, routers=1)
    requests, reply = unique("requests"), unique("replies")
    env = {
        **up_env(reply),
        "INFERQ_REQUESTS_TOPIC": requests,
        "INFERQ_ROUTES_TOPIC": unique("routes"),
        "INFERQ_ROUTER_GROUP": unique("router"),
    }
    await ensure_topics(KafkaSettings(kafka_bootstrap), {requests: 4, reply: 8})
    records = [
        (key, body, [*headers, ("model", model.encode())])
        for key, body, headers in request_records(reply, 50, "via-router-")
    ]
    with inferq_up(config, tmp_path / "state", env, tmp_path / "up.log") as proc:
        await produce(kafka_bootstrap, requests, records)
        replies = await collect(kafka_bootstrap, reply, {f"via-router-{i}" for i in range(50)}, timeout_s=60)
        log = proc.log()
    assert len(replies.by_id) == 50, log[-3000:]
    assert replies.headers("via-router-0")["status"] == b"ok"
    started = [d["child"] for d in events(log, "child_started")]
    assert sorted(name.split("-")[0] for name in started) == ["router", "scaler"]
    assert not events(log, "child_died"), log[-3000:]
