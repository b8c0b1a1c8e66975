"""The fast lane decodes only what the general decoder and the model check accept, to equal values."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import Limits, decode_request
from schemas.errors import SchemaError
from schemas.fast_codec import RequestLane
from schemas.headers import parse_meta
from schemas.model_config import ModelConfig, TensorSpec
from schemas.tensors import Datatype
from tests.unit.schemas.compare import assert_same_tensor
from workers.repository import ModelSpec, check_request
from workers.triage import stack_key

MAX_ROWS = 3
SPECS = {
    "fp32": ModelSpec(
        "m",
        "1",
        (TensorSpec("features", Datatype.FP32, (-1, 4)),),
        (TensorSpec("out", Datatype.FP32, (-1, 2)),),
        ModelConfig(max_batch_size=MAX_ROWS),
    ),
    "int8": ModelSpec(
        "m",
        "1",
        (TensorSpec("codes", Datatype.INT8, (-1, 2, 1)),),
        (TensorSpec("out", Datatype.FP32, (-1, 2)),),
        ModelConfig(max_batch_size=MAX_ROWS),
    ),
    "bytes": ModelSpec(
        "m",
        "1",
        (TensorSpec("text", Datatype.BYTES, (-1,)),),
        (TensorSpec("out", Datatype.FP32, (-1, 2)),),
        ModelConfig(max_batch_size=MAX_ROWS),
    ),
}
LIMITS = Limits(max_payload_bytes=600, allow_non_finite=False)
NO_HEADERS = parse_meta(())

# Near misses of each part of the usual form, so that most bodies are one step from it.
ELEMENTS: st.SearchStrategy[Any] = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.integers(-300, 300),
    st.sampled_from([True, 1e39, -129, 127, 2.0, 2.5, "NaN", "Infinity", "x", "", None, [1.0], {}]),
)
IDS = st.sampled_from(["r1", "", None, 5, ["r"]])
DIMS = st.sampled_from([0, 1, 2, 3, 4, -1, 1.0, True, "1", None])
DATATYPES = st.sampled_from(["FP32", "INT8", "BYTES", "FP64", "fp32", "BOOL", 7])
NAMES = st.sampled_from(["features", "codes", "text", "other", "", 3])
EXTRA_KEYS: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [{}, {}, {}, {"parameters": {}}, {"outputs": [{"name": "out"}]}, {"model_name": "m"}]
)


@st.composite
def bodies(draw: st.DrawFn, spec: ModelSpec) -> bytes:
    """A request body for `spec`'s input, often well-formed, often one mutation away."""
    declared = spec.inputs[0]
    rows = draw(st.integers(1, MAX_ROWS + 1))
    trailing = list(declared.shape[1:])
    shape: list[Any] = [rows, *trailing]
    if draw(st.booleans()):
        shape[draw(st.integers(0, len(shape) - 1))] = draw(DIMS)
    if draw(st.integers(0, 9)) == 0:
        shape = shape[:-1] if len(shape) > 1 else [*shape, 1]
    size = rows
    for dim in trailing:
        size *= dim
    if declared.datatype is Datatype.BYTES:
        values = st.one_of(st.text(max_size=5), ELEMENTS)
    else:
        values = ELEMENTS if draw(st.booleans()) else st.integers(-100, 100)
    count = size if draw(st.integers(0, 4)) else draw(st.integers(0, size + 2))
    data: Any = draw(st.lists(values, min_size=count, max_size=count))
    if draw(st.integers(0, 6)) == 0 and data:
        data = [data]  # nested one level
    tensor: dict[str, Any] = {
        "name": declared.name if draw(st.booleans()) else draw(NAMES),
        "shape": shape,
        "datatype": declared.datatype.value if draw(st.booleans()) else draw(DATATYPES),
        "data": data,
    }
    if draw(st.integers(0, 9)) == 0:
        del tensor[draw(st.sampled_from(sorted(tensor)))]
    inputs: list[Any] = [tensor] if draw(st.integers(0, 9)) else [tensor, dict(tensor, name="second")]
    doc: dict[str, Any] = {"inputs": inputs, **draw(EXTRA_KEYS)}
    request_id = draw(IDS)
    if request_id is not None or draw(st.booleans()):
        doc["id"] = request_id
    return orjson.dumps(doc)


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_lane_takes_only_what_the_general_path_accepts_and_decodes_it_the_same(
    name: str, data: st.DataObject
) -> None:
    spec = SPECS[name]
    lane = RequestLane.for_inputs(spec.inputs, MAX_ROWS, LIMITS)
    assert lane is not None
    body = data.draw(bodies(spec))
    fast = lane.decode(body, NO_HEADERS)
    if fast is None:
        return
    general = decode_request(body, limits=LIMITS)
    check_request(spec, general)  # raises if the lane took a request that does not fit
    assert fast.id == general.id
    assert (fast.outputs, fast.parameters, fast.model_name) == (general.outputs, general.parameters, None)
    assert len(fast.inputs) == len(general.inputs) == 1
    assert_same_tensor(fast.inputs[0], general.inputs[0])
    assert not fast.inputs[0].data.flags.writeable
    assert lane.stack_key == stack_key(general)


