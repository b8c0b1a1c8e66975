"""The system config that ``inferq up`` runs and ``inferq k8s render`` renders (TOML, pure parse).

Format (every key but ``repository``, ``deploy``, ``model``, ``versions``,
``max_replicas`` and ``lag_threshold`` is optional; defaults shown)::

    repository = "models"                  # the model repository (Triton layout)
    routes = "router/routes.example.toml"  # route policies loaded at start; default: none
    routers = 1                            # router processes; 0 = apps publish to work topics
    partitions = 8                         # partitions of each inference.work.<model>.<version>
    metrics_port_base = 9400               # local processes get consecutive metrics ports from here

    [[deploy]]                             # one block per model; one pool per listed version
    model = "intent"
    versions = ["1", "2"]                  # strings; bare integers are read as strings too
    min_replicas = 1                       # KEDA minReplicaCount; 0 allows scale to zero
    max_replicas = 4                       # KEDA maxReplicaCount
    lag_threshold = 500                    # target lag per replica (KEDA lagThreshold)
    activation_lag_threshold = 0           # lag that must be exceeded to wake from zero
    scale_down_stabilization_s = 30        # HPA scaleDown.stabilizationWindowSeconds
    max_scale_up_step = 4                  # grow by at most max(2x, +N) per decision
    poll_interval_s = 1.0                  # how often lag is read (KEDA pollingInterval)
    initial_replicas = 1                   # processes at start; default: max(min_replicas, 1)
    partitions = 8                         # overrides the top-level default for this model

Relative paths are relative to the directory of the config file. Unknown
keys are errors (a typo must not silently fall back to a default), and every
error names the offending key, e.g. ``deploy[1].max_replicas``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.errors import SchemaError
from schemas.topics import check_name
from workers.scaling import ScalingPolicy, ScalingPolicyError

DEFAULT_PARTITIONS = 8
DEFAULT_METRICS_PORT_BASE = 9400
_MAX_PORT = 65535

_TOP_KEYS = frozenset({"repository", "routes", "routers", "partitions", "metrics_port_base", "deploy"})
_POLICY_INT_KEYS = (
    "min_replicas",
    "max_replicas",
    "lag_threshold",
    "activation_lag_threshold",
    "max_scale_up_step",
)
_POLICY_FLOAT_KEYS = ("scale_down_stabilization_s", "poll_interval_s")
_DEPLOY_KEYS = frozenset(
    {"model", "versions", "initial_replicas", "partitions", *_POLICY_INT_KEYS, *_POLICY_FLOAT_KEYS}
)
_REQUIRED_POLICY_KEYS = ("max_replicas", "lag_threshold")


class SystemConfigError(ValueError):
    """The system config is invalid; ``key`` names the offending key (None: the file itself)."""

    retriable = False

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


@dataclass(frozen=True, slots=True)
class ModelDeployment:
    """One model version's worker pool: its scaling policy, work-topic partitions, initial size.

    ``processes_initial`` comes from the ``initial_replicas`` key and defaults to
    ``max(min_replicas, 1)``: a pool allowed to scale to zero still starts with one
    process, and the scaler takes it down once the stabilization window has seen no lag.
    """

    model: str
    version: str
    scaling: ScalingPolicy
    partitions: int
    processes_initial: int


@dataclass(frozen=True, slots=True)
class SystemConfig:
    """Everything ``inferq up`` starts: routers and one worker pool per model version."""

    repository: Path
    routes_file: Path | None
    routers: int
    models: tuple[ModelDeployment, ...]
    metrics_port_base: int
    partitions: int


def load_system_config(path: Path) -> SystemConfig:
    """Read and parse the config at ``path``; relative paths resolve against its directory."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SystemConfigError(None, f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_system_config(text, base_dir=path.parent)


