"""Profile the real worker draining a backlog, and say where its time goes.

Run: `python -m bench.profile --workload tabular [--n 20000] [--sampler py-spy|pyinstrument]`

- `py-spy` (if installed: `pip install py-spy`) samples every thread of the worker,
  including the onnxruntime thread; the summary attributes each sample to a stage
  (fetch, decode, triage, stacking, onnxruntime, encode, produce, commit, event loop)
  by the stage functions on its stack (`stage_of`).
- `pyinstrument` samples the event-loop thread only; its call tree is written as is.

Outputs go to `bench/results/profile-<timestamp>/`: the raw profile, the summary
(`<workload>-summary.txt`) and the worker's log. Kafka as for `python -m bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.kafka_io import EndOffsets, create_topics, delete_topics, load_backlog, wait_for_records
from bench.kafka_io import wait_group_stable as wait_stable
from bench.procs import Child, install_cleanup, spawn, stop
from bench.progress import Progress, note
from bench.run import broker
from bench.settings import BenchSettings
from bench.systems import inferq_env, worker_argv
from bench.workloads import BY_NAME, VERSION, alias_model, request_records
from schemas.topics import work_topic, worker_group

SAMPLE_RATE = 250
"""py-spy samples per second."""

STARTUP = "start-up (imports, model load)"
IDLE = "executor thread idle"
NOT_STEADY = (STARTUP, IDLE)
"""Categories left out of the per-request figures: before t0, or a thread waiting for work."""

NO_FRAMES = "no Python frame (native code, GIL wait)"

# (category, substring of a py-spy frame "function (file:line)"), most specific first: a sample
# belongs to the first rule that matches any frame of its stack. Enclosing functions (triage,
# _publish, the batcher, the event loop) come after the stages they call.
STAGE_RULES: tuple[tuple[str, str], ...] = (
    (STARTUP, "<frozen importlib"),
    (STARTUP, "open_model (workers/session.py"),
    (STARTUP, "load_repository (workers/repository.py"),
    ("onnxruntime run", "run (onnxruntime/"),
    ("string conversion (BYTES <-> str)", "_to_str (workers/session.py"),
    ("string conversion (BYTES <-> str)", "_to_bytes (workers/session.py"),
    ("numpy stacking", "_stack (workers/service.py"),
    ("decode request (codec)", "decode_request (schemas/codec.py"),
    ("decode request (codec)", "decode (schemas/fast_codec.py"),
    ("parse headers", "parse_meta (schemas/headers.py"),
    ("validate request", "check_request (workers/repository.py"),
    ("encode reply (codec)", "encode_response (schemas/codec.py"),
    ("encode reply (codec)", "render_responses (schemas/fast_codec.py"),
    ("metrics", "prometheus_client/"),
    ("metrics", "workers/metrics.py"),
    ("logging", "structlog/"),
    ("produce (append, send, acks)", "send (inferq/transport.py"),
    ("produce (append, send, acks)", "aiokafka/producer/"),
    ("commit (offset commit requests)", "commit (inferq/transport.py"),
    ("commit (offset commit requests)", "inferq/committer.py"),
    ("commit (offset commit requests)", "_do_commit_offsets (aiokafka/consumer/group_coordinator.py"),
    ("fetch (records -> Record)", "fetch (inferq/transport.py"),
    ("fetch (records -> Record)", "aiokafka/consumer/fetcher.py"),
    ("fetch (records -> Record)", "aiokafka/record/"),
    ("group coordinator (heartbeat)", "aiokafka/consumer/group_coordinator.py"),
    ("reply record + headers", "reply_record (workers/replies.py"),
    ("triage (rest)", "triage (workers/triage.py"),
    ("split outputs, build responses", "segment_replies (workers/replies.py"),
    ("split outputs, build responses", "_publish (workers/service.py"),
    ("executor (plan, isolate, time)", "_infer (workers/service.py"),
    ("executor hand-off (run_in_executor)", "_executor (workers/service.py"),
    ("batcher (policy, triage loop, dispatch)", "workers/service.py"),
    ("batcher (policy, triage loop, dispatch)", "workers/batching.py"),
    ("kafka connection I/O", "aiokafka/conn.py"),
    ("kafka protocol (de)serialisation", "aiokafka/protocol/"),
    ("event loop", "asyncio/"),
    ("event loop", "selectors.py"),
    # The pool thread's root frame: it waits on its queue when nothing above matched.
    (IDLE, "_worker (concurrent/futures/thread.py"),
)


def stage_of(frames: Sequence[str]) -> str:
    """The stage of one sample: the first rule (most specific) that matches a frame of its stack."""
    if not frames:
        return NO_FRAMES
    for category, needle in STAGE_RULES:
        if any(needle in frame for frame in frames):
            return category
    return "other"


@dataclass(frozen=True, slots=True)
class Sample:
    """One collapsed py-spy stack: its thread, its frames (root first) and how many times it was seen."""

    thread: str
    frames: tuple[str, ...]
    count: int


def parse_collapsed(lines: Iterable[str]) -> list[Sample]:
    """py-spy's `--format raw` output (`thread;frame;...;frame count` per line)."""
    samples = []
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread, *frames = stack.split(";")
        samples.append(Sample(thread, tuple(frames), int(count)))
    return samples


