"""The scaler loop around `decide`, with a fake lag probe, fake pools and a hand-moved clock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY

from inferq.sysconfig import ModelDeployment
from schemas.topics import work_topic, worker_group
from workers.lag import LagError, LagReport, PartitionLag
from workers.scaler import Scaler
from workers.scaling import Reason, ScalingPolicy

POLICY = ScalingPolicy(
    min_replicas=1,
    max_replicas=3,
    lag_threshold=2000,
    scale_down_stabilization_s=3.0,
    max_scale_up_step=2,
    poll_interval_s=0.5,
)


def deployment(model: str = "tabular", policy: ScalingPolicy = POLICY) -> ModelDeployment:
    return ModelDeployment(model=model, version="1", scaling=policy, partitions=8, processes_initial=1)


def report(model: str, total: int, partitions: int = 8) -> LagReport:
    # All lag on partition 0: only the total and the partition count reach the decision.
    rows = tuple(
        PartitionLag(p, total if p == 0 else 0, 0, total if p == 0 else 0) for p in range(partitions)
    )
    return LagReport(
        group=worker_group(model, "1"), topic=work_topic(model, "1"), partitions=rows, total=total
    )


@dataclass
class FakeProbe:
    lag: dict[str, int]
    partitions: int = 8
    error: Exception | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def measure(self, group: str, topic: str) -> LagReport:
        self.calls.append((group, topic))
        if self.error is not None:
            raise self.error
        model = topic.split(".")[2]
        return report(model, self.lag[model], self.partitions)


@dataclass
class FakePool:
    current: int | None
    resizes: list[int] = field(default_factory=list)

    @property
    def size(self) -> int | None:
        return self.current

    async def resize(self, n: int) -> None:
        self.resizes.append(n)
        self.current = n


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def scaler_for(pool: FakePool, probe: FakeProbe, clock: Clock, policy: ScalingPolicy = POLICY) -> Scaler:
    return Scaler([deployment(policy=policy)], {("tabular", "1"): pool}, probe, clock)


async def test_backlog_grows_the_pool_on_the_first_tick_capped_by_max_replicas() -> None:
    pool, probe = FakePool(1), FakeProbe({"tabular": 20_000})
    decision = await scaler_for(pool, probe, Clock()).tick(deployment())
    assert decision is not None
    assert (decision.raw, decision.desired, decision.reason) == (10, 3, Reason.MAX_REPLICAS)
    assert pool.resizes == [3]
    assert probe.calls == [(worker_group("tabular", "1"), work_topic("tabular", "1"))]


async def test_partitions_come_from_the_measured_topic() -> None:
    pool, probe = FakePool(1), FakeProbe({"tabular": 20_000}, partitions=2)
    decision = await scaler_for(pool, probe, Clock()).tick(deployment())
    assert decision is not None
    assert (decision.partitions, decision.desired, decision.reason) == (2, 2, Reason.PARTITIONS)


async def test_no_resize_when_the_pool_already_has_the_desired_size() -> None:
    pool, probe = FakePool(2), FakeProbe({"tabular": 3000})
    decision = await scaler_for(pool, probe, Clock()).tick(deployment())
    assert decision is not None
    assert decision.desired == 2
    assert pool.resizes == []


async def test_a_drained_backlog_shrinks_only_after_the_stabilization_window() -> None:
    pool, probe, clock = FakePool(1), FakeProbe({"tabular": 20_000}), Clock()
    scaler = scaler_for(pool, probe, clock)
    await scaler.tick(deployment())
    assert pool.current == 3
    probe.lag["tabular"] = 0
    clock.now += 2.9
    held = await scaler.tick(deployment())
    assert held is not None
    assert (held.desired, held.reason) == (3, Reason.STABILIZING)
    clock.now += 0.2
    await scaler.tick(deployment())
    assert pool.resizes == [3, 1]


async def test_a_restarted_scaler_adopts_the_pool_size_and_holds_it_for_a_window() -> None:
    # A new scaler has no history: without adoption it would shrink a busy-looking pool at once.
    pool, probe, clock = FakePool(3), FakeProbe({"tabular": 0}), Clock()
    scaler = scaler_for(pool, probe, clock)
    first = await scaler.tick(deployment())
    assert first is not None
    assert (first.current, first.desired, first.reason) == (3, 3, Reason.STABILIZING)
    clock.now += 3.1
    await scaler.tick(deployment())
    assert pool.resizes == [1]


async def test_adoption_does_not_delay_a_scale_up() -> None:
    pool, probe = FakePool(2), FakeProbe({"tabular": 20_000})
    await scaler_for(pool, probe, Clock()).tick(deployment())
    assert pool.resizes == [3]


@pytest.mark.parametrize("error", [LagError("topic missing"), KafkaConnectionError("broker down")])
async def test_unreadable_lag_skips_the_tick_without_resizing(error: Exception) -> None:
    pool, probe = FakePool(1), FakeProbe({"tabular": 20_000}, error=error)
    assert await scaler_for(pool, probe, Clock()).tick(deployment()) is None
    assert pool.resizes == []


async def test_a_pool_that_does_not_report_is_skipped() -> None:
    pool, probe = FakePool(None), FakeProbe({"tabular": 20_000})
    assert await scaler_for(pool, probe, Clock()).tick(deployment()) is None
    assert pool.resizes == []


async def test_a_failed_tick_does_not_count_as_adoption() -> None:
    pool, probe, clock = FakePool(None), FakeProbe({"tabular": 0}), Clock()
    scaler = scaler_for(pool, probe, clock)
    await scaler.tick(deployment())
    clock.now += 10.0
    pool.current = 3
    decision = await scaler.tick(deployment())
    assert decision is not None
    assert decision.reason == Reason.STABILIZING


async def test_gauges_carry_lag_desired_and_current_per_model_version() -> None:
    pool, probe = FakePool(1), FakeProbe({"gauged": 5000})
    scaler = Scaler([deployment("gauged")], {("gauged", "1"): pool}, probe, Clock())
    await scaler.tick(deployment("gauged"))
    labels = {"model": "gauged", "version": "1"}
    assert REGISTRY.get_sample_value("inferq_scaler_lag", labels) == 5000
    assert REGISTRY.get_sample_value("inferq_scaler_desired_replicas", labels) == 3
    assert REGISTRY.get_sample_value("inferq_scaler_current_replicas", labels) == 1


def test_every_deployment_needs_a_pool() -> None:
    with pytest.raises(ValueError, match="no pool"):
        Scaler([deployment("a"), deployment("b")], {("a", "1"): FakePool(1)}, FakeProbe({}), Clock())


async def test_run_ticks_each_version_at_its_own_interval_until_stopped() -> None:
    fast = ScalingPolicy(max_replicas=3, lag_threshold=10, poll_interval_s=0.02)
    slow = ScalingPolicy(max_replicas=3, lag_threshold=10, poll_interval_s=0.2)
    probe = FakeProbe({"fast": 0, "slow": 0})
    pools = {("fast", "1"): FakePool(1), ("slow", "1"): FakePool(1)}
    scaler = Scaler([deployment("fast", fast), deployment("slow", slow)], pools, probe)
    stop = asyncio.Event()
    started = time.monotonic()
    runner = asyncio.create_task(scaler.run(stop))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(runner, 2.0)
    elapsed = time.monotonic() - started
    ticks = {
        model: sum(1 for _, topic in probe.calls if topic == work_topic(model, "1"))
        for model in ("fast", "slow")
    }
    assert 2 <= ticks["slow"] <= 1 + elapsed / 0.2
    assert ticks["fast"] >= 4 * ticks["slow"]
    assert ticks["fast"] <= 1 + elapsed / 0.02
