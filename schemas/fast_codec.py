"""The codec's fast lane for one model: its usual requests decoded, its replies rendered, in one pass.

A stream almost always sends one shape: the model's single input by name and
datatype, flat `data`, nothing else. `RequestLane.decode` checks exactly that
with a few comparisons and one array conversion and returns None for anything
else, so the caller falls back to `codec.decode_request`, which accepts the same
bodies (to equal values) and names the error of all others. `render_responses`
writes the JSON bodies of one onnxruntime call's responses from the output
arrays directly, byte for byte what `codec.encode_response` writes. Tests hold
both lanes to their general counterparts.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from schemas.codec import CONTENT_TYPE_JSON, Limits
from schemas.errors import SchemaError
from schemas.headers import RequestMeta
from schemas.messages import InferenceRequest
from schemas.model_config import TensorSpec
from schemas.tensor_json import array_from_json, array_to_json, plain_numbers
from schemas.tensors import Datatype, Tensor

_REQUEST_KEYS = frozenset({"id", "inputs"})
_TENSOR_KEYS = frozenset({"name", "shape", "datatype", "data"})
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True, slots=True)
class RequestLane:
    """The one request form of a single-input model that is decoded without the general walk."""

    name: str
    datatype: Datatype
    trailing: list[int]
    row_size: int
    max_rows: int
    limits: Limits
    # What `workers.triage.stack_key` computes for every request this lane decodes.
    stack_key: Hashable

    @classmethod
    def for_inputs(cls, inputs: Sequence[TensorSpec], max_rows: int, limits: Limits) -> RequestLane | None:
        """The lane for a model with one input whose dims after the batch dim are fixed; else None."""
        if len(inputs) != 1 or not inputs[0].shape or any(dim < 0 for dim in inputs[0].shape[1:]):
            return None
        spec = inputs[0]
        trailing = list(spec.shape[1:])
        key = (((spec.name, spec.datatype, tuple(trailing)),), ())
        return cls(spec.name, spec.datatype, trailing, math.prod(trailing), max_rows, limits, key)

    def decode(self, body: bytes, meta: RequestMeta) -> InferenceRequest | None:
        """The request, when `body` has the lane's form and fits the model; None otherwise."""
        framed = meta.header_length is not None or meta.content_type not in (None, CONTENT_TYPE_JSON)
        if framed or len(body) > self.limits.max_payload_bytes:
            return None
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(doc) is not dict or not doc.keys() <= _REQUEST_KEYS:
            return None
        request_id = doc.get("id")
        if request_id is not None and type(request_id) is not str:
            return None
        tensor = self._tensor(doc.get("inputs"))
        if tensor is None:
            return None
        return InferenceRequest("" if request_id is None else request_id, (tensor,))

    def _tensor(self, inputs: object) -> Tensor | None:  # noqa: PLR0911 - each return is one form left to the general decoder
        if type(inputs) is not list:
            return None
        tensor = inputs[0] if len(inputs) == 1 else None
        if type(tensor) is not dict or tensor.keys() != _TENSOR_KEYS:
            return None
        shape = tensor["shape"]
        if tensor["name"] != self.name or tensor["datatype"] != self.datatype or type(shape) is not list:
            return None
        # Types too: 1.0 == 1 and True == 1 in Python, and neither is a dimension.
        if len(shape) != len(self.trailing) + 1 or shape[1:] != self.trailing:
            return None
        if any(type(dim) is not int for dim in shape) or not 1 <= shape[0] <= self.max_rows:
            return None
        data = tensor["data"]
        dims = tuple(shape)
        size = shape[0] * self.row_size
        if type(data) is not list or len(data) != size:
            return None
        array = plain_numbers(data, self.datatype)
        if array is not None:
            return Tensor(self.name, self.datatype, dims, array.reshape(dims))
        try:
            array = array_from_json(
                data, self.datatype, dims, size, allow_non_finite=self.limits.allow_non_finite
            )
        except SchemaError:
            return None
        return Tensor(self.name, self.datatype, dims, array)


def render_responses(
    model: str,
    version: str,
    ids: Sequence[str],
    outputs: Sequence[tuple[str, Datatype, np.ndarray[Any, Any]]],
    bounds: Sequence[tuple[int, int]],
) -> list[bytes] | None:
    """JSON response bodies of one call, one per row range in `bounds`, named by `ids`.

    Equal to `codec.encode_response` of each range's slices. None when an output needs
    the general encoder: non-finite floats (spelled as strings there) or BYTES that
    are not UTF-8 (sent binary there).
    """
    columns: list[tuple[str, Datatype, list[int], Any, int]] = []
    for name, datatype, array in outputs:
        if not array.ndim:
            return None
        width = math.prod(array.shape[1:])
        if datatype is Datatype.BYTES:
            data: Any = array_to_json(array, datatype)
            if data is None:
                return None
        elif array.dtype.kind == "f" and not np.isfinite(array).all():
            return None
        else:
            data = np.ascontiguousarray(array).reshape(-1)
        columns.append((name, datatype, list(array.shape[1:]), data, width))
    return [
        orjson.dumps(
            {
                "model_name": model,
                "model_version": version,
                "id": request_id,
                "outputs": [
                    {
                        "name": name,
                        "datatype": datatype,
                        "shape": [stop - start, *rest],
                        "data": data[start * width : stop * width],
                    }
                    for name, datatype, rest, data, width in columns
                ],
            },
            option=_NUMPY,
        )
        for request_id, (start, stop) in zip(ids, bounds, strict=True)
    ]
