"""The only place where message bytes become typed values and back.

Bodies are Open Inference Protocol (KServe V2) JSON; with Triton's binary tensor data
extension the JSON header is followed by raw tensor bytes, the header's length travels
in the `inference-header-content-length` Kafka header (`header_length`), and each
binary tensor has `parameters.binary_data_size` instead of `data`. Decisions that the
protocol leaves open are listed in schemas/README.md.
"""

from __future__ import annotations

import reprlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from schemas.errors import ErrorCode, SchemaError
from schemas.headers import RequestMeta
from schemas.messages import ErrorReply, InferenceRequest, InferenceResponse
from schemas.tensor_binary import array_from_binary, array_to_binary
from schemas.tensor_json import array_from_json, array_to_json, floats_to_json
from schemas.tensors import Datatype, Tensor, numpy_dtype
from schemas.topics import check_name

CONTENT_TYPE_JSON = "application/json"
# What Triton's and KServe's clients send with binary tensor data.
CONTENT_TYPE_BINARY = "application/octet-stream"
BINARY_DATA_SIZE = "binary_data_size"
BINARY_DATA = "binary_data"
BINARY_DATA_OUTPUT = "binary_data_output"

# numpy allows 64 dimensions; no model has more than a handful.
MAX_RANK = 32
# Only reachable by zero-size shapes (others fail the element count first), where
# numpy would refuse the shape with a ValueError.
_MAX_ELEMENTS = 2**48
# FastStream labels str bodies text/plain; the body is recognised by its structure anyway.
_MEDIA_TYPES = frozenset({CONTENT_TYPE_JSON, CONTENT_TYPE_BINARY, "text/plain"})
_DATATYPES = {dt.value: dt for dt in Datatype}
_CODES = {code.value: code for code in ErrorCode}


@dataclass(frozen=True, slots=True)
class Limits:
    """What a decoder accepts beyond the protocol's own rules."""

    max_payload_bytes: int = 4 * 1024 * 1024
    allow_non_finite: bool = True


# Clients decoding replies take what the server sends, non-finite floats included.
_REPLY_LIMITS = Limits(allow_non_finite=True)


@dataclass(frozen=True, slots=True)
class Encoded:
    """An encoded body; `header_length` is set only when binary tensor data follows the JSON."""

    body: bytes
    content_type: str
    header_length: int | None


def decode_request(
    body: bytes,
    *,
    content_type: str | None = None,
    header_length: int | None = None,
    limits: Limits = Limits(),
) -> InferenceRequest:
    """Decode and validate a request body; raises SchemaError (never anything else)."""
    if len(body) > limits.max_payload_bytes:
        raise SchemaError(ErrorCode.PAYLOAD_TOO_LARGE, f"{len(body)} bytes > {limits.max_payload_bytes}")
    if content_type is not None:
        _check_content_type(content_type)
    if type(body) is not bytes:
        body = bytes(body)
    doc = _parse(body, header_length)
    if type(doc) is not dict:
        raise SchemaError(ErrorCode.INVALID_REQUEST, "request body is not a JSON object")
    request_id = _text(doc, "id")
    try:
        return _request(doc, request_id, body, header_length, limits)
    except SchemaError as error:
        error.request_id = request_id
        raise


def decode_record_request(body: bytes, meta: RequestMeta, limits: Limits) -> InferenceRequest:
    """Decode a request record's body as its headers describe it (content type, binary header length)."""
    return decode_request(
        body, content_type=meta.content_type, header_length=meta.header_length, limits=limits
    )


def decode_reply(
    body: bytes, *, content_type: str | None = None, header_length: int | None = None
) -> InferenceResponse | ErrorReply:
    """Decode a response or error body (for clients and tests); raises SchemaError.

    An error body without a known `parameters.code` (plain OIP servers send only
    `{"error": ...}`) decodes with code INFERENCE_FAILED.
    """
    _check_content_type(content_type)
    body = bytes(body)
    doc = _parse(body, header_length)
    if type(doc) is not dict:
        raise SchemaError(ErrorCode.INVALID_REQUEST, "reply body is not a JSON object")
    if "error" in doc:
        return _error_reply(doc)
    outputs_doc = doc.get("outputs")
    if type(outputs_doc) is not list:
        raise SchemaError(ErrorCode.INVALID_REQUEST, "outputs must be a JSON array")
    reader = _Reader(body, header_length, _REPLY_LIMITS)
    outputs = _tensors(outputs_doc, reader, "output")
    reader.finish()
    return InferenceResponse(
        model_name=_text(doc, "model_name"),
        model_version=_text(doc, "model_version"),
        id=_text(doc, "id"),
        outputs=outputs,
        parameters=_parameters(doc.get("parameters")),
    )


