"""Payloads shaped exactly like the examples of the Open Inference Protocol and Triton docs.

Written from kserve's "Open Inference Protocol" REST examples and Triton's
binary tensor data extension (protocol/extension_binary_data.md).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from schemas.codec import (
    CONTENT_TYPE_BINARY,
    binary_outputs,
    decode_reply,
    decode_request,
    encode_response,
)
from schemas.errors import ErrorCode, SchemaError
from schemas.messages import ErrorReply, InferenceResponse
from schemas.tensors import Datatype, Tensor

OIP_REQUEST = b"""{
  "id" : "42",
  "inputs" : [
    {
      "name" : "input0",
      "shape" : [ 2, 2 ],
      "datatype" : "UINT32",
      "data" : [ 1, 2, 3, 4 ]
    },
    {
      "name" : "input1",
      "shape" : [ 3 ],
      "datatype" : "BOOL",
      "data" : [ true, false, true ]
    }
  ],
  "outputs" : [
    {
      "name" : "output0"
    }
  ]
}"""

# The spec's response example omits the comma after "id" and model_name; with the comma.
OIP_RESPONSE = b"""{
  "id" : "42",
  "outputs" : [
    {
      "name" : "output0",
      "shape" : [ 3, 2 ],
      "datatype"  : "FP32",
      "data" : [ 1.0, 1.1, 2.0, 2.1, 3.0, 3.1 ]
    }
  ]
}"""


def test_oip_request_example() -> None:
    request = decode_request(OIP_REQUEST, content_type="application/json")
    assert request.id == "42"
    first, second = request.inputs
    assert (first.name, first.datatype, first.shape) == ("input0", Datatype.UINT32, (2, 2))
    assert first.data.dtype == np.uint32
    assert first.data.tolist() == [[1, 2], [3, 4]]
    assert second.data.tolist() == [True, False, True]
    assert request.outputs == ("output0",)


def test_oip_request_example_as_printed_is_a_shape_mismatch() -> None:
    """The spec prints BOOL shape [3] with one element; inferq holds shapes to their data."""
    printed = OIP_REQUEST.replace(b"[ true, false, true ]", b"[ true ]")
    with pytest.raises(SchemaError) as raised:
        decode_request(printed)
    assert raised.value.code is ErrorCode.SHAPE_MISMATCH
    assert raised.value.request_id == "42"


def test_oip_response_example() -> None:
    reply = decode_reply(OIP_RESPONSE)
    assert isinstance(reply, InferenceResponse)
    assert (reply.id, reply.model_name, reply.model_version) == ("42", "", "")
    output = reply.outputs[0]
    assert output.data.dtype == np.float32
    assert output.data.tolist() == np.array([[1.0, 1.1], [2.0, 2.1], [3.0, 3.1]], np.float32).tolist()


@pytest.mark.parametrize(
    "data",
    [b"[ [ 1, 2 ], [ 4, 5 ] ]", b"[ 1, 2, 4, 5 ]"],
    ids=["nested", "flat"],
)
def test_tensor_data_nested_or_flat_is_the_same_tensor(data: bytes) -> None:
    body = b'{"inputs":[{"name":"a","shape":[2,2],"datatype":"INT32","data":%s}]}' % data
    assert decode_request(body).inputs[0].data.tolist() == [[1, 2], [4, 5]]


def test_custom_and_sequence_parameters_are_carried() -> None:
    body = b"""{
      "parameters" : { "my_custom_parameter" : 42, "sequence_id" : "e333c95a" },
      "inputs" : [ { "name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32",
                     "data" : [ 1, 2, 3, 4 ] } ],
      "outputs" : [ { "name" : "output0", "parameters" : { "classification" : 2 } } ]
    }"""
    request = decode_request(body)
    assert request.id == ""  # absent: the worker substitutes the correlation id
    assert request.parameters == {"my_custom_parameter": 42, "sequence_id": "e333c95a"}
    assert request.output_parameters == {"output0": {"classification": 2}}


def _triton_binary_request() -> tuple[bytes, int]:
    header = b"""{
      "model_name" : "mymodel",
      "inputs" : [
        { "name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32",
          "parameters" : { "binary_data_size" : 16 } },
        { "name" : "input1", "shape" : [ 3 ], "datatype" : "BOOL",
          "parameters" : { "binary_data_size" : 3 } }
      ],
      "outputs" : [ { "name" : "output0", "parameters" : { "binary_data" : true } } ]
    }"""
    return header + struct.pack("<4I", 1, 2, 3, 4) + b"\x01\x00\x01", len(header)


def test_triton_binary_request_example() -> None:
    body, header_length = _triton_binary_request()
    request = decode_request(body, content_type=CONTENT_TYPE_BINARY, header_length=header_length)
    assert request.model_name == "mymodel"
    first, second = request.inputs
    assert first.data.tolist() == [[1, 2], [3, 4]]
    assert first.parameters is None  # binary_data_size is framing, not a tensor parameter
    assert second.data.tolist() == [True, False, True]
    assert binary_outputs(request, ["output0", "output1"]) == {"output0"}


def test_triton_binary_response_example() -> None:
    header = b"""{
      "outputs" : [ { "name" : "output0", "shape" : [ 3, 2 ], "datatype"  : "FP32",
                      "parameters" : { "binary_data_size" : 24 } } ]
    }"""
    values = np.arange(6, dtype="<f4")
    reply = decode_reply(header + values.tobytes(), header_length=len(header))
    assert isinstance(reply, InferenceResponse)
    assert reply.outputs[0].data.tolist() == [[0, 1], [2, 3], [4, 5]]


def test_kserve_mixed_binary_and_json_inputs_example() -> None:
    """FP16 and BOOL binary around a nested UINT32 JSON input, as kserve's docs show."""
    fp16 = np.array([[1.1, 2.2], [3.3, 4.4]], dtype="<f2")
    header = b"""{
      "model_name" : "mymodel",
      "inputs" : [
        { "name" : "input0", "shape" : [ 2, 2 ], "datatype" : "FP16",
          "parameters" : { "binary_data_size" : 8 } },
        { "name" : "input1", "shape" : [ 2, 2 ], "datatype" : "UINT32",
          "data": [[1, 2], [3, 4]] },
        { "name" : "input2", "shape" : [ 3 ], "datatype" : "BOOL",
          "parameters" : { "binary_data_size" : 3 } }
      ],
      "outputs" : [ { "name" : "output0", "parameters" : { "binary_data" : true } },
                    { "name" : "output1" } ]
    }"""
    body = header + fp16.tobytes() + b"\x00\x01\x00"
    request = decode_request(body, header_length=len(header))
    assert request.inputs[0].data.dtype == np.float16
    assert request.inputs[0].data.tolist() == fp16.tolist()
    assert request.inputs[1].data.tolist() == [[1, 2], [3, 4]]
    assert request.inputs[2].data.tolist() == [False, True, False]
    assert binary_outputs(request, ["output0", "output1"]) == {"output0"}