@pytest.mark.parametrize(
    ("name", "doc"),
    [
        (
            "fp32",
            {
                "id": "a",
                "inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32", "data": [0.5] * 8}],
            },
        ),
        (
            "fp32",
            {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
        ),
        (
            "int8",
            {
                "id": "b",
                "inputs": [{"name": "codes", "shape": [1, 2, 1], "datatype": "INT8", "data": [-1, 5]}],
            },
        ),
        (
            "bytes",
            {"id": "c", "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["card"]}]},
        ),
    ],
)
def test_the_usual_form_takes_the_lane(name: str, doc: dict[str, Any]) -> None:
    spec = SPECS[name]
    lane = RequestLane.for_inputs(spec.inputs, MAX_ROWS, LIMITS)
    assert lane is not None
    fast = lane.decode(orjson.dumps(doc), NO_HEADERS)
    assert fast is not None
    assert_same_tensor(fast.inputs[0], decode_request(orjson.dumps(doc)).inputs[0])


@pytest.mark.parametrize(
    ("headers", "limits"),
    [
        ((("content-type", b"application/octet-stream"),), LIMITS),
        ((("inference-header-content-length", b"10"),), LIMITS),
        ((), Limits(max_payload_bytes=10)),
    ],
)
def test_binary_bodies_and_oversized_ones_leave_the_lane(
    headers: tuple[tuple[str, bytes], ...], limits: Limits
) -> None:
    spec = SPECS["fp32"]
    lane = RequestLane.for_inputs(spec.inputs, MAX_ROWS, limits)
    assert lane is not None
    body = orjson.dumps(
        {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [0.0] * 4}]}
    )
    assert lane.decode(body, parse_meta(headers)) is None


@pytest.mark.parametrize(
    "inputs",
    [
        (TensorSpec("a", Datatype.FP32, (-1, 4)), TensorSpec("b", Datatype.FP32, (-1, 4))),
        (TensorSpec("a", Datatype.FP32, (-1, -1)),),
        (TensorSpec("a", Datatype.FP32, ()),),
    ],
)
def test_models_without_one_fixed_input_form_have_no_lane(inputs: tuple[TensorSpec, ...]) -> None:
    assert RequestLane.for_inputs(inputs, MAX_ROWS, LIMITS) is None


def test_a_general_decoder_refusal_is_never_a_lane_success() -> None:
    spec = SPECS["fp32"]
    lane = RequestLane.for_inputs(spec.inputs, MAX_ROWS, LIMITS)
    assert lane is not None
    body = orjson.dumps(
        {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1e39, 0, 0, 0]}]}
    )
    with pytest.raises(SchemaError):
        decode_request(body, limits=LIMITS)
    assert lane.decode(body, NO_HEADERS) is None
