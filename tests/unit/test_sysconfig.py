"""The `inferq up` system config: parsing, defaults, paths and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferq.sysconfig import SystemConfigError, load_system_config, parse_system_config
from workers.scaling import ScalingPolicy

DEMO = Path(__file__).resolve().parents[2] / "compose" / "inferq.demo.toml"

MINIMAL = """
repository = "models"
[[deploy]]
model = "tabular"
versions = ["1"]
max_replicas = 2
lag_threshold = 100
"""


def parse(text: str) -> object:
    return parse_system_config(text, base_dir=Path("/etc/inferq"))


def test_minimal_config_takes_defaults() -> None:
    config = parse_system_config(MINIMAL, base_dir=Path("/etc/inferq"))
    assert config.repository == Path("/etc/inferq/models")
    assert config.routes_file is None
    assert (config.routers, config.partitions, config.metrics_port_base) == (1, 8, 9400)
    (deployment,) = config.models
    assert (deployment.model, deployment.version, deployment.partitions) == ("tabular", "1", 8)
    assert deployment.scaling == ScalingPolicy(max_replicas=2, lag_threshold=100)
    assert deployment.processes_initial == 1


def test_full_deploy_block() -> None:
    text = """
    repository = "/srv/models"
    routes = "routes.toml"
    routers = 2
    partitions = 12
    metrics_port_base = 9500
    [[deploy]]
    model = "intent"
    versions = ["1", "2"]
    min_replicas = 0
    max_replicas = 4
    lag_threshold = 500
    activation_lag_threshold = 20
    scale_down_stabilization_s = 45
    max_scale_up_step = 2
    poll_interval_s = 0.5
    initial_replicas = 2
    partitions = 4
    """
    config = parse_system_config(text, base_dir=Path("/etc/inferq"))
    assert config.repository == Path("/srv/models")
    assert config.routes_file == Path("/etc/inferq/routes.toml")
    assert (config.routers, config.partitions, config.metrics_port_base) == (2, 12, 9500)
    assert [(d.model, d.version) for d in config.models] == [("intent", "1"), ("intent", "2")]
    expected = ScalingPolicy(
        min_replicas=0,
        max_replicas=4,
        lag_threshold=500,
        activation_lag_threshold=20,
        scale_down_stabilization_s=45.0,
        max_scale_up_step=2,
        poll_interval_s=0.5,
    )
    assert all(d.scaling == expected for d in config.models)
    assert all((d.partitions, d.processes_initial) == (4, 2) for d in config.models)


def test_integer_versions_read_as_strings() -> None:
    config = parse_system_config(MINIMAL.replace('["1"]', "[1, 2]"), base_dir=Path())
    assert [d.version for d in config.models] == ["1", "2"]


def test_min_zero_still_starts_one_process() -> None:
    config = parse_system_config(MINIMAL + "min_replicas = 0\n", base_dir=Path())
    assert config.models[0].processes_initial == 1
    assert config.models[0].scaling.min_replicas == 0


def test_load_resolves_paths_against_the_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "system.toml"
    path.parent.mkdir()
    path.write_text('routes = "../r.toml"\n' + MINIMAL, encoding="utf-8")
    config = load_system_config(path)
    assert config.repository == tmp_path / "conf" / "models"
    assert config.routes_file == tmp_path / "conf" / ".." / "r.toml"


def test_load_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(SystemConfigError, match="cannot read"):
        load_system_config(tmp_path / "absent.toml")


def test_demo_config() -> None:
    config = load_system_config(DEMO)
    assert config.repository == DEMO.parent / "../models"
    assert config.routes_file == DEMO.parent / "routes.demo.toml"
    assert [(d.model, d.version) for d in config.models] == [
        ("intent", "1"),
        ("intent", "2"),
        ("tabular", "1"),
    ]
    intent, _, tabular = config.models
    assert intent.scaling.lag_threshold == 500
    assert tabular.scaling.lag_threshold == 2000


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param("repository = [", None, id="invalid-toml"),
        pytest.param(MINIMAL.replace('repository = "models"', ""), "repository", id="missing-repository"),
        pytest.param(MINIMAL.replace('"models"', "3"), "repository", id="repository-not-string"),
        pytest.param('repositry = "x"\n' + MINIMAL, "repositry", id="unknown-top-key"),
        pytest.param('repository = "m"\n', "deploy", id="no-deploy"),
        pytest.param("routers = -1\n" + MINIMAL, "routers", id="negative-routers"),
        pytest.param("routers = true\n" + MINIMAL, "routers", id="bool-is-not-int"),
        pytest.param("partitions = 0\n" + MINIMAL, "partitions", id="zero-partitions"),
        pytest.param('routes = ""\n' + MINIMAL, "routes", id="empty-routes"),
        pytest.param(MINIMAL + "max_replica = 3\n", "deploy[0].max_replica", id="unknown-deploy-key"),
        pytest.param(MINIMAL.replace('model = "tabular"', ""), "deploy[0].model", id="missing-model"),
        pytest.param(MINIMAL.replace('"tabular"', '"tab.ular"'), "deploy[0].model", id="bad-model-name"),
        pytest.param(MINIMAL.replace('["1"]', "[]"), "deploy[0].versions", id="empty-versions"),
        pytest.param(MINIMAL.replace('["1"]', '["1", "a/b"]'), "deploy[0].versions[1]", id="bad-version"),
        pytest.param(MINIMAL.replace('["1"]', "[1.5]"), "deploy[0].versions[0]", id="float-version"),
        pytest.param(MINIMAL.replace("max_replicas = 2", ""), "deploy[0].max_replicas", id="missing-max"),
        pytest.param(MINIMAL.replace("lag_threshold = 100", ""), "deploy[0].lag_threshold", id="missing-lag"),
        pytest.param(MINIMAL.replace("= 100", "= 0"), "deploy[0].lag_threshold", id="zero-lag-threshold"),
        pytest.param(MINIMAL.replace("= 100", '= "100"'), "deploy[0].lag_threshold", id="string-threshold"),
        pytest.param(
            MINIMAL + "min_replicas = 3\n", "deploy[0].max_replicas", id="min-above-max-from-policy"
        ),
        pytest.param(MINIMAL + 'poll_interval_s = "1s"\n', "deploy[0].poll_interval_s", id="poll-not-number"),
        pytest.param(
            MINIMAL + "scale_down_stabilization_s = 7200\n",
            "deploy[0].scale_down_stabilization_s",
            id="window-above-hpa-limit",
        ),
        pytest.param(
            MINIMAL.replace("max_replicas = 2", "max_replicas = 5") + "min_replicas = 3\npartitions = 2\n",
            "deploy[0].min_replicas",
            id="min-above-partitions",
        ),
        pytest.param(
            MINIMAL + "initial_replicas = 3\n", "deploy[0].initial_replicas", id="initial-above-max"
        ),
        pytest.param(
            MINIMAL + "min_replicas = 2\ninitial_replicas = 1\n",
            "deploy[0].initial_replicas",
            id="initial-below-min",
        ),
        pytest.param(
            MINIMAL + MINIMAL.replace('repository = "models"', ""), "deploy", id="duplicate-version"
        ),
        pytest.param("metrics_port_base = 65535\n" + MINIMAL, "metrics_port_base", id="ports-overflow"),
        pytest.param('deploy = "x"\nrepository = "m"\n', "deploy", id="deploy-not-tables"),
    ],
)
def test_errors_name_the_key(text: str, key: str | None) -> None:
    with pytest.raises(SystemConfigError) as raised:
        parse(text)
    assert raised.value.key == key
    assert raised.value.retriable is False
