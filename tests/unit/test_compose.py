"""compose/ agrees with the code: commands, env, topics, metrics ports, dashboard queries, image.

No Docker engine runs these: the compose file, Dockerfile, Prometheus and Grafana
configs are parsed and checked against what the code defines (the CLI parser,
the settings' ``from_env``, the metric definitions, the topic names).
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import json
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from operator import attrgetter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

import router.metrics
import workers.metrics
import workers.scaler
from inferq.cli import build_parser
from router.routefile import load_routes
from router.settings import RouterSettings
from schemas.topics import DLQ, REPLIES, REQUESTS, ROUTES, work_topic
from workers.modelbuild import build as modelbuild
from workers.modelbuild import intent as intent_build
from workers.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
DOCKERFILE = COMPOSE_DIR / "Dockerfile"
PROMETHEUS_FILE = COMPOSE_DIR / "prometheus" / "prometheus.yml"
GRAFANA_DIR = COMPOSE_DIR / "grafana"
DASHBOARD_FILE = GRAFANA_DIR / "dashboards" / "inferq.json"
README = COMPOSE_DIR / "README.md"

# The modules that define every inferq metric; importing them registers the metrics.
METRIC_MODULES = (workers.metrics, router.metrics, workers.scaler)
# Which Prometheus job must scrape a metric, by name prefix.
JOB_OF_PREFIX = {
    "inferq_worker_": "inferq-worker",
    "inferq_router_": "inferq-router",
    "inferq_scaler_": "inferq-scaler",
}
# The series a metric family is exposed as: counters get `_total`, histograms three series.
EXPOSED_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}
# Labels Prometheus adds to every scraped series.
SCRAPE_LABELS = frozenset({"job", "instance"})

# Every variable a component reads, and the settings attribute it lands in.
WORKER_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "kafka.bootstrap",
    "INFERQ_REPLY_TOPIC": "reply_topic",
    "INFERQ_REPLY_ALLOW_LIST": "reply_allow_list",
    "INFERQ_DLQ_TOPIC": "dlq_topic",
    "INFERQ_MAX_PAYLOAD_BYTES": "max_payload_bytes",
    "INFERQ_WORK_PARTITIONS": "work_partitions",
    "INFERQ_METRICS_PORT": "metrics_port",
}
ROUTER_ENV = {
    **WORKER_ENV,
    "INFERQ_REQUESTS_TOPIC": "requests_topic",
    "INFERQ_ROUTES_TOPIC": "routes_topic",
    "INFERQ_ROUTER_GROUP": "group",
}
SENTINELS: dict[type, str] = {str: "sentinel.topic", int: "4242", tuple: "sentinel.a,sentinel.b.*"}

Settings = WorkerSettings | RouterSettings


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


COMPOSE: dict[str, Any] = _yaml(COMPOSE_FILE)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _is_inferq(service: Mapping[str, Any]) -> bool:
    build = service.get("build")
    return isinstance(build, Mapping) and build.get("dockerfile") == "compose/Dockerfile"


INFERQ_SERVICES = sorted(name for name, s in SERVICES.items() if _is_inferq(s))


def _command(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _args(name: str) -> argparse.Namespace:
    return build_parser().parse_args(_command(SERVICES[name]))


def _env(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):  # the `- NAME=value` form
        return dict(str(item).split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


WORKERS = [name for name in INFERQ_SERVICES if _command(SERVICES[name])[:1] == ["worker"]]
ROUTERS = [name for name in INFERQ_SERVICES if _command(SERVICES[name])[:1] == ["router"]]


def _settings(name: str, environ: Mapping[str, str]) -> Settings:
    args = _args(name)
    if args.command == "worker":
        return WorkerSettings.from_env(
            repository=args.repository, model=args.model, version=args.version, environ=environ
        )
    return RouterSettings.from_env(routes_file=args.routes, repository=args.repository, environ=environ)


def _env_map(name: str) -> dict[str, str]:
    return WORKER_ENV if _args(name).command == "worker" else ROUTER_ENV


def _converted(default: object, raw: str) -> object:
    """The value a settings field of `default`'s type should hold after reading `raw`."""
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, tuple):
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    return raw


