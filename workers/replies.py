"""What a worker writes back on success, pure: one reply record per answered request.

Every reply keeps the request's record key (ordering and stickiness follow the
application's key), echoes its correlation id and trace context, and says which
model version answered.
"""

from __future__ import annotations

from dataclasses import dataclass

from inferq.deadletter import trace_headers
from inferq.transport import Header, OutRecord
from schemas import headers as h
from schemas.codec import encode_response
from schemas.messages import InferenceResponse
from workers.triage import Job


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
        (h.STATUS, h.STATUS_OK),
        (h.CONTENT_TYPE, encoded.content_type.encode()),
        (h.QUEUE_MS, f"{timing.queue_ms:.3f}".encode()),
        (h.INFERENCE_MS, f"{timing.inference_ms:.3f}".encode()),
        (h.BATCH_SIZE, str(timing.batch_size).encode()),
    ]
    if encoded.header_length is not None:
        headers.append((h.HEADER_LENGTH, str(encoded.header_length).encode()))
    headers.extend(trace_headers(job.record.headers))
    return OutRecord(topic=job.reply_to, value=encoded.body, key=job.record.key, headers=tuple(headers))
