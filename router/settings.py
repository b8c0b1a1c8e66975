"""The router's settings: one frozen object built in `main` from the environment and CLI flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from inferq.transport import KafkaSettings
from schemas.topics import DLQ, REPLIES, REQUESTS, ROUTES

ENV_PREFIX = "INFERQ_"


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """Everything one router process needs."""

    kafka: KafkaSettings
    routes_file: Path | None = None
    repository: Path | None = None
    requests_topic: str = REQUESTS
    routes_topic: str = ROUTES
    group: str = "inferq.router"
    reply_topic: str = REPLIES
    reply_allow_list: tuple[str, ...] = (REPLIES,)
    dlq_topic: str = DLQ
    work_partitions: int = 8
    max_payload_bytes: int = 4 * 1024 * 1024
    metrics_port: int = 0

    @classmethod
    def from_env(
        cls,
        *,
        routes_file: Path | None,
        repository: Path | None,
        environ: Mapping[str, str] | None = None,
    ) -> RouterSettings:
        """Settings from `INFERQ_*` variables (see README) and the CLI's paths."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            return env.get(ENV_PREFIX + name, default)

        reply_topic = get("REPLY_TOPIC", REPLIES)
        allow = tuple(t.strip() for t in get("REPLY_ALLOW_LIST", reply_topic).split(",") if t.strip())
        return cls(
            kafka=KafkaSettings.from_env(env),
            routes_file=routes_file,
            repository=repository,
            requests_topic=get("REQUESTS_TOPIC", REQUESTS),
            routes_topic=get("ROUTES_TOPIC", ROUTES),
            group=get("ROUTER_GROUP", "inferq.router"),
            reply_topic=reply_topic,
            reply_allow_list=allow if reply_topic in allow else (*allow, reply_topic),
            dlq_topic=get("DLQ_TOPIC", DLQ),
            work_partitions=int(get("WORK_PARTITIONS", "8")),
            max_payload_bytes=int(get("MAX_PAYLOAD_BYTES", str(4 * 1024 * 1024))),
            metrics_port=int(get("METRICS_PORT", "0")),
        )
