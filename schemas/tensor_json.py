"""Tensor `data` in OIP JSON form <-> numpy arrays; used by `schemas.codec` only.

Decisions (see schemas/README.md):
- `data` is a JSON array, flat (row-major) or nested exactly as deep as the shape.
  A flat array of the wrong length is SHAPE_MISMATCH; nesting shallower or deeper
  than the shape, ragged siblings, or arrays mixed with scalars are INVALID_TENSOR;
  regular nesting whose lengths differ from the shape is SHAPE_MISMATCH.
- Integers: JSON integers, or floats with no fractional part (JSON Schema's notion of
  an integer), within the datatype's range; anything else is VALUE_OUT_OF_RANGE.
- Floats: JSON numbers within the datatype's finite range, or the strings "NaN",
  "Infinity", "-Infinity" (the proto3 JSON mapping), since standard JSON cannot carry
  non-finite numbers. Those strings are NON_FINITE_VALUE when the limits forbid them.
- BOOL: JSON true/false only. BYTES: JSON strings, held as their UTF-8 bytes.
"""

from __future__ import annotations

import math
import struct
from itertools import chain
from typing import Any

import numpy as np

from schemas.errors import ErrorCode, SchemaError
from schemas.tensors import FLOAT_DATATYPES, INTEGER_DATATYPES, Datatype, numpy_dtype

NON_FINITE_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_NUMBER = frozenset({int, float})
_STRUCT_CODES = {
    Datatype.UINT8: "B",
    Datatype.UINT16: "H",
    Datatype.UINT32: "I",
    Datatype.UINT64: "Q",
    Datatype.INT8: "b",
    Datatype.INT16: "h",
    Datatype.INT32: "i",
    Datatype.INT64: "q",
    Datatype.FP16: "e",
    Datatype.FP32: "f",
    Datatype.FP64: "d",
}
_LITTLE = {dt: numpy_dtype(dt).newbyteorder("<") for dt in _STRUCT_CODES}
# Compiled packers by (datatype, element count); bounded since counts come from clients.
_PACKERS: dict[tuple[Datatype, int], struct.Struct] = {}
_MAX_PACKERS = 1024


def array_from_json(
    data: object,
    datatype: Datatype,
    shape: tuple[int, ...],
    size: int,
    *,
    allow_non_finite: bool,
) -> np.ndarray[Any, Any]:
    """The read-only array of `shape` that JSON `data` holds; raises SchemaError."""
    flat = _flatten(data, shape, size)
    if datatype is Datatype.BYTES:
        array = _texts(flat)
    else:
        array = _numbers(flat, datatype, allow_non_finite=allow_non_finite)
    # Read-only already: arrays over struct-packed bytes; the others are made so below.
    return array.reshape(shape)


def array_to_json(array: np.ndarray[Any, Any], datatype: Datatype) -> object | None:
    """The JSON `data` value for `array` (flat), or None when it cannot be JSON.

    Numeric arrays are handed to orjson as contiguous 1-D arrays (OPT_SERIALIZE_NUMPY
    writes FP16/FP32 as their shortest round-tripping decimal). orjson writes non-finite
    floats as null; callers that see null use `floats_to_json` instead. A BYTES array
    with an element that is not UTF-8 cannot be a JSON string: None.
    """
    if datatype is not Datatype.BYTES:
        return np.ascontiguousarray(array).reshape(-1)
    texts: list[str] = []
    for item in array.reshape(-1).tolist():
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, bytes):
            try:
                texts.append(item.decode())
            except UnicodeDecodeError:
                return None
        else:
            raise SchemaError(ErrorCode.INVALID_TENSOR, f"BYTES element of type {type(item)}")
    return texts


def floats_to_json(array: np.ndarray[Any, Any]) -> list[float | str]:
    """A float array as JSON values, non-finite elements as "NaN"/"Infinity"/"-Infinity"."""
    return [
        value if math.isfinite(value) else _non_finite_text(value) for value in array.reshape(-1).tolist()
    ]


def _non_finite_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _flatten(data: object, shape: tuple[int, ...], size: int) -> list[Any]:
    if type(data) is not list:
        raise SchemaError(ErrorCode.INVALID_TENSOR, "data must be a JSON array")
    if not data or type(data[0]) is not list:
        if len(data) != size:
            raise SchemaError(ErrorCode.SHAPE_MISMATCH, f"{len(data)} elements for shape {list(shape)}")
        return data
    depth, probe = 0, data
    while type(probe) is list:
        depth += 1
        if not probe:
            break
        probe = probe[0]
    # Array levels along the first elements; an empty array may stand for deeper zero-size ones.
    if depth > len(shape) or (type(probe) is not list and depth < len(shape)):
        raise SchemaError(
            ErrorCode.INVALID_TENSOR, f"data nests {depth} deep, the shape has {len(shape)} dims"
        )
    level: list[Any] = [data]
    for depth, dim in enumerate(shape):
        if set(map(type, level)) != {list}:
            raise SchemaError(ErrorCode.INVALID_TENSOR, f"arrays mixed with values at depth {depth}")
        lengths = set(map(len, level))
        if len(lengths) > 1:
            raise SchemaError(ErrorCode.INVALID_TENSOR, f"ragged data at depth {depth}")
        if lengths != {dim}:
            raise SchemaError(
                ErrorCode.SHAPE_MISMATCH,
                f"{lengths.pop()} elements at depth {depth}, shape says {dim}",
            )
        level = list(chain.from_iterable(level))
        if not level:
            break
    return level


