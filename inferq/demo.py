"""`make demo`: the whole system end to end on this machine, then a summary table.

Starts Apache Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set), runs `inferq up`
with the demo config (an intent canary v1 80 % / v2 20 %, and tabular scoring),
streams generated support tickets and scoring events through the client SDK
(plus a few bad requests on purpose, so the error path shows), prints what
happened, and shuts everything down.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inferq.client import ClientError, InferenceError, InferqClient, Reply
from inferq.transport import KafkaSettings
from schemas import headers as h
from schemas.errors import ErrorCode
from workers.modelbuild import generate_tickets
from workers.poolctl import read_status

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "compose" / "inferq.demo.toml"
LAUNCHER = ROOT / "compose" / "kafka-local" / "kafkalocal.py"
POOLS = (("intent", "1"), ("intent", "2"), ("tabular", "1"))
IN_FLIGHT = 400
SAMPLES = 8


@dataclass
class Outcome:
    """What the streamed traffic produced."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {"intent": [], "tabular": []})
    versions: Counter[tuple[str, str]] = field(default_factory=Counter)
    batch_sizes: dict[str, list[int]] = field(default_factory=lambda: {"intent": [], "tabular": []})
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[str, str, str, str]] = field(default_factory=list)
    pool_sizes: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    seconds: float = 0.0


def _not_retried(record: logging.LogRecord) -> bool:
    """False for a log line about a Kafka error that aiokafka retries (`retriable`)."""
    args = record.args if isinstance(record.args, tuple) else ()
    return not any(getattr(arg, "retriable", False) for arg in args)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m inferq.demo", description=__doc__)
    parser.add_argument("--tickets", type=int, default=3000)
    parser.add_argument("--events", type=int, default=6000)
    args = parser.parse_args(argv)
    # aiokafka logs (at ERROR) the errors it retries itself, e.g. NotLeaderForPartition while a
    # just-created reply topic loads its leaders; the demo's screen is for the summary.
    kafka_log = logging.StreamHandler()
    kafka_log.addFilter(_not_retried)  # a handler's filter sees its children's records too
    logging.getLogger("aiokafka").addHandler(kafka_log)
    logging.getLogger("aiokafka").propagate = False
    work = Path(tempfile.mkdtemp(prefix="inferq-demo-"))
    bootstrap, started_kafka = _kafka_up(work)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    log_path = work / "inferq-up.log"
    state = work / "state"
    _say(f"Kafka at {bootstrap}; starting `inferq up --config {CONFIG.relative_to(ROOT)}` (logs: {log_path})")
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "inferq.cli", "up", "--config", str(CONFIG), "--state-dir", str(state)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        outcome = asyncio.run(_traffic(KafkaSettings(bootstrap), state, args.tickets, args.events))
    finally:
        _say("shutting down (workers drain, commit and leave their groups)")
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        if started_kafka:
            subprocess.run(
                [sys.executable, str(LAUNCHER), "down", "--state-dir", str(work / "kafka")], check=False
            )
    _print_summary(outcome)
    return 0


def _kafka_up(work: Path) -> tuple[str, bool]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        return external, False
    _say("starting Apache Kafka (KRaft, one node on loopback)")
    done = subprocess.run(
        [sys.executable, str(LAUNCHER), "up", "--state-dir", str(work / "kafka")],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1], True


async def _traffic(settings: KafkaSettings, state: Path, tickets: int, events: int) -> Outcome:
    outcome = Outcome()
    async with InferqClient(settings, timeout_s=60) as client:
        await _wait_until_serving(client)
        sampler = asyncio.create_task(_sample_pools(state, outcome))
        try:
            started = time.monotonic()
            await _stream(client, tickets, events, outcome)
            outcome.seconds = time.monotonic() - started
            await _bad_requests(client, outcome)
        finally:
            sampler.cancel()
    return outcome


async def _wait_until_serving(client: InferqClient) -> None:
    _say("waiting for the routers and workers to join their groups")
    deadline = time.monotonic() + 120
    for model, inputs in (("intent", _ticket("hello")), ("tabular", _event(0))):
        while True:
            try:
                await client.infer(model, inputs, timeout_s=10)
                break
            except ClientError:
                if time.monotonic() > deadline:
                    raise
    _say("serving")


async def _stream(client: InferqClient, tickets: int, events: int, outcome: Outcome) -> None:
    texts = generate_tickets(tickets, seed=2026)
    total = tickets + events
    window: set[asyncio.Task[None]] = set()

    async def one(model: str, inputs: dict[str, np.ndarray], key: bytes, text: str = "") -> None:
        sent = time.monotonic()
        reply = await client.infer(model, inputs, key=key)
        outcome.latencies_ms[model].append((time.monotonic() - sent) * 1000)
        _record(outcome, model, reply, text)

    jobs: list[Awaitable[None]] = []
    for i in range(max(tickets, events)):
        if i < tickets:
            text, _queue = texts[i]
            sample = text if i < SAMPLES else ""
            jobs.append(one("intent", _ticket(text), f"customer-{i % 400}".encode(), sample))
        if i < events:
            jobs.append(one("tabular", _event(i), f"account-{i % 1000}".encode()))
    for done, job in enumerate(jobs, start=1):
        # A bounded window of requests in flight, like a real producer with back-pressure.
        task = asyncio.ensure_future(job)
        window.add(task)
        task.add_done_callback(window.discard)
        if len(window) >= IN_FLIGHT:
            await asyncio.wait(window, return_when=asyncio.FIRST_COMPLETED)
        if done % 250 == 0 or done == total:
            _progress(done, total)
    await asyncio.gather(*window)
    _progress(total, total)
    sys.stderr.write("\n")


