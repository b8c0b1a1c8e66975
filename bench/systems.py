"""The systems under test: how each is started, and how a backlog drained by it becomes a figure.

Backlog throughput, exactly: t0 is the first moment the harness sees the
system's consumer group Stable with partitions assigned (described every 20 ms;
process start, model load and group join are not counted, fetching the first
offsets is); t_end is the CreateTime of the last reply, i.e. when the system
handed it to its producer. Throughput = distinct requests answered / (t_end - t0).
Replies are read back afterwards and checked: every request answered once,
with a success reply.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from bench.figures import Throughput
from bench.kafka_io import BenchError, EndOffsets, Reply, read_replies, wait_for_records, wait_group_stable
from bench.procs import Child
from bench.progress import Progress, note
from bench.workloads import VERSION, Workload, ort_feed
from schemas.codec import encode_response
from schemas.messages import InferenceResponse
from schemas.model_config import ModelConfig
from schemas.tensors import Tensor, datatype_of
from workers.repository import load_repository
from workers.session import open_model, session_options

ORT_WARMUP_CALLS = 3


@dataclass(frozen=True, slots=True)
class Drained:
    """A backlog run: its figure and the replies read back."""

    throughput: Throughput
    replies: list[Reply]


def ort_limit(
    workload: Workload, model_path: Path, config: ModelConfig, rows: int, *, min_s: float
) -> Throughput:
    """onnxruntime alone on pre-built batches of `config.max_batch_size`, the worker's session options."""
    session = ort.InferenceSession(
        str(model_path), sess_options=session_options(config), providers=["CPUExecutionProvider"]
    )
    batch = config.max_batch_size
    feed = ort_feed(workload, batch)
    for _ in range(ORT_WARMUP_CALLS):
        session.run(None, feed)
    progress = Progress(f"{workload.name} ort-limit", rows)
    done = 0
    started = time.perf_counter()
    while done < rows or time.perf_counter() - started < min_s:
        session.run(None, feed)
        done += batch
        progress.update(min(done, rows))
    seconds = time.perf_counter() - started
    progress.close(f"{done / seconds:,.0f} rows/s")
    return Throughput(workload.name, "ort-limit", done, done, 0, 0, seconds)


def reply_size(repository: Path, alias: str, workload: Workload) -> int:
    """Bytes of a real JSON reply to one request of the workload (pipe-limit's reply size)."""
    model = open_model(load_repository(repository).get(alias, VERSION))
    outputs = model.run(ort_feed(workload, 1))
    tensors = tuple(Tensor(n, datatype_of(a), tuple(a.shape), a) for n, a in outputs.items())
    return len(encode_response(InferenceResponse(alias, VERSION, "b-0", tensors)).body)


async def drain(
    bootstrap: str,
    *,
    label: str,
    workload: str,
    system: str,
    child: Child,
    group: str,
    reply_topic: str,
    expected: Collection[str],
    stall_s: float,
) -> Drained:
    """Measure `child` answering the pre-loaded backlog whose request ids are `expected`.

    A system that dies or never joins its group yields an incomplete figure, not an exception.
    """
    async with EndOffsets(bootstrap, reply_topic) as ends:
        start = await ends.per_partition()
        try:
            t0 = await wait_group_stable(bootstrap, group, child.alive)
        except BenchError as exc:
            note(f"!!! {label}: {exc}")
            failed = Throughput(workload, system, len(expected), 0, 0, 0, 0.0)
            warn_incomplete(failed, child)
            return Drained(failed, [])
        # Normally 0; not when the group was Stable (and busy) before the harness started watching.
        early = await ends.total() - sum(start.values())
        progress = Progress(label, len(expected))
        await wait_for_records(
            ends,
            len(expected),
            alive=child.alive,
            stall_s=stall_s,
            progress=progress,
            base=sum(start.values()),
        )
        end = await ends.per_partition()
    replies = await read_replies(bootstrap, reply_topic, start, end)
    throughput = tally(workload, system, replies, expected, t0, early=early)
    progress.update(throughput.answered)
    progress.close(f"{throughput.rate:,.0f} req/s (joined {t0 - child.spawned_at:.1f}s after start)")
    if not throughput.complete:
        warn_incomplete(throughput, child)
    return Drained(throughput, replies)


def tally(
    workload: str, system: str, replies: list[Reply], expected: Collection[str], t0: float, *, early: int = 0
) -> Throughput:
    """Count the distinct requests answered and time them from `t0` to the last reply's CreateTime.

    `early` replies were written before t0 was observed: they count as answered, not in the rate.
    """
    wanted = set(expected)
    ok = [r for r in replies if r.ok and r.correlation_id in wanted]
    answered = len({r.correlation_id for r in ok})
    t_end = max((r.timestamp_ms for r in ok), default=0) / 1000.0
    return Throughput(
        workload=workload,
        system=system,
        expected=len(wanted),
        answered=answered,
        errors=sum(1 for r in replies if not r.ok),
        duplicates=len(ok) - answered,
        seconds=max(t_end - t0, 0.0),
        early=early,
    )


def warn_incomplete(throughput: Throughput, child: Child) -> None:
    """The loud warning of a run that did not answer every request."""
    bar = "!" * 100
    note(
        f"\n{bar}\n!!! WARNING: {throughput.workload} / {throughput.system} answered "
        f"{throughput.answered} of {throughput.expected} requests ({throughput.errors} error replies); "
        f"its figure is marked INCOMPLETE and excluded from the ratios.\n"
        f"!!! log: {child.log_path}\n{child.log_tail()}\n{bar}"
    )


def pipe_argv(topic: str, group: str, reply_topic: str, size: int) -> list[str]:
    """pipe-limit's command line."""
    return [
        "-m",
        "bench.pipe_worker",
        *("--topic", topic, "--group", group, "--reply-topic", reply_topic, "--reply-size", str(size)),
    ]


def naive_argv(model_path: Path, name: str, topic: str, group: str, reply_topic: str) -> list[str]:
    """naive's command line."""
    return [
        "-m",
        "bench.naive_worker",
        *("--model", str(model_path), "--name", name),
        *("--topic", topic, "--group", group, "--reply-topic", reply_topic),
    ]


def worker_argv(repository: Path, model: str) -> list[str]:
    """The real worker process's command line."""
    return ["-m", "workers.process", "--repository", str(repository), "--model", model, "--version", VERSION]


def router_argv(repository: Path) -> list[str]:
    """The real router process's command line."""
    return ["-m", "inferq.cli", "router", "--repository", str(repository)]


def inferq_env(
    *, reply_topic: str, dlq_topic: str, partitions: int, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment of the worker and router processes."""
    return {
        "INFERQ_REPLY_TOPIC": reply_topic,
        "INFERQ_DLQ_TOPIC": dlq_topic,
        "INFERQ_WORK_PARTITIONS": str(partitions),
        "INFERQ_METRICS_PORT": "0",
        **(extra or {}),
    }
