"""Router + workers against the real broker: splits, pins, shadows, live policy changes, refusals."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from inferq.transport import KafkaSettings, ensure_topics
from router.table import publish_policy
from schemas.routes import RoutePolicy, ShadowTarget, VersionWeight
from schemas.topics import work_topic, worker_group
from tests.integration.support import (
    Proc,
    alias_repository,
    collect,
    ensure_models,
    inferq_process,
    oip_body,
    produce,
    unique,
)
from workers.lag import measure_lag

pytestmark = [pytest.mark.integration]

TICKET = "I was charged twice for my order, please refund"


@dataclass
class IntentSystem:
    """Workers for an aliased intent model (v1 and v2) that reply to any `replies.*` topic."""

    bootstrap: str
    repo: Path
    model: str
    tmp: Path
    dlq: str

    def router(self, stack: ExitStack, name: str, **env: str) -> Proc:
        args = ["router", "--repository", str(self.repo)]
        return stack.enter_context(inferq_process(args, {**self.env(), **env}, self.tmp / f"{name}.log"))

    def env(self) -> dict[str, str]:
        return {"INFERQ_REPLY_ALLOW_LIST": "replies.*", "INFERQ_DLQ_TOPIC": self.dlq}


@pytest.fixture(scope="module")
def intent(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IntentSystem]:
    tmp = tmp_path_factory.mktemp("intent")
    repo, model = alias_repository(tmp, ensure_models(), "intent", ["1", "2"])
    system = IntentSystem(kafka_bootstrap, repo, model, tmp, unique("dlq"))
    asyncio.run(
        ensure_topics(KafkaSettings(kafka_bootstrap), {work_topic(model, "1"): 4, work_topic(model, "2"): 4})
    )
    with ExitStack() as stack:
        for version in ("1", "2"):
            args = ["worker", "--repository", str(repo), "--model", model, "--version", version]
            stack.enter_context(inferq_process(args, system.env(), tmp / f"worker{version}.log"))
        yield system


def requests(
    model: str | None, reply: str, n: int, *, prefix: str = "q", pin: str | None = None
) -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
    records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []
    for i in range(n):
        cid = f"{prefix}{i}"
        headers = [("correlation-id", cid.encode()), ("reply-to", reply.encode())]
        if model is not None:
            headers.append(("model", model.encode()))
        if pin is not None:
            headers.append(("model-version", pin.encode()))
        records.append((str(i).encode(), oip_body(cid, "text", "BYTES", [1], [TICKET]), headers))
    return records


def router_env(system: IntentSystem) -> tuple[dict[str, str], str, str]:
    requests_topic, routes_topic = unique("requests"), unique("routes")
    env = {
        "INFERQ_REQUESTS_TOPIC": requests_topic,
        "INFERQ_ROUTES_TOPIC": routes_topic,
        "INFERQ_ROUTER_GROUP": unique("router"),
        "INFERQ_REPLY_TOPIC": unique("replies"),
    }
    return env, requests_topic, routes_topic


def split_policy(model: str, v1: float, v2: float, **kwargs: object) -> RoutePolicy:
    return RoutePolicy(model=model, versions=(VersionWeight("1", v1), VersionWeight("2", v2)), **kwargs)  # type: ignore[arg-type]


async def test_canary_split_lands_within_binomial_bounds_with_one_reply_each(intent: IntentSystem) -> None:
    env, requests_topic, routes_topic = router_env(intent)
    reply = unique("replies")
    n = 10_000
    await publish_policy(intent.bootstrap, split_policy(intent.model, 90, 10), topic=routes_topic)
    await ensure_topics(KafkaSettings(intent.bootstrap), {requests_topic: 4, reply: 4})
    await produce(intent.bootstrap, requests_topic, requests(intent.model, reply, n))
    with ExitStack() as stack:
        intent.router(stack, "router-split", **env)
        replies = await collect(intent.bootstrap, reply, {f"q{i}" for i in range(n)}, timeout_s=240)

    assert replies.total() == n
    assert replies.duplicates() == 0
    versions = Counter(replies.headers(f"q{i}")["model-version"] for i in range(n))
    sigma = math.sqrt(n * 0.1 * 0.9)
    assert abs(versions[b"2"] - n * 0.1) <= 4 * sigma, versions
    assert versions[b"1"] + versions[b"2"] == n
    labels = {replies.body(f"q{i}")["outputs"][0]["data"][0] for i in range(20)}  # type: ignore[index]
    assert labels <= {"billing", "refunds"}, labels


async def test_pin_is_honoured_only_when_the_policy_allows_it(intent: IntentSystem) -> None:
    reply = unique("replies")
    results = {}
    for allow_pin in (True, False):
        env, requests_topic, routes_topic = router_env(intent)
        policy = split_policy(intent.model, 100, 0, allow_pin=allow_pin)
        await publish_policy(intent.bootstrap, policy, topic=routes_topic)
        await ensure_topics(KafkaSettings(intent.bootstrap), {requests_topic: 1, reply: 1})
        prefix = f"pin{allow_pin}-"
        await produce(
            intent.bootstrap, requests_topic, requests(intent.model, reply, 50, prefix=prefix, pin="2")
        )
        with ExitStack() as stack:
            intent.router(stack, f"router-pin-{allow_pin}", **env)
            replies = await collect(
                intent.bootstrap, reply, {f"{prefix}{i}" for i in range(50)}, timeout_s=60
            )
        results[allow_pin] = {replies.headers(f"{prefix}{i}")["model-version"] for i in range(50)}
    assert results == {True: {b"2"}, False: {b"1"}}


async def test_shadow_version_gets_copies_and_the_app_one_reply_each(intent: IntentSystem) -> None:
    env, requests_topic, routes_topic = router_env(intent)
    reply = unique("replies")
    n = 500
    before = await measure_lag(
        intent.bootstrap, worker_group(intent.model, "2"), work_topic(intent.model, "2")
    )
    policy = RoutePolicy(
        model=intent.model, versions=(VersionWeight("1", 1),), shadows=(ShadowTarget("2", 100),)
    )
    await publish_policy(intent.bootstrap, policy, topic=routes_topic)
    await ensure_topics(KafkaSettings(intent.bootstrap), {requests_topic: 2, reply: 2})
    await produce(intent.bootstrap, requests_topic, requests(intent.model, reply, n, prefix="s"))
    with ExitStack() as stack:
        intent.router(stack, "router-shadow", **env)
        replies = await collect(
            intent.bootstrap, reply, {f"s{i}" for i in range(n)}, timeout_s=120, settle_s=3
        )
        deadline = time.monotonic() + 60
        while True:
            after = await measure_lag(
                intent.bootstrap, worker_group(intent.model, "2"), work_topic(intent.model, "2")
            )
            shadow_records = sum(p.end_offset for p in after.partitions) - sum(
                p.end_offset for p in before.partitions
            )
            if (shadow_records == n and after.total == 0) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    assert replies.total() == n
    assert {replies.headers(f"s{i}")["model-version"] for i in range(n)} == {b"1"}
    assert shadow_records == n, "every request must be copied to the shadow version"
    assert after.total == 0, "the shadow worker must consume (and commit) its copies"


async def test_policy_change_reaches_every_router_within_a_second(intent: IntentSystem) -> None:
    env, requests_topic, routes_topic = router_env(intent)
    reply = unique("replies")
    await publish_policy(intent.bootstrap, split_policy(intent.model, 1, 0), topic=routes_topic)
    await ensure_topics(KafkaSettings(intent.bootstrap), {requests_topic: 4, reply: 4})
    sent_at: dict[str, float] = {}
    with ExitStack() as stack:
        intent.router(stack, "router-live-a", **env)
        intent.router(stack, "router-live-b", **env)
        await asyncio.sleep(3)  # both routers joined the group and followed the table
        switched_at = 0.0
        for wave in range(30):
            batch = requests(intent.model, reply, 40, prefix=f"w{wave}-")
            now = time.monotonic()
            sent_at.update({f"w{wave}-{i}": now for i in range(40)})
            await produce(intent.bootstrap, requests_topic, batch)
            if wave == 10:
                await publish_policy(intent.bootstrap, split_policy(intent.model, 0, 1), topic=routes_topic)
                switched_at = time.monotonic()
            await asyncio.sleep(0.1)
        replies = await collect(intent.bootstrap, reply, set(sent_at), timeout_s=120)
    assert set(replies.by_id) >= set(sent_at)
    assert replies.duplicates() == 0
    for cid, at in sent_at.items():
        version = replies.headers(cid)["model-version"]
        if at < switched_at - 0.05:
            assert version == b"1", (cid, "routed by the new policy before it was published")
        elif at > switched_at + 1.0:
            assert version == b"2", (cid, "still routed by the old policy a second after the change")


async def test_unroutable_requests_get_typed_errors_and_dlq_records(intent: IntentSystem) -> None:
    env, requests_topic, _ = router_env(intent)
    reply, dlq = unique("replies"), unique("dlq")
    await ensure_topics(KafkaSettings(intent.bootstrap), {requests_topic: 1, reply: 1})
    records = requests("no_such_model", reply, 1, prefix="unknown")
    records += requests(None, reply, 1, prefix="anonymous")
    records += requests(intent.model, reply, 1, prefix="badpin", pin="9")
    records += requests(intent.model, reply, 1, prefix="fine")
    await produce(intent.bootstrap, requests_topic, records)
    with ExitStack() as stack:
        intent.router(stack, "router-refusals", **{**env, "INFERQ_DLQ_TOPIC": dlq})
        expected = {"unknown0", "anonymous0", "badpin0", "fine0"}
        replies = await collect(intent.bootstrap, reply, expected, timeout_s=60)
        dead = await collect(intent.bootstrap, dlq, expected - {"fine0"}, timeout_s=30)
    codes = {cid: replies.body(cid).get("parameters") for cid in expected - {"fine0"}}
    assert codes == {
        "unknown0": {"code": "UNKNOWN_MODEL"},
        "anonymous0": {"code": "INVALID_REQUEST"},
        "badpin0": {"code": "UNKNOWN_VERSION"},
    }
    assert replies.headers("fine0")["status"] == b"ok"
    for cid in expected - {"fine0"}:
        assert dead.headers(cid)["inferq-origin-topic"] == requests_topic.encode()
