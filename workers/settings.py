"""The worker's settings: one frozen object built in `main` from the environment and CLI flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from inferq.envconfig import DEFAULT_MAX_PAYLOAD_BYTES, ENV_PREFIX, common_fields
from inferq.transport import KafkaSettings
from schemas.topics import DLQ, REPLIES


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Everything one worker process needs besides its model file."""

    kafka: KafkaSettings
    repository: Path
    model: str
    version: str
    reply_topic: str = REPLIES
    reply_allow_list: tuple[str, ...] = (REPLIES,)
    dlq_topic: str = DLQ
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    work_partitions: int = 8
    metrics_port: int = 0
    transactional_id: str | None = None
    """Set: exactly-once mode (replies and offsets committed in one Kafka transaction)."""

    @classmethod
    def from_env(
        cls,
        *,
        repository: Path,
        model: str,
        version: str,
        environ: Mapping[str, str] | None = None,
    ) -> WorkerSettings:
        """Settings for one model version, the rest from `INFERQ_*` variables (see README)."""
        env = os.environ if environ is None else environ
        return cls(
            **common_fields(env),
            repository=repository,
            model=model,
            version=version,
            transactional_id=_transactional_id(env, model, version),
        )


def _transactional_id(env: Mapping[str, str], model: str, version: str) -> str | None:
    """A stable id per pool slot, so a restarted process fences the transactions of its predecessor."""
    if env.get(ENV_PREFIX + "EXACTLY_ONCE", "").lower() not in ("1", "true", "yes"):
        return None
    instance = env.get(ENV_PREFIX + "INSTANCE") or env.get("HOSTNAME") or "0"
    return env.get(ENV_PREFIX + "TRANSACTIONAL_ID") or f"inferq.{model}.{version}.{instance}"
