"""Typed Open Inference Protocol messages: request, response and error reply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.errors import ErrorCode
from schemas.tensors import Tensor


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    """An inference request; `id` is "" when the body has none (use the correlation id).

    `outputs` names the requested outputs in order; `output_parameters` carries the
    per-output `parameters` objects by name (e.g. Triton's `{"binary_data": true}`).
    """

    id: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[str, ...] = ()
    parameters: Mapping[str, Any] | None = None
    model_name: str | None = None
    model_version: str | None = None
    output_parameters: Mapping[str, Mapping[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class InferenceResponse:
    """A successful inference response."""

    model_name: str
    model_version: str
    id: str
    outputs: tuple[Tensor, ...]
    parameters: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error reply; on the wire `{"id", "error", "parameters": {"code"}}`."""

    id: str
    code: ErrorCode
    error: str
