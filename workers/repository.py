"""The model repository on disk, laid out like Triton's, and request-vs-model validation.

Layout::

    <repo>/<model>/config.toml          optional, see schemas.model_config
    <repo>/<model>/<version>/model.onnx

Model and version names must be valid in a Kafka topic name (`schemas.topics.check_name`), since
each version gets its own work topic. Versions are ordered oldest to newest: names that are not
canonical integers ("canary", "01") first, alphabetically, then integers by value — so the newest
version is the highest number, and a named version is only ever served when asked for. Hidden
entries (".name") are ignored; a version directory without `model.onnx` is skipped with a warning
(it may still be being copied) and so is a model without any version.

Scanning reads configs and hashes model files; it does not open onnxruntime sessions
(`workers.session.open_model` does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from schemas.errors import ErrorCode, SchemaError
from schemas.messages import InferenceRequest
from schemas.model_config import ModelConfig, TensorSpec, parse_model_config
from schemas.topics import check_name

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.toml"

log = structlog.get_logger(__name__)


class ModelError(Exception):
    """Root of the model errors (repository, loading, running); `code` is the reply's error code."""

    code: ErrorCode = ErrorCode.INFERENCE_FAILED
    retriable: bool = False


class UnknownModel(ModelError):  # noqa: N818 -- name fixed by the brief, like schemas.routes
    """No such model in the repository."""

    code = ErrorCode.UNKNOWN_MODEL


class UnknownVersion(ModelError):  # noqa: N818 -- name fixed by the brief, like schemas.routes
    """The model exists but not in that version."""

    code = ErrorCode.UNKNOWN_VERSION


class RepositoryError(ModelError):
    """The repository layout or a model config is invalid (an operator's error, found at load)."""


class ModelLoadError(ModelError):
    """onnxruntime could not load a model, or the model does not match its config."""


