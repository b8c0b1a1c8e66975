"""Lag → replicas: KEDA Kafka scaler edge cases, the up-step cap and HPA-style stabilization."""

from __future__ import annotations

import math
from typing import Any

import pytest

from workers.scaling import (
    Reason,
    ScalingError,
    ScalingPolicy,
    ScalingPolicyError,
    decide,
    desired_replicas,
    raw_replicas,
    stabilize,
)


def policy(**overrides: Any) -> ScalingPolicy:
    fields: dict[str, Any] = {
        "min_replicas": 0,
        "max_replicas": 10,
        "lag_threshold": 100,
        "activation_lag_threshold": 0,
        "scale_down_stabilization_s": 30.0,
        "max_scale_up_step": 100,
    }
    fields.update(overrides)
    return ScalingPolicy(**fields)


@pytest.mark.parametrize(
    ("lag", "partitions", "current", "overrides", "expected"),
    [
        pytest.param(0, 8, 0, {}, 0, id="idle-stays-at-zero"),
        pytest.param(1, 8, 0, {}, 1, id="any-lag-wakes-from-zero"),
        pytest.param(100, 8, 1, {}, 1, id="exactly-threshold"),
        pytest.param(101, 8, 1, {}, 2, id="ceil-above-threshold"),
        pytest.param(350, 8, 2, {}, 4, id="ceil-division"),
        # A partition whose consumer is stuck keeps a small, persistent lag:
        # it must keep one consumer running, not round down to zero.
        pytest.param(3, 8, 1, {}, 1, id="persistent-small-lag-keeps-one"),
        # No committed offset yet: the caller counted the whole backlog
        # (offsetResetPolicy earliest); the decision only sees the number.
        pytest.param(5_000, 8, 0, {"max_scale_up_step": 100}, 8, id="no-commit-backlog-to-partitions"),
        pytest.param(10_000, 4, 4, {}, 4, id="lag-above-partitions-x-threshold"),
        pytest.param(10_000, 20, 10, {}, 10, id="clamped-to-max"),
        pytest.param(0, 8, 3, {"min_replicas": 2}, 2, id="min-replicas-floor"),
        pytest.param(0, 1, 0, {"min_replicas": 2}, 2, id="min-replicas-beats-partitions"),
        pytest.param(500, 0, 0, {}, 0, id="no-partitions-no-consumers"),
        pytest.param(50, 8, 0, {"activation_lag_threshold": 50}, 0, id="at-activation-stays-zero"),
        pytest.param(51, 8, 0, {"activation_lag_threshold": 50}, 1, id="above-activation-wakes"),
        pytest.param(40, 8, 3, {"activation_lag_threshold": 50}, 0, id="inactive-falls-to-min-zero"),
        pytest.param(
            40, 8, 3, {"activation_lag_threshold": 50, "min_replicas": 1}, 1, id="inactive-falls-to-min"
        ),
        pytest.param(1_000, 20, 0, {"max_scale_up_step": 3}, 3, id="step-from-zero"),
        pytest.param(1_000, 20, 2, {"max_scale_up_step": 3}, 5, id="step-plus-n"),
        pytest.param(1_000, 20, 4, {"max_scale_up_step": 3}, 8, id="step-doubling"),
        pytest.param(1_000, 20, 6, {"max_scale_up_step": 3}, 10, id="step-not-binding"),
        pytest.param(0, 20, 9, {"max_scale_up_step": 1}, 0, id="step-never-limits-scale-down"),
        pytest.param(1_000, 20, 0, {"max_scale_up_step": 1, "min_replicas": 3}, 3, id="min-beats-step"),
    ],
)
def test_desired_replicas(
    lag: int, partitions: int, current: int, overrides: dict[str, Any], expected: int
) -> None:
    assert desired_replicas(lag, partitions, current, policy(**overrides)) == expected


@pytest.mark.parametrize(
    ("lag", "partitions", "current", "overrides", "reason"),
    [
        (0, 8, 0, {}, Reason.INACTIVE),
        (250, 8, 3, {}, Reason.LAG),
        (10_000, 4, 4, {}, Reason.PARTITIONS),
        (10_000, 20, 10, {}, Reason.MAX_REPLICAS),
        (1_000, 20, 2, {"max_scale_up_step": 1}, Reason.SCALE_UP_STEP),
        (0, 8, 0, {"min_replicas": 1}, Reason.MIN_REPLICAS),
    ],
)
def test_decision_reason(
    lag: int, partitions: int, current: int, overrides: dict[str, Any], reason: Reason
) -> None:
    decision, _ = decide(
        "m",
        "1",
        lag=lag,
        partitions=partitions,
        current=current,
        policy=policy(**overrides),
        history=(),
        now=0.0,
    )
    assert decision.reason is reason


def test_decision_carries_raw_before_bounds() -> None:
    decision, _ = decide(
        "intent", "2", lag=10_000, partitions=4, current=4, policy=policy(), history=(), now=0.0
    )
    assert (decision.model, decision.version, decision.lag, decision.partitions) == ("intent", "2", 10_000, 4)
    assert (decision.raw, decision.desired) == (100, 4)


@pytest.mark.parametrize(("lag", "expected"), [(0, 0), (1, 1), (100, 1), (101, 2), (10_001, 101)])
def test_raw_replicas_is_ceil_division(lag: int, expected: int) -> None:
    assert raw_replicas(lag, policy()) == expected == math.ceil(lag / 100)


