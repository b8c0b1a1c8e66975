"""max batch size x max queue delay: throughput on a backlog and p99 at a fixed offered rate.

Each grid point serves the workload's model under a fresh alias with that
config (fresh work topic and group), drains a backlog, then runs an open loop
at the same offered rate for every point (`load` x the default config's
saturation from the main run), so the points are comparable.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from bench.figures import INFERQ
from bench.harness import Scope
from bench.kafka_io import load_backlog
from bench.openloop import Pacing, open_loop
from bench.procs import running
from bench.progress import Progress, note
from bench.settings import BenchSettings
from bench.systems import drain, inferq_env, worker_argv
from bench.workloads import VERSION, Workload, alias_model, model_config, request_records
from schemas.model_config import ModelConfig
from schemas.topics import work_topic, worker_group


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One grid point's figures (None where the run did not complete)."""

    workload: str
    max_batch_size: int
    max_queue_delay_ms: float
    throughput: float | None
    offered_rate: float
    p50_ms: float | None
    p99_ms: float | None
    mean_batch: float | None

    def to_json(self) -> dict[str, object]:
        """Plain values for report.json."""
        return {
            "workload": self.workload,
            "max_batch_size": self.max_batch_size,
            "max_queue_delay_ms": self.max_queue_delay_ms,
            "throughput": self.throughput,
            "offered_rate": self.offered_rate,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "mean_batch": self.mean_batch,
        }


async def sweep(
    settings: BenchSettings, scope: Scope, workload: Workload, offered_rate: float
) -> list[SweepPoint]:
    """Every grid point of the sweep for `workload`."""
    base = model_config(settings.models, workload)
    points = []
    grid = list(itertools.product(settings.sweep_batches, settings.sweep_delays_ms))
    for index, (batch, delay) in enumerate(grid):
        note(
            f"-- sweep {workload.name} {index + 1}/{len(grid)}: "
            f"max_batch_size={batch} max_queue_delay_ms={delay:g}"
        )
        config = ModelConfig(
            max_batch_size=batch, max_queue_delay_ms=delay, intra_op_threads=base.intra_op_threads
        )
        points.append(
            await _point(
                settings, scope, workload=workload, config=config, offered_rate=offered_rate, index=index
            )
        )
    return points


async def _point(
    settings: BenchSettings,
    scope: Scope,
    *,
    workload: Workload,
    config: ModelConfig,
    offered_rate: float,
    index: int,
) -> SweepPoint:
    alias = f"{workload.name}_{scope.run_id}_s{index}"
    alias_model(settings.models, scope.repository, workload, alias, config)
    work = work_topic(alias, VERSION)
    replies = scope.topic(workload.name, f"sweep{index}", "replies")
    dlq = scope.topic("dlq")
    partitions = settings.partitions
    await scope.create({work: partitions, replies: partitions, dlq: 1})
    backlog = request_records(workload, alias, settings.sweep_n, seed=1, prefix="b")
    progress = Progress(f"{workload.name} sweep backlog", len(backlog))
    await load_backlog(scope.bootstrap, work, backlog, partitions, progress)
    progress.close()
    env = inferq_env(reply_topic=replies, dlq_topic=dlq, partitions=partitions)
    log = scope.logs / f"{workload.name}-sweep{index}.log"
    with running(INFERQ, worker_argv(scope.repository, alias), env, log) as worker:
        drained = await drain(
            scope.bootstrap,
            label=f"{workload.name} b={config.max_batch_size} d={config.max_queue_delay_ms:g}",
            workload=workload.name,
            system=INFERQ,
            child=worker,
            group=worker_group(alias, VERSION),
            reply_topic=replies,
            expected=[r.id for r in backlog],
            stall_s=settings.stall_s,
        )
        pacing = Pacing(
            records=request_records(
                workload, alias, max(1, int(offered_rate * settings.sweep_latency_s)), seed=3, prefix="l"
            ),
            rate=offered_rate,
            warmup_s=1.0,
            stall_s=settings.stall_s,
        )
        latency = (
            await open_loop(
                scope.bootstrap,
                workload=workload.name,
                topic=work,
                reply_topic=replies,
                partitions=partitions,
                pacing=pacing,
                alive=worker.alive,
            )
        ).latency
    complete = latency.received == latency.sent and latency.measured > 0
    return SweepPoint(
        workload=workload.name,
        max_batch_size=config.max_batch_size,
        max_queue_delay_ms=config.max_queue_delay_ms,
        throughput=drained.throughput.rate if drained.throughput.complete else None,
        offered_rate=offered_rate,
        p50_ms=latency.p50_ms if complete else None,
        p99_ms=latency.p99_ms if complete else None,
        mean_batch=latency.batches.mean if complete else None,
    )