def summarize(samples: Sequence[Sample], seconds: float, answered: int) -> str:
    """Where the steady-state time goes: share of samples per stage and per thread, CPU µs per request.

    Start-up samples (before t0) and an idle executor thread are left out. py-spy counts a
    thread waiting for the GIL as active, so shares are of sampled thread time, not of one core.
    """
    names = {tid: name for tid, name in (_thread_id(s.thread) for s in samples) if name}
    by_stage: Counter[str] = Counter()
    by_thread: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    for sample in samples:
        stage = stage_of(sample.frames)
        if stage in NOT_STEADY:
            left_out[stage] += sample.count
            continue
        tid, name = _thread_id(sample.thread)
        by_stage[stage] += sample.count
        by_thread[name or names.get(tid, tid)] += sample.count
    total = sum(by_stage.values()) or 1
    per_request_us = 1e6 / SAMPLE_RATE / max(answered, 1)
    lines = [
        f"{answered} requests in {seconds:.2f}s ({answered / max(seconds, 1e-9):,.0f} req/s); "
        f"{total} steady samples at {SAMPLE_RATE}/s = {total / SAMPLE_RATE:.2f} thread-s "
        f"= {total * per_request_us:.0f} us per request",
        "left out: " + ", ".join(f"{k} {v / SAMPLE_RATE:.2f}s" for k, v in left_out.items()),
        "",
        f"{'stage':<44}{'share':>8}{'us/request':>12}",
    ]
    lines += [
        f"{stage:<44}{n / total:>8.1%}{n * per_request_us:>12.1f}" for stage, n in by_stage.most_common()
    ]
    lines += ["", f"{'thread':<44}{'share':>8}{'busy':>8}"]
    lines += [
        f"{thread:<44}{n / total:>8.1%}{n / SAMPLE_RATE / max(seconds, 1e-9):>8.0%}"
        for thread, n in by_thread.most_common()
    ]
    return "\n".join(lines) + "\n"


def _thread_id(label: str) -> tuple[str, str]:
    """`thread (123): MainThread` -> ("123", "MainThread"); the name is empty when py-spy had none."""
    head, _, name = label.partition(":")
    return head.strip().removeprefix("thread (").removesuffix(")"), name.strip()


