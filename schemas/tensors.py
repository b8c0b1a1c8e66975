"""Tensor datatypes of the Open Inference Protocol and the typed tensor value."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas.errors import ErrorCode, SchemaError


class Datatype(enum.StrEnum):
    """OIP V2 tensor datatypes (`BYTES` holds variable-length byte strings)."""

    BOOL = "BOOL"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    FP16 = "FP16"
    FP32 = "FP32"
    FP64 = "FP64"
    BYTES = "BYTES"


_NUMPY: dict[Datatype, np.dtype[Any]] = {
    Datatype.BOOL: np.dtype(np.bool_),
    Datatype.UINT8: np.dtype(np.uint8),
    Datatype.UINT16: np.dtype(np.uint16),
    Datatype.UINT32: np.dtype(np.uint32),
    Datatype.UINT64: np.dtype(np.uint64),
    Datatype.INT8: np.dtype(np.int8),
    Datatype.INT16: np.dtype(np.int16),
    Datatype.INT32: np.dtype(np.int32),
    Datatype.INT64: np.dtype(np.int64),
    Datatype.FP16: np.dtype(np.float16),
    Datatype.FP32: np.dtype(np.float32),
    Datatype.FP64: np.dtype(np.float64),
    Datatype.BYTES: np.dtype(object),
}
_BY_DTYPE: dict[np.dtype[Any], Datatype] = {
    dtype: dt for dt, dtype in _NUMPY.items() if dt is not Datatype.BYTES
}

INTEGER_DATATYPES = frozenset(
    {
        Datatype.UINT8,
        Datatype.UINT16,
        Datatype.UINT32,
        Datatype.UINT64,
        Datatype.INT8,
        Datatype.INT16,
        Datatype.INT32,
        Datatype.INT64,
    }
)
FLOAT_DATATYPES = frozenset({Datatype.FP16, Datatype.FP32, Datatype.FP64})


def numpy_dtype(dt: Datatype) -> np.dtype[Any]:
    """The numpy dtype holding `dt` (native byte order); BYTES is an object array of bytes."""
    return _NUMPY[dt]


def datatype_of(array: np.ndarray[Any, Any]) -> Datatype:
    """The OIP datatype of a numpy array; object, bytes and str arrays are BYTES."""
    found = _BY_DTYPE.get(array.dtype)
    if found is not None:
        return found
    if array.dtype.kind in "OSU":
        return Datatype.BYTES
    raise SchemaError(ErrorCode.INVALID_DATATYPE, f"no OIP datatype for numpy dtype {array.dtype}")


@dataclass(frozen=True, slots=True, eq=False)
class Tensor:
    """A named tensor; `data` already has `shape` and the dtype of `datatype`.

    `eq=False` because the generated `__eq__` would compare numpy arrays
    element-wise and raise on truth-testing; compare `data` with numpy instead.
    Decoded arrays are read-only, so the value stays frozen in practice.
    """

    name: str
    datatype: Datatype
    shape: tuple[int, ...]
    data: np.ndarray[Any, Any]
    parameters: Mapping[str, Any] | None = None
