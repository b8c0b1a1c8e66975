"""onnxruntime sessions: spec derivation, config checks, runs against numpy references."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from schemas.errors import ErrorCode
from schemas.model_config import ModelConfig, TensorSpec
from schemas.tensors import Datatype
from workers.modelbuild.mlp import build_mlp, mlp_reference
from workers.repository import (
    InferenceError,
    ModelLoadError,
    ModelVersion,
    sha256_file,
)
from workers.session import datatype_of_ort, open_model, session_options

LAYERS = (6, 5, 3)


def _version(path: Path, proto: Any, config: ModelConfig | None = None) -> ModelVersion:
    path.write_bytes(proto.SerializeToString())
    return ModelVersion("m", "1", path, sha256_file(path), config or ModelConfig())


def _graph_model(nodes: list[Any], inputs: list[Any], outputs: list[Any]) -> Any:
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.fixture
def mlp(tmp_path: Path) -> ModelVersion:
    return _version(tmp_path / "mlp.onnx", build_mlp("mlp", LAYERS, seed=7))


@pytest.fixture
def echo(tmp_path: Path) -> ModelVersion:
    """A string model: `text` [-1] -> `same` [-1] (Identity)."""
    proto = _graph_model(
        [helper.make_node("Identity", ["text"], ["same"])],
        [helper.make_tensor_value_info("text", TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("same", TensorProto.STRING, [None])],
    )
    return _version(tmp_path / "echo.onnx", proto)


def test_spec_is_derived_from_the_session(mlp: ModelVersion) -> None:
    spec = open_model(mlp).spec
    assert spec.name == "m"
    assert spec.version == "1"
    assert spec.inputs == (TensorSpec("features", Datatype.FP32, (-1, 6)),)
    assert spec.outputs == (TensorSpec("probabilities", Datatype.FP32, (-1, 3)),)
    assert spec.config == ModelConfig()


@pytest.mark.parametrize("rows", [1, 3, 64])
def test_run_equals_the_numpy_reference(mlp: ModelVersion, rows: int) -> None:
    features = np.random.default_rng(rows).normal(size=(rows, 6)).astype(np.float32)
    result = open_model(mlp).run({"features": features})
    assert list(result) == ["probabilities"]
    assert result["probabilities"].dtype == np.float32
    np.testing.assert_allclose(
        result["probabilities"], mlp_reference(features, LAYERS, seed=7), rtol=1e-5, atol=1e-6
    )


def test_run_from_threads_gives_the_same_answers(mlp: ModelVersion) -> None:
    model = open_model(mlp)
    batches = [np.full((4, 6), i / 10, dtype=np.float32) for i in range(16)]
    expected = [mlp_reference(batch, LAYERS, seed=7) for batch in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda b: model.run({"features": b})["probabilities"], batches))
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_bytes_inputs_are_decoded_and_string_outputs_encoded(echo: ModelVersion) -> None:
    model = open_model(echo)
    assert model.spec.inputs == (TensorSpec("text", Datatype.BYTES, (-1,)),)
    text = np.array([b"refund please", "d\u00e9j\u00e0 vu".encode(), b"bad \xff byte"], dtype=object)
    result = model.run({"text": text})["same"]
    assert result.dtype == object
    assert result.tolist() == [b"refund please", "d\u00e9j\u00e0 vu".encode(), b"bad \xef\xbf\xbd byte"]


def test_str_inputs_are_accepted_too(echo: ModelVersion) -> None:
    result = open_model(echo).run({"text": np.array(["a", "b"])})["same"]
    assert result.tolist() == [b"a", b"b"]


def test_run_returns_only_requested_outputs(tmp_path: Path) -> None:
    proto = _graph_model(
        [helper.make_node("Relu", ["x"], ["pos"]), helper.make_node("Neg", ["x"], ["neg"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
        [
            helper.make_tensor_value_info("pos", TensorProto.FLOAT, ["n", 2]),
            helper.make_tensor_value_info("neg", TensorProto.FLOAT, ["n", 2]),
        ],
    )
    model = open_model(_version(tmp_path / "two.onnx", proto))
    x = np.array([[1.0, -2.0]], dtype=np.float32)
    result = model.run({"x": x}, outputs=["neg"])
    assert list(result) == ["neg"]
    np.testing.assert_array_equal(result["neg"], -x)


def test_config_outputs_restrict_what_is_served(tmp_path: Path) -> None:
    proto = _graph_model(
        [helper.make_node("Relu", ["x"], ["pos"]), helper.make_node("Neg", ["x"], ["neg"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
        [
            helper.make_tensor_value_info("pos", TensorProto.FLOAT, ["n", 2]),
            helper.make_tensor_value_info("neg", TensorProto.FLOAT, ["n", 2]),
        ],
    )
    config = ModelConfig(inputs=("x",), outputs=("neg",))
    model = open_model(_version(tmp_path / "two.onnx", proto, config))
    assert [t.name for t in model.spec.outputs] == ["neg"]
    assert list(model.run({"x": np.zeros((1, 2), dtype=np.float32)})) == ["neg"]
    with pytest.raises(InferenceError, match="unknown outputs"):
        model.run({"x": np.zeros((1, 2), dtype=np.float32)}, outputs=["pos"])


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (ModelConfig(inputs=("pixels",)), "config inputs ['pixels'] not in the model"),
        (ModelConfig(outputs=("logits",)), "config outputs ['logits'] not in the model"),
    ],
)
def test_config_names_must_exist_in_the_model(mlp: ModelVersion, config: ModelConfig, fragment: str) -> None:
    version = ModelVersion(mlp.name, mlp.version, mlp.path, mlp.sha256, config)
    with pytest.raises(ModelLoadError) as caught:
        open_model(version)
    assert fragment in str(caught.value)
    assert caught.value.code is ErrorCode.INFERENCE_FAILED


def test_config_inputs_must_list_every_model_input(tmp_path: Path) -> None:
    proto = _graph_model(
        [helper.make_node("Add", ["a", "b"], ["sum"])],
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [None]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [None]),
        ],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [None])],
    )
    with pytest.raises(ModelLoadError, match=r"leaves out \['b'\]"):
        open_model(_version(tmp_path / "add.onnx", proto, ModelConfig(inputs=("a",))))


def test_corrupt_file_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a protobuf")
    with pytest.raises(ModelLoadError, match=r"bad\.onnx"):
        open_model(ModelVersion("m", "1", path, sha256_file(path), ModelConfig()))


def test_unsupported_output_type_is_a_load_error(tmp_path: Path) -> None:
    proto = _graph_model(
        [helper.make_node("SequenceConstruct", ["x"], ["seq"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, [None])],
    )
    with pytest.raises(ModelLoadError, match=r"unsupported type seq\(tensor\(float\)\)"):
        open_model(_version(tmp_path / "seq.onnx", proto))


def test_scalar_input_is_a_load_error(tmp_path: Path) -> None:
    proto = _graph_model(
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
    )
    with pytest.raises(ModelLoadError, match="no batch dim"):
        open_model(_version(tmp_path / "scalar.onnx", proto))


@pytest.mark.parametrize(
    "feeds",
    [
        {"features": np.zeros((2, 6), dtype=np.float64)},
        {"features": np.zeros((2, 5), dtype=np.float32)},
        {},
    ],
)
def test_bad_feeds_raise_inference_error(mlp: ModelVersion, feeds: dict[str, Any]) -> None:
    with pytest.raises(InferenceError) as caught:
        open_model(mlp).run(feeds)
    assert caught.value.code is ErrorCode.INFERENCE_FAILED


def test_session_options_follow_the_config() -> None:
    options = session_options(ModelConfig(intra_op_threads=2))
    assert options.intra_op_num_threads == 2
    assert options.inter_op_num_threads == 1


@pytest.mark.parametrize(
    ("type_name", "datatype"),
    [
        ("tensor(float)", Datatype.FP32),
        ("tensor(double)", Datatype.FP64),
        ("tensor(float16)", Datatype.FP16),
        ("tensor(int64)", Datatype.INT64),
        ("tensor(uint8)", Datatype.UINT8),
        ("tensor(bool)", Datatype.BOOL),
        ("tensor(string)", Datatype.BYTES),
        ("tensor(bfloat16)", None),
        ("seq(map(string,tensor(float)))", None),
    ],
)
def test_datatype_of_ort(type_name: str, datatype: Datatype | None) -> None:
    assert datatype_of_ort(type_name) is datatype
