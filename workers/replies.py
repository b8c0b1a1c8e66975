"""What a worker writes back on success, pure: one reply record per answered request.

Every reply keeps the request's record key (ordering and stickiness follow the
application's key), echoes its correlation id and trace context, and says which
model version answered and how the request was served (queue and inference
time, rows in its onnxruntime call).
"""

from __future__ import annotations

from inferq.deadletter import trace_headers
from inferq.transport import Header, OutRecord
from schemas import headers as h
from schemas.codec import encode_response
from schemas.messages import InferenceResponse
from workers.triage import Job


def call_headers(model: str, version: str, inference_ms: float, rows: int) -> tuple[Header, ...]:
    """The reply headers shared by every request of one onnxruntime call (built once per call)."""
    return (
        (h.MODEL, model.encode()),
        (h.MODEL_VERSION, version.encode()),
        (h.STATUS, h.STATUS_OK),
        (h.INFERENCE_MS, b"%.3f" % inference_ms),
        (h.BATCH_SIZE, b"%d" % rows),
    )


def reply_record(
    job: Job, response: InferenceResponse, queue_ms: float, shared: tuple[Header, ...]
) -> OutRecord:
    """The success reply to one job; `shared` comes from `call_headers`."""
    encoded = encode_response(response, binary=job.binary_reply)
    headers: list[Header] = [
        (h.CORRELATION_ID, job.correlation_id.encode()),
        *shared,
        (h.CONTENT_TYPE, encoded.content_type.encode()),
        (h.QUEUE_MS, b"%.3f" % queue_ms),
    ]
    if encoded.header_length is not None:
        headers.append((h.HEADER_LENGTH, b"%d" % encoded.header_length))
    headers.extend(trace_headers(job.record.headers))
    return OutRecord(topic=job.reply_to, value=encoded.body, key=job.record.key, headers=tuple(headers))
