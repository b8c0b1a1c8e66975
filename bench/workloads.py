"""The three workloads of BENCH.md: their model, their request records and their onnxruntime feeds.

Requests are rendered once, up front, with the project's own codec (JSON, the wire
default), so every system under test reads byte-identical records.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from schemas import headers as h
from schemas.codec import encode_request
from schemas.messages import InferenceRequest
from schemas.model_config import ModelConfig, format_model_config
from schemas.tensors import Datatype, Tensor
from workers.modelbuild.tickets import generate_tickets
from workers.repository import load_repository

Array = np.ndarray[Any, Any]
VERSION = "1"
"""Every workload serves its model's version 1."""


@dataclass(frozen=True, slots=True)
class Workload:
    """One BENCH.md workload: a model of the repository and the shape of one request."""

    name: str
    input_name: str
    datatype: Datatype
    width: int | None
    """Features per row (FP32 models); None for the 1-D string input of `intent`."""


WORKLOADS: tuple[Workload, ...] = (
    Workload("tabular", "features", Datatype.FP32, 32),
    Workload("intent", "text", Datatype.BYTES, None),
    Workload("heavy", "features", Datatype.FP32, 256),
)
BY_NAME = {w.name: w for w in WORKLOADS}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One pre-rendered request: its id (also its correlation id), value and headers."""

    id: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def rows(workload: Workload, n: int, seed: int) -> Array:
    """`n` deterministic input rows: FP32 [n, width], or an object array of `n` UTF-8 tickets."""
    if workload.width is None:
        return np.array([text.encode() for text, _ in generate_tickets(n, seed)], dtype=object)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, workload.width)).astype(np.float32)


def request_records(
    workload: Workload, model: str, n: int, *, seed: int = 0, prefix: str = "r"
) -> list[RequestRecord]:
    """`n` single-row requests for `model`, ids `<prefix>-<i>`, with `model` and correlation headers."""
    data = rows(workload, n, seed)
    records = []
    for i in range(n):
        row = data[i : i + 1]
        request_id = f"{prefix}-{i}"
        tensor = Tensor(workload.input_name, workload.datatype, tuple(row.shape), row)
        body = encode_request(InferenceRequest(request_id, (tensor,))).body
        headers = ((h.CORRELATION_ID, request_id.encode()), (h.MODEL, model.encode()))
        records.append(RequestRecord(request_id, body, headers))
    return records


def ort_feed(workload: Workload, batch: int, seed: int = 0) -> dict[str, Array]:
    """A batch of `batch` rows as onnxruntime takes it (strings as `str`, not the wire's bytes)."""
    data = rows(workload, batch, seed)
    if workload.datatype is Datatype.BYTES:
        data = np.array([item.decode() for item in data], dtype=object)
    return {workload.input_name: data}


def model_config(repository: Path, workload: Workload) -> ModelConfig:
    """The configured serving config of the workload's model."""
    return load_repository(repository).get(workload.name, VERSION).config


def model_path(repository: Path, workload: Workload) -> Path:
    """The workload's `model.onnx`."""
    return load_repository(repository).get(workload.name, VERSION).path


def alias_model(
    repository: Path, target: Path, workload: Workload, alias: str, config: ModelConfig | None = None
) -> None:
    """Serve the workload's model as `alias` in `target` (fresh name: fresh topics and groups).

    With `config`, the alias gets that serving config instead of the model's own.
    """
    source = repository / workload.name
    version_dir = target / alias / VERSION
    version_dir.mkdir(parents=True)
    (version_dir / "model.onnx").symlink_to((source / VERSION / "model.onnx").resolve())
    if config is not None:
        (target / alias / "config.toml").write_text(format_model_config(config))
    elif (source / "config.toml").exists():
        shutil.copy(source / "config.toml", target / alias / "config.toml")


def by_names(names: Sequence[str]) -> tuple[Workload, ...]:
    """The named workloads, in the order given; raises KeyError for an unknown name."""
    return tuple(BY_NAME[name] for name in names)
