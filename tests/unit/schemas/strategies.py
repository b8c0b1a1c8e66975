"""Hypothesis strategies for request bodies: junk, request-shaped junk, and near-valid requests."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import orjson
from hypothesis import HealthCheck
from hypothesis import strategies as st

from schemas.tensors import FLOAT_DATATYPES, INTEGER_DATATYPES, Datatype, numpy_dtype

# Generation slows down when the box is shared; that is not a defect of the code under test.
SLOW_OK = [HealthCheck.too_slow]
FLOAT_WIDTHS: dict[int, Literal[16, 32, 64]] = {2: 16, 4: 32, 8: 64}
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)
DIM = st.one_of(st.integers(min_value=-1, max_value=3), SCALARS)
DATA = st.one_of(
    st.lists(SCALARS, max_size=8),
    st.lists(st.lists(SCALARS, max_size=3), max_size=3),
    st.lists(st.lists(st.lists(SCALARS, max_size=2), max_size=2), max_size=2),
    JSON,
)
PARAMETERS = st.one_of(
    st.none(),
    st.fixed_dictionaries({"binary_data_size": st.one_of(st.integers(-1, 40), SCALARS)}),
    st.dictionaries(st.text(max_size=4), SCALARS, max_size=2),
    SCALARS,
)


@st.composite
def tensor_docs(draw: st.DrawFn) -> Any:
    doc: dict[str, Any] = {}
    fields = {
        "name": st.one_of(st.sampled_from(["a", "b"]), SCALARS),
        "shape": st.one_of(st.lists(DIM, max_size=3), SCALARS),
        "datatype": st.one_of(st.sampled_from([dt.value for dt in Datatype]), SCALARS),
        "data": DATA,
        "parameters": PARAMETERS,
    }
    for key, strategy in fields.items():
        if draw(st.integers(0, 9)) > 0:  # each field absent one time in ten
            doc[key] = draw(strategy)
    return doc if draw(st.integers(0, 19)) else draw(JSON)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """A request-shaped JSON header, maybe followed by random binary data."""
    doc: dict[str, Any] = {"inputs": draw(st.lists(tensor_docs(), max_size=3))}
    for key in ("id", "model_name", "model_version", "parameters", "outputs", "error"):
        if draw(st.booleans()):
            doc[key] = draw(JSON)
    header = orjson.dumps(doc)
    tail = draw(st.binary(max_size=48))
    if not tail and draw(st.booleans()):
        return header, None
    return header + tail, len(header)


def _values(datatype: Datatype) -> st.SearchStrategy[Any]:
    """JSON values a tensor of `datatype` accepts, boundaries included."""
    if datatype in INTEGER_DATATYPES:
        info = np.iinfo(numpy_dtype(datatype))
        return st.integers(min_value=int(info.min), max_value=int(info.max))
    if datatype in FLOAT_DATATYPES:
        width = FLOAT_WIDTHS[numpy_dtype(datatype).itemsize]
        finite = st.floats(width=width, allow_nan=False, allow_infinity=False)
        return st.one_of(finite, st.sampled_from(["NaN", "Infinity", "-Infinity"]))
    if datatype is Datatype.BOOL:
        return st.booleans()
    return st.text(max_size=6)


def _nest(flat: list[Any], shape: list[int]) -> list[Any]:
    if len(shape) <= 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


@st.composite
def _valid_tensor(draw: st.DrawFn, name: str) -> dict[str, Any]:
    datatype = draw(st.sampled_from(list(Datatype)))
    shape = draw(st.lists(st.integers(min_value=0, max_value=3), max_size=3))
    count = int(np.prod(shape))
    flat = draw(st.lists(_values(datatype), min_size=count, max_size=count))
    nested = len(shape) > 1 and count > 0 and draw(st.booleans())
    doc: dict[str, Any] = {
        "name": name,
        "shape": shape,
        "datatype": datatype.value,
        "data": _nest(flat, shape) if nested else flat,
    }
    if draw(st.booleans()):
        doc["parameters"] = draw(st.dictionaries(st.text(max_size=4), SCALARS, max_size=2))
    return doc


@st.composite
def near_valid_requests(draw: st.DrawFn) -> bytes:
    """A valid JSON request, or one with a single field replaced by junk (one time in three)."""
    names = draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=3, unique=True))
    doc: dict[str, Any] = {"inputs": [draw(_valid_tensor(name)) for name in names]}
    if draw(st.booleans()):
        doc["id"] = draw(st.text(max_size=8))
    if draw(st.booleans()):
        doc["model_name"] = draw(st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True))
    if draw(st.booleans()):
        doc["outputs"] = [{"name": "y"}, {"name": "z", "parameters": {"binary_data": True}}]
    if draw(st.integers(0, 2)) == 0:
        target = draw(st.sampled_from(doc["inputs"])) if draw(st.booleans()) else doc
        key = draw(st.sampled_from(sorted(target)))
        target[key] = draw(st.one_of(SCALARS, JSON, DATA))
    return orjson.dumps(doc)
