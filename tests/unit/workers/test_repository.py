"""Model config parsing, repository scanning and request-vs-spec validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schemas.errors import ErrorCode, SchemaError
from schemas.messages import InferenceRequest
from schemas.model_config import (
    ModelConfig,
    ModelConfigError,
    TensorSpec,
    format_model_config,
    parse_model_config,
)
from schemas.tensors import Datatype, Tensor, numpy_dtype
from workers.modelbuild.mlp import build_mlp
from workers.repository import (
    ModelError,
    ModelSpec,
    RepositoryError,
    UnknownModel,
    UnknownVersion,
    check_request,
    load_repository,
    sha256_file,
    version_key,
)

# --- config parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ModelConfig()),
        ("max_batch_size = 256\n", ModelConfig(max_batch_size=256)),
        ("max_queue_delay_ms = 5\n", ModelConfig(max_queue_delay_ms=5.0)),
        ("max_queue_delay_ms = 0.5\n", ModelConfig(max_queue_delay_ms=0.5)),
        ("max_queue_delay_ms = 0\n", ModelConfig(max_queue_delay_ms=0.0)),
        ("intra_op_threads = 2\n", ModelConfig(intra_op_threads=2)),
        ('inputs = ["a", "b"]\n', ModelConfig(inputs=("a", "b"))),
        ('outputs = ["probabilities"]\n', ModelConfig(outputs=("probabilities",))),
    ],
)
def test_parse_model_config_reads_values(text: str, expected: ModelConfig) -> None:
    assert parse_model_config(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("max_batch_size = \n", "invalid TOML"),
        ("max_batch = 3\n", "unknown keys ['max_batch']"),
        ("[model]\nmax_batch_size = 3\n", "unknown keys ['model']"),
        ("max_batch_size = 0\n", "max_batch_size must be >= 1"),
        ("max_batch_size = -4\n", "max_batch_size must be >= 1"),
        ("max_batch_size = 2.5\n", "max_batch_size must be an integer"),
        ("max_batch_size = true\n", "max_batch_size must be an integer"),
        ('max_batch_size = "8"\n', "max_batch_size must be an integer"),
        ("max_queue_delay_ms = -1\n", "max_queue_delay_ms must be >= 0"),
        ("max_queue_delay_ms = inf\n", "finite number"),
        ("max_queue_delay_ms = nan\n", "finite number"),
        ('max_queue_delay_ms = "2"\n', "finite number"),
        ("intra_op_threads = 0\n", "intra_op_threads must be >= 1"),
        ('inputs = "features"\n', "inputs must be a list"),
        ("inputs = [1]\n", "inputs must be non-empty tensor names"),
        ('inputs = [""]\n', "inputs must be non-empty tensor names"),
        ('outputs = ["a", "a"]\n', "outputs has duplicate names"),
    ],
)
def test_parse_model_config_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ModelConfigError) as caught:
        parse_model_config(text)
    assert fragment in caught.value.message
    assert isinstance(caught.value, SchemaError)


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(),
        ModelConfig(max_batch_size=1, max_queue_delay_ms=0.0, intra_op_threads=3),
        ModelConfig(max_queue_delay_ms=1e-05),
        ModelConfig(inputs=("text",), outputs=("label", 'quo"te\\', "ünï\n")),
    ],
)
def test_format_model_config_round_trips(config: ModelConfig) -> None:
    assert parse_model_config(format_model_config(config)) == config


# --- repository scan ------------------------------------------------------------------------


def _write_model(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build_mlp("tiny", (4, 3, 2), seed).SerializeToString())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for version in ("1", "2", "10", "canary"):
        _write_model(tmp_path / "tiny" / version / "model.onnx", seed=int(version, 36))
    (tmp_path / "tiny" / "config.toml").write_text("max_batch_size = 8\n")
    _write_model(tmp_path / "plain" / "3" / "model.onnx")
    (tmp_path / "plain" / "4").mkdir()  # no model.onnx yet: skipped
    (tmp_path / "empty" / "1").mkdir(parents=True)  # no version with a model: skipped
    (tmp_path / ".git" / "1").mkdir(parents=True)  # hidden: ignored
    (tmp_path / "README.md").write_text("not a model")
    return tmp_path


def test_load_repository_lists_models_with_versions(repo: Path) -> None:
    assert load_repository(repo).models() == ("plain", "tiny")


def test_versions_are_named_first_then_numeric_by_value(repo: Path) -> None:
    repository = load_repository(repo)
    assert repository.versions("tiny") == ("canary", "1", "2", "10")
    assert repository.latest("tiny").version == "10"
    assert repository.versions("plain") == ("3",)


def test_get_returns_path_hash_and_config(repo: Path) -> None:
    entry = load_repository(repo).get("tiny", "2")
    assert entry.name == "tiny"
    assert entry.version == "2"
    assert entry.path == repo / "tiny" / "2" / "model.onnx"
    assert entry.sha256 == sha256_file(entry.path)
    assert len(entry.sha256) == 64
    assert entry.config == ModelConfig(max_batch_size=8)


def test_a_model_without_config_gets_defaults(repo: Path) -> None:
    assert load_repository(repo).get("plain", "3").config == ModelConfig()


def test_versions_hash_differently(repo: Path) -> None:
    repository = load_repository(repo)
    assert repository.get("tiny", "1").sha256 != repository.get("tiny", "2").sha256


@pytest.mark.parametrize(
    ("model", "version", "error", "code"),
    [
        ("nope", "1", UnknownModel, ErrorCode.UNKNOWN_MODEL),
        ("empty", "1", UnknownModel, ErrorCode.UNKNOWN_MODEL),
        ("tiny", "3", UnknownVersion, ErrorCode.UNKNOWN_VERSION),
        ("plain", "4", UnknownVersion, ErrorCode.UNKNOWN_VERSION),
    ],
)
def test_get_unknown_raises_typed_error(
    repo: Path, model: str, version: str, error: type[ModelError], code: ErrorCode
) -> None:
    with pytest.raises(error) as caught:
        load_repository(repo).get(model, version)
    assert caught.value.code is code
    assert caught.value.retriable is False


def test_versions_of_unknown_model_raises(repo: Path) -> None:
    with pytest.raises(UnknownModel):
        load_repository(repo).versions("nope")


@pytest.mark.parametrize("bad", ["bad.name", "sp ace", "x" * 101])
def test_invalid_model_name_is_a_repository_error(tmp_path: Path, bad: str) -> None:
    _write_model(tmp_path / bad / "1" / "model.onnx")
    with pytest.raises(RepositoryError, match="INVALID_MODEL_NAME"):
        load_repository(tmp_path)


def test_invalid_version_name_is_a_repository_error(tmp_path: Path) -> None:
    _write_model(tmp_path / "tiny" / "v.1" / "model.onnx")
    with pytest.raises(RepositoryError, match=r"v\.1"):
        load_repository(tmp_path)


def test_invalid_config_names_the_file(tmp_path: Path) -> None:
    _write_model(tmp_path / "tiny" / "1" / "model.onnx")
    (tmp_path / "tiny" / "config.toml").write_text("max_batch_size = 0\n")
    with pytest.raises(RepositoryError, match=r"tiny/config\.toml.*max_batch_size"):
        load_repository(tmp_path)


def test_missing_repository_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="not a directory"):
        load_repository(tmp_path / "missing")


@pytest.mark.parametrize(
    ("versions", "ordered"),
    [
        (["10", "9", "1"], ["1", "9", "10"]),
        (["2", "b", "a", "01"], ["01", "a", "b", "2"]),
        (["100", "20"], ["20", "100"]),
    ],
)
def test_version_key_orders_newest_last(versions: list[str], ordered: list[str]) -> None:
    assert sorted(versions, key=version_key) == ordered


# --- check_request --------------------------------------------------------------------------

SPEC = ModelSpec(
    name="m",
    version="1",
    inputs=(
        TensorSpec("features", Datatype.FP32, (-1, 4)),
        TensorSpec("mask", Datatype.BOOL, (-1, -1)),
    ),
    outputs=(TensorSpec("probabilities", Datatype.FP32, (-1, 2)),),
    config=ModelConfig(max_batch_size=8),
)


def _tensor(name: str, datatype: Datatype, shape: tuple[int, ...]) -> Tensor:
    data: np.ndarray[Any, Any] = np.zeros(shape, dtype=numpy_dtype(datatype))
    return Tensor(name, datatype, shape, data)


def _request(*inputs: Tensor, outputs: tuple[str, ...] = ()) -> InferenceRequest:
    return InferenceRequest(id="r1", inputs=inputs, outputs=outputs)


FEATURES = _tensor("features", Datatype.FP32, (2, 4))
MASK = _tensor("mask", Datatype.BOOL, (2, 7))


@pytest.mark.parametrize(
    "request_",
    [
        _request(FEATURES, MASK),
        _request(MASK, FEATURES),
        _request(FEATURES, MASK, outputs=("probabilities",)),
        _request(_tensor("features", Datatype.FP32, (8, 4)), _tensor("mask", Datatype.BOOL, (8, 1))),
        _request(_tensor("features", Datatype.FP32, (1, 4)), _tensor("mask", Datatype.BOOL, (1, 0))),
    ],
)
def test_check_request_accepts(request_: InferenceRequest) -> None:
    check_request(SPEC, request_)


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (_request(FEATURES), ErrorCode.UNKNOWN_INPUT),
        (_request(FEATURES, MASK, _tensor("extra", Datatype.FP32, (2,))), ErrorCode.UNKNOWN_INPUT),
        (_request(FEATURES, MASK, MASK), ErrorCode.UNKNOWN_INPUT),
        (_request(_tensor("features", Datatype.FP64, (2, 4)), MASK), ErrorCode.INVALID_DATATYPE),
        (_request(FEATURES, _tensor("mask", Datatype.UINT8, (2, 7))), ErrorCode.INVALID_DATATYPE),
        (_request(_tensor("features", Datatype.FP32, (2, 5)), MASK), ErrorCode.SHAPE_MISMATCH),
        (_request(_tensor("features", Datatype.FP32, (8,)), MASK), ErrorCode.SHAPE_MISMATCH),
        (_request(_tensor("features", Datatype.FP32, (2, 4, 1)), MASK), ErrorCode.SHAPE_MISMATCH),
        (_request(FEATURES, _tensor("mask", Datatype.BOOL, (3, 7))), ErrorCode.SHAPE_MISMATCH),
        (
            _request(_tensor("features", Datatype.FP32, (0, 4)), _tensor("mask", Datatype.BOOL, (0, 7))),
            ErrorCode.SHAPE_MISMATCH,
        ),
        (
            _request(_tensor("features", Datatype.FP32, (9, 4)), _tensor("mask", Datatype.BOOL, (9, 7))),
            ErrorCode.SHAPE_MISMATCH,
        ),
        (_request(FEATURES, MASK, outputs=("logits",)), ErrorCode.INVALID_REQUEST),
    ],
)
def test_check_request_rejects_with_code(request_: InferenceRequest, code: ErrorCode) -> None:
    with pytest.raises(SchemaError) as caught:
        check_request(SPEC, request_)
    assert caught.value.code is code


def test_check_request_accepts_bytes_with_dynamic_batch() -> None:
    spec = ModelSpec(
        name="intent",
        version="1",
        inputs=(TensorSpec("text", Datatype.BYTES, (-1,)),),
        outputs=(TensorSpec("label", Datatype.BYTES, (-1,)),),
        config=ModelConfig(max_batch_size=64),
    )
    text = Tensor("text", Datatype.BYTES, (1,), np.array([b"refund please"], dtype=object))
    check_request(spec, _request(text))
