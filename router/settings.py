"""The router's settings: one frozen object built in `main` from the environment and CLI flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from inferq.envconfig import DEFAULT_MAX_PAYLOAD_BYTES, common_fields, setting
from inferq.transport import KafkaSettings
from schemas.topics import DLQ, REPLIES, REQUESTS, ROUTES


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
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
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
        return cls(
            **common_fields(env),
            routes_file=routes_file,
            repository=repository,
            requests_topic=setting(env, "REQUESTS_TOPIC", REQUESTS),
            routes_topic=setting(env, "ROUTES_TOPIC", ROUTES),
            group=setting(env, "ROUTER_GROUP", "inferq.router"),
        )
