"""onnxruntime sessions: load a repository model version and run batches on it (the ORT edge).

String tensors: the wire's BYTES tensors are numpy object arrays of `bytes`, while onnxruntime's
`tensor(string)` wants `str`. `Model.run` decodes BYTES inputs as UTF-8 (invalid sequences become
U+FFFD, so a bad byte never fails the neighbours in a batch) and encodes string outputs back to
UTF-8 `bytes`. Numeric arrays go to onnxruntime untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnxruntime as ort
import structlog

from schemas.model_config import ModelConfig, TensorSpec
from schemas.tensors import Datatype
from workers.repository import (
    InferenceError,
    ModelLoadError,
    ModelSpec,
    ModelVersion,
    sha256_file,
)

__all__ = ["Model", "open_model", "sha256_file"]

log = structlog.get_logger(__name__)

_ORT_TYPES: dict[str, Datatype] = {
    "tensor(bool)": Datatype.BOOL,
    "tensor(uint8)": Datatype.UINT8,
    "tensor(uint16)": Datatype.UINT16,
    "tensor(uint32)": Datatype.UINT32,
    "tensor(uint64)": Datatype.UINT64,
    "tensor(int8)": Datatype.INT8,
    "tensor(int16)": Datatype.INT16,
    "tensor(int32)": Datatype.INT32,
    "tensor(int64)": Datatype.INT64,
    "tensor(float16)": Datatype.FP16,
    "tensor(float)": Datatype.FP32,
    "tensor(double)": Datatype.FP64,
    "tensor(string)": Datatype.BYTES,
}

Array = np.ndarray[Any, Any]


class Model:
    """A loaded model version; `run` is thread-safe (onnxruntime sessions are, and it keeps no state)."""

    __slots__ = ("_bytes_inputs", "_bytes_outputs", "_output_names", "_session", "spec", "version")

    def __init__(self, version: ModelVersion, session: ort.InferenceSession, spec: ModelSpec) -> None:
        self.version = version
        self.spec = spec
        self._session = session
        self._output_names = [tensor.name for tensor in spec.outputs]
        self._bytes_inputs = frozenset(t.name for t in spec.inputs if t.datatype is Datatype.BYTES)
        self._bytes_outputs = frozenset(t.name for t in spec.outputs if t.datatype is Datatype.BYTES)

    def run(self, feeds: Mapping[str, Array], outputs: Sequence[str] | None = None) -> dict[str, Array]:
        """Run one batch (blocking, releases the GIL); returns the requested or all served outputs.

        Raises InferenceError when onnxruntime rejects the feeds or fails while running.
        """
        names = self._output_names if outputs is None else list(outputs)
        unknown = [name for name in names if name not in self._output_names]
        if unknown:
            raise InferenceError(f"unknown outputs {unknown}; served: {self._output_names}")
        ort_feeds = {
            name: _to_str(array) if name in self._bytes_inputs else array for name, array in feeds.items()
        }
        try:
            results = self._session.run(names, ort_feeds)
        except Exception as exc:  # onnxruntime's errors share no base class narrower than this
            raise InferenceError(f"{self.spec.name}/{self.spec.version}: {exc}") from exc
        return {
            name: _to_bytes(result) if name in self._bytes_outputs else result
            for name, result in zip(names, results, strict=True)
        }


def open_model(version: ModelVersion) -> Model:
    """Create the onnxruntime session of `version` and derive its spec; raises ModelLoadError."""
    try:
        session = ort.InferenceSession(
            str(version.path),
            sess_options=session_options(version.config),
            providers=["CPUExecutionProvider"],
        )
    except Exception as exc:  # onnxruntime's errors share no base class narrower than this
        raise ModelLoadError(f"{version.path}: {exc}") from exc
    spec = ModelSpec(
        name=version.name,
        version=version.version,
        inputs=_select(version, "inputs", _specs(version, session.get_inputs()), exact=True),
        outputs=_select(version, "outputs", _specs(version, session.get_outputs()), exact=False),
        config=version.config,
    )
    for tensor in spec.inputs:
        if not tensor.shape:
            raise ModelLoadError(f"{version.path}: input {tensor.name!r} has no batch dim")
    log.info(
        "model_loaded",
        model=version.name,
        version=version.version,
        sha256=version.sha256,
        inputs=[f"{t.name}:{t.datatype}{list(t.shape)}" for t in spec.inputs],
        outputs=[f"{t.name}:{t.datatype}{list(t.shape)}" for t in spec.outputs],
    )
    return Model(version, session, spec)


def session_options(config: ModelConfig) -> ort.SessionOptions:
    """CPU session options: config's intra-op threads, one inter-op thread, sequential, all opts."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle intra-op threads would spin on cores the event loop and the Kafka client need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only; warnings about optimisations are noise here
    return options


def datatype_of_ort(type_name: str) -> Datatype | None:
    """The Datatype of an onnxruntime type string like `tensor(float)`; None if not a tensor type."""
    return _ORT_TYPES.get(type_name)


def _specs(version: ModelVersion, args: Sequence[Any]) -> tuple[TensorSpec, ...]:
    specs = []
    for arg in args:
        datatype = datatype_of_ort(arg.type)
        if datatype is None:
            raise ModelLoadError(f"{version.path}: {arg.name!r} has unsupported type {arg.type}")
        # Symbolic ("batch") and unknown (None) dims are dynamic.
        shape = tuple(dim if isinstance(dim, int) else -1 for dim in (arg.shape or ()))
        specs.append(TensorSpec(arg.name, datatype, shape))
    return tuple(specs)


def _select(
    version: ModelVersion, key: str, found: tuple[TensorSpec, ...], *, exact: bool
) -> tuple[TensorSpec, ...]:
    wanted: tuple[str, ...] = getattr(version.config, key)
    if not wanted:
        return found
    by_name = {tensor.name: tensor for tensor in found}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise ModelLoadError(f"{version.path}: config {key} {unknown} not in the model {list(by_name)}")
    # onnxruntime needs every input fed, so a config listing inputs must list them all.
    left_out = [name for name in by_name if name not in wanted]
    if exact and left_out:
        raise ModelLoadError(f"{version.path}: config {key} leaves out {left_out}")
    return tuple(by_name[name] for name in wanted)


def _to_str(array: Array) -> Array:
    if array.dtype.kind == "U":
        return array
    out = np.empty(array.shape, dtype=object)
    flat = out.reshape(-1)
    for index, item in enumerate(array.reshape(-1)):
        flat[index] = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
    return out


def _to_bytes(array: Array) -> Array:
    out = np.empty(array.shape, dtype=object)
    flat = out.reshape(-1)
    for index, item in enumerate(array.reshape(-1)):
        flat[index] = item.encode("utf-8") if isinstance(item, str) else item
    return out
