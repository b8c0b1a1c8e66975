"""`inferq routes set|show|delete`: manage the route policies on the compacted topic."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import orjson

from inferq.logs import configure_logging
from inferq.transport import KafkaSettings
from router.routefile import load_routes
from router.table import delete_policy, publish_policy, read_policies
from schemas.routes import (
    RouteError,
    RoutePolicy,
    ShadowTarget,
    VersionWeight,
    policy_to_dict,
    validate_policy,
)
from schemas.topics import ROUTES

EXAMPLES = """examples:
  inferq routes set --model intent --versions 1=90,2=10 --sticky --shadow 3=5
  inferq routes set --file router/routes.example.toml
  inferq routes show
  inferq routes delete --model intent
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `routes` subcommand with `set`, `show` and `delete`."""
    parser = subparsers.add_parser(
        "routes",
        help="set, show or delete route policies (topic inference.routes)",
        description="Route policies live on the compacted topic inference.routes; "
        "every router converges on the latest one without restarting.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="routes_command", required=True, metavar="ACTION")

    set_parser = actions.add_parser("set", help="publish a policy (flags) or every policy in a route file")
    _common(set_parser)
    source = set_parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="the model whose policy the flags describe")
    source.add_argument("--file", type=Path, help="publish every policy of this TOML route file")
    set_parser.add_argument(
        "--versions", type=pairs, help="version=weight,...  e.g. 1=90,2=10 (required with --model)"
    )
    set_parser.add_argument("--sticky", action="store_true", help="same record key -> same version")
    set_parser.add_argument("--no-pin", action="store_true", help="ignore the model-version header")
    set_parser.add_argument(
        "--shadow", type=pairs, action="append", default=[], help="version=percent,... of shadow copies"
    )
    set_parser.add_argument("--disable", action="append", default=[], help="switch a version off")
    set_parser.set_defaults(func=_set)

    show_parser = actions.add_parser("show", help="print the current policies as JSON")
    _common(show_parser)
    show_parser.add_argument("--model", help="only this model's policy")
    show_parser.set_defaults(func=_show)

    delete_parser = actions.add_parser("delete", help="remove a model's policy (publish a tombstone)")
    _common(delete_parser)
    delete_parser.add_argument("--model", required=True)
    delete_parser.set_defaults(func=_delete)


def pairs(text: str) -> tuple[tuple[str, float], ...]:
    """Parse `1=90,2=10` into (("1", 90.0), ("2", 10.0)); the argparse type of weight flags."""
    out: list[tuple[str, float]] = []
    for item in text.split(","):
        name, sep, number = item.partition("=")
        try:
            value = float(number)
        except ValueError:
            value = None
        if not sep or not name.strip() or value is None:
            raise argparse.ArgumentTypeError(f"expected version=number[,...], got {item!r}")
        out.append((name.strip(), value))
    return tuple(out)


def policy_from_args(args: argparse.Namespace) -> RoutePolicy:
    """The policy the `set --model` flags describe; raises InvalidPolicy."""
    return validate_policy(
        RoutePolicy(
            model=args.model,
            versions=tuple(VersionWeight(v, w) for v, w in args.versions or ()),
            sticky=args.sticky,
            allow_pin=not args.no_pin,
            shadows=tuple(ShadowTarget(v, p) for group in args.shadow for v, p in group),
            disabled=tuple(args.disable),
        )
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        default=KafkaSettings.from_env().bootstrap,
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092)",
    )
    parser.add_argument("--topic", default=ROUTES, help=f"route topic (default {ROUTES})")


def _set(args: argparse.Namespace) -> int:
    configure_logging(level=logging.WARNING)
    try:
        if args.file is not None:
            if args.versions or args.sticky or args.no_pin or args.shadow or args.disable:
                return _fail("routes set --file takes the policies from the file only; drop the other flags")
            policies = list(load_routes(args.file).values())
        elif args.versions is None:
            return _fail("routes set --model needs --versions")
        else:
            policies = [policy_from_args(args)]
    except RouteError as e:
        return _fail(str(e))

    async def publish() -> None:
        for policy in policies:
            await publish_policy(args.bootstrap, policy, topic=args.topic)

    asyncio.run(publish())
    sys.stdout.write(f"published {len(policies)} polic{'y' if len(policies) == 1 else 'ies'}\n")
    return 0


def _show(args: argparse.Namespace) -> int:
    configure_logging(level=logging.WARNING)
    policies = asyncio.run(read_policies(args.bootstrap, topic=args.topic))
    if args.model is not None:
        if args.model not in policies:
            return _fail(f"no policy for model {args.model!r} on {args.topic}")
        policies = {args.model: policies[args.model]}
    shown = {model: policy_to_dict(policies[model]) for model in sorted(policies)}
    sys.stdout.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _delete(args: argparse.Namespace) -> int:
    configure_logging(level=logging.WARNING)
    asyncio.run(delete_policy(args.bootstrap, args.model, topic=args.topic))
    sys.stdout.write(f"deleted the policy of {args.model!r}\n")
    return 0


def _fail(message: str) -> int:
    sys.stderr.write(f"inferq routes: {message}\n")
    return 2
