"""The scaler service: every poll interval, lag → ``decide`` → log, export, resize.

The loop is thin: lag comes from a probe (``workers.lag.LagProbe``), the
decision from ``workers.scaling.decide``, and the resize goes to whatever pool
object it is given — locally a ``workers.poolctl.FilePool`` naming the pool's
desired size in the state directory.

A scaler that starts (or restarts after a crash) *adopts* each pool at the
size it finds: that size is entered into the stabilization history as a
recommendation made now, so the new scaler grows the pool at once when lag asks
for it but shrinks it only after a full stabilization window without lag, as
the scaler it replaces would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import structlog
from aiokafka.errors import KafkaError
from prometheus_client import Gauge

from inferq.sysconfig import ModelDeployment
from schemas.topics import work_topic, worker_group
from workers.lag import LagError, LagReport
from workers.scaling import History, ScaleDecision, decide

log = structlog.get_logger(__name__)

LAG = Gauge("inferq_scaler_lag", "Consumer-group lag of a model version's work topic", ["model", "version"])
DESIRED = Gauge("inferq_scaler_desired_replicas", "Replicas the scaler decided on", ["model", "version"])
CURRENT = Gauge(
    "inferq_scaler_current_replicas", "Replicas the pool ran at the decision", ["model", "version"]
)

Key = tuple[str, str]
"""(model, version)."""


class ScaledPool(Protocol):
    """A pool the scaler reads and resizes; ``resize`` must return promptly (the pool applies it)."""

    @property
    def size(self) -> int | None:
        """Processes the pool runs now, or None when it cannot be read."""
        ...

    async def resize(self, n: int) -> None:
        """Ask for ``n`` processes."""
        ...


class LagSource(Protocol):
    """Reads a consumer group's lag on a topic (``workers.lag.LagProbe``)."""

    async def measure(self, group: str, topic: str) -> LagReport:
        """The group's lag now; raises ``LagError`` or a Kafka error when it cannot be read."""
        ...


class Scaler:
    """Scales one pool per model version from its consumer-group lag."""

    def __init__(
        self,
        deployments: Sequence[ModelDeployment],
        pools: Mapping[Key, ScaledPool],
        probe: LagSource,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        missing = [d for d in deployments if (d.model, d.version) not in pools]
        if missing:
            raise ValueError(f"no pool for {[(d.model, d.version) for d in missing]}")
        self._deployments = tuple(deployments)
        self._pools = pools
        self._probe = probe
        self._clock = clock
        self._history: dict[Key, History] = {}
        self._last: dict[Key, ScaleDecision] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Tick each model version every ``poll_interval_s`` of its policy until ``stop`` is set."""
        due = dict.fromkeys(((d.model, d.version) for d in self._deployments), self._clock())
        while not stop.is_set():
            now = self._clock()
            for deployment in self._deployments:
                key = (deployment.model, deployment.version)
                if due[key] <= now:
                    await self.tick(deployment)
                    # Never schedule in the past: a slow tick must not cause a burst of catch-up ticks.
                    due[key] = max(due[key] + deployment.scaling.poll_interval_s, self._clock())
            wait = min(due.values()) - self._clock()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)

    async def tick(self, deployment: ModelDeployment) -> ScaleDecision | None:
        """Measure, decide and resize one model version; None when lag or pool size is unreadable."""
        model, version = deployment.model, deployment.version
        bound = log.bind(model=model, version=version)
        pool = self._pools[(model, version)]
        try:
            report = await self._probe.measure(worker_group(model, version), work_topic(model, version))
        except (LagError, KafkaError) as exc:
            bound.warning("lag_unavailable", error=str(exc) or type(exc).__name__)
            return None
        current = pool.size
        if current is None:
            bound.warning("pool_unavailable")
            return None
        now = self._clock()
        history = self._history.get((model, version))
        if history is None:
            history = ((now, current),)
            bound.info("pool_adopted", current=current)
        decision, self._history[(model, version)] = decide(
            model,
            version,
            lag=report.total,
            partitions=len(report.partitions),
            current=current,
            policy=deployment.scaling,
            history=history,
            now=now,
        )
        # Every decision is logged; a steady state (same current, desired and reason
        # as the tick before) only at debug level, so a quiet system logs nothing per second.
        last = self._last.get((model, version))
        changed = last is None or (last.current, last.desired, last.reason) != (
            decision.current,
            decision.desired,
            decision.reason,
        )
        self._last[(model, version)] = decision
        (bound.info if changed else bound.debug)(
            "scale_decision",
            lag=decision.lag,
            partitions=decision.partitions,
            current=decision.current,
            raw=decision.raw,
            desired=decision.desired,
            reason=decision.reason.value,
        )
        LAG.labels(model, version).set(decision.lag)
        DESIRED.labels(model, version).set(decision.desired)
        CURRENT.labels(model, version).set(decision.current)
        if decision.desired != current:
            bound.info("pool_resize", current=current, desired=decision.desired)
            await pool.resize(decision.desired)
        return decision
