"""Seeded multi-layer perceptrons (Gemm/Relu/Softmax) written directly with `onnx.helper`."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # onnx 1.13+ writes IR 8 for opset 17; every onnxruntime >= 1.14 reads it
INPUT = "features"
OUTPUT = "probabilities"


def mlp_weights(
    layers: Sequence[int], seed: int
) -> list[tuple[np.ndarray[Any, np.dtype[np.float32]], np.ndarray[Any, np.dtype[np.float32]]]]:
    """He-initialised (weight [in, out], bias [out]) FP32 pairs for consecutive `layers` widths."""
    rng = np.random.default_rng(seed)
    pairs = []
    for fan_in, fan_out in itertools.pairwise(layers):
        weight = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out)).astype(np.float32)
        bias = rng.normal(0.0, 0.01, size=fan_out).astype(np.float32)
        pairs.append((weight, bias))
    return pairs


def build_mlp(name: str, layers: Sequence[int], seed: int) -> Any:
    """An ONNX MLP `features` FP32[-1, layers[0]] -> `probabilities` FP32[-1, layers[-1]].

    Hidden layers are Gemm + Relu, the last is Gemm + Softmax over the class axis; weights come
    from `mlp_weights(layers, seed)`, so the same arguments give the same bytes.
    """
    if len(layers) < 2 or min(layers) < 1:
        raise ValueError(f"an MLP needs at least two positive layer widths, got {list(layers)}")
    nodes = []
    initializers = []
    current = INPUT
    pairs = mlp_weights(layers, seed)
    for index, (weight, bias) in enumerate(pairs):
        initializers.append(numpy_helper.from_array(weight, f"w{index}"))
        initializers.append(numpy_helper.from_array(bias, f"b{index}"))
        linear = f"linear{index}"
        nodes.append(helper.make_node("Gemm", [current, f"w{index}", f"b{index}"], [linear]))
        last = index == len(pairs) - 1
        current = OUTPUT if last else f"hidden{index}"
        if last:
            nodes.append(helper.make_node("Softmax", [linear], [current], axis=-1))
        else:
            nodes.append(helper.make_node("Relu", [linear], [current]))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", layers[0]])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", layers[-1]])],
        initializer=initializers,
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="inferq.modelbuild",
        ir_version=IR_VERSION,
    )


def mlp_reference(
    features: np.ndarray[Any, np.dtype[np.float32]], layers: Sequence[int], seed: int
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The numpy forward pass of `build_mlp(_, layers, seed)`, for tests and sanity checks."""
    pairs = mlp_weights(layers, seed)
    hidden = features.astype(np.float32)
    for index, (weight, bias) in enumerate(pairs):
        hidden = hidden @ weight + bias
        if index < len(pairs) - 1:
            hidden = np.maximum(hidden, 0.0)
    shifted = np.exp(hidden - hidden.max(axis=-1, keepdims=True))
    probabilities: np.ndarray[Any, np.dtype[np.float32]] = shifted / shifted.sum(axis=-1, keepdims=True)
    return probabilities