def parse_system_config(text: str, *, base_dir: Path) -> SystemConfig:
    """Parse config TOML ``text``; relative paths are joined to ``base_dir``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SystemConfigError(None, f"invalid TOML: {exc}") from exc
    _reject_unknown(doc, _TOP_KEYS, prefix="")
    repository = base_dir / _required_string(doc, "repository", key="repository")
    routes = _string(doc, "routes", key="routes")
    routers = _int(doc, "routers", key="routers", default=1, minimum=0)
    partitions = _int(doc, "partitions", key="partitions", default=DEFAULT_PARTITIONS, minimum=1)
    metrics_port_base = _int(
        doc, "metrics_port_base", key="metrics_port_base", default=DEFAULT_METRICS_PORT_BASE, minimum=1
    )
    blocks = doc.get("deploy")
    if not isinstance(blocks, list) or not blocks:
        raise SystemConfigError("deploy", "at least one [[deploy]] table is required")
    models: list[ModelDeployment] = []
    for index, block in enumerate(blocks):
        models.extend(_deployments(block, f"deploy[{index}]", default_partitions=partitions))
    _check_unique(models)
    _check_ports(metrics_port_base, routers, models)
    return SystemConfig(
        repository=repository,
        routes_file=None if routes is None else base_dir / routes,
        routers=routers,
        models=tuple(models),
        metrics_port_base=metrics_port_base,
        partitions=partitions,
    )


def _deployments(block: object, prefix: str, *, default_partitions: int) -> list[ModelDeployment]:
    if not isinstance(block, dict):
        raise SystemConfigError(prefix, "must be a table")
    _reject_unknown(block, _DEPLOY_KEYS, prefix=f"{prefix}.")
    model = _name(_required_string(block, "model", key=f"{prefix}.model"), f"{prefix}.model")
    versions = _versions(block.get("versions"), f"{prefix}.versions")
    scaling = _policy(block, prefix)
    partitions = _int(block, "partitions", key=f"{prefix}.partitions", default=default_partitions, minimum=1)
    if scaling.min_replicas > partitions:
        # A consumer beyond the partition count never gets a partition: a floor
        # above it only burns processes.
        raise SystemConfigError(
            f"{prefix}.min_replicas",
            f"{scaling.min_replicas} exceeds the {partitions} partitions; the extra consumers would idle",
        )
    initial = _int(
        block,
        "initial_replicas",
        key=f"{prefix}.initial_replicas",
        default=max(scaling.min_replicas, 1),
        minimum=scaling.min_replicas,
    )
    if initial > scaling.max_replicas:
        raise SystemConfigError(
            f"{prefix}.initial_replicas", f"{initial} exceeds max_replicas={scaling.max_replicas}"
        )
    return [
        ModelDeployment(
            model=model, version=version, scaling=scaling, partitions=partitions, processes_initial=initial
        )
        for version in versions
    ]


def _policy(block: Mapping[str, Any], prefix: str) -> ScalingPolicy:
    for name in _REQUIRED_POLICY_KEYS:
        if name not in block:
            raise SystemConfigError(f"{prefix}.{name}", "is required")
    fields: dict[str, Any] = {}
    for name in _POLICY_INT_KEYS:
        if name in block:
            fields[name] = _int(block, name, key=f"{prefix}.{name}", default=0, minimum=None)
    for name in _POLICY_FLOAT_KEYS:
        if name in block:
            fields[name] = _float(block, name, key=f"{prefix}.{name}")
    try:
        return ScalingPolicy(**fields)
    except ScalingPolicyError as exc:
        raise SystemConfigError(f"{prefix}.{exc.field}", str(exc)) from exc


def _versions(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise SystemConfigError(key, "must be a non-empty list of versions")
    versions: list[str] = []
    for index, item in enumerate(value):
        # Triton versions are integer directory names; accept `1` as well as `"1"`.
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) and item >= 0 else item
        if not isinstance(text, str):
            raise SystemConfigError(f"{key}[{index}]", f"must be a string, got {item!r}")
        versions.append(_name(text, f"{key}[{index}]"))
    return tuple(versions)


def _name(value: str, key: str) -> str:
    try:
        return check_name(value)
    except SchemaError as exc:
        raise SystemConfigError(key, exc.message) from exc


def _check_unique(models: list[ModelDeployment]) -> None:
    seen: set[tuple[str, str]] = set()
    for deployment in models:
        pair = (deployment.model, deployment.version)
        if pair in seen:
            raise SystemConfigError(
                "deploy", f"{deployment.model} version {deployment.version} is deployed twice"
            )
        seen.add(pair)


def _check_ports(base: int, routers: int, models: list[ModelDeployment]) -> None:
    # Each local process (routers, then every worker up to max_replicas, then the
    # scaler) takes the next port from the base; the last one must still be valid.
    needed = routers + sum(deployment.scaling.max_replicas for deployment in models) + 1
    if base + needed - 1 > _MAX_PORT:
        raise SystemConfigError(
            "metrics_port_base", f"{base} leaves no room for {needed} metrics ports below {_MAX_PORT + 1}"
        )


def _reject_unknown(table: Mapping[str, Any], allowed: frozenset[str], *, prefix: str) -> None:
    for name in table:
        if name not in allowed:
            raise SystemConfigError(f"{prefix}{name}", f"unknown key (expected one of {sorted(allowed)})")


def _string(table: Mapping[str, Any], name: str, *, key: str) -> str | None:
    value = table.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SystemConfigError(key, f"must be a non-empty string, got {value!r}")
    return value


def _required_string(table: Mapping[str, Any], name: str, *, key: str) -> str:
    value = _string(table, name, key=key)
    if value is None:
        raise SystemConfigError(key, "is required")
    return value


def _int(table: Mapping[str, Any], name: str, *, key: str, default: int, minimum: int | None) -> int:
    value = table.get(name, default)
    # bool is an int subclass in Python; `true` is never a count.
    if not isinstance(value, int) or isinstance(value, bool):
        raise SystemConfigError(key, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise SystemConfigError(key, f"must be >= {minimum}, got {value}")
    return value


def _float(table: Mapping[str, Any], name: str, *, key: str) -> float:
    value = table[name]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise SystemConfigError(key, f"must be a number, got {value!r}")
    return float(value)
