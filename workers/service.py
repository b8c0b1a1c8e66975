"""The worker service: fetch → dynamic batch → onnxruntime → replies → commit, for one model version.

Three tasks share one process, connected by bounded queues, so that decoding
the next batch overlaps inference of the current one and produce acks overlap
both:

- the *batcher* fetches records, forms batches by the pure batching policy and
  triages each record (decode, validate, deadline) on the event loop;
- the *executor* runs onnxruntime in a thread (it releases the GIL), isolates
  failing requests by bisection, and hands reply/DLQ records to the producer;
- the committer (`inferq.committer`) waits, batch after batch in order, until
  every record of a batch is acknowledged, then commits the batch's offsets.

Offsets are committed only after every reply and DLQ record of their batch is
acknowledged (at-least-once); in the exactly-once mode (a transactional id is
set) each batch's records and offsets are committed in one Kafka transaction.
On a rebalance the pipeline drains and commits before the partitions are
given up; on SIGTERM the batcher flushes what it holds, the pipeline drains,
commits, and the consumer leaves the group.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog

from inferq.committer import AckCommitter
from inferq.deadletter import Rejected, dlq_record, error_reply_record
from inferq.transport import Consumer, OutRecord, Producer, Record
from schemas.codec import Limits
from schemas.errors import ErrorCode
from schemas.fast_codec import RequestLane
from schemas.topics import work_topic, worker_group
from workers.batching import BatchPolicy, flush_wait_s, plan_calls, row_bounds, run_isolating, should_flush
from workers.metrics import WorkerMetrics
from workers.replies import call_headers, segment_replies
from workers.session import Model
from workers.settings import WorkerSettings
from workers.triage import Job, TriageRules, triage

log = structlog.get_logger(__name__)

IDLE_POLL_S = 0.5
"""Long-poll wait with nothing pending; also bounds how long a stop request waits for the fetcher."""


@dataclass(slots=True)
class _Batch:
    jobs: list[Job]
    fetched_at: list[float]
    rejected: list[Rejected]
    offsets: dict[tuple[str, int], int]


@dataclass(frozen=True, slots=True)
class _CallResult:
    jobs: Sequence[Job]
    segments: list[tuple[int, int, dict[str, np.ndarray] | Exception]]
    started: float
    seconds: float
    rows: int


@dataclass(slots=True)
class _State:
    pending: list[tuple[Record, float]] = field(default_factory=list)
    epoch: int = 0


class WorkerService:
    """Serves one model version from its work topic until `stop` is set."""

    def __init__(
        self,
        settings: WorkerSettings,
        model: Model,
        *,
        client_id: str,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        spec = model.spec
        self._settings = settings
        self._model = model
        self._clock = clock
        self._wall_ms = wall_ms
        self._policy = BatchPolicy(
            max_batch_size=spec.config.max_batch_size,
            max_queue_delay_s=spec.config.max_queue_delay_ms / 1000.0,
        )
        limits = Limits(max_payload_bytes=settings.max_payload_bytes)
        self._rules = TriageRules(
            spec=spec,
            default_reply_topic=settings.reply_topic,
            reply_allow_list=settings.reply_allow_list,
            limits=limits,
            lane=RequestLane.for_inputs(spec.inputs, spec.config.max_batch_size, limits),
        )
        self._output_names = tuple(t.name for t in spec.outputs)
        self._metrics = WorkerMetrics(settings.model, settings.version)
        self._group = worker_group(settings.model, settings.version)
        self._consumer = Consumer(
            settings.kafka,
            topics=[work_topic(settings.model, settings.version)],
            group=self._group,
            client_id=client_id,
            on_revoked=self._on_revoked,
            # Exactly-once reads only committed transactions (a transactional router's output, say).
            isolation_level="read_committed" if settings.transactional_id else "read_uncommitted",
        )
        self._producer = Producer(
            settings.kafka, client_id=client_id, transactional_id=settings.transactional_id
        )
        self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxruntime")
        self._to_execute: asyncio.Queue[_Batch | None] = asyncio.Queue(maxsize=1)
        self._committer = AckCommitter(self._consumer)
        self._dispatch = asyncio.Lock()
        self._state = _State()
        self._log = log.bind(model=settings.model, version=settings.version)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume, infer and reply until `stop` is set; then drain, commit and leave the group."""
        await self._producer.start()
        try:
            await self._consumer.start()
            try:
                self._log.info("worker_started", policy=self._policy)
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._batcher(stop))
                    tasks.create_task(self._executor())
                    tasks.create_task(self._committer.run())
                self._log.info("worker_drained")
            finally:
                await self._consumer.stop()
        finally:
            await self._producer.stop()
            self._threads.shutdown(wait=True)

    # -- batcher ---------------------------------------------------------------------------------

    async def _batcher(self, stop: asyncio.Event) -> None:
        policy, state = self._policy, self._state
        while not stop.is_set():
            pending = state.pending
            oldest_age = self._clock() - pending[0][1] if pending else 0.0
            due = should_flush(len(pending), oldest_age, policy)
            if due and (not self._to_execute.full() or len(pending) >= policy.max_batch_size):
                await self._dispatch_pending(limit=policy.max_batch_size)
                continue
            wait = flush_wait_s(len(pending), oldest_age, policy, IDLE_POLL_S)
            if due:
                # The executor is busy: keep growing the batch instead of spinning on a full queue.
                wait = max(wait, policy.max_queue_delay_s, 0.001)
            epoch = state.epoch
            records = await self._consumer.fetch(
                max_records=max(1, policy.max_batch_size - len(pending)),
                timeout_ms=int(wait * 1000),
            )
            if records and epoch != state.epoch:
                # Fetched across a rebalance: drop them and read again from the last commit.
                await self._consumer.rewind((r.topic, r.partition) for r in records)
            elif records:
                now = self._clock()
                state.pending.extend((r, now) for r in records)
        while self._state.pending:
            await self._dispatch_pending(limit=policy.max_batch_size)
        await self._to_execute.put(None)

    async def _dispatch_pending(self, *, limit: int) -> None:
        async with self._dispatch:
            pending = self._state.pending
            taken, pending[:] = pending[:limit], pending[limit:]
            if taken:
                batch = self._triage(taken)
                self._metrics.in_flight(len(taken))
                await self._to_execute.put(batch)

    def _triage(self, taken: list[tuple[Record, float]]) -> _Batch:
        batch = _Batch(jobs=[], fetched_at=[], rejected=[], offsets={})
        now_ms = self._wall_ms()
        for record, fetched_at in taken:
            outcome = triage(record, self._rules, now_ms)
            if isinstance(outcome, Job):
                batch.jobs.append(outcome)
                batch.fetched_at.append(fetched_at)
            else:
                batch.rejected.append(outcome)
            batch.offsets[(record.topic, record.partition)] = record.offset + 1
        return batch

    async def _on_revoked(self, revoked: frozenset[tuple[str, int]]) -> None:
        """Before partitions move: drop what was not dispatched, finish and commit what was."""
        if not revoked:
            return
        async with self._dispatch:
            self._state.epoch += 1
            pending = self._state.pending
            pending[:] = [(r, t) for r, t in pending if (r.topic, r.partition) not in revoked]
            await self._to_execute.join()
            await self._committer.drain()
        self._log.info("partitions_revoked_drained", partitions=len(revoked))

    # -- executor --------------------------------------------------------------------------------

    async def _executor(self) -> None:
        """Infer batch after batch; the next batch's inference starts before this one is published.

        The onnxruntime thread computes batch N+1 while the loop encodes and
        produces batch N; a batch whose inference ends with no successor in
        sight is published at once (no waiting for the next batch).
        """
        loop = asyncio.get_running_loop()
        running: tuple[_Batch, asyncio.Future[list[_CallResult]]] | None = None
        arriving = asyncio.ensure_future(self._to_execute.get())
        try:
            while True:
                waits: set[asyncio.Future[Any]] = {arriving} if running is None else {arriving, running[1]}
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if running is not None and not arriving.done():
                    # Woken by the inference: publish it now rather than wait for a successor.
                    await self._publish_finished(running)
                    running = None
                    continue
                batch = arriving.result()
                started = (
                    None
                    if batch is None
                    else (batch, loop.run_in_executor(self._threads, self._infer, batch))
                )
                if running is not None:
                    await self._publish_finished(running)
                if started is None:
                    await self._committer.close()
                    self._to_execute.task_done()
                    return
                running = started
                arriving = asyncio.ensure_future(self._to_execute.get())
        finally:
            arriving.cancel()

    async def _publish_finished(self, running: tuple[_Batch, asyncio.Future[list[_CallResult]]]) -> None:
        batch, inference = running
        try:
            await self._publish(batch, await inference)
        finally:
            # Done only once published: a rebalance's drain waits for exactly this.
            self._to_execute.task_done()

    def _infer(self, batch: _Batch) -> list[_CallResult]:
        """Runs in the onnxruntime thread: every planned call, isolating failures."""
        jobs = batch.jobs
        plan = plan_calls([(j.stack_key, j.rows) for j in jobs], self._policy.max_batch_size)
        results: list[_CallResult] = []
        for indices in plan:
            call_jobs = [jobs[i] for i in indices]
            outputs = call_jobs[0].request.outputs or self._output_names
            started = self._clock()
            segments = run_isolating(self._caller(call_jobs, outputs), len(call_jobs))
            seconds = self._clock() - started
            rows = sum(j.rows for j in call_jobs)
            results.append(_CallResult(call_jobs, segments, started, seconds, rows))
        return results

    def _caller(
        self, jobs: Sequence[Job], outputs: Sequence[str]
    ) -> Callable[[int, int], dict[str, np.ndarray]]:
        def call(lo: int, hi: int) -> dict[str, np.ndarray]:
            return self._model.run(_stack(jobs[lo:hi]), outputs)

        return call

    async def _publish(self, batch: _Batch, calls: list[_CallResult]) -> None:
        settings, metrics = self._settings, self._metrics
        out: list[OutRecord] = []
        rejected = list(batch.rejected)
        answered = shadowed = 0
        fetched_at = {id(j): t for j, t in zip(batch.jobs, batch.fetched_at, strict=True)}
        queued: list[float] = []
        for call in calls:
            metrics.call(call.rows, call.seconds)
            shared = call_headers(settings.model, settings.version, call.seconds * 1000, call.rows)
            for lo, hi, result in call.segments:
                if isinstance(result, Exception):
                    rejected.append(_inference_failed(call.jobs[lo], result))
                    continue
                part = call.jobs[lo:hi]
                waits = [call.started - fetched_at[id(job)] for job in part]
                queued.extend(waits)
                served = [i for i, job in enumerate(part) if not job.meta.shadow]
                shadowed += len(part) - len(served)
                bounds = row_bounds([job.rows for job in part])
                out.extend(
                    segment_replies(
                        [part[i] for i in served],
                        [bounds[i] for i in served],
                        result,
                        model=settings.model,
                        version=settings.version,
                        queue_ms=[waits[i] * 1000 for i in served],
                        shared=shared,
                    )
                )
                answered += len(served)
        metrics.queued(queued)
        for rej in rejected:
            if rej.shadow:
                self._log.warning("shadow_request_rejected", code=rej.code, offset=rej.record.offset)
                continue
            metrics.error(rej.code.value)
            self._log.info(
                "request_rejected",
                code=rej.code,
                partition=rej.record.partition,
                offset=rej.record.offset,
                error=rej.message,
            )
            out.append(error_reply_record(rej, settings.model, settings.version))
            out.append(dlq_record(rej, settings.dlq_topic))
        timestamps = [j.record.timestamp_ms for j in batch.jobs if not j.meta.shadow]
        count = len(batch.jobs) + len(batch.rejected)

        def committed() -> None:
            now_ms = self._wall_ms()
            metrics.ok(answered)
            metrics.shadow(shadowed)
            metrics.in_flight(-count)
            metrics.end_to_end([(now_ms - ts) / 1000.0 for ts in timestamps])

        if self._settings.transactional_id:
            await self._producer.produce_transaction(out, batch.offsets, self._group)
            committed()
        else:
            await self._committer.submit(await self._producer.send(out), batch.offsets, committed)


def _stack(jobs: Sequence[Job]) -> dict[str, np.ndarray]:
    """Feeds for one call: each input concatenated along the batch dimension."""
    if len(jobs) == 1:
        return {t.name: t.data for t in jobs[0].request.inputs}
    names = [t.name for t in jobs[0].request.inputs]
    by_name: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for job in jobs:
        for tensor in job.request.inputs:
            by_name[tensor.name].append(tensor.data)
    return {name: np.concatenate(arrays, axis=0) for name, arrays in by_name.items()}


def _inference_failed(job: Job, exc: Exception) -> Rejected:
    return Rejected(
        record=job.record,
        reply_to=job.reply_to,
        correlation_id=job.correlation_id,
        request_id=job.request.id or job.correlation_id,
        code=ErrorCode.INFERENCE_FAILED,
        message=f"onnxruntime failed: {exc}",
        shadow=job.meta.shadow,
    )
