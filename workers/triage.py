"""Per-record decisions before inference, pure: a record becomes a `Job` for the model or a `Rejected`.

Everything a worker can refuse without calling the model is decided here, from
plain values and the wall clock passed in: undecodable headers or bodies,
forbidden reply topics, requests that do not fit the model, expired deadlines.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass, field

from inferq.deadletter import Rejected
from inferq.transport import Record
from schemas.codec import Limits, decode_record_request
from schemas.errors import ErrorCode, SchemaError
from schemas.fast_codec import RequestLane
from schemas.headers import RequestMeta, parse_meta
from schemas.messages import InferenceRequest
from schemas.topics import reply_allowed
from workers.repository import ModelSpec, check_request

BINARY_OUTPUT = "binary_data_output"


@dataclass(frozen=True, slots=True)
class Job:
    """A valid request, ready to be stacked with others that share its `stack_key`."""

    record: Record
    meta: RequestMeta
    request: InferenceRequest
    reply_to: str
    correlation_id: str
    stack_key: Hashable
    rows: int
    binary_reply: bool


_FITS_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class TriageRules:
    """What a worker accepts: its model, where it may reply, how big a body may be."""

    spec: ModelSpec
    default_reply_topic: str
    reply_allow_list: Collection[str]
    limits: Limits
    # The fast lane for the model's usual request form (None: every request takes the general decoder).
    lane: RequestLane | None = None
    # Memo of `check_request` by tensor signature: the check is a pure function of
    # (names, datatypes, shapes, outputs), and a stream repeats a handful of them.
    fits: dict[Hashable, tuple[Hashable, SchemaError | None]] = field(default_factory=dict, compare=False)


def triage(record: Record, rules: TriageRules, now_ms: int) -> Job | Rejected:  # noqa: PLR0911 - one return per refusal reads as the checklist it is
    """Decide what happens to one record; never raises for bad input."""
    try:
        meta = parse_meta(record.headers)
    except SchemaError as exc:
        return Rejected(record, rules.default_reply_topic, "", "", exc.code, exc.message, shadow=False)
    cid = meta.correlation_id or ""
    requested = meta.reply_to or rules.default_reply_topic
    # A forbidden reply topic is never written to: the refusal goes to the default topic.
    forbidden = not reply_allowed(requested, rules.reply_allow_list)
    reply_to = rules.default_reply_topic if forbidden else requested
    shadow = meta.shadow
    if record.value is None:
        return Rejected(record, reply_to, cid, cid, ErrorCode.INVALID_REQUEST, "record has no value", shadow)
    try:
        request, key, misfit = _decode(record.value, meta, rules)
    except SchemaError as exc:
        code, message = _forbidden(requested) if forbidden else (exc.code, exc.message)
        # The body's id, when it was readable, names the request in the error reply.
        cid = cid or exc.request_id
        return Rejected(record, reply_to, cid, exc.request_id or cid, code, message, shadow)
    cid = cid or request.id
    request_id = request.id or cid
    if forbidden:
        return Rejected(record, reply_to, cid, request_id, *_forbidden(requested), shadow)
    if misfit is not None:
        return Rejected(record, reply_to, cid, request_id, misfit.code, misfit.message, shadow)
    if meta.deadline_ms is not None and now_ms > meta.deadline_ms:
        message = f"deadline {meta.deadline_ms} passed before inference (now {now_ms})"
        return Rejected(record, reply_to, cid, request_id, ErrorCode.DEADLINE_EXCEEDED, message, shadow)
    parameters = request.parameters or {}
    return Job(
        record=record,
        meta=meta,
        request=request,
        reply_to=reply_to,
        correlation_id=cid,
        stack_key=key,
        rows=request.inputs[0].shape[0] if request.inputs[0].shape else 1,
        binary_reply=bool(parameters.get(BINARY_OUTPUT, False)) or meta.header_length is not None,
    )


def stack_key(request: InferenceRequest) -> Hashable:
    """Requests with equal keys can be concatenated along the batch dimension into one call."""
    inputs = tuple(sorted((t.name, t.datatype, t.shape[1:]) for t in request.inputs))
    return (inputs, request.outputs)


def _decode(
    body: bytes, meta: RequestMeta, rules: TriageRules
) -> tuple[InferenceRequest, Hashable, SchemaError | None]:
    """The request, its stack key and why it does not fit the model (None: it fits).

    Raises SchemaError for a body that is not a valid request.
    """
    if rules.lane is not None:
        fast = rules.lane.decode(body, meta)
        if fast is not None:
            return fast, rules.lane.stack_key, None  # the lane takes only requests that fit
    request = decode_record_request(body, meta, rules.limits)
    key, misfit = _fits(rules, request)
    return request, key, misfit


def _fits(rules: TriageRules, request: InferenceRequest) -> tuple[Hashable, SchemaError | None]:
    """The request's stack key and the error `check_request` finds (None: it fits), memoised."""
    signature = (tuple((t.name, t.datatype, t.shape) for t in request.inputs), request.outputs)
    known = rules.fits.get(signature)
    if known is None:
        try:
            check_request(rules.spec, request)
            known = (stack_key(request), None)
        except SchemaError as exc:
            known = ((), exc)
        if len(rules.fits) >= _FITS_CACHE_SIZE:
            rules.fits.clear()  # a client cycling through shapes must not grow the memo without bound
        rules.fits[signature] = known
    return known


def _forbidden(topic: str) -> tuple[ErrorCode, str]:
    return ErrorCode.REPLY_TOPIC_FORBIDDEN, f"reply topic {topic!r} is not on the allow-list"
