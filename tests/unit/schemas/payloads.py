"""Request bodies for codec and schema tests: a valid one, changed one field at a time."""

from __future__ import annotations

from typing import Any

import orjson


def tensor(**fields: Any) -> dict[str, Any]:
    """A valid FP32 [1, 2] input with `fields` replaced (a None value removes the field)."""
    doc = {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [0.5, 1.5]}
    doc.update(fields)
    return {key: value for key, value in doc.items() if value is not None}


def body(*inputs: dict[str, Any], **fields: Any) -> bytes:
    """A request body with `inputs` (default: one valid tensor) and extra top-level fields."""
    return orjson.dumps({"id": "r-1", "inputs": list(inputs or [tensor()]), **fields})


def raw(datatype: str, number: str) -> bytes:
    """A one-element request whose element is written as `number`, verbatim."""
    return b'{"inputs":[{"name":"x","shape":[1],"datatype":"%s","data":[%s]}]}' % (
        datatype.encode(),
        number.encode(),
    )
