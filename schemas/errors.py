"""Error codes of the wire contract and the root error of the schemas package."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Closed set of codes carried in error replies as `parameters.code`."""

    INVALID_JSON = "INVALID_JSON"
    INVALID_REQUEST = "INVALID_REQUEST"
    INVALID_HEADER = "INVALID_HEADER"
    INVALID_MODEL_NAME = "INVALID_MODEL_NAME"
    INVALID_TENSOR = "INVALID_TENSOR"
    INVALID_DATATYPE = "INVALID_DATATYPE"
    SHAPE_MISMATCH = "SHAPE_MISMATCH"
    VALUE_OUT_OF_RANGE = "VALUE_OUT_OF_RANGE"
    NON_FINITE_VALUE = "NON_FINITE_VALUE"
    UNKNOWN_INPUT = "UNKNOWN_INPUT"
    UNKNOWN_MODEL = "UNKNOWN_MODEL"
    UNKNOWN_VERSION = "UNKNOWN_VERSION"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    REPLY_TOPIC_FORBIDDEN = "REPLY_TOPIC_FORBIDDEN"
    INFERENCE_FAILED = "INFERENCE_FAILED"


class SchemaError(Exception):
    """A payload, header or name breaks the wire contract; never worth retrying as is.

    `request_id` is the body `id` when the body got far enough to have one, so the
    error reply can echo it; "" otherwise.
    """

    retriable: bool = False

    def __init__(self, code: ErrorCode, message: str, *, request_id: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id
