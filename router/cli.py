"""`inferq router`: route requests to model versions by the live route table."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from inferq.logs import configure_logging
from router.process import serve
from router.settings import RouterSettings

EXAMPLES = """examples:
  inferq router --repository models
  inferq router --routes router/routes.example.toml --repository models
  INFERQ_WORK_PARTITIONS=16 INFERQ_METRICS_PORT=9300 inferq router --routes /etc/inferq/routes.toml

Several routers share the request topic's partitions (group inferq.router).
Policies: the --routes file seeds them; records on inference.routes override
(`inferq routes set ...`). A model without a policy that the repository holds
routes to its newest version.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `router` subcommand."""
    parser = subparsers.add_parser(
        "router",
        help="route inference.requests to inference.work.<model>.<version>",
        description="Consume the request topic, choose a version per request (weights, sticky keys, "
        "pins, shadows) and forward the bytes untouched; commit after the forwarded records are acked.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--routes", type=Path, default=None, help="route policy file (TOML)")
    parser.add_argument("--repository", type=Path, default=None, help="model repository (default versions)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    configure_logging()
    settings = RouterSettings.from_env(routes_file=args.routes, repository=args.repository)
    asyncio.run(serve(settings))
    return 0
