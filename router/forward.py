"""Per-record routing, pure: a request record becomes forwarded records (primary + shadows) or a refusal.

The router reads headers, not bodies: the body is decoded only when the
`model` header is absent (then `model_name` in the body names the model). The
request bytes are forwarded untouched, with the same key and headers plus the
chosen `model-version`; shadow copies carry `inferq-shadow: 1`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from inferq.deadletter import Rejected
from inferq.transport import Header, OutRecord, Record
from router.policy import RouteTable, choose_version, resolve, shadow_versions
from schemas import headers as h
from schemas.codec import Limits, decode_record_request
from schemas.errors import ErrorCode, SchemaError
from schemas.routes import RouteError
from schemas.topics import reply_allowed, work_topic

_REPLACED = frozenset({h.MODEL, h.MODEL_VERSION, h.SHADOW})


@dataclass(frozen=True, slots=True)
class RouterRules:
    """What a router needs besides the route table."""

    default_versions: Callable[[str], tuple[str, ...]]
    default_reply_topic: str
    reply_allow_list: Collection[str]
    limits: Limits


@dataclass(frozen=True, slots=True)
class Routed:
    """Where a request goes: its primary work record first, then shadow copies."""

    model: str
    version: str
    shadows: tuple[str, ...]
    records: tuple[OutRecord, ...]


def route(  # noqa: PLR0911 - one return per refusal reads as the checklist it is
    record: Record, table: RouteTable, rules: RouterRules, rand_primary: float, rand_shadow: float
) -> Routed | Rejected:
    """Route one request record; never raises for bad input."""
    default_reply = rules.default_reply_topic
    try:
        meta = h.parse_meta(record.headers)
    except SchemaError as exc:
        return Rejected(record, default_reply, "", "", exc.code, exc.message, shadow=False)
    reply_to = meta.reply_to or default_reply
    if not reply_allowed(reply_to, rules.reply_allow_list):
        # Refusals never go to a topic off the allow-list; the worker answers REPLY_TOPIC_FORBIDDEN.
        reply_to = default_reply
    cid = meta.correlation_id or ""
    model, pinned = meta.model, meta.model_version
    if model is None:
        if record.value is None:
            return Rejected(record, reply_to, cid, cid, ErrorCode.INVALID_REQUEST, "no model", meta.shadow)
        try:
            request = decode_record_request(record.value, meta, rules.limits)
        except SchemaError as exc:
            cid = cid or exc.request_id
            return Rejected(record, reply_to, cid, cid, exc.code, exc.message, meta.shadow)
        cid = cid or request.id
        model, pinned = request.model_name, pinned or request.model_version
        if model is None:
            message = "request names no model: no `model` header and no body `model_name`"
            return Rejected(record, reply_to, cid, cid, ErrorCode.INVALID_REQUEST, message, meta.shadow)
    try:
        policy = resolve(table, model, default_versions=rules.default_versions)
        version = choose_version(policy, record.key, pinned, rand_primary)
        topic = work_topic(model, version)
    except RouteError as exc:
        code = exc.code or ErrorCode.UNKNOWN_MODEL
        return Rejected(record, reply_to, cid, cid, code, str(exc), meta.shadow)
    except SchemaError as exc:
        return Rejected(record, reply_to, cid, cid, exc.code, exc.message, meta.shadow)
    kept = tuple((k, v) for k, v in record.headers if k not in _REPLACED)
    model_header = (h.MODEL, model.encode())
    primary = OutRecord(
        topic, record.value, record.key, (*kept, model_header, (h.MODEL_VERSION, version.encode()))
    )
    shadows = shadow_versions(policy, rand_shadow, primary=version)
    copies = tuple(_shadow_copy(record, kept, model_header, model, v) for v in shadows)
    return Routed(model=model, version=version, shadows=shadows, records=(primary, *copies))


def _shadow_copy(
    record: Record, kept: tuple[Header, ...], model_header: Header, model: str, version: str
) -> OutRecord:
    headers = (*kept, model_header, (h.MODEL_VERSION, version.encode()), (h.SHADOW, h.SHADOW_ON))
    return OutRecord(work_topic(model, version), record.value, record.key, headers)
