"""What a worker writes back, pure: reply records, error replies and DLQ records.

Every reply keeps the request's record key (ordering and stickiness follow the
application's key), echoes its correlation id and trace context, and says which
model version answered.
"""

from __future__ import annotations

from dataclasses import dataclass

from inferq.transport import Header, OutRecord
from schemas import headers as h
from schemas.codec import encode_error, encode_response
from schemas.messages import ErrorReply, InferenceResponse
from workers.triage import Job, Rejected

STATUS_OK = b"ok"
STATUS_ERROR = b"error"


@dataclass(frozen=True, slots=True)
class Timing:
    """How long a batch's requests queued and how long their model call took."""

    queue_ms: float
    inference_ms: float
    batch_size: int


def reply_record(job: Job, response: InferenceResponse, timing: Timing) -> OutRecord:
    """The success reply to one job."""
    encoded = encode_response(response, binary=job.binary_reply)
    headers: list[Header] = [
        (h.CORRELATION_ID, job.correlation_id.encode()),
        (h.MODEL, response.model_name.encode()),
        (h.MODEL_VERSION, response.model_version.encode()),
        (h.STATUS, STATUS_OK),
        (h.CONTENT_TYPE, encoded.content_type.encode()),
        (h.QUEUE_MS, f"{timing.queue_ms:.3f}".encode()),
        (h.INFERENCE_MS, f"{timing.inference_ms:.3f}".encode()),
        (h.BATCH_SIZE, str(timing.batch_size).encode()),
    ]
    if encoded.header_length is not None:
        headers.append((h.HEADER_LENGTH, str(encoded.header_length).encode()))
    headers.extend(_trace(job.record.headers))
    return OutRecord(topic=job.reply_to, value=encoded.body, key=job.record.key, headers=tuple(headers))


def error_reply_record(rejected: Rejected, model: str, version: str) -> OutRecord:
    """The typed error reply to a rejected request."""
    body = encode_error(ErrorReply(id=rejected.request_id, code=rejected.code, error=rejected.message))
    headers: list[Header] = [
        (h.CORRELATION_ID, rejected.correlation_id.encode()),
        (h.MODEL, model.encode()),
        (h.MODEL_VERSION, version.encode()),
        (h.STATUS, STATUS_ERROR),
        (h.CONTENT_TYPE, b"application/json"),
        (h.ERROR_CODE, rejected.code.value.encode()),
    ]
    headers.extend(_trace(rejected.record.headers))
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


def _trace(headers: tuple[Header, ...]) -> list[Header]:
    return [(k, v) for k, v in headers if k in (h.TRACEPARENT, h.TRACESTATE)]
