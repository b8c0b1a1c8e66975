"""`inferq worker`: run a supervised pool of worker processes for one model version."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

from inferq.logs import configure_logging
from workers.pool import PoolSpec, run_pool

EXAMPLES = """examples:
  inferq worker --repository models --model intent --version 1 --processes 2
  KAFKA_BOOTSTRAP_SERVERS=kafka:9092 INFERQ_METRICS_PORT=9400 inferq worker --repository /models \\
      --model tabular --version 1
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `worker` subcommand."""
    parser = subparsers.add_parser(
        "worker",
        help="serve one model version from its work topic with N processes",
        description="Consume inference.work.<model>.<version> in group inferq.<model>.<version>, "
        "micro-batch into onnxruntime, reply, and commit only after replies are acknowledged.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repository", type=Path, required=True, help="model repository root")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--metrics-port-base",
        type=int,
        default=int(os.environ.get("INFERQ_METRICS_PORT", "0")),
        help="process i serves Prometheus metrics on port base+i (default: $INFERQ_METRICS_PORT, else off)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    configure_logging()
    spec = PoolSpec(
        repository=args.repository.resolve(),
        model=args.model,
        version=args.version,
        metrics_port_base=args.metrics_port_base,
    )
    asyncio.run(_main(spec, args.processes))
    return 0


async def _main(spec: PoolSpec, processes: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_pool(spec, processes, stop)