def encode_request(request: InferenceRequest, *, binary: bool = False) -> Encoded:
    """Encode a request; `binary=True` sends every input as binary tensor data."""
    doc: dict[str, Any] = {}
    if request.id:
        doc["id"] = request.id
    if request.model_name is not None:
        doc["model_name"] = request.model_name
    if request.model_version is not None:
        doc["model_version"] = request.model_version
    if request.parameters is not None:
        doc["parameters"] = dict(request.parameters)  # orjson takes dicts, not any Mapping
    chunks: list[bytes] = []
    doc["inputs"] = [_tensor_doc(tensor, chunks, binary=binary) for tensor in request.inputs]
    if request.outputs:
        by_name = request.output_parameters or {}
        doc["outputs"] = [_output_doc(name, by_name.get(name)) for name in request.outputs]
    return _finish(doc, "inputs", chunks)


def encode_response(response: InferenceResponse, *, binary: bool | Collection[str] = False) -> Encoded:
    """Encode a response; `binary` is True (all outputs), False, or the output names to send binary.

    BYTES outputs holding non-UTF-8 elements go binary whatever `binary` says, since a
    JSON string cannot carry them.
    """
    if isinstance(binary, bool):
        wanted: Collection[str] = [tensor.name for tensor in response.outputs] if binary else ()
    else:
        wanted = {binary} if isinstance(binary, str) else binary
    doc: dict[str, Any] = {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "id": response.id,
    }
    if response.parameters is not None:
        doc["parameters"] = dict(response.parameters)
    chunks: list[bytes] = []
    doc["outputs"] = [
        _tensor_doc(tensor, chunks, binary=tensor.name in wanted) for tensor in response.outputs
    ]
    return _finish(doc, "outputs", chunks)


def encode_error(error: ErrorReply) -> bytes:
    """Encode an error reply as `{"id", "error", "parameters": {"code"}}`."""
    return orjson.dumps({"id": error.id, "error": error.error, "parameters": {"code": error.code}})


def binary_outputs(request: InferenceRequest, names: Iterable[str]) -> frozenset[str]:
    """The output names the request wants as binary data (Triton's rules).

    A per-output `binary_data` overrides the request's `binary_data_output`.
    """
    default = bool(request.parameters and request.parameters.get(BINARY_DATA_OUTPUT) is True)
    per_output = request.output_parameters or {}
    return frozenset(name for name in names if per_output.get(name, {}).get(BINARY_DATA, default) is True)


class _Reader:
    """One body being decoded: its binary section, handed out in tensor order, and rules."""

    __slots__ = ("allow_non_finite", "body", "end", "position")

    def __init__(self, body: bytes, header_length: int | None, limits: Limits) -> None:
        self.body = body
        self.end = len(body)
        self.position = self.end if header_length is None else header_length
        self.allow_non_finite = limits.allow_non_finite

    def take(self, size: int) -> int:
        if size > self.end - self.position:
            raise SchemaError(
                ErrorCode.INVALID_TENSOR,
                f"binary_data_size {size} > {self.end - self.position} bytes left",
            )
        start = self.position
        self.position += size
        return start

    def finish(self) -> None:
        if self.position != self.end:
            raise SchemaError(
                ErrorCode.INVALID_REQUEST,
                f"{self.end - self.position} bytes of binary data belong to no tensor",
            )


def _check_content_type(content_type: str | None) -> None:
    if content_type is None:
        return
    media = content_type.partition(";")[0].strip().lower()
    if media not in _MEDIA_TYPES:
        raise SchemaError(ErrorCode.INVALID_HEADER, f"content-type {content_type[:80]!r}")


