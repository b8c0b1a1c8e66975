"""Property tests: every datatype and shape survives encode -> decode, JSON and binary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from schemas.codec import (
    CONTENT_TYPE_BINARY,
    CONTENT_TYPE_JSON,
    decode_reply,
    decode_request,
    encode_request,
    encode_response,
)
from schemas.messages import InferenceRequest, InferenceResponse
from schemas.tensors import Datatype, Tensor, datatype_of, numpy_dtype
from tests.unit.schemas.compare import assert_same_tensor
from tests.unit.schemas.strategies import FLOAT_WIDTHS, SLOW_OK

SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
NUMERIC = [dt for dt in Datatype if dt is not Datatype.BYTES]


def _elements(dt: Datatype) -> st.SearchStrategy[Any]:
    dtype = numpy_dtype(dt)
    if dtype.kind == "f":
        # Every float of the width, NaN, Inf, -0.0 and subnormals included.
        return st.floats(width=FLOAT_WIDTHS[dtype.itemsize])
    return hnp.from_dtype(dtype)


@st.composite
def tensors(draw: st.DrawFn, datatype: Datatype) -> Tensor:
    shape = draw(SHAPES)
    if datatype is Datatype.BYTES:
        items = st.one_of(st.binary(max_size=12), st.text(max_size=8).map(str.encode))
        flat = draw(st.lists(items, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        data = np.empty(len(flat), dtype=object)
        data[:] = flat
        data = data.reshape(shape)
    else:
        data = draw(hnp.arrays(numpy_dtype(datatype), shape, elements=_elements(datatype)))
    return Tensor("t", datatype, shape, data)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("datatype", list(Datatype), ids=str)
@settings(max_examples=20, deadline=None, suppress_health_check=SLOW_OK)
@given(data=st.data())
def test_request_round_trip(datatype: Datatype, binary: bool, data: st.DataObject) -> None:
    tensor = data.draw(tensors(datatype))
    request = InferenceRequest(id="r-1", inputs=(tensor,), outputs=("y",))
    encoded = encode_request(request, binary=binary)
    decoded = decode_request(
        encoded.body, content_type=encoded.content_type, header_length=encoded.header_length
    )
    assert decoded.id == "r-1"
    assert decoded.outputs == ("y",)
    assert_same_tensor(decoded.inputs[0], tensor)
    assert not decoded.inputs[0].data.flags.writeable


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("datatype", list(Datatype), ids=str)
@settings(max_examples=10, deadline=None, suppress_health_check=SLOW_OK)
@given(data=st.data())
def test_response_round_trip(datatype: Datatype, binary: bool, data: st.DataObject) -> None:
    tensor = data.draw(tensors(datatype))
    response = InferenceResponse("m", "2", "r-1", (tensor,), parameters={"p": 1})
    encoded = encode_response(response, binary=binary)
    decoded = decode_reply(encoded.body, header_length=encoded.header_length)
    assert isinstance(decoded, InferenceResponse)
    assert (decoded.model_name, decoded.model_version, decoded.id) == ("m", "2", "r-1")
    assert decoded.parameters == {"p": 1}
    assert_same_tensor(decoded.outputs[0], tensor)


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW_OK)
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), max_size=16))
def test_fp32_json_is_exact_and_shortest(values: list[float]) -> None:
    array = np.asarray(values, dtype=np.float32)
    tensor = Tensor("x", Datatype.FP32, array.shape, array)
    encoded = encode_request(InferenceRequest("", (tensor,)))
    assert encoded.content_type == CONTENT_TYPE_JSON
    decoded = decode_request(encoded.body).inputs[0].data
    assert decoded.view(np.uint32).tolist() == array.view(np.uint32).tolist()
    # Shortest float32 text is at most 15 characters ("-1.1754944e-38"); the float64
    # expansion of a float32 often takes 19 or more ("0.10000000149011612").
    assert len(encoded.body) <= 70 + 16 * len(values)


def test_non_utf8_bytes_go_binary_even_when_json_is_asked() -> None:
    data = np.array([b"ok", b"\xff\xfe"], dtype=object)
    response = InferenceResponse("m", "1", "r", (Tensor("b", Datatype.BYTES, (2,), data),))
    encoded = encode_response(response)
    assert encoded.content_type == CONTENT_TYPE_BINARY
    assert encoded.header_length is not None
    decoded = decode_reply(encoded.body, header_length=encoded.header_length)
    assert isinstance(decoded, InferenceResponse)
    assert decoded.outputs[0].data.tolist() == [b"ok", b"\xff\xfe"]


def test_utf8_bytes_are_json_strings() -> None:
    data = np.array(["héllo".encode()], dtype=object)
    encoded = encode_request(InferenceRequest("", (Tensor("b", Datatype.BYTES, (1,), data),)))
    assert b'"data":["h\xc3\xa9llo"]' in encoded.body
    assert encoded.header_length is None


def test_str_elements_from_onnxruntime_encode_as_bytes() -> None:
    labels = np.array(["billing", "refund"], dtype=object)
    response = InferenceResponse("m", "1", "r", (Tensor("label", Datatype.BYTES, (2,), labels),))
    for binary in (False, True):
        encoded = encode_response(response, binary=binary)
        decoded = decode_reply(encoded.body, header_length=encoded.header_length)
        assert isinstance(decoded, InferenceResponse)
        assert decoded.outputs[0].data.tolist() == [b"billing", b"refund"]


def test_non_finite_floats_are_spelled_as_proto3_json() -> None:
    array = np.array([1.5, np.nan, np.inf, -np.inf], dtype=np.float32)
    response = InferenceResponse("m", "1", "r", (Tensor("y", Datatype.FP32, (4,), array),))
    body = encode_response(response).body
    assert b'"data":[1.5,"NaN","Infinity","-Infinity"]' in body


def test_null_in_parameters_does_not_disturb_finite_data() -> None:
    array = np.array([0.25], dtype=np.float32)
    response = InferenceResponse("m", "1", "r", (Tensor("y", Datatype.FP32, (1,), array),), {"n": None})
    assert b'"data":[0.25]' in encode_response(response).body


def test_binary_can_be_chosen_per_output() -> None:
    a = Tensor("a", Datatype.INT64, (2,), np.array([1, 2], dtype=np.int64))
    b = Tensor("b", Datatype.INT64, (2,), np.array([3, 4], dtype=np.int64))
    encoded = encode_response(InferenceResponse("m", "1", "r", (a, b)), binary={"b"})
    header = encoded.body[: encoded.header_length]
    assert b'"name":"a","datatype":"INT64","shape":[2],"data":[1,2]' in header
    assert b'"parameters":{"binary_data_size":16}' in header
    assert encoded.body[encoded.header_length :] == np.array([3, 4], dtype="<i8").tobytes()


@pytest.mark.parametrize("datatype", NUMERIC, ids=str)
def test_datatype_of_inverts_numpy_dtype(datatype: Datatype) -> None:
    assert datatype_of(np.zeros(1, dtype=numpy_dtype(datatype))) is datatype


@pytest.mark.parametrize("dtype", [object, "S3", "U3"])
def test_datatype_of_string_arrays_is_bytes(dtype: Any) -> None:
    assert datatype_of(np.array(["a"], dtype=dtype)) is Datatype.BYTES
