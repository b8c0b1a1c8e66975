"""`inferq scaler`: turn consumer-group lag into pool sizes written to a state directory."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

import structlog
from prometheus_client import start_http_server

from inferq.logs import configure_logging
from inferq.sysconfig import SystemConfig, SystemConfigError, load_system_config
from inferq.transport import KafkaSettings
from workers.lag import LagProbe
from workers.poolctl import FilePool
from workers.scaler import Scaler

log = structlog.get_logger(__name__)

EXAMPLES = """examples:
  # what `inferq up` runs (it restarts the scaler if it dies):
  inferq scaler --config compose/inferq.demo.toml --state-dir /tmp/inferq-up-x1y2 --metrics-port 9409
  # scale pools started by `inferq up --no-scaler --state-dir state`:
  inferq scaler --config compose/inferq.demo.toml --state-dir state

The scaler writes <state-dir>/<model>.<version>.replicas and reads the pool's
<model>.<version>.status.json (see workers/poolctl.py). Killing it leaves the
pools running; a restarted scaler adopts the sizes it finds.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `scaler` subcommand."""
    parser = subparsers.add_parser(
        "scaler",
        help="scale local worker pools from consumer-group lag",
        description="Every poll interval, read the lag of each deployed model version's group on its "
        "work topic, decide the replicas (KEDA Kafka scaler rules, HPA scale-down stabilization) and "
        "write them for the pools to apply.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, required=True, help="system config (TOML) naming the pools")
    parser.add_argument("--state-dir", type=Path, required=True, help="directory shared with the pools")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("INFERQ_METRICS_PORT", "0")),
        help="serve Prometheus metrics on this port (default: $INFERQ_METRICS_PORT, else off)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    configure_logging()
    # Several inferq processes share one stderr under `inferq up`: say which one speaks.
    structlog.contextvars.bind_contextvars(component="scaler", pid=os.getpid())
    try:
        config = load_system_config(args.config)
    except SystemConfigError as exc:
        # An operator error: the message names the key; a traceback would bury it.
        log.error("config_invalid", config=str(args.config), error=str(exc))  # noqa: TRY400
        return 2
    if args.metrics_port:
        start_http_server(args.metrics_port)
    asyncio.run(_main(config, args.state_dir, KafkaSettings.from_env()))
    return 0


async def _main(config: SystemConfig, state_dir: Path, kafka: KafkaSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pools = {(d.model, d.version): FilePool(state_dir, d.model, d.version) for d in config.models}
    probe = LagProbe(kafka.bootstrap, client_id="inferq-scaler")
    await probe.start()
    log.info("scaler_started", state_dir=str(state_dir), pools=len(pools))
    try:
        await Scaler(config.models, pools, probe).run(stop)
    finally:
        await probe.stop()
    log.info("scaler_stopped")
