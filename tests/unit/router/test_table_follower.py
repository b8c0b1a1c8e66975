"""The follower's contract without a broker: seed validation and waits that cannot hang."""

from __future__ import annotations

import asyncio

import pytest

from router.table import RouteTableFailedError, RouteTableFollower
from schemas.routes import InvalidPolicy, RoutePolicy, VersionWeight

UNREACHABLE = "127.0.0.1:1"


def test_seed_policies_form_the_initial_table() -> None:
    seed = {"a": RoutePolicy("a", (VersionWeight("1", 1),))}
    follower = RouteTableFollower(UNREACHABLE, seed=seed)
    assert (follower.table.policies["a"].policy, follower.table.revision) == (seed["a"], 1)


def test_a_seed_that_cannot_route_is_refused() -> None:
    with pytest.raises(InvalidPolicy):
        RouteTableFollower(UNREACHABLE, seed={"a": RoutePolicy("a", (VersionWeight("1", 0),))})


async def test_waiting_on_a_follower_that_is_not_running_fails_fast() -> None:
    follower = RouteTableFollower(UNREACHABLE)
    async with asyncio.timeout(1):
        with pytest.raises(RouteTableFailedError, match="not running"):
            await follower.wait_caught_up()


async def test_stop_before_start_is_a_no_op() -> None:
    follower = RouteTableFollower(UNREACHABLE)
    await follower.stop()
    await follower.stop()
