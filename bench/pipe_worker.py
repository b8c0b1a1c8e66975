"""pipe-limit: the Kafka I/O ceiling of one Python process, no decoding and no inference.

A minimal aiokafka loop with the worker's client settings (idempotent acks=all
producer, 1 ms linger, the same fetch sizes): fetch whatever records are
buffered, produce one reply per record — a fixed body of the size of a real
reply, with the request's key and correlation id — and go on without waiting
for acknowledgements (the producer pipelines them) and without committing: a
ceiling, so nothing the worker must do and a bare loop need not is in it.
Runs until SIGTERM, then flushes.

Run: `python -m bench.pipe_worker --topic T --group G --reply-topic R --reply-size BYTES [--batch N]`
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

CORRELATION_ID = "correlation-id"


async def pipe(args: argparse.Namespace, stop: asyncio.Event) -> None:
    """Echo a fixed-size reply per record until `stop` is set."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=1024 * 1024,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=1,
        max_batch_size=256 * 1024,
    )
    body = b"x" * args.reply_size
    await producer.start()
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=args.batch)
            for records in batches.values():
                for record in records:
                    cid = next((v for k, v in record.headers if k == CORRELATION_ID), b"")
                    await producer.send(
                        args.reply_topic, body, key=record.key, headers=[(CORRELATION_ID, cid)]
                    )
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()


async def serve(args: argparse.Namespace) -> None:
    """Run `pipe` until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await pipe(args, stop)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.pipe_worker")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--reply-topic", required=True)
    parser.add_argument("--reply-size", type=int, required=True)
    parser.add_argument(
        "--batch", type=int, default=None, help="max records per fetch (default: all buffered)"
    )
    asyncio.run(serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
