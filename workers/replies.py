"""What a worker writes back on success, pure: one reply record per answered request.

Every reply keeps the request's record key (ordering and stickiness follow the
application's key), echoes its correlation id and trace context, and says which
model version answered and how the request was served (queue and inference
time, rows in its onnxruntime call).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from inferq.deadletter import trace_headers
from inferq.transport import Header, OutRecord
from schemas import headers as h
from schemas.codec import CONTENT_TYPE_JSON, Encoded, encode_response
from schemas.fast_codec import render_responses
from schemas.messages import InferenceResponse
from schemas.tensors import Datatype, Tensor, datatype_of
from workers.triage import Job

_JSON = CONTENT_TYPE_JSON.encode()


def call_headers(model: str, version: str, inference_ms: float, rows: int) -> tuple[Header, ...]:
    """The reply headers shared by every request of one onnxruntime call (built once per call)."""
    return (
        (h.MODEL, model.encode()),
        (h.MODEL_VERSION, version.encode()),
        (h.STATUS, h.STATUS_OK),
        (h.INFERENCE_MS, b"%.3f" % inference_ms),
        (h.BATCH_SIZE, b"%d" % rows),
    )


def segment_replies(
    jobs: Sequence[Job],
    bounds: Sequence[tuple[int, int]],
    outputs: Mapping[str, np.ndarray[Any, Any]],
    *,
    model: str,
    version: str,
    queue_ms: Sequence[float],
    shared: tuple[Header, ...],
) -> list[OutRecord]:
    """The replies to `jobs`, which got rows `bounds` of one call's `outputs`; `shared` from `call_headers`.

    JSON replies of a whole segment are rendered in one pass from the arrays; a job
    that asked for binary outputs (or outputs only the general encoder can write)
    takes `encode_response`.
    """
    columns = [(name, datatype_of(array), array) for name, array in outputs.items()]
    ids = [job.request.id or job.correlation_id for job in jobs]
    bodies = (
        None
        if any(job.binary_reply for job in jobs)
        else render_responses(model, version, ids, columns, bounds)
    )
    if bodies is not None:
        return [
            reply_record(job, Encoded(body, CONTENT_TYPE_JSON, None), queued, shared)
            for job, body, queued in zip(jobs, bodies, queue_ms, strict=True)
        ]
    return [
        reply_record(
            job, _encode(model, version, request_id, columns, rows, binary=job.binary_reply), queued, shared
        )
        for job, request_id, rows, queued in zip(jobs, ids, bounds, queue_ms, strict=True)
    ]


def reply_record(job: Job, encoded: Encoded, queue_ms: float, shared: tuple[Header, ...]) -> OutRecord:
    """The success reply to one job carrying `encoded`; `shared` comes from `call_headers`."""
    content_type = _JSON if encoded.content_type == CONTENT_TYPE_JSON else encoded.content_type.encode()
    headers: list[Header] = [
        (h.CORRELATION_ID, job.correlation_id.encode()),
        *shared,
        (h.CONTENT_TYPE, content_type),
        (h.QUEUE_MS, b"%.3f" % queue_ms),
    ]
    if encoded.header_length is not None:
        headers.append((h.HEADER_LENGTH, b"%d" % encoded.header_length))
    headers.extend(trace_headers(job.record.headers))
    return OutRecord(topic=job.reply_to, value=encoded.body, key=job.record.key, headers=tuple(headers))


def _encode(
    model: str,
    version: str,
    request_id: str,
    columns: Sequence[tuple[str, Datatype, np.ndarray[Any, Any]]],
    rows: tuple[int, int],
    *,
    binary: bool,
) -> Encoded:
    start, stop = rows
    response = InferenceResponse(
        model_name=model,
        model_version=version,
        id=request_id,
        outputs=tuple(
            Tensor(name, datatype, (stop - start, *array.shape[1:]), array[start:stop])
            for name, datatype, array in columns
        ),
    )
    return encode_response(response, binary=binary)