def _parse(body: bytes, header_length: int | None) -> object:
    if header_length is None:
        json_part: bytes | memoryview = body
    elif 0 <= header_length <= len(body):
        json_part = memoryview(body)[:header_length]
    else:
        raise SchemaError(
            ErrorCode.INVALID_HEADER, f"header length {header_length} for a {len(body)}-byte body"
        )
    try:
        return orjson.loads(json_part)
    except orjson.JSONDecodeError as error:
        raise SchemaError(ErrorCode.INVALID_JSON, str(error)) from None


def _request(
    doc: dict[str, Any], request_id: str, body: bytes, header_length: int | None, limits: Limits
) -> InferenceRequest:
    inputs_doc = doc.get("inputs")
    if type(inputs_doc) is not list or not inputs_doc:
        raise SchemaError(ErrorCode.INVALID_REQUEST, "inputs must be a non-empty JSON array")
    reader = _Reader(body, header_length, limits)
    inputs = _tensors(inputs_doc, reader, "input")
    reader.finish()
    outputs_doc = doc.get("outputs")
    outputs, output_parameters = ((), None) if outputs_doc is None else _requested_outputs(outputs_doc)
    return InferenceRequest(
        request_id,
        inputs,
        outputs,
        _parameters(doc.get("parameters")),
        _model_name(doc, "model_name"),
        _model_name(doc, "model_version"),
        output_parameters,
    )


def _tensors(docs: list[Any], reader: _Reader, role: str) -> tuple[Tensor, ...]:
    tensors = tuple([_tensor(doc, reader, role) for doc in docs])
    if len(tensors) > 1 and len({tensor.name for tensor in tensors}) != len(tensors):
        raise SchemaError(ErrorCode.INVALID_REQUEST, f"duplicate {role} names")
    return tensors


def _tensor(doc: object, reader: _Reader, role: str) -> Tensor:
    if type(doc) is not dict:
        raise SchemaError(ErrorCode.INVALID_REQUEST, f"an {role} is not a JSON object")
    name = doc.get("name")
    if type(name) is not str or not name:
        raise SchemaError(ErrorCode.INVALID_REQUEST, f"an {role} has no name")
    try:
        return _tensor_value(doc, name, reader)
    except SchemaError as error:
        raise SchemaError(error.code, f"{role} {name[:80]!r}: {error.message}") from None


def _tensor_value(doc: dict[str, Any], name: str, reader: _Reader) -> Tensor:
    shape_doc = doc.get("shape")
    datatype_doc = doc.get("datatype")
    if shape_doc is None or datatype_doc is None:
        raise SchemaError(ErrorCode.INVALID_REQUEST, "shape and datatype are required")
    shape, count = _shape(shape_doc)
    datatype = _DATATYPES.get(datatype_doc) if type(datatype_doc) is str else None
    if datatype is None:
        raise SchemaError(ErrorCode.INVALID_DATATYPE, f"unknown datatype {reprlib.repr(datatype_doc)}")
    parameters = _parameters(doc.get("parameters"))
    if parameters is None or BINARY_DATA_SIZE not in parameters:
        if "data" not in doc:
            raise SchemaError(ErrorCode.INVALID_REQUEST, "no data and no binary_data_size")
        array = array_from_json(
            doc["data"],
            datatype,
            shape,
            count,
            allow_non_finite=reader.allow_non_finite,
        )
        return Tensor(name, datatype, shape, array, parameters)
    size = parameters[BINARY_DATA_SIZE]
    if type(size) is not int or size < 0:
        raise SchemaError(ErrorCode.INVALID_TENSOR, f"binary_data_size {reprlib.repr(size)}")
    if "data" in doc:
        raise SchemaError(ErrorCode.INVALID_TENSOR, "both data and binary_data_size")
    offset = reader.take(size)
    array = array_from_binary(
        reader.body,
        offset,
        size,
        datatype=datatype,
        shape=shape,
        count=count,
        allow_non_finite=reader.allow_non_finite,
    )
    rest = {key: value for key, value in parameters.items() if key != BINARY_DATA_SIZE}
    return Tensor(name, datatype, shape, array, rest or None)


