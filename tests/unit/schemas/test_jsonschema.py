"""The committed JSON Schema documents: up to date, valid, and agreeing with the decoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import orjson
import pytest
from hypothesis import given, settings

from schemas import jsonschema as generator
from schemas.codec import decode_request, encode_error, encode_request, encode_response
from schemas.errors import ErrorCode, SchemaError
from schemas.messages import ErrorReply, InferenceRequest, InferenceResponse
from schemas.tensors import Datatype, Tensor
from tests.unit.schemas.payloads import body, raw, tensor
from tests.unit.schemas.strategies import SLOW_OK, near_valid_requests

COMMITTED = Path(generator.__file__).parent / "json"
DOCUMENTS = generator.documents()
REQUEST = jsonschema.Draft202012Validator(DOCUMENTS["request.schema.json"])


@pytest.mark.parametrize("name", DOCUMENTS.keys())
def test_committed_file_matches_the_generator(name: str) -> None:
    """Fails when the types change and `python -m schemas.jsonschema` was not re-run."""
    assert (COMMITTED / name).read_bytes() == generator.render(DOCUMENTS[name])


@pytest.mark.parametrize("name", DOCUMENTS.keys())
def test_documents_are_valid_draft_2020_12(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(DOCUMENTS[name])


def _decodes(payload: bytes) -> bool:
    try:
        decode_request(payload)
    except SchemaError:
        return False
    return True


def _schema_accepts(payload: bytes) -> bool:
    return bool(REQUEST.is_valid(orjson.loads(payload)))


# Rules JSON Schema can state; the decoder must reach the same verdict on each.
AGREEMENT: dict[str, tuple[bytes, bool]] = {
    "valid": (body(), True),
    "valid-nested": (body(tensor(data=[[0.5, 1.5]])), True),
    "valid-null-optionals": (body(id=None, parameters=None, outputs=None, model_name=None), True),
    "valid-every-datatype": (
        body(
            tensor(name="a", datatype="BOOL", data=[True, False]),
            tensor(name="b", datatype="UINT8", data=[0, 255]),
            tensor(name="c", datatype="INT8", data=[-128, 127]),
            tensor(name="d", datatype="FP16", data=[65504.0, "NaN"]),
            tensor(name="e", datatype="FP64", data=[1e308, "-Infinity"]),
            tensor(name="f", datatype="BYTES", data=["x", ""]),
            tensor(name="g", datatype="INT32", data=[2.0, -3]),
        ),
        True,
    ),
    "valid-empty-binary": (body(tensor(data=None, parameters={"binary_data_size": 0}, shape=[0])), True),
    "missing-inputs": (b'{"id": "r"}', False),
    "empty-inputs": (b'{"inputs": []}', False),
    "input-not-object": (b'{"inputs": [1]}', False),
    "missing-name": (body(tensor(name=None)), False),
    "missing-shape": (body(tensor(shape=None)), False),
    "missing-datatype": (body(tensor(datatype=None)), False),
    "missing-data": (body(tensor(data=None)), False),
    "id-not-string": (body(id=42), False),
    "parameters-not-object": (body(parameters=[1]), False),
    "output-without-name": (body(outputs=[{"parameters": {}}]), False),
    "model-name-with-dot": (body(model_name="a.b"), False),
    "unknown-datatype": (body(tensor(datatype="FP128")), False),
    "negative-dim": (body(tensor(shape=[-1, 2])), False),
    "bool-dim": (body(tensor(shape=[True, 2])), False),
    "rank-33": (body(tensor(shape=[1] * 33, data=[0.5])), False),
    "data-not-array": (body(tensor(data=0.5)), False),
    "300-in-uint8": (body(tensor(datatype="UINT8", data=[1, 300])), False),
    "1.5-in-int32": (body(tensor(datatype="INT32", data=[1.5, 2])), False),
    "2**63-in-int64": (raw("INT64", str(2**63)), False),
    "string-in-fp32": (body(tensor(data=["1.5", 2.0])), False),
    "bool-in-fp32": (body(tensor(data=[True, 2.0])), False),
    "null-in-fp64": (body(tensor(datatype="FP64", data=[None, 2.0])), False),
    "fp32-max-rounds-in": (raw("FP32", "3.4028235e38"), True),
    "fp32-half-ulp-overflows": (raw("FP32", "3.4028235677973366e38"), False),
    "65519-in-fp16": (raw("FP16", "65519.9"), True),
    "65520-in-fp16": (raw("FP16", "65520"), False),
    "number-in-bytes": (body(tensor(datatype="BYTES", data=["a", 3])), False),
    "int-in-bool": (body(tensor(datatype="BOOL", data=[1, True])), False),
    "binary-and-data": (body(tensor(parameters={"binary_data_size": 8})), False),
}


@pytest.mark.parametrize(("payload", "valid"), AGREEMENT.values(), ids=AGREEMENT.keys())
def test_schema_and_decoder_agree(payload: bytes, valid: bool) -> None:
    assert _decodes(payload) is valid
    assert _schema_accepts(payload) is valid


def test_schema_cannot_see_the_element_count() -> None:
    """The documented gap: shapes against data are the decoder's job."""
    payload = body(tensor(data=[0.5]))
    assert _schema_accepts(payload)
    with pytest.raises(SchemaError) as raised:
        decode_request(payload)
    assert raised.value.code is ErrorCode.SHAPE_MISMATCH


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW_OK)
@given(near_valid_requests())
def test_whatever_the_decoder_accepts_the_schema_accepts(payload: bytes) -> None:
    if _decodes(payload):
        assert _schema_accepts(payload)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(DOCUMENTS[name])


def test_encoded_messages_validate() -> None:
    values = np.array([[0.5, np.nan]], dtype=np.float32)
    labels = np.array([b"a", b"b"], dtype=object)
    outputs = (
        Tensor("p", Datatype.FP32, (1, 2), values),
        Tensor("l", Datatype.BYTES, (2,), labels),
    )
    response = encode_response(InferenceResponse("m", "1", "r", outputs, {"k": "v"}))
    _validator("response.schema.json").validate(orjson.loads(response.body))
    request = encode_request(InferenceRequest("r", outputs, ("y",), model_name="m"))
    REQUEST.validate(orjson.loads(request.body))
    error: Any = orjson.loads(encode_error(ErrorReply("r", ErrorCode.UNKNOWN_MODEL, "no model m")))
    _validator("error.schema.json").validate(error)


@pytest.mark.parametrize(
    "error",
    [b'{"id": "r", "error": "x"}', b'{"id": "r", "error": "x", "parameters": {"code": "OOPS"}}'],
    ids=["no-code", "unknown-code"],
)
def test_error_schema_requires_a_known_code(error: bytes) -> None:
    assert not _validator("error.schema.json").is_valid(orjson.loads(error))


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_every_code_is_in_the_error_schema(code: ErrorCode) -> None:
    error = orjson.loads(encode_error(ErrorReply("r", code, "message")))
    assert _validator("error.schema.json").is_valid(error)
