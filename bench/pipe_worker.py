"""pipe-limit: the Kafka I/O ceiling of one Python process, no decoding and no inference.

A minimal aiokafka loop with the worker's client settings (manual commits,
idempotent acks=all producer, 1 ms linger): fetch a batch of request records,
produce one reply per record — a fixed body of the size of a real reply, the
request's key and correlation id — and commit the batch once its replies are
acknowledged, overlapping that wait with the next batch. Runs until SIGTERM.

Run: `python -m bench.pipe_worker --topic T --group G --reply-topic R --reply-size BYTES --batch N`
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Awaitable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

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
    previous: tuple[Awaitable[Any], dict[TopicPartition, int]] | None = None
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=args.batch)
            acks = []
            offsets = {}
            for tp, records in batches.items():
                for record in records:
                    cid = next((v for k, v in record.headers if k == CORRELATION_ID), b"")
                    acks.append(
                        await producer.send(
                            args.reply_topic, body, key=record.key, headers=[(CORRELATION_ID, cid)]
                        )
                    )
                offsets[tp] = records[-1].offset + 1
            if previous is not None:
                await previous[0]
                await consumer.commit(previous[1])
            previous = (asyncio.gather(*acks), offsets) if acks else None
        if previous is not None:
            await previous[0]
            await consumer.commit(previous[1])
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
    parser.add_argument("--batch", type=int, required=True, help="max records per fetch")
    asyncio.run(serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
