"""Every workload and system on one broker: backlogs, throughput runs, the open-loop latency runs.

Order: every workload's two backlogs are loaded first (its work topic, read by
pipe-limit, naive and the worker, each in its own group; its request topic, read
by the router), then every ort-limit (in this process, nothing else running),
then per workload: pipe-limit, naive, the worker alone, the router in front of
that still-running worker, and the open-loop latency run on the worker at
`load` x its measured saturation.

Systems run one at a time. To save wall time, the next system's process is
started as soon as the replies of the current one have been read back, while
the current one shuts down (SIGTERM: drain, commit, leave the group) in the
background; the shutdown is light and mostly overlaps the next one's imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.figures import INFERQ, NAIVE, PIPE_LIMIT, ROUTER, Throughput
from bench.kafka_io import create_topics, load_backlog
from bench.openloop import OpenLoopResult, Pacing, open_loop
from bench.procs import Child, spawn, stop
from bench.progress import Progress, note
from bench.settings import BenchSettings
from bench.systems import (
    Drained,
    drain,
    inferq_env,
    naive_argv,
    ort_limit,
    pipe_argv,
    reply_size,
    router_argv,
    worker_argv,
)
from bench.workloads import VERSION, Workload, alias_model, model_config, model_path, request_records
from schemas.model_config import ModelConfig
from schemas.topics import work_topic, worker_group


@dataclass(slots=True)
class Scope:
    """Where a run lives: broker, run id, scratch repository, logs; names derive from it."""

    bootstrap: str
    run_id: str
    repository: Path
    logs: Path
    created: list[str] = field(default_factory=list)
    """Every topic created for the run, for the clean-up on a shared cluster."""

    def topic(self, *parts: str) -> str:
        """`bench.<run>.<parts...>`: the harness's own topics."""
        return ".".join(("bench", self.run_id, *parts))

    async def create(self, topics: Mapping[str, int]) -> None:
        """Create topics (name -> partitions) and remember them."""
        self.created.extend(t for t in topics if t not in self.created)
        await create_topics(self.bootstrap, topics)


@dataclass(slots=True)
class WorkloadResult:
    """Everything measured for one workload."""

    workload: str
    config: ModelConfig
    throughputs: list[Throughput] = field(default_factory=list)
    latency: OpenLoopResult | None = None
    saturation_batches: list[int] = field(default_factory=list)
    """`inferq-batch-size` of every reply of the worker's backlog run."""

    def rate(self, system: str) -> float | None:
        """The system's throughput, if it was measured and complete."""
        for t in self.throughputs:
            if t.system == system and t.complete:
                return t.rate
        return None


@dataclass(frozen=True, slots=True)
class ProcSpec:
    """How to start one system process."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    log: Path

    def start(self) -> Child:
        """Spawn it."""
        return spawn(self.name, self.argv, self.env, self.log)


class Retiring:
    """Processes being stopped in the background while the next system starts (see the module docstring)."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[int | None]] = []

    def retire(self, child: Child) -> None:
        """SIGTERM `child` and wait for its exit in a thread."""
        self._tasks.append(asyncio.create_task(asyncio.to_thread(stop, child)))

    async def wait(self) -> None:
        """Until every retired process has exited."""
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks)


@dataclass(frozen=True, slots=True)
class Prepared:
    """One workload ready to run: its names, config, backlog ids and process specs."""

    workload: Workload
    alias: str
    config: ModelConfig
    work: str
    replies: Mapping[str, str]
    backlog: tuple[str, ...]
    """Request ids pre-loaded on the work topic."""
    routed: tuple[str, ...]
    """Request ids pre-loaded on the router's request topic."""
    specs: Mapping[str, ProcSpec]
    groups: Mapping[str, str]