def _assert_came_through(settings: Settings, var: str, attribute: str, raw: str) -> None:
    value = attrgetter(attribute)(settings)
    expected = _converted(value, raw)
    if isinstance(expected, tuple):
        # The reply topic is appended to an allow-list that lacks it; the listed entries lead.
        assert value[: len(expected)] == expected, f"{var}={raw!r} -> {attribute}={value!r}"
    else:
        assert value == expected, f"{var}={raw!r} -> {attribute}={value!r}"


def _metrics_ports(name: str) -> set[int]:
    """The ports a service's inferq processes serve /metrics on."""
    args = _args(name)
    if args.command == "worker":
        return {args.metrics_port_base + i for i in range(args.processes)}
    return {_settings(name, _env(SERVICES[name])).metrics_port}


# ---- the compose file and the CLI


def test_compose_runs_kafka_the_router_workers_and_monitoring() -> None:
    assert {"kafka", "topics", "prometheus", "grafana"} <= set(SERVICES)
    assert len(ROUTERS) == 1
    assert len(WORKERS) >= 2
    assert SERVICES["kafka"]["image"] == "apache/kafka:4.1.1"


@pytest.mark.parametrize("name", INFERQ_SERVICES)
def test_inferq_service_command_parses_with_the_cli(name: str) -> None:
    args = _args(name)
    assert args.command in {"worker", "router"}
    assert callable(args.func)


