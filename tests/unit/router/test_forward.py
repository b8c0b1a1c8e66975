"""Table tests of per-record routing (pure: the route table and records are plain values)."""

from __future__ import annotations

import orjson
import pytest

from inferq.deadletter import Rejected
from inferq.transport import Record
from router.forward import Routed, RouterRules, route
from router.policy import RouteTable, apply_update
from schemas.codec import Limits
from schemas.routes import RoutePolicy, ShadowTarget, VersionWeight

POLICY = RoutePolicy(
    model="intent",
    versions=(VersionWeight("1", 90), VersionWeight("2", 10)),
    shadows=(ShadowTarget("3", 50),),
)
TABLE = apply_update(RouteTable(), "intent", POLICY)
REPO = {"tabular": ("1", "2")}
RULES = RouterRules(lambda m: REPO.get(m, ()), "inference.replies", ("inference.replies",), Limits())
BODY = orjson.dumps(
    {"id": "b", "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["hi"]}]}
)


def record(value: bytes | None = BODY, **headers: str) -> Record:
    hs = tuple((k.replace("_", "-"), v.encode()) for k, v in headers.items())
    return Record("inference.requests", 0, 7, b"user-1", value, hs, 0)


@pytest.mark.parametrize(
    ("rec", "rand", "version", "shadows"),
    [
        (record(model="intent"), 0.5, "1", ()),
        (record(model="intent"), 0.95, "2", ()),
        (record(model="intent", model_version="2"), 0.1, "2", ()),
        (record(model="tabular"), 0.1, "2", ()),
        (record(model="tabular", model_version="1"), 0.9, "1", ()),
    ],
)
def test_routes_to_the_chosen_version(
    rec: Record, rand: float, version: str, shadows: tuple[str, ...]
) -> None:
    outcome = route(rec, TABLE, RULES, rand, 0.99)
    assert isinstance(outcome, Routed)
    assert outcome.version == version
    assert outcome.shadows == shadows


def test_forwards_bytes_key_and_headers_untouched_plus_the_version() -> None:
    rec = record(model="intent", correlation_id="c", traceparent="00-abc-def-01", model_version="1")
    outcome = route(rec, TABLE, RULES, 0.95, 0.99)
    assert isinstance(outcome, Routed)
    (primary,) = outcome.records
    assert primary.topic == "inference.work.intent.1"
    assert (primary.value, primary.key) == (rec.value, rec.key)
    headers = dict(primary.headers)
    assert headers["model-version"] == b"1"
    assert headers["traceparent"] == b"00-abc-def-01"
    assert [k for k, _ in primary.headers].count("model-version") == 1


def test_shadow_copies_are_flagged_and_go_to_their_version() -> None:
    outcome = route(record(model="intent"), TABLE, RULES, 0.5, 0.1)
    assert isinstance(outcome, Routed)
    assert outcome.shadows == ("3",)
    _, copy = outcome.records
    assert copy.topic == "inference.work.intent.3"
    assert dict(copy.headers)["inferq-shadow"] == b"1"
    assert dict(copy.headers)["model-version"] == b"3"


def test_model_named_only_in_the_body_is_routed_and_named_in_a_header() -> None:
    body = orjson.dumps({"model_name": "intent", "inputs": orjson.loads(BODY)["inputs"]})
    outcome = route(record(body), TABLE, RULES, 0.5, 0.99)
    assert isinstance(outcome, Routed)
    assert dict(outcome.records[0].headers)["model"] == b"intent"


@pytest.mark.parametrize(
    ("rec", "code"),
    [
        (record(model="nope"), "UNKNOWN_MODEL"),
        (record(model="intent", model_version="7"), "UNKNOWN_VERSION"),
        (record(), "INVALID_REQUEST"),
        (record(b"{bad"), "INVALID_JSON"),
        (record(None), "INVALID_REQUEST"),
        (record(model="bad name!"), "INVALID_MODEL_NAME"),
    ],
)
def test_unroutable_requests_are_refused_with_their_code(rec: Record, code: str) -> None:
    outcome = route(rec, TABLE, RULES, 0.5, 0.5)
    assert isinstance(outcome, Rejected)
    assert outcome.code == code


def test_refusals_never_go_to_a_topic_off_the_allow_list() -> None:
    outcome = route(record(model="nope", reply_to="elsewhere"), TABLE, RULES, 0.5, 0.5)
    assert isinstance(outcome, Rejected)
    assert outcome.reply_to == "inference.replies"
