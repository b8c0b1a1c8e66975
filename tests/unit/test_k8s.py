"""KEDA/Kubernetes rendering: valid names, configured thresholds, the CLI, and the committed example."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from inferq.sysconfig import SystemConfig, load_system_config, parse_system_config
from schemas.topics import work_topic, worker_group
from workers.k8s import HEADER, K8sRenderError, register, render, resource_name, write_manifests

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "compose" / "inferq.demo.toml"
EXAMPLE_DIR = ROOT / "compose" / "k8s"
# The parameters compose/k8s/ was rendered with (see compose/k8s/README.md).
EXAMPLE_ARGS = {"image": "inferq:0.1.0", "bootstrap": "kafka.kafka.svc:9092", "namespace": "inferq"}

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

CONFIG = """
repository = "models"
routers = 2
partitions = 6
[[deploy]]
model = "intent"
versions = ["1", "2"]
min_replicas = 0
max_replicas = 5
lag_threshold = 500
activation_lag_threshold = 25
scale_down_stabilization_s = 45.5
max_scale_up_step = 3
poll_interval_s = 2.5
[[deploy]]
model = "Tab_ular"
versions = ["7"]
max_replicas = 2
lag_threshold = 2000
partitions = 3
"""


def config(text: str = CONFIG) -> SystemConfig:
    return parse_system_config(text, base_dir=Path("/cfg"))


def objects(text: str = CONFIG) -> list[dict[str, Any]]:
    return render(config(text), image="img:1", bootstrap="kafka:9092", namespace="ml")


def by_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def test_renders_router_then_deployment_and_scaledobject_per_version() -> None:
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objects()]
    name = resource_name("Tab_ular", "7")
    assert kinds == [
        ("Deployment", "inferq-router"),
        ("Deployment", "intent-v1"),
        ("ScaledObject", "intent-v1"),
        ("Deployment", "intent-v2"),
        ("ScaledObject", "intent-v2"),
        ("Deployment", name),
        ("ScaledObject", name),
    ]
    assert all(o["metadata"]["namespace"] == "ml" for o in objects())


def test_every_name_is_a_dns1123_label() -> None:
    for obj in objects():
        name = obj["metadata"]["name"]
        assert DNS1123_LABEL.fullmatch(name), name
        assert len(name) <= 63


def test_scaled_object_carries_the_thresholds() -> None:
    scaled = by_kind(objects(), "ScaledObject")["intent-v2"]["spec"]
    assert scaled["scaleTargetRef"] == {"name": "intent-v2"}
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (0, 5)
    assert scaled["pollingInterval"] == 3  # 2.5 s rounds up: KEDA takes whole seconds
    assert scaled["cooldownPeriod"] == 46
    behavior = scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"] == {"stabilizationWindowSeconds": 46}
    assert behavior["scaleUp"]["selectPolicy"] == "Max"
    assert behavior["scaleUp"]["policies"] == [
        {"type": "Pods", "value": 3, "periodSeconds": 3},
        {"type": "Percent", "value": 100, "periodSeconds": 3},
    ]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"] == {
        "bootstrapServers": "kafka:9092",
        "consumerGroup": worker_group("intent", "2"),
        "topic": work_topic("intent", "2"),
        "lagThreshold": "500",
        "activationLagThreshold": "25",
        "offsetResetPolicy": "earliest",
        "allowIdleConsumers": "false",
    }


def test_trigger_names_match_the_worker_contract_for_every_version() -> None:
    scaled = by_kind(objects(), "ScaledObject")
    for deployment in config().models:
        metadata = scaled[resource_name(deployment.model, deployment.version)]["spec"]["triggers"][0][
            "metadata"
        ]
        assert metadata["consumerGroup"] == worker_group(deployment.model, deployment.version)
        assert metadata["topic"] == work_topic(deployment.model, deployment.version)
        assert metadata["lagThreshold"] == str(deployment.scaling.lag_threshold)


def test_worker_deployment() -> None:
    deployment = by_kind(objects(), "Deployment")["intent-v1"]
    spec = deployment["spec"]
    assert "replicas" not in spec  # KEDA's HPA owns the count
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30
    (container,) = pod["containers"]
    assert container["image"] == "img:1"
    assert container["command"] == [
        *("inferq", "worker", "--repository", "/models"),
        *("--model", "intent", "--version", "1", "--processes", "1"),
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        "INFERQ_METRICS_PORT": "9400",
        "INFERQ_WORK_PARTITIONS": "6",
    }
    assert container["ports"] == [{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}]
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert deployment["metadata"]["annotations"]["inferq/consumer-group"] == worker_group("intent", "1")


def test_per_model_partitions_reach_the_worker() -> None:
    deployment = by_kind(objects(), "Deployment")[resource_name("Tab_ular", "7")]
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["INFERQ_WORK_PARTITIONS"] == "3"


def test_router_deployment() -> None:
    router = by_kind(objects(), "Deployment")["inferq-router"]
    assert router["spec"]["replicas"] == 2
    (container,) = router["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["inferq", "router", "--repository", "/models"]
    assert {"name": "KAFKA_BOOTSTRAP_SERVERS", "value": "kafka:9092"} in container["env"]


def test_no_routers_no_router_deployment() -> None:
    assert "inferq-router" not in by_kind(
        objects("routers = 0\n" + CONFIG.replace("routers = 2", "")), "Deployment"
    )


@pytest.mark.parametrize(
    ("model", "version", "expected"),
    [
        ("intent", "1", "intent-v1"),
        ("fraud-score", "12", "fraud-score-v12"),
        ("intent", "canary", "intent-canary"),
    ],
)
def test_resource_name_readable_when_lossless(model: str, version: str, expected: str) -> None:
    assert resource_name(model, version) == expected


def test_resource_name_keeps_case_variants_apart() -> None:
    assert resource_name("Intent", "1") != resource_name("intent", "1")
    assert resource_name("a_b", "1") != resource_name("a-b", "1")


@given(
    model=st.from_regex(r"[A-Za-z0-9_-]{1,100}", fullmatch=True),
    version=st.from_regex(r"[A-Za-z0-9_-]{1,100}", fullmatch=True),
)
def test_resource_name_is_always_a_dns1123_label(model: str, version: str) -> None:
    name = resource_name(model, version)
    assert DNS1123_LABEL.fullmatch(name)
    assert len(name) <= 63


def test_colliding_names_are_an_error() -> None:
    text = CONFIG.replace('versions = ["1", "2"]', 'versions = ["1", "v1"]')
    with pytest.raises(K8sRenderError, match="intent-v1"):
        objects(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image": "", "bootstrap": "k:9092", "namespace": "ml"},
        {"image": "i", "bootstrap": "", "namespace": "ml"},
        {"image": "i", "bootstrap": "k:9092", "namespace": "ML_ns"},
    ],
)
def test_bad_render_arguments(kwargs: dict[str, str]) -> None:
    with pytest.raises(K8sRenderError):
        render(config(), **kwargs)


def test_written_files_parse_back(tmp_path: Path) -> None:
    objs = objects()
    paths = write_manifests(objs, tmp_path)
    loaded = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in paths]
    assert loaded[:-1] == objs
    kustomization = loaded[-1]
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == [p.name for p in paths[:-1]]
    assert all(p.read_text(encoding="utf-8").startswith(HEADER) for p in paths)


def test_rewrite_removes_stale_generated_files_only(tmp_path: Path) -> None:
    write_manifests(objects(), tmp_path)
    (tmp_path / "mine.yaml").write_text("kind: ConfigMap\n", encoding="utf-8")
    write_manifests(objects(CONFIG.replace('["1", "2"]', '["1"]')), tmp_path)
    names = {p.name for p in tmp_path.glob("*.yaml")}
    assert "deployment-intent-v2.yaml" not in names
    assert "scaledobject-intent-v2.yaml" not in names
    assert {"mine.yaml", "deployment-intent-v1.yaml", "kustomization.yaml"} <= names


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_renders_a_config(tmp_path: Path) -> None:
    path = tmp_path / "system.toml"
    path.write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "out"
    argv = [
        "k8s",
        "render",
        "--config",
        str(path),
        "--out",
        str(out),
        "--image",
        "img:1",
        "--bootstrap",
        "k:9092",
    ]
    assert _cli(argv) == 0
    assert (out / "scaledobject-intent-v1.yaml").is_file()
    assert (
        yaml.safe_load((out / "deployment-intent-v1.yaml").read_text(encoding="utf-8"))["metadata"][
            "namespace"
        ]
        == "inferq"
    )


def test_cli_bad_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "system.toml"
    path.write_text("repository = 1\n", encoding="utf-8")
    argv = [
        "k8s",
        "render",
        "--config",
        str(path),
        "--out",
        str(tmp_path / "o"),
        "--image",
        "i",
        "--bootstrap",
        "k",
    ]
    assert _cli(argv) == 2
    assert not (tmp_path / "o").exists()


def test_committed_example_matches_a_fresh_render(tmp_path: Path) -> None:
    write_manifests(render(load_system_config(DEMO_CONFIG), **EXAMPLE_ARGS), tmp_path)
    fresh = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.yaml")}
    committed = {p.name: p.read_text(encoding="utf-8") for p in EXAMPLE_DIR.glob("*.yaml")}
    assert committed == fresh, "compose/k8s/ is stale: re-render it (see compose/k8s/README.md)"
