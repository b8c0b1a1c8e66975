"""Table tests of the worker's per-record decisions (pure: no Kafka, no onnxruntime)."""

from __future__ import annotations

import orjson
import pytest

from inferq.deadletter import Rejected
from inferq.transport import Record
from schemas.codec import Limits
from schemas.model_config import ModelConfig, TensorSpec
from schemas.tensors import Datatype
from workers.repository import ModelSpec
from workers.triage import Job, TriageRules, triage

SPEC = ModelSpec(
    name="tabular",
    version="1",
    inputs=(TensorSpec("features", Datatype.FP32, (-1, 4)),),
    outputs=(TensorSpec("probabilities", Datatype.FP32, (-1, 2)),),
    config=ModelConfig(max_batch_size=8),
)
RULES = TriageRules(
    SPEC, "inference.replies", ("inference.replies", "replies.*"), Limits(max_payload_bytes=2048)
)
NOW = 1_000_000


def body(
    rows: int = 1, *, name: str = "features", datatype: str = "FP32", width: int = 4, rid: str = "b1"
) -> bytes:
    data = [[0.5] * width for _ in range(rows)]
    doc = {"id": rid, "inputs": [{"name": name, "shape": [rows, width], "datatype": datatype, "data": data}]}
    return orjson.dumps(doc)


def record(value: bytes | None, **headers: str | bytes) -> Record:
    hs = tuple((k.replace("_", "-"), v if isinstance(v, bytes) else v.encode()) for k, v in headers.items())
    return Record("inference.work.tabular.1", 3, 42, b"key", value, hs, NOW)


@pytest.mark.parametrize(
    ("rec", "code", "reply_to"),
    [
        (record(b"{nope", correlation_id="c"), "INVALID_JSON", "inference.replies"),
        (record(None, correlation_id="c"), "INVALID_REQUEST", "inference.replies"),
        (record(body(name="other"), correlation_id="c"), "UNKNOWN_INPUT", "inference.replies"),
        (record(body(datatype="FP64"), correlation_id="c"), "INVALID_DATATYPE", "inference.replies"),
        (record(body(width=5), correlation_id="c"), "SHAPE_MISMATCH", "inference.replies"),
        (record(body(rows=9), correlation_id="c"), "SHAPE_MISMATCH", "inference.replies"),
        (record(body() + b" " * 4096, correlation_id="c"), "PAYLOAD_TOO_LARGE", "inference.replies"),
        (record(body(), correlation_id="c", deadline=str(NOW - 1)), "DEADLINE_EXCEEDED", "inference.replies"),
        (record(body(), correlation_id="c", deadline=b"\xff"), "INVALID_HEADER", "inference.replies"),
        (
            record(body(), correlation_id="c", reply_to="elsewhere"),
            "REPLY_TOPIC_FORBIDDEN",
            "inference.replies",
        ),
        (
            record(b"{nope", correlation_id="c", reply_to="elsewhere"),
            "REPLY_TOPIC_FORBIDDEN",
            "inference.replies",
        ),
        (record(body(width=5), correlation_id="c", reply_to="replies.app"), "SHAPE_MISMATCH", "replies.app"),
    ],
)
def test_refusals_carry_their_code_and_a_permitted_reply_topic(rec: Record, code: str, reply_to: str) -> None:
    outcome = triage(rec, RULES, NOW)
    assert isinstance(outcome, Rejected)
    assert outcome.code == code
    assert outcome.reply_to == reply_to


def test_a_valid_record_becomes_a_job() -> None:
    outcome = triage(record(body(rows=3), correlation_id="c1", reply_to="replies.app"), RULES, NOW)
    assert isinstance(outcome, Job)
    assert (outcome.rows, outcome.reply_to, outcome.correlation_id) == (3, "replies.app", "c1")
    assert outcome.request.inputs[0].data.shape == (3, 4)


def test_deadline_in_the_future_is_served() -> None:
    assert isinstance(triage(record(body(), deadline=str(NOW + 1)), RULES, NOW), Job)


def test_correlation_id_defaults_to_the_body_id_even_when_the_body_is_refused() -> None:
    served = triage(record(body(rid="from-body")), RULES, NOW)
    refused = triage(record(body(width=5, rid="from-body")), RULES, NOW)
    assert isinstance(served, Job)
    assert served.correlation_id == "from-body"
    assert isinstance(refused, Rejected)
    assert (refused.correlation_id, refused.request_id) == ("from-body", "from-body")


def test_requests_with_equal_shapes_share_a_stack_key_and_others_do_not() -> None:
    one, two = triage(record(body(rows=1)), RULES, NOW), triage(record(body(rows=2)), RULES, NOW)
    assert isinstance(one, Job)
    assert isinstance(two, Job)
    assert one.stack_key == two.stack_key
    wide = ModelSpec("m", "1", (TensorSpec("features", Datatype.FP32, (-1, -1)),), SPEC.outputs, SPEC.config)
    rules = TriageRules(wide, "inference.replies", ("inference.replies",), Limits())
    a, b = triage(record(body(width=4)), rules, NOW), triage(record(body(width=5)), rules, NOW)
    assert isinstance(a, Job)
    assert isinstance(b, Job)
    assert a.stack_key != b.stack_key


def test_shadow_flag_is_carried() -> None:
    outcome = triage(record(body(width=5), inferq_shadow="1"), RULES, NOW)
    assert isinstance(outcome, Rejected)
    assert outcome.shadow


def test_the_fit_memo_answers_like_the_check_it_remembers() -> None:
    rules = TriageRules(SPEC, "inference.replies", ("inference.replies",), Limits())
    for _ in range(2):  # the second round is answered from the memo
        bad = triage(record(body(width=5)), rules, NOW)
        good = triage(record(body(width=4)), rules, NOW)
        assert isinstance(bad, Rejected)
        assert bad.code == "SHAPE_MISMATCH"
        assert isinstance(good, Job)
    assert len(rules.fits) == 2
