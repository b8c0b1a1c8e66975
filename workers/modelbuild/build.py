"""Write the demo/benchmark model repository: `tabular`, `heavy` and two `intent` versions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.model_config import ModelConfig, format_model_config
from workers.modelbuild import intent
from workers.modelbuild.mlp import build_mlp
from workers.repository import sha256_file

TABULAR_LAYERS = (32, 64, 64, 2)
HEAVY_LAYERS = (256, 1024, 1024, 1024, 10)

CONFIGS: dict[str, ModelConfig] = {
    "tabular": ModelConfig(max_batch_size=256, max_queue_delay_ms=2.0),
    "heavy": ModelConfig(max_batch_size=128, max_queue_delay_ms=5.0),
    "intent": ModelConfig(max_batch_size=64, max_queue_delay_ms=5.0),
}


@dataclass(frozen=True, slots=True)
class BuiltModel:
    """One model version written to the repository."""

    model: str
    version: str
    path: Path
    sha256: str
    size: int


def build_models(out: Path, seed: int = 0) -> tuple[BuiltModel, ...]:
    """Build every model into the repository at `out` (created if missing); same seed, same bytes."""
    protos: list[tuple[str, str, Any]] = [
        ("tabular", "1", build_mlp("tabular", TABULAR_LAYERS, seed)),
        ("heavy", "1", build_mlp("heavy", HEAVY_LAYERS, seed + 1)),
    ]
    protos.extend(
        ("intent", recipe.version, intent.to_onnx(intent.train(recipe, seed))) for recipe in intent.RECIPES
    )
    for model, config in CONFIGS.items():
        (out / model).mkdir(parents=True, exist_ok=True)
        (out / model / "config.toml").write_text(format_model_config(config), encoding="utf-8")
    return tuple(_write(out, model, version, proto) for model, version, proto in protos)


def _write(out: Path, model: str, version: str, proto: Any) -> BuiltModel:
    path = out / model / version / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = proto.SerializeToString()
    # Write-then-rename, so a worker scanning the repository never opens a half-written file.
    partial = path.with_suffix(".onnx.partial")
    partial.write_bytes(data)
    partial.replace(path)
    return BuiltModel(model, version, path, sha256_file(path), len(data))
