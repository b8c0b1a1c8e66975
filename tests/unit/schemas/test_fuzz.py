"""Fuzzing: whatever the bytes, decoding returns a valid value or raises SchemaError.

Any other exception escaping a decoder is a defect (the worker would crash or
stall the partition instead of answering with an error reply).
"""

from __future__ import annotations

import contextlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import Limits, decode_reply, decode_request
from schemas.errors import SchemaError
from schemas.messages import InferenceRequest, InferenceResponse
from schemas.tensors import Tensor, numpy_dtype
from tests.unit.schemas.strategies import JSON, SLOW_OK, bodies, near_valid_requests


def _check_request(request: InferenceRequest) -> None:
    assert isinstance(request, InferenceRequest)
    assert request.inputs
    for tensor in request.inputs:
        _check_tensor(tensor)


def _check_tensor(tensor: Tensor) -> None:
    assert tensor.data.shape == tensor.shape
    assert tensor.data.dtype == numpy_dtype(tensor.datatype)
    assert not tensor.data.flags.writeable


def _decode_both(body: bytes, header_length: int | None, limits: Limits | None = None) -> None:
    with contextlib.suppress(SchemaError):
        request = decode_request(body, header_length=header_length, limits=limits or Limits())
        _check_request(request)
    try:
        reply = decode_reply(body, header_length=header_length)
    except SchemaError:
        return
    if isinstance(reply, InferenceResponse):
        for tensor in reply.outputs:
            _check_tensor(tensor)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(st.binary(max_size=200), st.one_of(st.none(), st.integers(min_value=-2, max_value=220)))
def test_random_bytes(body: bytes, header_length: int | None) -> None:
    _decode_both(body, header_length)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(JSON)
def test_random_json(value: object) -> None:
    _decode_both(orjson.dumps(value), None)


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW_OK)
@given(bodies(), st.booleans())
def test_request_shaped_junk(body: tuple[bytes, int | None], allow_non_finite: bool) -> None:
    _decode_both(*body, limits=Limits(allow_non_finite=allow_non_finite))


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_OK)
@given(near_valid_requests(), st.booleans())
def test_near_valid_requests(body: bytes, allow_non_finite: bool) -> None:
    _decode_both(body, None, limits=Limits(allow_non_finite=allow_non_finite))


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_OK)
@given(bodies(), st.integers(min_value=0, max_value=300))
def test_any_header_length(body: tuple[bytes, int | None], header_length: int) -> None:
    _decode_both(body[0], header_length)


@pytest.mark.parametrize(
    "body",
    [
        b'{"inputs":[{"name":"a","shape":[0,99999999999999999999],"datatype":"FP32","data":[]}]}',
        b'{"inputs":[{"name":"a","shape":[2],"datatype":"BYTES","data":["\\u0000",""]}]}',
        b'{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1e-46]}]}',
        b'{"inputs":[{"name":"a","shape":[1],"datatype":"UINT64","data":[1.8446744073709552e19]}]}',
        b'{"inputs":[{"name":"a","shape":[1],"datatype":"INT64","data":[-9223372036854775809]}]}',
    ],
    ids=["dim-beyond-int64", "nul-strings", "fp32-underflow", "float-2**64", "int-below-int64"],
)
def test_edge_bodies(body: bytes) -> None:
    _decode_both(body, None)