def _shape(doc: object) -> tuple[tuple[int, ...], int]:
    if type(doc) is not list or len(doc) > MAX_RANK:
        raise SchemaError(ErrorCode.INVALID_TENSOR, f"shape must be an array of <= {MAX_RANK} dims")
    count = 1
    nonzero = 1
    for dim in doc:
        if type(dim) is not int or dim < 0:
            raise SchemaError(ErrorCode.INVALID_TENSOR, f"dimension {reprlib.repr(dim)} in shape")
        count *= dim
        if dim:
            nonzero *= dim
    if nonzero > _MAX_ELEMENTS:
        raise SchemaError(ErrorCode.INVALID_TENSOR, "shape too large")
    return tuple(doc), count


def _requested_outputs(doc: object) -> tuple[tuple[str, ...], dict[str, Mapping[str, Any]] | None]:
    if type(doc) is not list:
        raise SchemaError(ErrorCode.INVALID_REQUEST, "outputs must be a JSON array")
    names: list[str] = []
    by_name: dict[str, Mapping[str, Any]] = {}
    for item in doc:
        name = item.get("name") if type(item) is dict else None
        if type(name) is not str or not name or name in names:
            raise SchemaError(ErrorCode.INVALID_REQUEST, "requested outputs need distinct names")
        names.append(name)
        parameters = _parameters(item.get("parameters"))
        if parameters:
            by_name[name] = parameters
    return tuple(names), by_name or None


def _error_reply(doc: dict[str, Any]) -> ErrorReply:
    message = doc["error"]
    if type(message) is not str:
        raise SchemaError(ErrorCode.INVALID_REQUEST, "error must be a string")
    parameters = _parameters(doc.get("parameters")) or {}
    code = parameters.get("code")
    return ErrorReply(
        id=_text(doc, "id"),
        code=_CODES.get(code, ErrorCode.INFERENCE_FAILED)
        if type(code) is str
        else ErrorCode.INFERENCE_FAILED,
        error=message,
    )


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if type(value) is not str:
        raise SchemaError(ErrorCode.INVALID_REQUEST, f"{key} must be a string")
    return value


def _model_name(doc: dict[str, Any], key: str) -> str | None:
    if doc.get(key) is None:
        return None
    return check_name(_text(doc, key))


def _parameters(doc: object) -> dict[str, Any] | None:
    if doc is None:
        return None
    if type(doc) is not dict:
        raise SchemaError(ErrorCode.INVALID_REQUEST, "parameters must be a JSON object")
    return doc


def _tensor_doc(tensor: Tensor, chunks: list[bytes], *, binary: bool) -> dict[str, Any]:
    data = tensor.data
    if data.shape != tensor.shape:
        raise SchemaError(
            ErrorCode.SHAPE_MISMATCH, f"{tensor.name}: data {data.shape} vs shape {tensor.shape}"
        )
    expected = numpy_dtype(tensor.datatype)
    if data.dtype != expected and not (tensor.datatype is Datatype.BYTES and data.dtype.kind in "SU"):
        raise SchemaError(
            ErrorCode.INVALID_DATATYPE, f"{tensor.name}: {data.dtype} data for {tensor.datatype}"
        )
    json_data = None if binary else array_to_json(data, tensor.datatype)
    if json_data is not None and not tensor.parameters:
        return {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape, "data": json_data}
    doc: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape}
    parameters = dict(tensor.parameters) if tensor.parameters else {}
    parameters.pop(BINARY_DATA_SIZE, None)
    if json_data is None:
        raw = array_to_binary(data, tensor.datatype)
        parameters[BINARY_DATA_SIZE] = len(raw)
        chunks.append(raw)
    else:
        doc["data"] = json_data
    if parameters:
        doc["parameters"] = parameters
    return doc


def _output_doc(name: str, parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"name": name, "parameters": dict(parameters)} if parameters else {"name": name}


def _finish(doc: dict[str, Any], key: str, chunks: list[bytes]) -> Encoded:
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    # orjson writes NaN and Inf as null; null is otherwise rare, so look closer only then.
    if b"null" in header and _spell_non_finite(doc[key]):
        header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return Encoded(header, CONTENT_TYPE_JSON, None)
    return Encoded(header + b"".join(chunks), CONTENT_TYPE_BINARY, len(header))


def _spell_non_finite(tensor_docs: list[dict[str, Any]]) -> bool:
    changed = False
    for doc in tensor_docs:
        data = doc.get("data")
        if isinstance(data, np.ndarray) and data.dtype.kind == "f" and not np.isfinite(data).all():
            doc["data"] = floats_to_json(data)
            changed = True
    return changed