@pytest.mark.parametrize("name", INFERQ_SERVICES)
def test_inferq_service_builds_the_repository_image(name: str) -> None:
    service = SERVICES[name]
    assert (COMPOSE_DIR / service["build"]["context"]).resolve() == ROOT
    assert (ROOT / service["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert service["image"] == SERVICES[INFERQ_SERVICES[0]]["image"]


@pytest.mark.parametrize("name", WORKERS)
def test_worker_serves_a_model_version_from_the_image_repository(name: str) -> None:
    args = _args(name)
    assert args.repository == Path(_modelbuild_out())
    assert 1 <= args.processes <= _settings(name, _env(SERVICES[name])).work_partitions
    assert args.metrics_port_base > 0, "metrics off: Prometheus would scrape nothing"


def test_one_worker_service_per_model_version() -> None:
    versions = [(_args(n).model, _args(n).version) for n in WORKERS]
    assert len(versions) == len(set(versions))


def test_worker_model_versions_are_the_ones_the_image_builds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Run the builder with training and ONNX export stubbed out: what it writes is what the image has.
    class Empty:
        def SerializeToString(self) -> bytes:  # noqa: N802 - the protobuf method's name
            return b""

    monkeypatch.setattr(intent_build, "train", lambda *_a, **_k: None)
    monkeypatch.setattr(intent_build, "to_onnx", lambda *_a, **_k: Empty())
    monkeypatch.setattr(modelbuild, "build_mlp", lambda *_a, **_k: Empty())
    built = {(b.model, b.version) for b in modelbuild.build_models(tmp_path)}
    for name in WORKERS:
        assert (_args(name).model, _args(name).version) in built, name


# ---- environment variables


@pytest.mark.parametrize(
    ("settings_type", "var", "attribute"),
    [(WorkerSettings, v, a) for v, a in WORKER_ENV.items()]
    + [(RouterSettings, v, a) for v, a in ROUTER_ENV.items()],
)
def test_settings_read_the_variable(settings_type: type[Settings], var: str, attribute: str) -> None:
    default = attrgetter(attribute)(_build(settings_type, {}))
    raw = SENTINELS[type(default)]
    _assert_came_through(_build(settings_type, {var: raw}), var, attribute, raw)


def _build(settings_type: type[Settings], environ: Mapping[str, str]) -> Settings:
    if settings_type is WorkerSettings:
        return WorkerSettings.from_env(repository=Path("/m"), model="m", version="1", environ=environ)
    return RouterSettings.from_env(routes_file=None, repository=None, environ=environ)


@pytest.mark.parametrize("name", INFERQ_SERVICES)
def test_service_env_is_read_by_its_settings(name: str) -> None:
    env = _env(SERVICES[name])
    known = _env_map(name)
    assert set(env) <= set(known), f"{name} sets variables nothing reads: {sorted(set(env) - set(known))}"
    settings = _settings(name, env)
    for var, raw in env.items():
        _assert_came_through(settings, var, known[var], raw)


# ---- Kafka


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` -> {NAME: (host, port)}; an empty host means every interface."""
    out = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


KAFKA_ENV = _env(SERVICES["kafka"])


def _internal_bootstrap() -> str:
    advertised = _listeners(KAFKA_ENV["KAFKA_ADVERTISED_LISTENERS"])
    host, port = advertised[KAFKA_ENV["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    return f"{host}:{port}"


def test_kafka_kraft_listeners_are_consistent() -> None:
    listeners = _listeners(KAFKA_ENV["KAFKA_LISTENERS"])
    advertised = _listeners(KAFKA_ENV["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(p.split(":") for p in KAFKA_ENV["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    controller = KAFKA_ENV["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert set(listeners) <= set(protocols)
    assert set(advertised) <= set(listeners) - {controller}
    assert controller in listeners
    assert set(KAFKA_ENV["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    # Every advertised port is the port that listener binds.
    for name, (_, port) in advertised.items():
        assert listeners[name][1] == port, name
    node, voter = KAFKA_ENV["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert node == KAFKA_ENV["KAFKA_NODE_ID"]
    assert voter == f"{SERVICES['kafka']['hostname']}:{listeners[controller][1]}"


def test_kafka_host_port_is_the_listener_advertised_to_localhost() -> None:
    advertised = _listeners(KAFKA_ENV["KAFKA_ADVERTISED_LISTENERS"])
    published = {int(p.split(":")[0]): int(p.split(":")[1]) for p in SERVICES["kafka"]["ports"]}
    local = [port for host, port in advertised.values() if host == "localhost"]
    assert local, "no listener for clients on the host"
    assert all(published.get(port) == port for port in local)


def test_kafka_single_node_settings() -> None:
    # The storage format needs a base64url-encoded UUID as cluster id.
    assert len(base64.urlsafe_b64decode(KAFKA_ENV["CLUSTER_ID"] + "==")) == 16
    factors = {k: v for k, v in KAFKA_ENV.items() if k.endswith(("_REPLICATION_FACTOR", "_MIN_ISR"))}
    assert "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR" in factors
    assert set(factors.values()) == {"1"}


@pytest.mark.parametrize("name", INFERQ_SERVICES)
def test_inferq_services_bootstrap_from_the_internal_listener(name: str) -> None:
    assert _env(SERVICES[name])["KAFKA_BOOTSTRAP_SERVERS"] == _internal_bootstrap()


def test_kafka_healthcheck_asks_the_internal_listener() -> None:
    test = SERVICES["kafka"]["healthcheck"]["test"]
    assert test[test.index("--bootstrap-server") + 1] == _internal_bootstrap()


def _created_topics() -> Iterator[tuple[str, int, dict[str, str]]]:
    service = SERVICES["topics"]
    assert service["image"] == SERVICES["kafka"]["image"]
    script = "\n".join(_command(service))
    for line in filter(None, (raw.strip() for raw in script.splitlines())):
        words = shlex.split(line)
        assert words[0] == "/opt/kafka/bin/kafka-topics.sh", line
        assert {"--create", "--if-not-exists"} <= set(words), "re-running `up` must succeed"
        assert words[words.index("--bootstrap-server") + 1] == _internal_bootstrap()
        configs = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--config")
        yield words[words.index("--topic") + 1], int(words[words.index("--partitions") + 1]), configs


TOPICS = {name: (partitions, configs) for name, partitions, configs in _created_topics()}


def test_topics_service_creates_the_shared_topics() -> None:
    assert {REQUESTS, REPLIES, DLQ, ROUTES} <= set(TOPICS)
    assert TOPICS[ROUTES] == (1, {"cleanup.policy": "compact"})


@pytest.mark.parametrize("name", ROUTERS)
def test_request_and_reply_topics_have_the_router_partitions(name: str) -> None:
    settings = _settings(name, _env(SERVICES[name]))
    assert isinstance(settings, RouterSettings)
    assert TOPICS[settings.requests_topic][0] == settings.work_partitions
    assert TOPICS[settings.reply_topic][0] == settings.work_partitions


@pytest.mark.parametrize("name", WORKERS)
def test_topics_service_creates_the_worker_work_topic(name: str) -> None:
    settings = _settings(name, _env(SERVICES[name]))
    assert isinstance(settings, WorkerSettings)
    assert TOPICS[work_topic(settings.model, settings.version)][0] == settings.work_partitions


def test_every_work_topic_created_has_a_worker() -> None:
    served = {work_topic(_args(n).model, _args(n).version) for n in WORKERS}
    assert {t for t in TOPICS if t.startswith("inference.work.")} == served


# ---- start order


def test_start_order_waits_for_healthy_kafka_and_created_topics() -> None:
    assert "healthcheck" in SERVICES["kafka"]
    assert SERVICES["topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    for name in INFERQ_SERVICES:
        assert SERVICES[name]["depends_on"]["topics"] == {"condition": "service_completed_successfully"}, name


def test_depends_on_names_services_that_can_meet_the_condition() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} -> {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} -> {dependency}"


@pytest.mark.parametrize("name", INFERQ_SERVICES)
def test_healthcheck_probes_a_metrics_port(name: str) -> None:
    url = urlsplit(SERVICES[name]["healthcheck"]["test"][-1])
    assert url.path == "/metrics"
    assert url.port in _metrics_ports(name)


# ---- routes and mounted files


def _mounts(service: Mapping[str, Any]) -> dict[str, Path]:
    """Bind mounts of repository files: container path -> host path."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out[target] = (COMPOSE_DIR / source).resolve()
    return out


def test_bind_mounted_files_exist() -> None:
    for name, service in SERVICES.items():
        for host_path in _mounts(service).values():
            assert host_path.exists(), f"{name}: {host_path}"


@pytest.mark.parametrize("name", ROUTERS)
def test_router_routes_only_to_versions_that_have_workers(name: str) -> None:
    routes_file = _mounts(SERVICES[name])[str(_args(name).routes)]
    served = {(_args(n).model, _args(n).version) for n in WORKERS}
    for model, policy in load_routes(routes_file).items():
        targets = {v.version for v in policy.versions if v.weight > 0}
        targets |= {s.version for s in policy.shadows if s.percent > 0}
        for version in targets:
            assert (model, version) in served, f"{model} v{version} has no worker service"


# ---- Prometheus


PROMETHEUS: dict[str, Any] = _yaml(PROMETHEUS_FILE)


def _scrape_jobs() -> dict[str, list[dict[str, Any]]]:
    return {job["job_name"]: job["static_configs"] for job in PROMETHEUS["scrape_configs"]}


def test_prometheus_scrapes_exactly_the_metrics_ports_of_the_services() -> None:
    scraped = {
        target
        for job, configs in _scrape_jobs().items()
        if job.startswith("inferq-")
        for config in configs
        for target in config["targets"]
    }
    expected = {f"{name}:{port}" for name in INFERQ_SERVICES for port in _metrics_ports(name)}
    assert scraped == expected


def test_prometheus_service_label_names_the_target_service() -> None:
    for job, configs in _scrape_jobs().items():
        if job.startswith("inferq-"):
            for config in configs:
                assert {t.split(":")[0] for t in config["targets"]} == {config["labels"]["service"]}


def test_prometheus_config_is_mounted_where_prometheus_reads_it() -> None:
    service = SERVICES["prometheus"]
    config = next(a.split("=", 1)[1] for a in service["command"] if a.startswith("--config.file="))
    assert _mounts(service)[config] == PROMETHEUS_FILE


# ---- Grafana


def _exposed_metrics() -> dict[str, frozenset[str]]:
    """Every exposed inferq series name -> its labels, from the metric definitions."""
    exposed: dict[str, frozenset[str]] = {}
    for module in METRIC_MODULES:
        for metric in vars(module).values():
            if not isinstance(metric, MetricWrapperBase):
                continue
            labels = frozenset(metric._labelnames)  # no public accessor for a parent's label names
            for family in metric.describe():
                for suffix in EXPOSED_SUFFIXES[family.type]:
                    exposed[family.name + suffix] = labels | {"le"} if suffix == "_bucket" else labels
    return exposed


def test_exposed_metrics_include_the_suffixed_names() -> None:
    exposed = _exposed_metrics()
    assert "inferq_worker_requests_total" in exposed
    assert "inferq_worker_requests" not in exposed
    histogram = "inferq_worker_end_to_end_seconds"
    assert {f"{histogram}_bucket", f"{histogram}_sum", f"{histogram}_count"} <= set(exposed)
    assert exposed["inferq_worker_end_to_end_seconds_bucket"] == {"model", "version", "le"}


DASHBOARD: dict[str, Any] = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _query_params() -> list[Any]:
    """Every dashboard query, with a test id naming its panel (or variable)."""
    params = [
        pytest.param(t["expr"], id=f"panel{p['id']}-{t['refId']}")
        for p in _panels(DASHBOARD["panels"])
        for t in p.get("targets", [])
    ]
    params += [
        pytest.param(v["query"]["query"], id=f"var-{v['name']}")
        for v in DASHBOARD["templating"]["list"]
        if v["type"] == "query"
    ]
    return params


def _queries() -> list[str]:
    return [str(param.values[0]) for param in _query_params()]


METRIC_NAME = re.compile(r"\binferq_[a-z0-9_]+")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHERS = re.compile(r"\{([^}]*)\}")
LABEL_VALUES = re.compile(r"label_values\(\s*[a-z0-9_]+\s*,\s*([a-z0-9_]+)\s*\)")


def test_dashboard_has_panels_with_queries() -> None:
    assert len([q for q in _queries() if METRIC_NAME.search(q)]) >= 10


@pytest.mark.parametrize("query", _query_params())
def test_dashboard_query_uses_metrics_the_code_defines(query: str) -> None:
    exposed = _exposed_metrics()
    names = set(METRIC_NAME.findall(query))
    assert names <= set(exposed), f"unknown metrics: {sorted(names - set(exposed))}"


@pytest.mark.parametrize("query", _query_params())
def test_dashboard_query_uses_labels_the_metrics_carry(query: str) -> None:
    exposed = _exposed_metrics()
    names = set(METRIC_NAME.findall(query))
    target_labels = {k for configs in _scrape_jobs().values() for c in configs for k in c.get("labels", {})}
    allowed = set(SCRAPE_LABELS | target_labels)
    allowed |= set.intersection(*(set(exposed[name]) for name in names)) if names else set()
    used = {label.strip() for group in GROUPING.findall(query) for label in group.split(",") if label.strip()}
    matchers = [m for group in MATCHERS.findall(query) for m in group.split(",")]
    used |= {m.split("=")[0].rstrip("!~ ").strip() for m in matchers}
    used |= set(LABEL_VALUES.findall(query))
    assert used <= allowed, f"labels not on {sorted(names)}: {sorted(used - allowed)}"


def test_dashboard_metrics_come_from_scraped_components() -> None:
    jobs = set(_scrape_jobs())
    for name in {n for q in _queries() for n in METRIC_NAME.findall(q)}:
        job = next(j for prefix, j in JOB_OF_PREFIX.items() if name.startswith(prefix))
        assert job in jobs, f"{name} needs the {job} job"


def test_dashboard_uses_the_provisioned_datasource() -> None:
    provisioned = _yaml(GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    (datasource,) = provisioned
    assert urlsplit(datasource["url"]).hostname in SERVICES
    refs = [v.get("datasource") for v in DASHBOARD["templating"]["list"]]
    for panel in _panels(DASHBOARD["panels"]):
        refs += [panel.get("datasource"), *(t.get("datasource") for t in panel.get("targets", []))]
    assert {ref["uid"] for ref in refs if ref} == {datasource["uid"]}


def test_dashboard_panel_ids_are_unique() -> None:
    ids = [p["id"] for p in _panels(DASHBOARD["panels"])]
    assert len(ids) == len(set(ids))


def test_grafana_loads_the_dashboard_from_its_mount() -> None:
    service = SERVICES["grafana"]
    mounts = _mounts(service)
    assert mounts["/etc/grafana/provisioning"] == (GRAFANA_DIR / "provisioning").resolve()
    (provider,) = _yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "inferq.yml")["providers"]
    assert mounts[provider["options"]["path"]] == DASHBOARD_FILE.parent
    home = Path(_env(service)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert mounts[str(home.parent)] / home.name == DASHBOARD_FILE


# ---- the Dockerfile


def _dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions (NAME, arguments) per build stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[list[tuple[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def _last(stage: list[tuple[str, str]], instruction: str) -> str:
    return [a for i, a in stage if i == instruction][-1]


def test_dockerfile_entrypoint_is_the_inferq_console_script() -> None:
    final = _dockerfile_stages()[-1]
    entrypoint = json.loads(_last(final, "ENTRYPOINT"))
    assert entrypoint == ["inferq"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["inferq"] == "inferq.cli:main"


def test_dockerfile_cmd_is_a_valid_inferq_command_line() -> None:
    command = json.loads(_last(_dockerfile_stages()[-1], "CMD"))
    with pytest.raises(SystemExit) as exited:  # --help prints usage and exits 0
        build_parser().parse_args(command)
    assert exited.value.code == 0


def _modelbuild_out() -> str:
    runs = " ".join(a for stage in _dockerfile_stages() for i, a in stage if i == "RUN")
    found = re.search(r"python -m workers\.modelbuild --out (\S+)", runs)
    assert found, "the image must build the model repository"
    return found.group(1)


def test_dockerfile_copies_the_built_models_into_the_runtime_image() -> None:
    copies = [a.split() for i, a in _dockerfile_stages()[-1] if i == "COPY"]
    out = _modelbuild_out()
    assert ["--from=build", out, out] in copies


def test_dockerfile_runtime_is_non_root_python311_with_utf8_locale() -> None:
    stages = _dockerfile_stages()
    assert all(stage[0][1].split()[0] == "python:3.11-slim" for stage in stages)
    final = stages[-1]
    assert _last(final, "USER") not in {"root", "0"}
    env = " ".join(a for i, a in final if i == "ENV")
    assert "LANG=C.UTF-8" in env
    assert "LC_ALL=C.UTF-8" in env


def _dockerignored(path: str) -> bool:
    """Docker's rule for a top-level path: the last matching pattern decides; `!` re-includes."""
    ignored = False
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        if fnmatch.fnmatchcase(path, pattern.lstrip("!").rstrip("/")):
            ignored = not negated
    return ignored


def test_dockerfile_copies_files_that_exist_and_reach_the_build_context() -> None:
    sources = [
        source
        for stage in _dockerfile_stages()
        for instruction, arguments in stage
        if instruction == "COPY" and not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    ]
    assert "pyproject.toml" in sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not _dockerignored(source), f"{source} is excluded by .dockerignore"
    assert _dockerignored(".venv")
    assert _dockerignored("models")


# ---- the README


def test_readme_names_every_service_and_host_port() -> None:
    text = README.read_text(encoding="utf-8")
    assert "docker compose -f compose/docker-compose.yml up --build" in text
    for name, service in SERVICES.items():
        assert f"`{name}`" in text, name
        for port in service.get("ports", []):
            assert str(port).split(":")[0] in text, f"{name} port {port}"
