"""Settings every service reads the same way from `INFERQ_*` variables (see README)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from inferq.transport import KafkaSettings
from schemas.topics import DLQ, REPLIES

ENV_PREFIX = "INFERQ_"
DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024


class CommonFields(TypedDict):
    """The fields that worker and router settings share, as keyword arguments of either."""

    kafka: KafkaSettings
    reply_topic: str
    reply_allow_list: tuple[str, ...]
    dlq_topic: str
    max_payload_bytes: int
    work_partitions: int
    metrics_port: int


def setting(env: Mapping[str, str], name: str, default: str) -> str:
    """`INFERQ_<name>` from `env`, else `default`."""
    return env.get(ENV_PREFIX + name, default)


def common_fields(env: Mapping[str, str]) -> CommonFields:
    """Kafka, reply topics, DLQ, payload limit, work partitions and metrics port from `env`."""
    reply_topic = setting(env, "REPLY_TOPIC", REPLIES)
    allow = tuple(t.strip() for t in setting(env, "REPLY_ALLOW_LIST", reply_topic).split(",") if t.strip())
    return CommonFields(
        kafka=KafkaSettings.from_env(env),
        reply_topic=reply_topic,
        # The default reply topic is always allowed: refusals are sent there.
        reply_allow_list=allow if reply_topic in allow else (*allow, reply_topic),
        dlq_topic=setting(env, "DLQ_TOPIC", DLQ),
        max_payload_bytes=int(setting(env, "MAX_PAYLOAD_BYTES", str(DEFAULT_MAX_PAYLOAD_BYTES))),
        work_partitions=int(setting(env, "WORK_PARTITIONS", "8")),
        metrics_port=int(setting(env, "METRICS_PORT", "0")),
    )
