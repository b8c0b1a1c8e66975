"""Kafka header names of the wire contract and the request metadata they carry."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.errors import ErrorCode, SchemaError
from schemas.topics import check_name, is_topic_name

MODEL = "model"
MODEL_VERSION = "model-version"
REPLY_TO = "reply-to"
CORRELATION_ID = "correlation-id"
CONTENT_TYPE = "content-type"
DEADLINE = "deadline"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
STATUS = "status"
SHADOW = "inferq-shadow"
HEADER_LENGTH = "inference-header-content-length"

# Set by workers on replies: how the request was served.
QUEUE_MS = "inferq-queue-ms"
INFERENCE_MS = "inferq-inference-ms"
BATCH_SIZE = "inferq-batch-size"
# Set on error replies and DLQ records: why, and (DLQ) where the original record came from.
ERROR_CODE = "inferq-error-code"
ERROR_MESSAGE = "inferq-error"
ORIGIN_TOPIC = "inferq-origin-topic"
ORIGIN_PARTITION = "inferq-origin-partition"
ORIGIN_OFFSET = "inferq-origin-offset"

STATUS_OK = b"ok"
STATUS_ERROR = b"error"
SHADOW_ON = b"1"

Headers = Sequence[tuple[str, bytes]]

_KNOWN = frozenset(
    {
        MODEL,
        MODEL_VERSION,
        REPLY_TO,
        CORRELATION_ID,
        CONTENT_TYPE,
        DEADLINE,
        TRACEPARENT,
        TRACESTATE,
        SHADOW,
        HEADER_LENGTH,
    }
)
# Plain ASCII digits only: int() would also take "+1", " 1", "1_000" and other scripts' digits.
_UINT = re.compile(r"[0-9]{1,19}")
_SHADOW_VALUES = {"1": True, "true": True, "0": False, "false": False}


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """What a request's headers say; an absent or empty header is None."""

    model: str | None
    model_version: str | None
    reply_to: str | None
    correlation_id: str | None
    content_type: str | None
    deadline_ms: int | None
    traceparent: str | None
    tracestate: str | None
    shadow: bool
    header_length: int | None


def parse_meta(headers: Headers) -> RequestMeta:
    """Read the contract's headers (names case-insensitive; a repeated header: the last wins).

    Raises SchemaError: INVALID_HEADER for a value that is not UTF-8, a deadline or
    header length that is not a non-negative integer, a reply-to that is not a topic
    name or an unknown shadow flag; INVALID_MODEL_NAME for a bad model or version.
    """
    values: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        if name not in _KNOWN:
            continue
        if not raw_value:  # Kafka allows null header values; treat them like empty ones
            values.pop(name, None)
            continue
        try:
            values[name] = raw_value.decode("utf-8")
        except UnicodeDecodeError:
            raise SchemaError(ErrorCode.INVALID_HEADER, f"header {name} is not UTF-8") from None
    model = values.get(MODEL)
    version = values.get(MODEL_VERSION)
    reply_to = values.get(REPLY_TO)
    if reply_to is not None and not is_topic_name(reply_to):
        raise SchemaError(ErrorCode.INVALID_HEADER, f"reply-to {reply_to[:120]!r} is not a topic")
    return RequestMeta(
        model=None if model is None else check_name(model),
        model_version=None if version is None else check_name(version),
        reply_to=reply_to,
        correlation_id=values.get(CORRELATION_ID),
        content_type=values.get(CONTENT_TYPE),
        deadline_ms=_uint(values, DEADLINE),
        traceparent=values.get(TRACEPARENT),
        tracestate=values.get(TRACESTATE),
        shadow=_shadow(values.get(SHADOW)),
        header_length=_uint(values, HEADER_LENGTH),
    )


def _uint(values: dict[str, str], name: str) -> int | None:
    value = values.get(name)
    if value is None:
        return None
    if _UINT.fullmatch(value) is None:
        raise SchemaError(ErrorCode.INVALID_HEADER, f"{name} {value[:40]!r} is not an integer")
    return int(value)


def _shadow(value: str | None) -> bool:
    if value is None:
        return False
    flag = _SHADOW_VALUES.get(value.lower())
    if flag is None:
        raise SchemaError(ErrorCode.INVALID_HEADER, f"{SHADOW} {value[:40]!r} is not 1/0/true/false")
    return flag