def _record(outcome: Outcome, model: str, reply: Reply, text: str) -> None:
    outcome.versions[(model, reply.model_version)] += 1
    batch = reply.headers.get(h.BATCH_SIZE)
    if batch is not None:
        outcome.batch_sizes[model].append(int(batch))
    if text:
        label = next(t for t in reply.response.outputs if t.name == "label").data.ravel()[0]
        shown = label.decode() if isinstance(label, bytes) else str(label)
        outcome.samples.append((text[:60], shown, reply.model_version, "intent"))


async def _bad_requests(client: InferqClient, outcome: Outcome) -> None:
    """A few requests that must fail, each for its own reason: the error path of the demo."""
    bad: list[Awaitable[Reply]] = [
        client.infer("no_such_model", _event(1)),
        client.infer("tabular", {"features": np.zeros((1, 31), dtype=np.float32)}),
        client.infer("intent", _ticket("pinned to a version that does not exist"), version="9"),
        client.infer("tabular", _event(2), deadline_ms=1),
    ]
    raw = [
        await client.submit_raw("tabular", b'{"inputs": [{"name": "features", "shape": [1, 32]'),
        await client.submit_raw("tabular", b'{"inputs": []}'),
    ]
    for reply in [*bad, *(client.result(cid) for cid in raw)]:
        try:
            await reply
            outcome.errors["(unexpectedly answered)"] += 1
        except InferenceError as exc:
            outcome.errors[exc.code.value] += 1


async def _sample_pools(state: Path, outcome: Outcome) -> None:
    started = time.monotonic()
    while True:
        sizes = {}
        for model, version in POOLS:
            status = read_status(state, model, version)
            sizes[f"{model} v{version}"] = status.size if status is not None else 0
        if not outcome.pool_sizes or outcome.pool_sizes[-1][1] != sizes:
            outcome.pool_sizes.append((time.monotonic() - started, sizes))
        await asyncio.sleep(0.5)


def _ticket(text: str) -> dict[str, np.ndarray]:
    return {"text": np.array([text.encode()], dtype=object)}


def _event(i: int) -> dict[str, np.ndarray]:
    return {"features": np.random.default_rng(i).standard_normal((1, 32)).astype(np.float32)}


def _print_summary(o: Outcome) -> None:
    out = sys.stdout.write
    answered = sum(o.versions.values())
    out("\n=== inferq demo: summary ===\n\n")
    out("Sample ticket predictions (intent)\n")
    for text, label, version, _ in o.samples:
        out(f"  v{version}  {label:<14} {text}\n")
    out("\nRequests answered per model version\n")
    for (model, version), n in sorted(o.versions.items()):
        share = n / max(1, sum(c for (m, _), c in o.versions.items() if m == model))
        out(f"  {model:<8} v{version}  {n:>6}  ({share:.1%} of {model})\n")
    rate = answered / max(o.seconds, 1e-9)
    out(f"\nThroughput: {answered} requests in {o.seconds:.1f} s = {rate:.0f} req/s")
    out(f" ({IN_FLIGHT} in flight; client, router, workers and broker share this machine)\n")
    out("\nLatency, client send to reply (ms)\n")
    for model, values in o.latencies_ms.items():
        if values:
            p50, p99 = np.percentile(values, [50, 99])
            out(f"  {model:<8} p50 {p50:7.1f}   p99 {p99:7.1f}\n")
    out("\nBatch sizes formed by the workers (rows per onnxruntime call)\n")
    for model, rows in o.batch_sizes.items():
        if rows:
            out(f"  {model:<8} mean {np.mean(rows):6.1f}   max {max(rows):4d}\n")
    out("\nPool sizes chosen by the scaler (seconds since traffic began)\n")
    for at, sizes in o.pool_sizes:
        out(f"  t={at:5.1f}s  " + "  ".join(f"{k}: {v}" for k, v in sizes.items()) + "\n")
    out("\nErrors by code (bad requests sent on purpose)\n")
    for code, n in sorted(o.errors.items()):
        out(f"  {code:<24} {n}\n")
    expected = {ErrorCode.UNKNOWN_MODEL, ErrorCode.SHAPE_MISMATCH, ErrorCode.UNKNOWN_VERSION}
    missing = sorted(c.value for c in expected if c.value not in o.errors)
    if missing:
        out(f"  (expected but not seen: {', '.join(missing)})\n")


def _progress(done: int, total: int) -> None:
    width = 40
    filled = int(width * done / total)
    sys.stderr.write(f"\r  streaming [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    sys.stderr.flush()


def _say(message: str) -> None:
    sys.stderr.write(f"demo: {message}\n")


if __name__ == "__main__":
    raise SystemExit(main())
