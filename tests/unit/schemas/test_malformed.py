"""Malformed requests: each is refused with its exact error code, and nothing else escapes."""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

import orjson
import pytest

from schemas.codec import Limits, decode_request
from schemas.errors import ErrorCode, SchemaError
from tests.unit.schemas.payloads import body, raw, tensor

STRICT = Limits(allow_non_finite=False)


def binary(header: dict[str, Any], payload: bytes) -> tuple[bytes, int]:
    """A binary-extension body: a one-input JSON header and `payload` after it."""
    text = orjson.dumps({"inputs": [header]})
    return text + payload, len(text)


def binary_case(
    header: dict[str, Any], payload: bytes, code: ErrorCode, limits: Limits | None = None
) -> Case:
    """A case whose body is `binary(header, payload)` with its header length."""
    payload_body, length = binary(header, payload)
    return Case(payload_body, code, header_length=length, limits=limits or Limits())


def nested(depth: int) -> bytes:
    return b'{"inputs":' + b"[" * depth + b"]" * depth + b"}"


class Case(NamedTuple):
    """One malformed body and the code it must get."""

    body: bytes
    code: ErrorCode
    header_length: int | None = None
    limits: Limits = Limits()
    content_type: str | None = None


FP32_NAN = struct.pack("<2f", float("nan"), 1.0)
CASES: dict[str, Case] = {
    # not JSON
    "truncated-json": Case(b'{"inputs": [', ErrorCode.INVALID_JSON),
    "not-utf8": Case(b"\xff\xfe{}", ErrorCode.INVALID_JSON),
    "empty-body": Case(b"", ErrorCode.INVALID_JSON),
    "infinity-literal": Case(b'{"inputs": [], "x": Infinity}', ErrorCode.INVALID_JSON),
    "number-overflows-double": Case(b'{"inputs": [], "x": 1e999}', ErrorCode.INVALID_JSON),
    "nesting-beyond-parser-limit": Case(nested(2000), ErrorCode.INVALID_JSON),
    # request structure
    "body-is-array": Case(b"[1, 2]", ErrorCode.INVALID_REQUEST),
    "body-is-string": Case(b'"inputs"', ErrorCode.INVALID_REQUEST),
    "missing-inputs": Case(b'{"id": "r"}', ErrorCode.INVALID_REQUEST),
    "empty-inputs": Case(b'{"inputs": []}', ErrorCode.INVALID_REQUEST),
    "inputs-not-array": Case(b'{"inputs": {"name": "x"}}', ErrorCode.INVALID_REQUEST),
    "input-not-object": Case(b'{"inputs": [1]}', ErrorCode.INVALID_REQUEST),
    "missing-name": Case(body(tensor(name=None)), ErrorCode.INVALID_REQUEST),
    "name-not-string": Case(body(tensor(name=5)), ErrorCode.INVALID_REQUEST),
    "empty-name": Case(body(tensor(name="")), ErrorCode.INVALID_REQUEST),
    "missing-shape": Case(body(tensor(shape=None)), ErrorCode.INVALID_REQUEST),
    "missing-datatype": Case(body(tensor(datatype=None)), ErrorCode.INVALID_REQUEST),
    "missing-data": Case(body(tensor(data=None)), ErrorCode.INVALID_REQUEST),
    "id-not-string": Case(body(id=42), ErrorCode.INVALID_REQUEST),
    "duplicate-input-names": Case(body(tensor(), tensor()), ErrorCode.INVALID_REQUEST),
    "parameters-not-object": Case(body(parameters=[1]), ErrorCode.INVALID_REQUEST),
    "input-parameters-not-object": Case(body(tensor(parameters="p")), ErrorCode.INVALID_REQUEST),
    "outputs-not-array": Case(body(outputs={"name": "y"}), ErrorCode.INVALID_REQUEST),
    "output-without-name": Case(body(outputs=[{"parameters": {}}]), ErrorCode.INVALID_REQUEST),
    "duplicate-outputs": Case(body(outputs=[{"name": "y"}, {"name": "y"}]), ErrorCode.INVALID_REQUEST),
    "model-name-not-string": Case(body(model_name=5), ErrorCode.INVALID_REQUEST),
    # names that cannot be part of a topic
    "model-name-with-dot": Case(body(model_name="a.b"), ErrorCode.INVALID_MODEL_NAME),
    "model-name-with-space": Case(body(model_name="my model"), ErrorCode.INVALID_MODEL_NAME),
    "empty-model-version": Case(body(model_version=""), ErrorCode.INVALID_MODEL_NAME),
    "model-name-too-long": Case(body(model_name="m" * 101), ErrorCode.INVALID_MODEL_NAME),
    # datatype
    "unknown-datatype": Case(body(tensor(datatype="FP128")), ErrorCode.INVALID_DATATYPE),
    "lower-case-datatype": Case(body(tensor(datatype="fp32")), ErrorCode.INVALID_DATATYPE),
    "triton-string-datatype": Case(body(tensor(datatype="STRING")), ErrorCode.INVALID_DATATYPE),
    "datatype-not-string": Case(body(tensor(datatype=["FP32"])), ErrorCode.INVALID_DATATYPE),
    # shape
    "negative-dim": Case(body(tensor(shape=[-1, 2])), ErrorCode.INVALID_TENSOR),
    "fractional-dim": Case(body(tensor(shape=[1.5, 2])), ErrorCode.INVALID_TENSOR),
    "float-dim": Case(body(tensor(shape=[1.0, 2])), ErrorCode.INVALID_TENSOR),
    "bool-dim": Case(body(tensor(shape=[True, 2])), ErrorCode.INVALID_TENSOR),
    "string-dim": Case(body(tensor(shape=["1", 2])), ErrorCode.INVALID_TENSOR),
    "shape-not-array": Case(body(tensor(shape=2)), ErrorCode.INVALID_TENSOR),
    "rank-33": Case(body(tensor(shape=[1] * 33, data=[0.5])), ErrorCode.INVALID_TENSOR),
    "zero-size-but-huge": Case(body(tensor(shape=[0, 2**62], data=[])), ErrorCode.INVALID_TENSOR),
    # data against shape
    "data-not-array": Case(body(tensor(data=0.5)), ErrorCode.INVALID_TENSOR),
    "data-is-null": Case(body(tensor(data=None) | {"data": None}), ErrorCode.INVALID_TENSOR),
    "flat-too-short": Case(body(tensor(data=[0.5])), ErrorCode.SHAPE_MISMATCH),
    "flat-too-long": Case(body(tensor(data=[0.5, 1, 2])), ErrorCode.SHAPE_MISMATCH),
    "scalar-shape-needs-one": Case(body(tensor(shape=[], data=[])), ErrorCode.SHAPE_MISMATCH),
    "nested-lengths-differ": Case(body(tensor(data=[[1, 2, 3]])), ErrorCode.SHAPE_MISMATCH),
    "nested-outer-differs": Case(body(tensor(data=[[1, 2], [3, 4]])), ErrorCode.SHAPE_MISMATCH),
    "nested-too-deep": Case(body(tensor(data=[[[1], [2]]])), ErrorCode.INVALID_TENSOR),
    "nested-too-shallow": Case(
        body(tensor(shape=[2, 2, 2], data=[[1, 2, 3, 4], [5, 6, 7, 8]])), ErrorCode.INVALID_TENSOR
    ),
    "ragged": Case(body(tensor(shape=[2, 2], data=[[1, 2], [3]])), ErrorCode.INVALID_TENSOR),
    "scalars-then-arrays": Case(body(tensor(data=[1, [2]])), ErrorCode.INVALID_TENSOR),
    "arrays-then-scalars": Case(body(tensor(shape=[2, 1], data=[[1], 2])), ErrorCode.INVALID_TENSOR),
    # values the datatype cannot hold
    "300-in-uint8": Case(body(tensor(datatype="UINT8", data=[1, 300])), ErrorCode.VALUE_OUT_OF_RANGE),
    "minus-1-in-uint32": Case(body(tensor(datatype="UINT32", data=[-1, 0])), ErrorCode.VALUE_OUT_OF_RANGE),
    "2**64-in-uint64": Case(raw("UINT64", str(2**64)), ErrorCode.VALUE_OUT_OF_RANGE),
    "2**31-in-int32": Case(body(tensor(datatype="INT32", data=[2**31, 0])), ErrorCode.VALUE_OUT_OF_RANGE),
    "1.5-in-int32": Case(body(tensor(datatype="INT32", data=[1.5, 2])), ErrorCode.VALUE_OUT_OF_RANGE),
    "bool-in-int64": Case(body(tensor(datatype="INT64", data=[True, 2])), ErrorCode.VALUE_OUT_OF_RANGE),
    "string-in-fp32": Case(body(tensor(data=["1.5", 2.0])), ErrorCode.VALUE_OUT_OF_RANGE),
    "nan-lowercase-in-fp32": Case(body(tensor(data=["nan", 2.0])), ErrorCode.VALUE_OUT_OF_RANGE),
    "bool-in-fp32": Case(body(tensor(data=[True, 2.0])), ErrorCode.VALUE_OUT_OF_RANGE),
    "null-in-fp64": Case(body(tensor(datatype="FP64", data=[None, 2.0])), ErrorCode.VALUE_OUT_OF_RANGE),
    "object-in-fp32": Case(body(tensor(data=[{}, 2.0])), ErrorCode.VALUE_OUT_OF_RANGE),
    "1e39-in-fp32": Case(body(tensor(data=[1e39, 2.0])), ErrorCode.VALUE_OUT_OF_RANGE),
    "70000-in-fp16": Case(body(tensor(datatype="FP16", data=[70000.0, 1])), ErrorCode.VALUE_OUT_OF_RANGE),
    "1e400-in-fp32": Case(raw("FP32", "1" + "0" * 400), ErrorCode.INVALID_JSON),  # orjson: beyond a double
    "number-in-bytes": Case(body(tensor(datatype="BYTES", data=["a", 3])), ErrorCode.VALUE_OUT_OF_RANGE),
    "int-in-bool": Case(body(tensor(datatype="BOOL", data=[1, True])), ErrorCode.VALUE_OUT_OF_RANGE),
    "string-in-bool": Case(body(tensor(datatype="BOOL", data=["true", True])), ErrorCode.VALUE_OUT_OF_RANGE),
    # non-finite values when the limits forbid them
    "nan-text-strict": Case(body(tensor(data=["NaN", 1.0])), ErrorCode.NON_FINITE_VALUE, limits=STRICT),
    "inf-text-strict": Case(body(tensor(data=["-Infinity", 1.0])), ErrorCode.NON_FINITE_VALUE, limits=STRICT),
    "nan-binary-strict": binary_case(
        tensor(data=None, parameters={"binary_data_size": 8}), FP32_NAN, ErrorCode.NON_FINITE_VALUE, STRICT
    ),
    # binary tensor data
    "binary-size-negative": binary_case(
        tensor(data=None, parameters={"binary_data_size": -8}), b"", ErrorCode.INVALID_TENSOR
    ),
    "binary-size-not-int": binary_case(
        tensor(data=None, parameters={"binary_data_size": "8"}), b"\0" * 8, ErrorCode.INVALID_TENSOR
    ),
    "binary-and-data": binary_case(
        tensor(parameters={"binary_data_size": 8}), b"\0" * 8, ErrorCode.INVALID_TENSOR
    ),
    "binary-beyond-body": binary_case(
        tensor(data=None, parameters={"binary_data_size": 8}), b"\0" * 4, ErrorCode.INVALID_TENSOR
    ),
    "binary-size-not-shape": binary_case(
        tensor(data=None, parameters={"binary_data_size": 4}), b"\0" * 4, ErrorCode.SHAPE_MISMATCH
    ),
    "binary-trailing-bytes": binary_case(
        tensor(data=None, parameters={"binary_data_size": 8}), b"\0" * 9, ErrorCode.INVALID_REQUEST
    ),
    "binary-without-header-length": Case(
        binary(tensor(data=None, parameters={"binary_data_size": 8}), b"")[0], ErrorCode.INVALID_TENSOR
    ),
    "binary-bool-byte-2": binary_case(
        tensor(datatype="BOOL", data=None, parameters={"binary_data_size": 2}),
        b"\x01\x02",
        ErrorCode.VALUE_OUT_OF_RANGE,
    ),
    "binary-bytes-prefix-cut": binary_case(
        tensor(datatype="BYTES", shape=[1], data=None, parameters={"binary_data_size": 3}),
        b"\1\0\0",
        ErrorCode.INVALID_TENSOR,
    ),
    "binary-bytes-overrun": binary_case(
        tensor(datatype="BYTES", shape=[1], data=None, parameters={"binary_data_size": 5}),
        b"\x09\0\0\0a",
        ErrorCode.INVALID_TENSOR,
    ),
    "binary-bytes-too-few": binary_case(
        tensor(datatype="BYTES", data=None, parameters={"binary_data_size": 5}),
        b"\1\0\0\0a",
        ErrorCode.SHAPE_MISMATCH,
    ),
    "binary-bytes-too-many": binary_case(
        tensor(datatype="BYTES", shape=[1], data=None, parameters={"binary_data_size": 8}),
        b"\0\0\0\0\0\0\0\0",
        ErrorCode.SHAPE_MISMATCH,
    ),
    # transport-level
    "header-length-beyond-body": Case(body(), ErrorCode.INVALID_HEADER, header_length=10_000),
    "header-length-negative": Case(body(), ErrorCode.INVALID_HEADER, header_length=-1),
    "header-length-cuts-json": Case(body(), ErrorCode.INVALID_JSON, header_length=10),
    "unknown-content-type": Case(body(), ErrorCode.INVALID_HEADER, content_type="text/html"),
    "payload-too-large": Case(body(), ErrorCode.PAYLOAD_TOO_LARGE, limits=Limits(max_payload_bytes=32)),
    "too-large-even-if-not-json": Case(
        b"\xff" * 33, ErrorCode.PAYLOAD_TOO_LARGE, limits=Limits(max_payload_bytes=32)
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_malformed_request_gets_its_code(case: Case) -> None:
    with pytest.raises(SchemaError) as raised:
        decode_request(
            case.body,
            content_type=case.content_type,
            header_length=case.header_length,
            limits=case.limits,
        )
    assert raised.value.code is case.code, raised.value.message
    assert not raised.value.retriable


def test_the_table_is_not_trivially_valid() -> None:
    """The base payloads decode, so each case fails for its own reason."""
    assert decode_request(body()).inputs[0].data.tolist() == [[0.5, 1.5]]
    payload, length = binary(tensor(data=None, parameters={"binary_data_size": 8}), b"\0" * 8)
    assert decode_request(payload, header_length=length).inputs[0].data.tolist() == [[0.0, 0.0]]


def test_error_carries_the_request_id_and_the_input_name() -> None:
    with pytest.raises(SchemaError) as raised:
        decode_request(body(tensor(name="features", data=[1.0])))
    assert raised.value.request_id == "r-1"
    assert "'features'" in raised.value.message


def test_error_before_the_id_is_known_has_no_request_id() -> None:
    with pytest.raises(SchemaError) as raised:
        decode_request(b"[]")
    assert raised.value.request_id == ""


@pytest.mark.parametrize(
    ("data", "expected"),
    [([2.0, 3], [2, 3]), ([-0.0, 1e3], [0, 1000])],
    ids=["integral-floats", "negative-zero-and-exponent"],
)
def test_integral_floats_are_integers(data: list[float], expected: list[int]) -> None:
    decoded = decode_request(body(tensor(datatype="INT32", data=data)))
    assert decoded.inputs[0].data.tolist() == [expected]


def test_non_finite_text_is_accepted_by_default() -> None:
    decoded = decode_request(body(tensor(data=["Infinity", "-Infinity"])))
    assert decoded.inputs[0].data.tolist() == [[float("inf"), float("-inf")]]


def test_limit_is_inclusive() -> None:
    payload = body()
    decode_request(payload, limits=Limits(max_payload_bytes=len(payload)))
