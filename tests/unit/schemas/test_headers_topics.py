"""Header parsing, topic-name rules and the reply-topic allow-list."""

from __future__ import annotations

import pytest

from schemas import headers as h
from schemas.errors import ErrorCode, SchemaError
from schemas.headers import RequestMeta, parse_meta
from schemas.topics import (
    DLQ,
    REPLIES,
    REQUESTS,
    ROUTES,
    check_name,
    is_topic_name,
    reply_allowed,
    work_topic,
    worker_group,
)


def test_full_header_set() -> None:
    meta = parse_meta(
        [
            (h.MODEL, b"tabular"),
            (h.MODEL_VERSION, b"2"),
            (h.REPLY_TO, b"app.replies"),
            (h.CORRELATION_ID, b"c-1"),
            (h.CONTENT_TYPE, b"application/json"),
            (h.DEADLINE, b"1767225600000"),
            (h.TRACEPARENT, b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            (h.TRACESTATE, b"congo=t61rcWkgMzE"),
            (h.SHADOW, b"1"),
            (h.HEADER_LENGTH, b"120"),
            ("x-unrelated", b"\xff"),  # not ours: never decoded
        ]
    )
    assert meta == RequestMeta(
        model="tabular",
        model_version="2",
        reply_to="app.replies",
        correlation_id="c-1",
        content_type="application/json",
        deadline_ms=1767225600000,
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        tracestate="congo=t61rcWkgMzE",
        shadow=True,
        header_length=120,
    )


def test_no_headers() -> None:
    assert parse_meta([]) == RequestMeta(None, None, None, None, None, None, None, None, False, None)


def test_names_are_case_insensitive_and_the_last_repeat_wins() -> None:
    meta = parse_meta([("Reply-To", b"a"), ("reply-to", b"b"), ("Correlation-ID", b"c")])
    assert (meta.reply_to, meta.correlation_id) == ("b", "c")


@pytest.mark.parametrize("value", [b"", None], ids=["empty", "null"])
def test_empty_or_null_value_is_absent(value: bytes | None) -> None:
    meta = parse_meta([(h.CORRELATION_ID, b"c"), (h.CORRELATION_ID, value)])  # type: ignore[list-item]
    assert meta.correlation_id is None


@pytest.mark.parametrize("value", [b"0", b"false", b"FALSE"])
def test_shadow_off(value: bytes) -> None:
    assert parse_meta([(h.SHADOW, value)]).shadow is False


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ((h.CORRELATION_ID, b"\xff\xfe"), ErrorCode.INVALID_HEADER),
        ((h.MODEL, b"caf\xc3"), ErrorCode.INVALID_HEADER),
        ((h.DEADLINE, b"soon"), ErrorCode.INVALID_HEADER),
        ((h.DEADLINE, b"-5"), ErrorCode.INVALID_HEADER),
        ((h.DEADLINE, b"+5"), ErrorCode.INVALID_HEADER),
        ((h.DEADLINE, b"1.5e12"), ErrorCode.INVALID_HEADER),
        ((h.DEADLINE, b" 17"), ErrorCode.INVALID_HEADER),
        ((h.DEADLINE, "١٢".encode()), ErrorCode.INVALID_HEADER),  # Arabic-Indic digits
        ((h.DEADLINE, b"1" * 20), ErrorCode.INVALID_HEADER),
        ((h.HEADER_LENGTH, b"12a"), ErrorCode.INVALID_HEADER),
        ((h.SHADOW, b"maybe"), ErrorCode.INVALID_HEADER),
        ((h.REPLY_TO, b"no spaces"), ErrorCode.INVALID_HEADER),
        ((h.REPLY_TO, b".."), ErrorCode.INVALID_HEADER),
        ((h.MODEL, b"a.b"), ErrorCode.INVALID_MODEL_NAME),
        ((h.MODEL_VERSION, b"v 2"), ErrorCode.INVALID_MODEL_NAME),
    ],
    ids=[
        "non-utf8",
        "truncated-utf8",
        "deadline-word",
        "deadline-negative",
        "deadline-plus",
        "deadline-float",
        "deadline-space",
        "deadline-other-digits",
        "deadline-20-digits",
        "header-length-junk",
        "shadow-junk",
        "reply-to-space",
        "reply-to-dotdot",
        "model-dot",
        "version-space",
    ],
)
def test_bad_header(header: tuple[str, bytes], code: ErrorCode) -> None:
    with pytest.raises(SchemaError) as raised:
        parse_meta([header])
    assert raised.value.code is code


def test_topic_names() -> None:
    assert (REQUESTS, REPLIES, DLQ, ROUTES) == (
        "inference.requests",
        "inference.replies",
        "inference.dlq",
        "inference.routes",
    )
    assert work_topic("tabular", "2") == "inference.work.tabular.2"
    assert worker_group("intent", "v1_b") == "inferq.intent.v1_b"
    assert is_topic_name(work_topic("m" * 100, "v" * 100))


@pytest.mark.parametrize("name", ["", "a.b", "a b", "a/b", "é", "a\n", "m" * 101], ids=repr)
def test_invalid_model_names(name: str) -> None:
    with pytest.raises(SchemaError) as raised:
        work_topic(name, "1")
    assert raised.value.code is ErrorCode.INVALID_MODEL_NAME
    with pytest.raises(SchemaError):
        worker_group("m", name)


@pytest.mark.parametrize("name", ["a", "A-z_09", "m" * 100])
def test_valid_model_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("topic", "allow_list", "allowed"),
    [
        ("inference.replies", ["inference.replies"], True),
        ("inference.replies2", ["inference.replies"], False),
        ("app.team-a.replies", ["app.*"], True),
        ("app.", ["app.*"], True),
        ("apps.x", ["app.*"], False),
        ("anything", ["*"], True),
        ("x", [], False),
        ("app.a b", ["app.*"], False),  # not a Kafka topic name, whatever the prefix
        ("app.*", ["app.x"], False),
    ],
)
def test_reply_allow_list(topic: str, allow_list: list[str], allowed: bool) -> None:
    assert reply_allowed(topic, allow_list) is allowed
