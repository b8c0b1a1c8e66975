"""JSON Schema (draft 2020-12) of the request, response and error bodies, built from the types.

`python -m schemas.jsonschema --out schemas/json/` writes `request.schema.json`,
`response.schema.json` and `error.schema.json`; the committed copies must match
(a unit test checks). Datatypes, error codes, value ranges, the name pattern and the
rank limit come from the code. What JSON Schema cannot say is left to the decoder:
element count against the shape, nesting depth against the shape, binary section
sizes, and distinct tensor names.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from schemas.codec import BINARY_DATA_SIZE, MAX_RANK
from schemas.errors import ErrorCode
from schemas.tensor_json import NON_FINITE_TEXT
from schemas.tensors import FLOAT_DATATYPES, INTEGER_DATATYPES, Datatype, numpy_dtype
from schemas.topics import NAME_PATTERN

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_BASE_ID = "urn:inferq:schemas:"

Schema = dict[str, Any]


def documents() -> dict[str, Schema]:
    """The three schema documents by file name."""
    return {
        "request.schema.json": request_schema(),
        "response.schema.json": response_schema(),
        "error.schema.json": error_schema(),
    }


def render(schema: Schema) -> bytes:
    """The committed text form of a schema: two-space indented, newline-terminated."""
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n"


def request_schema() -> Schema:
    """An OIP inference request as inferq accepts it (null stands for an absent field)."""
    name = {"type": ["string", "null"], "pattern": f"^{NAME_PATTERN}$"}
    return {
        "$schema": DIALECT,
        "$id": _BASE_ID + "request.schema.json",
        "title": "InferenceRequest",
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": ["string", "null"]},
            "model_name": name,
            "model_version": name,
            "parameters": {"$ref": "#/$defs/parameters"},
            "inputs": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/tensor"}},
            "outputs": {"type": ["array", "null"], "items": {"$ref": "#/$defs/requested_output"}},
        },
        "$defs": {
            **_tensor_defs(),
            "requested_output": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "parameters": {"$ref": "#/$defs/parameters"},
                },
            },
        },
    }


def response_schema() -> Schema:
    """An OIP inference response as inferq sends it."""
    return {
        "$schema": DIALECT,
        "$id": _BASE_ID + "response.schema.json",
        "title": "InferenceResponse",
        "type": "object",
        "required": ["model_name", "model_version", "id", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": {"$ref": "#/$defs/parameters"},
            "outputs": {"type": "array", "items": {"$ref": "#/$defs/tensor"}},
        },
        "$defs": _tensor_defs(),
    }


def error_schema() -> Schema:
    """An error reply: `{"id", "error", "parameters": {"code"}}`."""
    return {
        "$schema": DIALECT,
        "$id": _BASE_ID + "error.schema.json",
        "title": "ErrorReply",
        "type": "object",
        "required": ["id", "error", "parameters"],
        "properties": {
            "id": {"type": "string"},
            "error": {"type": "string"},
            "parameters": {
                "type": "object",
                "required": ["code"],
                "properties": {"code": {"enum": [code.value for code in ErrorCode]}},
            },
        },
    }


def _tensor_defs() -> Schema:
    binary = {"type": "object", "required": [BINARY_DATA_SIZE]}
    tensor: Schema = {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "shape": {
                "type": "array",
                "maxItems": MAX_RANK,
                "items": {"type": "integer", "minimum": 0},
            },
            "datatype": {"enum": [dt.value for dt in Datatype]},
            "parameters": {
                "$ref": "#/$defs/parameters",
                "properties": {BINARY_DATA_SIZE: {"type": "integer", "minimum": 0}},
            },
        },
        # Tensor data travels either in `data` or, binary, after the JSON header.
        "oneOf": [
            {
                "required": ["data"],
                "not": {"required": ["parameters"], "properties": {"parameters": binary}},
            },
            {
                "required": ["parameters"],
                "properties": {"parameters": binary},
                "not": {"required": ["data"]},
            },
        ],
        "allOf": [
            {
                "if": {"required": ["datatype"], "properties": {"datatype": {"const": dt.value}}},
                "then": {"properties": {"data": {"$ref": f"#/$defs/{dt.value}_data"}}},
            }
            for dt in Datatype
        ],
    }
    data = {
        f"{dt.value}_data": {
            "type": "array",
            "items": {"anyOf": [_element(dt), {"$ref": f"#/$defs/{dt.value}_data"}]},
        }
        for dt in Datatype
    }
    return {"parameters": {"type": ["object", "null"]}, "tensor": tensor, **data}


def _element(dt: Datatype) -> Schema:
    if dt in INTEGER_DATATYPES:
        info = np.iinfo(numpy_dtype(dt))
        return {"type": "integer", "minimum": int(info.min), "maximum": int(info.max)}
    if dt in FLOAT_DATATYPES:
        return {"anyOf": [_finite_number(dt), {"enum": list(NON_FINITE_TEXT)}]}
    if dt is Datatype.BOOL:
        return {"type": "boolean"}
    return {"type": "string"}


def _finite_number(dt: Datatype) -> Schema:
    if dt is Datatype.FP64:
        return {"type": "number"}
    # Round-to-nearest keeps a number finite below max + half a unit in the last place.
    info = np.finfo(numpy_dtype(dt))
    bound = float(info.max) + 2.0 ** (info.maxexp - info.nmant - 2)
    return {"type": "number", "exclusiveMinimum": -bound, "exclusiveMaximum": bound}


def main() -> None:
    """Write the schema documents into `--out`."""
    parser = argparse.ArgumentParser(description="Write the wire contract's JSON Schema documents.")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "json")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in documents().items():
        (out / name).write_bytes(render(schema))


if __name__ == "__main__":
    main()
