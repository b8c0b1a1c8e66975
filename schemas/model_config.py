"""Per-model serving config (`<repo>/<model>/config.toml`) and tensor specs.

The file is TOML; every key is optional and unknown keys are errors::

    max_batch_size = 64          # rows per onnxruntime call, >= 1
    max_queue_delay_ms = 2.0     # how long the oldest request may wait for a batch to fill, >= 0
    intra_op_threads = 1         # onnxruntime intra-op threads, >= 1
    inputs = ["features"]        # if given: exactly the model's inputs (names checked at load)
    outputs = ["probabilities"]  # if given: the outputs served, a subset of the model's
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from typing import Any

from schemas.errors import ErrorCode, SchemaError
from schemas.tensors import Datatype


class ModelConfigError(SchemaError):
    """A model config is invalid; raised at load time, never in answer to a request."""

    def __init__(self, message: str) -> None:
        # SchemaError needs a code; a config problem is not a request error, so this is only the
        # closest fit for callers that map every SchemaError to a code.
        super().__init__(ErrorCode.INVALID_REQUEST, message)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output: dims of -1 are dynamic and dim 0 is the batch dim."""

    name: str
    datatype: Datatype
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """How one model is served; validated on construction (raises ModelConfigError)."""

    max_batch_size: int = 64
    max_queue_delay_ms: float = 2.0
    intra_op_threads: int = 1
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_positive_int("max_batch_size", self.max_batch_size)
        _check_positive_int("intra_op_threads", self.intra_op_threads)
        delay = self.max_queue_delay_ms
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not math.isfinite(delay):
            raise ModelConfigError(f"max_queue_delay_ms must be a finite number, got {delay!r}")
        if delay < 0:
            raise ModelConfigError(f"max_queue_delay_ms must be >= 0, got {delay!r}")
        _check_names("inputs", self.inputs)
        _check_names("outputs", self.outputs)


_KEYS = frozenset(ModelConfig.__dataclass_fields__)


def parse_model_config(text: str) -> ModelConfig:
    """Parse a `config.toml` document; raises ModelConfigError on bad TOML, keys or values."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelConfigError(f"invalid TOML: {exc}") from exc
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise ModelConfigError(f"unknown keys {unknown}; allowed: {sorted(_KEYS)}")
    values: dict[str, Any] = dict(document)
    for key in ("inputs", "outputs"):
        if key in values:
            names = values[key]
            if not isinstance(names, list):
                raise ModelConfigError(f"{key} must be a list of names, got {names!r}")
            values[key] = tuple(names)
    if isinstance(values.get("max_queue_delay_ms"), int):
        values["max_queue_delay_ms"] = float(values["max_queue_delay_ms"])
    return ModelConfig(**values)


def format_model_config(config: ModelConfig) -> str:
    """Render `config` as TOML that `parse_model_config` reads back to an equal value."""
    lines = [
        f"max_batch_size = {config.max_batch_size}",
        f"max_queue_delay_ms = {config.max_queue_delay_ms!r}",
        f"intra_op_threads = {config.intra_op_threads}",
    ]
    # A JSON string without ASCII escaping is a valid TOML basic string.
    lines.extend(
        f"{key} = [{', '.join(json.dumps(name, ensure_ascii=False) for name in names)}]"
        for key, names in (("inputs", config.inputs), ("outputs", config.outputs))
        if names
    )
    return "\n".join(lines) + "\n"


def _check_positive_int(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelConfigError(f"{key} must be an integer, got {value!r}")
    if value < 1:
        raise ModelConfigError(f"{key} must be >= 1, got {value}")


def _check_names(key: str, names: object) -> None:
    if not isinstance(names, tuple) or not all(isinstance(n, str) and n for n in names):
        raise ModelConfigError(f"{key} must be non-empty tensor names, got {names!r}")
    if len(set(names)) != len(names):
        raise ModelConfigError(f"{key} has duplicate names: {list(names)}")
