"""`inferq up`: the whole system on one machine — routers, a worker pool per model version, the scaler.

Process layout (every process logs to this one's stderr)::

    inferq up                       creates the work topics, supervises everything below
    ├── N x inferq router           restarted if it dies
    ├── workers.process ...         one pool per model version, run in this process
    │                               (workers.pool.WorkerPool), sized by the state directory
    └── inferq scaler               restarted if it dies; writes desired sizes only

The scaler is a child of its own, talking to the pools through files in the
state directory (``workers/poolctl.py``): killing it — even with SIGKILL —
leaves every pool serving at its current size, and the restarted scaler adopts
the sizes it finds. With ``--no-scaler`` the pools keep their initial sizes
until something else (``inferq scaler --state-dir``, an operator) writes them.

SIGTERM or SIGINT stops the scaler first (no resize during shutdown), then the
routers (no new work), then the pools, whose workers drain, commit and leave
their groups.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from inferq.logs import configure_logging
from inferq.supervisor import Supervised
from inferq.sysconfig import ModelDeployment, SystemConfig, SystemConfigError, load_system_config
from inferq.transport import KafkaSettings, ensure_topics
from schemas.topics import work_topic
from workers.pool import PoolSpec, WorkerPool
from workers.poolctl import PoolController

log = structlog.get_logger(__name__)

EXAMPLES = """examples:
  inferq up --config compose/inferq.demo.toml
  inferq up --config compose/inferq.demo.toml --state-dir .inferq-state     # keep the control files
  inferq up --config compose/inferq.demo.toml --no-scaler --state-dir state  # fixed sizes; resize with
      echo 2 > state/tabular.1.replicas                                      # ... or `inferq scaler`

Metrics ports, from metrics_port_base: routers first, then max_replicas ports per
model version in config order, then the scaler.
"""

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class PortPlan:
    """Prometheus ports of the local processes: one per router, a block per pool, one for the scaler."""

    routers: tuple[int, ...]
    pools: Mapping[Key, int]
    scaler: int


def plan_ports(config: SystemConfig) -> PortPlan:
    """Consecutive ports from ``metrics_port_base``: routers, each pool's ``max_replicas``, the scaler."""
    base = config.metrics_port_base
    routers = tuple(range(base, base + config.routers))
    pools: dict[Key, int] = {}
    port = base + config.routers
    for deployment in config.models:
        pools[(deployment.model, deployment.version)] = port
        port += deployment.scaling.max_replicas
    return PortPlan(routers=routers, pools=pools, scaler=port)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `up` subcommand."""
    parser = subparsers.add_parser(
        "up",
        help="run the whole system locally: routers, worker pools, scaler",
        description="Create the work topics, then run the routers, one worker pool per deployed model "
        "version (initial size from the config) and the lag-driven scaler until SIGTERM/Ctrl-C, "
        "when everything drains and exits.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, required=True, help="system config (TOML)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where pools and scaler exchange sizes (default: a temporary directory, removed at exit)",
    )
    parser.add_argument(
        "--no-scaler", action="store_true", help="keep the initial pool sizes; do not start the scaler"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    configure_logging()
    structlog.contextvars.bind_contextvars(component="up", pid=os.getpid())
    config_path = args.config.resolve()
    try:
        config = load_system_config(config_path)
    except SystemConfigError as exc:
        # An operator error: the message names the key; a traceback would bury it.
        log.error("config_invalid", config=str(config_path), error=str(exc))  # noqa: TRY400
        return 2
    state_dir = args.state_dir.resolve() if args.state_dir else Path(tempfile.mkdtemp(prefix="inferq-up-"))
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(run_system(config, config_path, state_dir, scaler=not args.no_scaler))
    finally:
        if args.state_dir is None:
            shutil.rmtree(state_dir, ignore_errors=True)
    return 0


async def run_system(config: SystemConfig, config_path: Path, state_dir: Path, *, scaler: bool) -> None:
    """Run routers, pools and (optionally) the scaler until SIGTERM or SIGINT, then stop them in order.

    ``state_dir`` must exist; ``config_path`` is handed to the scaler process.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    kafka = KafkaSettings.from_env()
    await ensure_topics(kafka, {work_topic(d.model, d.version): d.partitions for d in config.models})
    ports = plan_ports(config)
    routers = [_router(config, port) for port in ports.routers]
    scaler_process = _scaler(config_path, state_dir, ports.scaler) if scaler else None
    pools_stop = asyncio.Event()
    log.info("up_starting", state_dir=str(state_dir), pools=len(config.models), routers=len(routers))
    async with asyncio.TaskGroup() as tasks:
        for deployment in config.models:
            port = ports.pools[(deployment.model, deployment.version)]
            tasks.create_task(_controller(config, deployment, state_dir, port).run(pools_stop))
        for router in routers:
            router.start()
        if scaler_process is not None:
            scaler_process.start()
        try:
            await stop.wait()
        finally:
            log.info("up_stopping")
            if scaler_process is not None:
                await scaler_process.stop()
            await asyncio.gather(*(router.stop() for router in routers))
            pools_stop.set()
    log.info("up_stopped")


def _controller(
    config: SystemConfig, deployment: ModelDeployment, state_dir: Path, port: int
) -> PoolController:
    spec = PoolSpec(
        repository=config.repository.resolve(),
        model=deployment.model,
        version=deployment.version,
        metrics_port_base=port,
    )
    env = {**os.environ, "INFERQ_WORK_PARTITIONS": str(deployment.partitions)}
    return PoolController(
        WorkerPool(spec, env=env),
        state_dir,
        deployment.model,
        deployment.version,
        initial=deployment.processes_initial,
        limit=deployment.scaling.max_replicas,
    )


def _router(config: SystemConfig, port: int) -> Supervised:
    command = [sys.executable, "-m", "inferq.cli", "router", "--repository", str(config.repository.resolve())]
    if config.routes_file is not None:
        command += ["--routes", str(config.routes_file.resolve())]
    return Supervised(f"router-{port}", command, {**os.environ, "INFERQ_METRICS_PORT": str(port)})


def _scaler(config_path: Path, state_dir: Path, port: int) -> Supervised:
    command = [
        sys.executable,
        "-m",
        "inferq.cli",
        "scaler",
        "--config",
        str(config_path),
        "--state-dir",
        str(state_dir),
        "--metrics-port",
        str(port),
    ]
    return Supervised("scaler", command, os.environ)