async def profile(
    bootstrap: str, settings: BenchSettings, workload_name: str, sampler: str, out: Path
) -> Path:
    """Drain a backlog of `settings.n` with the worker under `sampler`; returns the summary's path."""
    workload = BY_NAME[workload_name]
    run_id = uuid.uuid4().hex[:8]
    alias = f"{workload.name}_p{run_id}"
    with tempfile.TemporaryDirectory(prefix="inferq-profile-") as tmp:
        repository = Path(tmp)
        alias_model(settings.models, repository, workload, alias)
        work, replies, dlq = work_topic(alias, VERSION), f"bench.{run_id}.replies", f"bench.{run_id}.dlq"
        topics = {work: settings.partitions, replies: settings.partitions, dlq: 1}
        await create_topics(bootstrap, topics)
        try:
            records = request_records(workload, alias, settings.n, seed=1, prefix="b")
            progress = Progress(f"{workload.name} backlog", len(records))
            await load_backlog(bootstrap, work, records, settings.partitions, progress)
            progress.close()
            raw = out / f"{workload.name}-{sampler}.{'txt' if sampler == 'py-spy' else 'html'}"
            program, argv = _sampled(sampler, worker_argv(repository, alias), raw)
            env = inferq_env(reply_topic=replies, dlq_topic=dlq, partitions=settings.partitions)
            log = out / f"{workload.name}-worker.log"
            child = spawn("profiled worker", argv, env, log, program=program)
            try:
                seconds, answered = await _drain(bootstrap, child, alias, replies, settings)
            finally:
                _stop_profiled(child, sampler)
            if answered < settings.n:
                note(f"!!! WARNING: the worker answered {answered} of {settings.n}; log:\n{child.log_tail()}")
        finally:
            await delete_topics(bootstrap, topics)
    summary = out / f"{workload.name}-summary.txt"
    header = f"workload {workload.name}, sampler {sampler}, n {settings.n}\n"
    if sampler == "py-spy":
        text = summarize(parse_collapsed(raw.read_text().splitlines()), seconds, answered)
    else:
        text = f"{answered} requests in {seconds:.2f}s; call tree of the event-loop thread: {raw}\n"
    summary.write_text(header + text)
    sys.stdout.write(header + text)
    return summary


def _sampled(sampler: str, argv: list[str], raw: Path) -> tuple[str | None, list[str]]:
    """The program and arguments that run the worker under `sampler`."""
    if sampler == "pyinstrument":
        return None, ["-m", "pyinstrument", "-r", "html", "-o", str(raw), *argv]
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit(
            "py-spy is not installed: `.venv/bin/pip install py-spy`, or use --sampler pyinstrument"
        )
    options = ["--format", "raw", "--threads", "--rate", str(SAMPLE_RATE), "--output", str(raw)]
    return spy, ["record", *options, "--", sys.executable, *argv]


async def _drain(
    bootstrap: str, child: Child, alias: str, replies: str, settings: BenchSettings
) -> tuple[float, int]:
    async with EndOffsets(bootstrap, replies) as ends:
        t0 = await wait_stable(bootstrap, worker_group(alias, VERSION), child.alive)
        progress = Progress(f"{alias} profiled", settings.n)
        answered = await wait_for_records(
            ends, settings.n, alive=child.alive, stall_s=settings.stall_s, progress=progress
        )
        seconds = time.time() - t0
        progress.close()
    return seconds, answered


def _stop_profiled(child: Child, sampler: str) -> None:
    """SIGTERM the worker itself (under py-spy, py-spy's child); the sampler then writes its output."""
    if sampler == "py-spy":
        for pid in child.children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.popen.wait(60.0)
    stop(child, timeout_s=60.0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.profile`."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=sorted(BY_NAME), default="tabular")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--sampler", choices=("py-spy", "pyinstrument"), default="py-spy")
    args = parser.parse_args(argv)
    settings = BenchSettings.full((args.workload,), n=args.n, sweep=False)
    out = settings.results / f"profile-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    install_cleanup()
    with tempfile.TemporaryDirectory(prefix="inferq-profile-kafka-") as tmp, broker(Path(tmp)) as cluster:
        asyncio.run(profile(cluster.bootstrap, settings, args.workload, args.sampler, out))
    note(f"profile: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