def test_binary_data_output_asks_for_every_output_unless_overridden() -> None:
    body = b"""{
      "model_name": "my_model",
      "inputs": [ { "name": "input_tensor", "datatype": "FP32", "shape": [1, 2],
                    "data": [[32.045, 399.043]] } ],
      "parameters": { "binary_data_output": true },
      "outputs": [ { "name": "b", "parameters": { "binary_data": false } } ]
    }"""
    request = decode_request(body)
    assert binary_outputs(request, ["a", "b", "c"]) == {"a", "c"}
    assert request.inputs[0].data.tolist() == np.array([[32.045, 399.043]], np.float32).tolist()


def test_binary_response_follows_triton_layout() -> None:
    probabilities = np.array([[0.25, 0.75]], dtype=np.float32)
    response = InferenceResponse(
        "mymodel", "1", "42", (Tensor("output0", Datatype.FP32, (1, 2), probabilities),)
    )
    encoded = encode_response(response, binary=True)
    assert encoded.content_type == CONTENT_TYPE_BINARY
    assert encoded.header_length is not None
    header, tail = encoded.body[: encoded.header_length], encoded.body[encoded.header_length :]
    assert header.endswith(b'"parameters":{"binary_data_size":8}}]}')
    assert b'"data"' not in header
    assert tail == struct.pack("<2f", 0.25, 0.75)


def test_triton_bytes_elements_are_length_prefixed() -> None:
    header = (
        b'{"inputs":[{"name":"text","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":13}}]}'
    )
    tail = struct.pack("<I", 5) + b"hello" + struct.pack("<I", 0)
    request = decode_request(header + tail, header_length=len(header))
    assert request.inputs[0].data.tolist() == [b"hello", b""]


def test_plain_oip_error_body_decodes_as_inference_failed() -> None:
    assert decode_reply(b'{"error": "model not ready"}') == ErrorReply(
        id="", code=ErrorCode.INFERENCE_FAILED, error="model not ready"
    )


def test_inferq_error_body_keeps_its_code() -> None:
    body = b'{"id": "42", "error": "bad", "parameters": {"code": "DEADLINE_EXCEEDED"}}'
    assert decode_reply(body) == ErrorReply(id="42", code=ErrorCode.DEADLINE_EXCEEDED, error="bad")


@pytest.mark.parametrize(
    ("shape", "data", "expected_shape"),
    [
        ([], [7], ()),
        ([0], [], (0,)),
        ([2, 0, 3], [[], []], (2, 0, 3)),
        ([2, 0, 3], [], (2, 0, 3)),
        ([1, 1, 1], [[[7]]], (1, 1, 1)),
    ],
    ids=["scalar", "empty", "zero-inner-nested", "zero-inner-flat", "deep"],
)
def test_edge_shapes(shape: list[int], data: list[object], expected_shape: tuple[int, ...]) -> None:
    body = b'{"inputs":[{"name":"a","shape":%s,"datatype":"INT8","data":%s}]}' % (
        str(shape).encode(),
        str(data).encode(),
    )
    decoded = decode_request(body).inputs[0].data
    assert decoded.shape == expected_shape
    assert decoded.dtype == np.int8