class InferenceError(ModelError):
    """onnxruntime failed while running a batch."""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One `<model>/<version>/model.onnx` with its model's config."""

    name: str
    version: str
    path: Path
    sha256: str
    config: ModelConfig


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a loaded model accepts and returns, and how it is served."""

    name: str
    version: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    config: ModelConfig


@dataclass(frozen=True, slots=True)
class Repository:
    """A scanned repository: model name -> versions, oldest first."""

    root: Path
    entries: Mapping[str, tuple[ModelVersion, ...]]

    def models(self) -> tuple[str, ...]:
        """Model names, sorted."""
        return tuple(sorted(self.entries))

    def versions(self, model: str) -> tuple[str, ...]:
        """Version names of `model`, newest last; raises UnknownModel."""
        return tuple(entry.version for entry in self._versions_of(model))

    def get(self, model: str, version: str) -> ModelVersion:
        """The given version of `model`; raises UnknownModel or UnknownVersion."""
        for entry in self._versions_of(model):
            if entry.version == version:
                return entry
        raise UnknownVersion(f"model {model!r} has no version {version!r}")

    def latest(self, model: str) -> ModelVersion:
        """The newest version of `model`; raises UnknownModel."""
        return self._versions_of(model)[-1]

    def _versions_of(self, model: str) -> tuple[ModelVersion, ...]:
        try:
            return self.entries[model]
        except KeyError:
            raise UnknownModel(f"no model {model!r} in {self.root}") from None


def load_repository(path: Path) -> Repository:
    """Scan the repository at `path`; raises RepositoryError on bad names, configs or layout."""
    if not path.is_dir():
        raise RepositoryError(f"model repository {path} is not a directory")
    entries: dict[str, tuple[ModelVersion, ...]] = {}
    for model_dir in _visible_dirs(path):
        name = _checked_name(model_dir)
        config = _read_config(model_dir / CONFIG_FILE)
        versions = tuple(
            ModelVersion(name, _checked_name(d), d / MODEL_FILE, sha256_file(d / MODEL_FILE), config)
            for d in _visible_dirs(model_dir)
            if _has_model_file(d)
        )
        if versions:
            entries[name] = tuple(sorted(versions, key=lambda v: version_key(v.version)))
        else:
            log.warning("repository_model_skipped", model=name, reason="no versions")
    return Repository(path, entries)


def version_key(version: str) -> tuple[int, int, str]:
    """Sort key putting named versions first and integer versions last, by value."""
    if version.isdigit() and version.isascii() and str(int(version)) == version:
        return (1, int(version), "")
    return (0, 0, version)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_request(spec: ModelSpec, request: InferenceRequest) -> None:
    """Check that `request` fits `spec`; raises SchemaError with the reply's error code.

    Every declared input must be present exactly once (UNKNOWN_INPUT, also for extra inputs),
    with the declared datatype (INVALID_DATATYPE), rank and fixed dims (SHAPE_MISMATCH); all
    inputs share one batch dim in 1..max_batch_size (SHAPE_MISMATCH); requested outputs must
    exist (INVALID_REQUEST).
    """
    given = {tensor.name: tensor for tensor in request.inputs}
    if len(given) != len(request.inputs):
        raise SchemaError(ErrorCode.UNKNOWN_INPUT, "an input is given more than once")
    declared = {tensor_spec.name for tensor_spec in spec.inputs}
    extra = sorted(set(given) - declared)
    if extra:
        raise SchemaError(
            ErrorCode.UNKNOWN_INPUT, f"unknown inputs {extra}; the model takes {sorted(declared)}"
        )
    batch: int | None = None
    for tensor_spec in spec.inputs:
        tensor = given.get(tensor_spec.name)
        if tensor is None:
            raise SchemaError(ErrorCode.UNKNOWN_INPUT, f"missing input {tensor_spec.name!r}")
        if tensor.datatype != tensor_spec.datatype:
            raise SchemaError(
                ErrorCode.INVALID_DATATYPE,
                f"input {tensor.name!r} must be {tensor_spec.datatype}, got {tensor.datatype}",
            )
        _check_shape(tensor.name, tensor.shape, tensor_spec.shape)
        if not tensor.shape:
            continue  # a scalar input has no batch dim (open_model refuses such models)
        if batch is not None and tensor.shape[0] != batch:
            raise SchemaError(
                ErrorCode.SHAPE_MISMATCH,
                f"input {tensor.name!r} has batch dim {tensor.shape[0]}, other inputs {batch}",
            )
        batch = tensor.shape[0]
    if batch is not None and not 1 <= batch <= spec.config.max_batch_size:
        raise SchemaError(
            ErrorCode.SHAPE_MISMATCH,
            f"batch dim {batch} is outside 1..{spec.config.max_batch_size}",
        )
    served = {tensor_spec.name for tensor_spec in spec.outputs}
    missing = sorted(set(request.outputs) - served)
    if missing:
        raise SchemaError(
            ErrorCode.INVALID_REQUEST,
            f"unknown outputs {missing}; the model returns {sorted(served)}",
        )


def _check_shape(name: str, shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    shown = [dim if dim >= 0 else "?" for dim in expected]
    if len(shape) != len(expected) or any(
        want >= 0 and got != want for got, want in zip(shape, expected, strict=True)
    ):
        raise SchemaError(
            ErrorCode.SHAPE_MISMATCH, f"input {name!r} has shape {list(shape)}, expected {shown}"
        )


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _checked_name(directory: Path) -> str:
    try:
        return check_name(directory.name)
    except SchemaError as exc:
        raise RepositoryError(f"{directory}: {exc}") from exc


def _has_model_file(version_dir: Path) -> bool:
    if (version_dir / MODEL_FILE).is_file():
        return True
    log.warning("repository_version_skipped", path=str(version_dir), reason="no model.onnx")
    return False


def _read_config(path: Path) -> ModelConfig:
    if not path.is_file():
        return ModelConfig()
    try:
        return parse_model_config(path.read_text(encoding="utf-8"))
    except SchemaError as exc:
        raise RepositoryError(f"{path}: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RepositoryError(f"cannot read {path}: {exc}") from exc
