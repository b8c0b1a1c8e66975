"""Refusals, pure: the typed error reply and the dead-letter record of a request that cannot be served.

Routers and workers refuse requests for different reasons but in one way: an
error reply to the request's reply topic (keyed like the request, echoing its
correlation id and trace context) and a DLQ record holding the original bytes
and headers plus the error code and where the record came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from inferq.transport import Header, OutRecord, Record
from schemas import headers as h
from schemas.codec import CONTENT_TYPE_JSON, encode_error
from schemas.errors import ErrorCode
from schemas.messages import ErrorReply


@dataclass(frozen=True, slots=True)
class Rejected:
    """A request answered with an error reply (and a DLQ record) instead of a prediction."""

    record: Record
    reply_to: str
    correlation_id: str
    request_id: str
    code: ErrorCode
    message: str
    shadow: bool


def error_reply_record(rejected: Rejected, model: str, version: str) -> OutRecord:
    """The typed error reply to a rejected request."""
    body = encode_error(ErrorReply(id=rejected.request_id, code=rejected.code, error=rejected.message))
    headers: list[Header] = [
        (h.CORRELATION_ID, rejected.correlation_id.encode()),
        (h.MODEL, model.encode()),
        (h.MODEL_VERSION, version.encode()),
        (h.STATUS, h.STATUS_ERROR),
        (h.CONTENT_TYPE, CONTENT_TYPE_JSON.encode()),
        (h.ERROR_CODE, rejected.code.value.encode()),
    ]
    headers.extend(trace_headers(rejected.record.headers))
    return OutRecord(topic=rejected.reply_to, value=body, key=rejected.record.key, headers=tuple(headers))


def dlq_record(rejected: Rejected, dlq_topic: str) -> OutRecord:
    """The dead-letter record: the original bytes and headers, plus why and where they came from."""
    record = rejected.record
    headers = (
        *record.headers,
        (h.ERROR_CODE, rejected.code.value.encode()),
        (h.ERROR_MESSAGE, rejected.message.encode()),
        (h.ORIGIN_TOPIC, record.topic.encode()),
        (h.ORIGIN_PARTITION, str(record.partition).encode()),
        (h.ORIGIN_OFFSET, str(record.offset).encode()),
    )
    return OutRecord(topic=dlq_topic, value=record.value, key=record.key, headers=headers)


def trace_headers(headers: tuple[Header, ...]) -> list[Header]:
    """The W3C trace-context headers to propagate onto a reply."""
    return [(k, v) for k, v in headers if k in (h.TRACEPARENT, h.TRACESTATE)]