def test_stabilize_highest_in_window_wins() -> None:
    history = ((0.0, 5), (10.0, 3))
    replicas, kept = stabilize(history, 20.0, 2, 30.0)
    assert replicas == 5
    assert kept == ((0.0, 5), (10.0, 3), (20.0, 2))


def test_stabilize_drops_entries_at_or_before_cutoff() -> None:
    replicas, kept = stabilize(((0.0, 5), (10.0, 3)), 30.0, 2, 30.0)
    assert replicas == 3
    assert kept == ((10.0, 3), (30.0, 2))


def test_stabilize_scale_up_is_immediate() -> None:
    replicas, _ = stabilize(((0.0, 2), (10.0, 3)), 11.0, 7, 30.0)
    assert replicas == 7


def test_stabilize_zero_window_follows_recommendation() -> None:
    replicas, kept = stabilize(((9.0, 8),), 10.0, 1, 0.0)
    assert (replicas, kept) == (1, ((10.0, 1),))


def test_scale_down_waits_for_window_over_a_sequence() -> None:
    """Fake clock, 1 s ticks, 5 s window: a burst then silence keeps 4 replicas for 5 s, then drops."""
    p = policy(min_replicas=0, scale_down_stabilization_s=5.0)
    lags = [400, 400, 0, 0, 0, 0, 0, 0, 0, 0]
    history: tuple[tuple[float, int], ...] = ()
    current = 0
    observed: list[tuple[int, Reason]] = []
    for tick, lag in enumerate(lags):
        decision, history = decide(
            "m", "1", lag=lag, partitions=8, current=current, policy=p, history=history, now=float(tick)
        )
        observed.append((decision.desired, decision.reason))
        current = decision.desired
    # Last 4-replica recommendation at t=1 falls out of the window at t=6 (cutoff 1.0 is excluded).
    assert [d for d, _ in observed] == [4, 4, 4, 4, 4, 4, 0, 0, 0, 0]
    assert [r for _, r in observed[2:6]] == [Reason.STABILIZING] * 4
    assert observed[6] == (0, Reason.INACTIVE)
    assert len(history) <= 6


def test_flapping_lag_does_not_flap_replicas() -> None:
    p = policy(min_replicas=1, scale_down_stabilization_s=10.0)
    history: tuple[tuple[float, int], ...] = ()
    current = 1
    seen = []
    for tick, lag in enumerate([500, 50, 500, 50, 500, 50]):
        decision, history = decide(
            "m", "1", lag=lag, partitions=8, current=current, policy=p, history=history, now=float(tick)
        )
        current = decision.desired
        seen.append(current)
    assert seen == [5, 5, 5, 5, 5, 5]


def test_stale_high_recommendation_never_scales_up() -> None:
    # The pool is at 2 (say, it could not start more); the window still holds an
    # old 6. A low recommendation must hold at 2, not jump to 6.
    decision, _ = decide(
        "m", "1", lag=100, partitions=8, current=2, policy=policy(), history=((0.0, 6),), now=1.0
    )
    assert decision.desired == 2
    assert decision.reason is Reason.STABILIZING


def test_lowered_max_applies_at_once_despite_window() -> None:
    decision, _ = decide(
        "m", "1", lag=0, partitions=8, current=6, policy=policy(max_replicas=3), history=((0.0, 6),), now=1.0
    )
    assert decision.desired == 3


def test_scale_up_inside_window_is_immediate_and_capped() -> None:
    p = policy(max_scale_up_step=2)
    decision, history = decide(
        "m", "1", lag=900, partitions=16, current=1, policy=p, history=((0.0, 1),), now=1.0
    )
    assert (decision.raw, decision.desired, decision.reason) == (9, 3, Reason.SCALE_UP_STEP)
    decision, _ = decide("m", "1", lag=900, partitions=16, current=3, policy=p, history=history, now=2.0)
    assert decision.desired == 6


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"min_replicas": -1}, "min_replicas"),
        ({"max_replicas": 0}, "max_replicas"),
        ({"min_replicas": 5, "max_replicas": 4}, "max_replicas"),
        ({"lag_threshold": 0}, "lag_threshold"),
        ({"activation_lag_threshold": -1}, "activation_lag_threshold"),
        ({"scale_down_stabilization_s": -0.5}, "scale_down_stabilization_s"),
        ({"scale_down_stabilization_s": 3601.0}, "scale_down_stabilization_s"),
        ({"max_scale_up_step": 0}, "max_scale_up_step"),
        ({"poll_interval_s": 0.0}, "poll_interval_s"),
        ({"poll_interval_s": math.nan}, "poll_interval_s"),
        ({"poll_interval_s": math.inf}, "poll_interval_s"),
    ],
)
def test_policy_validation_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ScalingPolicyError) as raised:
        policy(**overrides)
    assert raised.value.field == field
    assert raised.value.retriable is False


def test_policy_defaults() -> None:
    p = ScalingPolicy(max_replicas=3, lag_threshold=10)
    assert (p.min_replicas, p.activation_lag_threshold, p.max_scale_up_step) == (1, 0, 4)
    assert (p.scale_down_stabilization_s, p.poll_interval_s) == (30.0, 1.0)


@pytest.mark.parametrize(("lag", "partitions", "current"), [(-1, 1, 1), (1, -1, 1), (1, 1, -1)])
def test_negative_counts_are_rejected(lag: int, partitions: int, current: int) -> None:
    with pytest.raises(ScalingError):
        desired_replicas(lag, partitions, current, policy())
