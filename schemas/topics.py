"""Topic and consumer-group names, and the reply-topic allow-list rule."""

from __future__ import annotations

import re
from collections.abc import Collection

from schemas.errors import ErrorCode, SchemaError

REQUESTS = "inference.requests"
REPLIES = "inference.replies"
DLQ = "inference.dlq"
ROUTES = "inference.routes"

# Model and version names become one dot-separated segment of a topic name, so they
# use Kafka's topic alphabet minus the dot; 100 keeps the work topic under Kafka's 249.
NAME_PATTERN = r"[A-Za-z0-9_-]{1,100}"
_NAME = re.compile(NAME_PATTERN)
# Kafka's own rule for topic names (Topic.validate): legal characters, 1..249, not "." or "..".
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def check_name(name: str) -> str:
    """Return `name` if it is a valid model or version name, else raise INVALID_MODEL_NAME."""
    if _NAME.fullmatch(name) is None:
        raise SchemaError(
            ErrorCode.INVALID_MODEL_NAME,
            f"{name[:120]!r} is not 1..100 characters of [A-Za-z0-9_-]",
        )
    return name


def is_topic_name(name: str) -> bool:
    """Whether Kafka accepts `name` as a topic name."""
    return _TOPIC.fullmatch(name) is not None and name not in {".", ".."}


def work_topic(model: str, version: str) -> str:
    """The topic a model version's workers consume: `inference.work.<model>.<version>`."""
    return f"inference.work.{check_name(model)}.{check_name(version)}"


def worker_group(model: str, version: str) -> str:
    """The consumer group of a model version's workers: `inferq.<model>.<version>`."""
    return f"inferq.{check_name(model)}.{check_name(version)}"


def reply_allowed(topic: str, allow_list: Collection[str]) -> bool:
    """Whether replies may go to `topic`: an exact entry, or a prefix entry ending in "*"."""
    if not is_topic_name(topic):
        return False
    for entry in allow_list:
        if entry.endswith("*"):
            if topic.startswith(entry[:-1]):
                return True
        elif topic == entry:
            return True
    return False
