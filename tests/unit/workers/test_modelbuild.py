"""`python -m workers.modelbuild`: the built repository, intent accuracy, ticket generation."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import pytest

from schemas.model_config import ModelConfig, TensorSpec, parse_model_config
from schemas.tensors import Datatype
from workers.modelbuild import QUEUES, V1_QUEUES, generate_tickets
from workers.modelbuild.__main__ import main
from workers.modelbuild.intent import RECIPES, texts_array, to_onnx, train
from workers.modelbuild.mlp import build_mlp, mlp_reference
from workers.repository import Repository, load_repository
from workers.session import Model, open_model

HELD_OUT = generate_tickets(1500, seed=987_654)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Repository, str]:
    out = tmp_path_factory.mktemp("models")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--out", str(out), "--seed", "0"]) == 0
    return load_repository(out), printed.getvalue()


@pytest.fixture(scope="module")
def intent_models(built: tuple[Repository, str]) -> dict[str, Model]:
    repository, _ = built
    return {v: open_model(repository.get("intent", v)) for v in repository.versions("intent")}


def _predict(model: Model, texts: list[str]) -> np.ndarray[Any, Any]:
    encoded = np.empty(len(texts), dtype=object)
    encoded[:] = [text.encode() for text in texts]
    return model.run({"text": encoded}, ["label"])["label"]


@pytest.mark.slow
def test_repository_holds_every_model(built: tuple[Repository, str]) -> None:
    repository, _ = built
    assert repository.models() == ("heavy", "intent", "tabular")
    assert repository.versions("intent") == ("1", "2")
    assert repository.versions("tabular") == ("1",)
    assert repository.versions("heavy") == ("1",)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "config"),
    [
        ("tabular", ModelConfig(max_batch_size=256, max_queue_delay_ms=2.0)),
        ("heavy", ModelConfig(max_batch_size=128, max_queue_delay_ms=5.0)),
        ("intent", ModelConfig(max_batch_size=64, max_queue_delay_ms=5.0)),
    ],
)
def test_configs_are_written(built: tuple[Repository, str], model: str, config: ModelConfig) -> None:
    repository, _ = built
    text = (repository.root / model / "config.toml").read_text()
    assert parse_model_config(text) == config
    assert repository.latest(model).config == config


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "version", "inputs", "outputs"),
    [
        (
            "tabular",
            "1",
            (TensorSpec("features", Datatype.FP32, (-1, 32)),),
            (TensorSpec("probabilities", Datatype.FP32, (-1, 2)),),
        ),
        (
            "heavy",
            "1",
            (TensorSpec("features", Datatype.FP32, (-1, 256)),),
            (TensorSpec("probabilities", Datatype.FP32, (-1, 10)),),
        ),
        (
            "intent",
            "1",
            (TensorSpec("text", Datatype.BYTES, (-1,)),),
            (
                TensorSpec("label", Datatype.BYTES, (-1,)),
                TensorSpec("probabilities", Datatype.FP32, (-1, len(V1_QUEUES))),
            ),
        ),
        (
            "intent",
            "2",
            (TensorSpec("text", Datatype.BYTES, (-1,)),),
            (
                TensorSpec("label", Datatype.BYTES, (-1,)),
                TensorSpec("probabilities", Datatype.FP32, (-1, len(QUEUES))),
            ),
        ),
    ],
)
def test_model_signatures(
    built: tuple[Repository, str],
    model: str,
    version: str,
    inputs: tuple[TensorSpec, ...],
    outputs: tuple[TensorSpec, ...],
) -> None:
    spec = open_model(built[0].get(model, version)).spec
    assert spec.inputs == inputs
    assert spec.outputs == outputs


@pytest.mark.slow
def test_printed_table_names_each_file_hash(built: tuple[Repository, str]) -> None:
    repository, printed = built
    for model in repository.models():
        for version in repository.versions(model):
            entry = repository.get(model, version)
            size = entry.path.stat().st_size
            assert f"{model:<10} {version:<8} {size:>10}  {entry.sha256}" in printed


@pytest.mark.slow
def test_tabular_runs_the_seeded_mlp(built: tuple[Repository, str]) -> None:
    model = open_model(built[0].get("tabular", "1"))
    features = np.random.default_rng(1).normal(size=(5, 32)).astype(np.float32)
    got = model.run({"features": features})["probabilities"]
    np.testing.assert_allclose(got, mlp_reference(features, (32, 64, 64, 2), seed=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1", "2"])
def test_intent_accuracy_on_held_out_tickets(intent_models: dict[str, Model], version: str) -> None:
    recipe = next(r for r in RECIPES if r.version == version)
    tickets = [(text, queue) for text, queue in HELD_OUT if queue in recipe.queues]
    predicted = _predict(intent_models[version], [text for text, _ in tickets])
    accuracy = np.mean([p.decode() == q for p, (_, q) in zip(predicted, tickets, strict=True)])
    assert accuracy >= 0.9


@pytest.mark.slow
def test_intent_versions_disagree_on_some_tickets(intent_models: dict[str, Model]) -> None:
    texts = [text for text, _ in HELD_OUT]
    v1, v2 = _predict(intent_models["1"], texts), _predict(intent_models["2"], texts)
    disagree = float(np.mean(v1 != v2))
    assert 0.05 < disagree < 0.5
    assert {label.decode() for label in v2} - {label.decode() for label in v1} == {
        "privacy",
        "feedback",
    }


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1", "2"])
def test_intent_onnx_matches_sklearn_and_the_built_file(
    built: tuple[Repository, str], intent_models: dict[str, Model], version: str
) -> None:
    recipe = next(r for r in RECIPES if r.version == version)
    pipeline = train(recipe, seed=0)
    texts = [text for text, _ in HELD_OUT[:400]] + ["", "REFUND!!", "d\u00e9j\u00e0 \u2603 login"]
    result = intent_models[version].run({"text": texts_array(texts)})
    assert [label.decode() for label in result["label"]] == list(pipeline.predict(texts))
    np.testing.assert_allclose(result["probabilities"], pipeline.predict_proba(texts), rtol=0, atol=1e-5)
    # Retraining gives the very bytes that were built: the build is reproducible.
    built_bytes = built[0].get("intent", version).path.read_bytes()
    assert to_onnx(pipeline).SerializeToString() == built_bytes


def test_mlp_bytes_are_reproducible() -> None:
    first = build_mlp("tabular", (32, 64, 64, 2), seed=0).SerializeToString()
    assert build_mlp("tabular", (32, 64, 64, 2), seed=0).SerializeToString() == first
    assert build_mlp("tabular", (32, 64, 64, 2), seed=1).SerializeToString() != first


@pytest.mark.parametrize("layers", [(), (4,), (4, 0, 2)])
def test_mlp_rejects_bad_layers(layers: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="at least two positive layer widths"):
        build_mlp("bad", layers, seed=0)


def test_generate_tickets_is_seeded() -> None:
    assert generate_tickets(50, seed=3) == generate_tickets(50, seed=3)
    assert generate_tickets(50, seed=3) != generate_tickets(50, seed=4)


def test_generate_tickets_covers_the_requested_queues() -> None:
    tickets = generate_tickets(2000, seed=0, queues=V1_QUEUES)
    assert len(tickets) == 2000
    assert {queue for _, queue in tickets} == set(V1_QUEUES)
    assert all(text.strip() for text, _ in tickets)
    assert len({text for text, _ in tickets}) > 1500


def test_queues_are_at_least_eight_and_v2_adds_some() -> None:
    assert len(V1_QUEUES) >= 8
    assert set(V1_QUEUES) < set(QUEUES)


@pytest.mark.parametrize("queues", [(), ("billing", "weather")])
def test_generate_tickets_rejects_unknown_queues(queues: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="unknown or empty queues"):
        generate_tickets(3, seed=0, queues=queues)