def plain_numbers(flat: list[Any], datatype: Datatype) -> np.ndarray[Any, Any] | None:
    """`flat` as a read-only 1-D array when every element is a JSON number the datatype holds as is.

    None when some element needs the exact rules of `array_from_json` (strings for
    non-finite floats, integral floats for integer datatypes, BOOL) or is refused by them.
    """
    # struct converts in C and enforces the datatype's range (refusing floats for integer
    # codes); it would take bools as numbers, hence the type check first.
    if datatype is Datatype.BOOL or datatype is Datatype.BYTES or not set(map(type, flat)) <= _NUMBER:
        return None
    try:
        packed = _packer(datatype, len(flat)).pack(*flat)
    except (struct.error, OverflowError):
        return None
    return np.frombuffer(packed, dtype=_LITTLE[datatype])


def _numbers(flat: list[Any], datatype: Datatype, *, allow_non_finite: bool) -> np.ndarray[Any, Any]:
    plain = plain_numbers(flat, datatype)
    if plain is not None:
        return plain
    # The exact rules: find what is wrong, or convert what is allowed.
    kinds = set(map(type, flat))
    if list in kinds:
        raise SchemaError(ErrorCode.INVALID_TENSOR, "arrays mixed with values")
    if datatype in FLOAT_DATATYPES:
        if not kinds <= _NUMBER | {str}:
            raise _out_of_range(datatype, kinds - _NUMBER - {str})
        return _pack([_non_finite(item, allow_non_finite=allow_non_finite) for item in flat], datatype)
    if datatype in INTEGER_DATATYPES:
        if not kinds <= _NUMBER:
            raise _out_of_range(datatype, kinds - _NUMBER)
        return _pack([_integral(item) for item in flat], datatype)
    if not kinds <= {bool}:
        raise _out_of_range(datatype, kinds - {bool})
    array = np.asarray(flat, dtype=np.bool_)
    array.flags.writeable = False
    return array


def _pack(values: list[Any], datatype: Datatype) -> np.ndarray[Any, Any]:
    try:
        packed = _packer(datatype, len(values)).pack(*values)
    except (struct.error, OverflowError):
        raise SchemaError(ErrorCode.VALUE_OUT_OF_RANGE, f"value beyond the {datatype} range") from None
    return np.frombuffer(packed, dtype=_LITTLE[datatype])


def _non_finite(item: Any, *, allow_non_finite: bool) -> Any:
    if type(item) is not str:
        return item
    value = NON_FINITE_TEXT.get(item)
    if value is None:
        raise SchemaError(ErrorCode.VALUE_OUT_OF_RANGE, f"string {item[:40]!r} for a float")
    if not allow_non_finite:
        raise SchemaError(ErrorCode.NON_FINITE_VALUE, f"{item} where finite values are required")
    return value


def _integral(item: Any) -> Any:
    if type(item) is float:
        if not item.is_integer():
            raise SchemaError(ErrorCode.VALUE_OUT_OF_RANGE, f"{item!r} for an integer")
        return int(item)
    return item


def _packer(datatype: Datatype, count: int) -> struct.Struct:
    key = (datatype, count)
    packer = _PACKERS.get(key)
    if packer is None:
        packer = struct.Struct(f"<{count}{_STRUCT_CODES[datatype]}")
        if len(_PACKERS) < _MAX_PACKERS:
            _PACKERS[key] = packer
    return packer


def _texts(flat: list[Any]) -> np.ndarray[Any, Any]:
    kinds = set(map(type, flat))
    if list in kinds:
        raise SchemaError(ErrorCode.INVALID_TENSOR, "arrays mixed with values")
    if not kinds <= {str}:
        raise _out_of_range(Datatype.BYTES, kinds - {str})
    array = np.empty(len(flat), dtype=object)
    array[:] = [text.encode() for text in flat]
    array.flags.writeable = False
    return array


def _out_of_range(datatype: Datatype, kinds: set[type]) -> SchemaError:
    names = ", ".join(sorted(kind.__name__ for kind in kinds))
    return SchemaError(ErrorCode.VALUE_OUT_OF_RANGE, f"{names} values in {datatype}")
