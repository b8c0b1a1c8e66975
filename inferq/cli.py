"""The `inferq` command: one subcommand per component."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from inferq import infer_cmd, up
from router import cli as router_cli
from router import routes_cmd
from workers import cli as worker_cli
from workers import k8s, scaler_cli


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by tests that check documented commands exist)."""
    parser = argparse.ArgumentParser(
        prog="inferq",
        description="Asynchronous ML inference workers over Apache Kafka.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up.register(subparsers)
    worker_cli.register(subparsers)
    router_cli.register(subparsers)
    routes_cmd.register(subparsers)
    scaler_cli.register(subparsers)
    k8s.register(subparsers)
    infer_cmd.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `inferq` command line."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
