"""Tensor data in Triton's binary form <-> numpy arrays; used by `schemas.codec` only.

Elements are little-endian, row-major, unpadded; BOOL is one byte 0 or 1; a BYTES
element is a 4-byte little-endian unsigned length followed by that many bytes.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from schemas.errors import ErrorCode, SchemaError
from schemas.tensors import FLOAT_DATATYPES, Datatype, numpy_dtype

_LENGTH = struct.Struct("<I")


def array_from_binary(
    body: bytes,
    offset: int,
    size: int,
    *,
    datatype: Datatype,
    shape: tuple[int, ...],
    count: int,
    allow_non_finite: bool,
) -> np.ndarray[Any, Any]:
    """The read-only array of `shape` in `body[offset:offset + size]`; raises SchemaError."""
    if datatype is Datatype.BYTES:
        array = _bytes_elements(body, offset, size, count)
    else:
        dtype = numpy_dtype(datatype)
        if size != count * dtype.itemsize:
            raise SchemaError(
                ErrorCode.SHAPE_MISMATCH,
                f"binary_data_size {size} is not {count} x {dtype.itemsize} bytes",
            )
        if datatype is Datatype.BOOL:
            raw = np.frombuffer(body, dtype=np.uint8, count=count, offset=offset)
            if count and raw.max() > 1:
                raise SchemaError(ErrorCode.VALUE_OUT_OF_RANGE, "BOOL byte other than 0 or 1")
            array = raw.view(np.bool_)
        else:
            array = np.frombuffer(body, dtype=dtype.newbyteorder("<"), count=count, offset=offset)
            if (
                datatype in FLOAT_DATATYPES
                and not allow_non_finite
                and count
                and not np.isfinite(array).all()
            ):
                raise SchemaError(ErrorCode.NON_FINITE_VALUE, f"NaN or Inf in {datatype}")
    array = array.reshape(shape)
    array.flags.writeable = False
    return array


def array_to_binary(array: np.ndarray[Any, Any], datatype: Datatype) -> bytes:
    """The binary form of `array`'s elements in row-major order."""
    if datatype is not Datatype.BYTES:
        little = numpy_dtype(datatype).newbyteorder("<")
        return np.ascontiguousarray(array, dtype=little).tobytes()
    parts: list[bytes] = []
    for item in array.reshape(-1).tolist():
        if isinstance(item, str):
            element = item.encode()
        elif isinstance(item, bytes):
            element = item
        else:
            raise SchemaError(ErrorCode.INVALID_TENSOR, f"BYTES element of type {type(item)}")
        if len(element) > 0xFFFFFFFF:
            raise SchemaError(ErrorCode.INVALID_TENSOR, "BYTES element longer than 4 GiB")
        parts.append(_LENGTH.pack(len(element)))
        parts.append(element)
    return b"".join(parts)


def _bytes_elements(body: bytes, offset: int, size: int, count: int) -> np.ndarray[Any, Any]:
    items: list[bytes] = []
    position, end = offset, offset + size
    while position < end:
        if len(items) == count:
            raise SchemaError(ErrorCode.SHAPE_MISMATCH, f"more than {count} BYTES elements")
        if end - position < _LENGTH.size:
            raise SchemaError(ErrorCode.INVALID_TENSOR, "BYTES length prefix cut short")
        (length,) = _LENGTH.unpack_from(body, position)
        position += _LENGTH.size
        if end - position < length:
            raise SchemaError(ErrorCode.INVALID_TENSOR, "BYTES element overruns binary_data_size")
        items.append(body[position : position + length])
        position += length
    if len(items) != count:
        raise SchemaError(ErrorCode.SHAPE_MISMATCH, f"{len(items)} BYTES elements, shape says {count}")
    array = np.empty(count, dtype=object)
    array[:] = items
    return array
