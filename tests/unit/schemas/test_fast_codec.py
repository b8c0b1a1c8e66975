"""One call's responses rendered at once are byte for byte what the general encoder writes per response."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from schemas.codec import encode_response
from schemas.fast_codec import render_responses
from schemas.messages import InferenceResponse
from schemas.tensors import Datatype, Tensor, datatype_of, numpy_dtype

NUMERIC = [dt for dt in Datatype if dt not in {Datatype.BYTES}]


def general(
    ids: list[str], outputs: list[tuple[str, Datatype, np.ndarray[Any, Any]]], bounds: list[tuple[int, int]]
) -> list[bytes]:
    return [
        encode_response(
            InferenceResponse(
                "m",
                "2",
                request_id,
                tuple(
                    Tensor(name, datatype, (stop - start, *array.shape[1:]), array[start:stop])
                    for name, datatype, array in outputs
                ),
            )
        ).body
        for request_id, (start, stop) in zip(ids, bounds, strict=True)
    ]


@st.composite
def calls(
    draw: st.DrawFn,
) -> tuple[list[str], list[tuple[str, Datatype, np.ndarray[Any, Any]]], list[tuple[int, int]]]:
    """Row ranges of one call and its outputs (finite numbers of any datatype, UTF-8 text)."""
    rows = draw(st.lists(st.integers(1, 3), min_size=1, max_size=5))
    total = sum(rows)
    outputs: list[tuple[str, Datatype, np.ndarray[Any, Any]]] = []
    for index in range(draw(st.integers(1, 3))):
        datatype = draw(st.sampled_from([*NUMERIC, Datatype.BYTES]))
        trailing = draw(st.lists(st.integers(0, 3), max_size=2))
        shape = (total, *trailing)
        if datatype is Datatype.BYTES:
            texts = draw(
                st.lists(st.text(max_size=4), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
            )
            array = np.array([t.encode() for t in texts] or [b""], dtype=object)[: len(texts)].reshape(shape)
        else:
            elements = (
                {"allow_nan": False, "allow_infinity": False} if datatype.value.startswith("FP") else None
            )
            array = draw(hnp.arrays(numpy_dtype(datatype), shape, elements=elements))
        outputs.append((f"out{index}", datatype, array))
    bounds, start = [], 0
    for count in rows:
        bounds.append((start, start + count))
        start += count
    ids = [f"r{i}" for i in range(len(rows))]
    return ids, outputs, bounds


@settings(max_examples=200, deadline=None)
@given(call=calls())
def test_rendered_responses_equal_the_general_encoders(
    call: tuple[list[str], list[tuple[str, Datatype, np.ndarray[Any, Any]]], list[tuple[int, int]]],
) -> None:
    ids, outputs, bounds = call
    assert render_responses("m", "2", ids, outputs, bounds) == general(ids, outputs, bounds)


@pytest.mark.parametrize(
    "array",
    [
        np.array([[0.5, np.nan], [1.0, 2.0]], dtype=np.float32),
        np.array([[np.inf], [1.0]], dtype=np.float64),
        np.array([b"ok", b"\xff"], dtype=object),
    ],
)
def test_outputs_only_the_general_encoder_can_write_are_left_to_it(array: np.ndarray[Any, Any]) -> None:
    outputs = [("out", datatype_of(array), array)]
    assert render_responses("m", "2", ["a", "b"], outputs, [(0, 1), (1, 2)]) is None
