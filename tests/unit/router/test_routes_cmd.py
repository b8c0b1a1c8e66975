"""`inferq routes` argument parsing: weight lists and the policy the `set` flags describe."""

from __future__ import annotations

import argparse

import pytest

from router.routes_cmd import pairs, policy_from_args, register
from schemas.routes import InvalidPolicy, RoutePolicy, ShadowTarget, VersionWeight


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="inferq")
    register(parser.add_subparsers(required=True))
    return parser.parse_args(["routes", *argv])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1=90,2=10", (("1", 90.0), ("2", 10.0)), id="two"),
        pytest.param("canary=0.5", (("canary", 0.5),), id="float"),
        pytest.param(" 1 =3", (("1", 3.0),), id="spaces"),
    ],
)
def test_pairs(text: str, expected: tuple[tuple[str, float], ...]) -> None:
    assert pairs(text) == expected


@pytest.mark.parametrize("text", ["1", "1=", "=5", "1=x", "1=90,,2=10"])
def test_pairs_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        pairs(text)


def test_set_flags_describe_a_policy() -> None:
    args = parse(
        "set", "--model", "intent", "--versions", "1=90,2=10", "--sticky", "--no-pin",
        "--shadow", "3=5", "--shadow", "4=1", "--disable", "2",
    )  # fmt: skip
    assert policy_from_args(args) == RoutePolicy(
        model="intent",
        versions=(VersionWeight("1", 90.0), VersionWeight("2", 10.0)),
        sticky=True,
        allow_pin=False,
        shadows=(ShadowTarget("3", 5.0), ShadowTarget("4", 1.0)),
        disabled=("2",),
    )


def test_set_defaults() -> None:
    policy = policy_from_args(parse("set", "--model", "m", "--versions", "1=1"))
    assert (policy.sticky, policy.allow_pin, policy.shadows, policy.disabled) == (False, True, (), ())


def test_set_flags_that_cannot_route() -> None:
    with pytest.raises(InvalidPolicy, match="sum to > 0"):
        policy_from_args(parse("set", "--model", "m", "--versions", "1=0"))


def test_set_needs_model_or_file() -> None:
    with pytest.raises(SystemExit):
        parse("set", "--versions", "1=1")


def test_bootstrap_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-a:9092")
    assert parse("show").bootstrap == "kafka-a:9092"