async def prepare(settings: BenchSettings, scope: Scope, workload: Workload) -> Prepared:
    """Alias the model, create the workload's topics and load both backlogs."""
    name = workload.name
    alias = f"{name}_{scope.run_id}"
    alias_model(settings.models, scope.repository, workload, alias)
    config = model_config(settings.models, workload)
    work, requests = work_topic(alias, VERSION), scope.topic(name, "requests")
    routes, dlq = scope.topic(name, "routes"), scope.topic("dlq")
    replies = {s: scope.topic(name, _slug(s), "replies") for s in (PIPE_LIMIT, NAIVE, INFERQ)}
    replies[ROUTER] = replies[INFERQ]
    partitions = settings.partitions
    await scope.create(
        {work: partitions, requests: partitions, dlq: 1} | dict.fromkeys(replies.values(), partitions)
    )
    # The router creates its routes topic itself.
    scope.created.append(routes)
    backlog = request_records(workload, alias, settings.n, seed=1, prefix="b")
    routed = request_records(workload, alias, settings.n, seed=2, prefix="q")
    for topic, records in ((work, backlog), (requests, routed)):
        progress = Progress(f"{name} backlog -> {topic}", len(records))
        await load_backlog(scope.bootstrap, topic, records, partitions, progress)
        progress.close()
    groups = {s: scope.topic(name, _slug(s)) for s in (PIPE_LIMIT, NAIVE, ROUTER)}
    groups[INFERQ] = worker_group(alias, VERSION)
    size = reply_size(scope.repository, alias, workload)
    env = inferq_env(reply_topic=replies[INFERQ], dlq_topic=dlq, partitions=partitions)
    router_env = env | {
        "INFERQ_REQUESTS_TOPIC": requests,
        "INFERQ_ROUTER_GROUP": groups[ROUTER],
        "INFERQ_ROUTES_TOPIC": routes,
    }
    path = model_path(settings.models, workload)
    commands: dict[str, tuple[list[str], Mapping[str, str]]] = {
        PIPE_LIMIT: (
            pipe_argv(work, groups[PIPE_LIMIT], replies[PIPE_LIMIT], size),
            {},
        ),
        NAIVE: (naive_argv(path, alias, work, groups[NAIVE], replies[NAIVE]), {}),
        INFERQ: (worker_argv(scope.repository, alias), env),
        ROUTER: (router_argv(scope.repository), router_env),
    }
    specs = {
        system: ProcSpec(system, tuple(argv), env, scope.logs / f"{name}-{_slug(system)}.log")
        for system, (argv, env) in commands.items()
    }
    return Prepared(
        workload=workload,
        alias=alias,
        config=config,
        work=work,
        replies=replies,
        backlog=tuple(r.id for r in backlog),
        routed=tuple(r.id for r in routed),
        specs=specs,
        groups=groups,
    )


async def run_all(
    settings: BenchSettings, scope: Scope, workloads: Sequence[Workload]
) -> list[WorkloadResult]:
    """Measure every system on every workload (see the module docstring for the order)."""
    prepared = [await prepare(settings, scope, w) for w in workloads]
    results = []
    for p in prepared:
        result = WorkloadResult(p.workload.name, p.config)
        path = model_path(settings.models, p.workload)
        result.throughputs.append(ort_limit(p.workload, path, p.config, settings.n, min_s=settings.ort_min_s))
        results.append(result)
    retiring = Retiring()
    try:
        for p, result in zip(prepared, results, strict=True):
            note(f"== {p.workload.name}")
            await _systems(settings, scope, p, result, retiring)
    finally:
        await retiring.wait()
    return results


async def _systems(
    settings: BenchSettings, scope: Scope, p: Prepared, result: WorkloadResult, retiring: Retiring
) -> None:
    """pipe-limit, naive, the worker, router + worker, then the latency run on the worker."""
    for system in (PIPE_LIMIT, NAIVE):
        child = p.specs[system].start()
        try:
            drained = await _drain(settings, scope, p, system, child)
        finally:
            retiring.retire(child)
        result.throughputs.append(drained.throughput)
    worker = p.specs[INFERQ].start()
    try:
        drained = await _drain(settings, scope, p, INFERQ, worker)
        result.throughputs.append(drained.throughput)
        result.saturation_batches = [r.batch_size for r in drained.replies]
        router = p.specs[ROUTER].start()
        try:
            routed = await _drain(settings, scope, p, ROUTER, router)
        finally:
            stop(router)
        result.throughputs.append(routed.throughput)
        await retiring.wait()
        if drained.throughput.complete:
            result.latency = await _latency(settings, scope, p, worker, drained.throughput.rate)
        else:
            note(f"!!! {p.workload.name}: no latency run, the worker did not drain its backlog")
    finally:
        retiring.retire(worker)


async def _latency(
    settings: BenchSettings, scope: Scope, p: Prepared, worker: Child, saturation: float
) -> OpenLoopResult:
    rate = settings.load * saturation
    count = max(1, int(rate * settings.latency_s))
    pacing = Pacing(
        records=request_records(p.workload, p.alias, count, seed=3, prefix="l"),
        rate=rate,
        warmup_s=settings.warmup_s,
        stall_s=settings.stall_s,
    )
    return await open_loop(
        scope.bootstrap,
        workload=p.workload.name,
        topic=p.work,
        reply_topic=p.replies[INFERQ],
        partitions=settings.partitions,
        pacing=pacing,
        alive=worker.alive,
    )


async def _drain(
    settings: BenchSettings,
    scope: Scope,
    p: Prepared,
    system: str,
    child: Child,
) -> Drained:
    return await drain(
        scope.bootstrap,
        label=f"{p.workload.name} {system}",
        workload=p.workload.name,
        system=system,
        child=child,
        group=p.groups[system],
        reply_topic=p.replies[system],
        expected=p.routed if system == ROUTER else p.backlog,
        stall_s=settings.stall_s,
    )


def _slug(system: str) -> str:
    """`inferq --with-router` -> `inferq_with_router`: usable in topic, group and file names."""
    return system.replace(" --", "_").replace("-", "_")
